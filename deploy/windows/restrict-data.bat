@echo off
rem Makes the data folder private: only ACCOUNT (the account the service runs as), SYSTEM and
rem Administrators may open it; inherited entries (Users, Authenticated Users) are removed and
rem the files inside inherit the new list. Run from an administrator prompt:
rem   restrict-data.bat [DATA_FOLDER] [ACCOUNT]
rem DATA_FOLDER defaults to the data folder next to this script; ACCOUNT to the current user
rem (start.bat by hand). Under NSSM's default account pass SYSTEM, or the service's own account
rem (e.g. .\pharmacy) when `nssm set PharmacyService ObjectName` sets one.
setlocal
set "DATA=%~1"
if "%DATA%"=="" set "DATA=%~dp0data"
set "ACCOUNT=%~2"
if "%ACCOUNT%"=="" set "ACCOUNT=%USERDOMAIN%\%USERNAME%"
if not exist "%DATA%" mkdir "%DATA%"
rem *S-1-5-18 is SYSTEM and *S-1-5-32-544 Administrators (SIDs: the names are localised).
icacls "%DATA%" /inheritance:r /grant:r "%ACCOUNT%:(OI)(CI)F" /grant:r "*S-1-5-18:(OI)(CI)F" /grant:r "*S-1-5-32-544:(OI)(CI)F"
if errorlevel 1 (
  echo restricting %DATA% failed
  exit /b 1
)
icacls "%DATA%"
endlocal
