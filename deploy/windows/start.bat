@echo off
rem Starts pharmacy-service from this folder: pharmacy-service.exe, pharmacy-service.toml and the
rem data folder sit next to this script. Ctrl-C stops it cleanly. For a Windows service, see
rem README.md in this folder (NSSM runs this same command line).
setlocal
cd /d "%~dp0"
rem A new data folder is made private to this account (see restrict-data.bat).
if not exist "%~dp0data" call "%~dp0restrict-data.bat" "%~dp0data"
if not exist "%~dp0logs" mkdir "%~dp0logs"
rem The first line on stdout is JSON with the URL (and, on the first run, the admin password).
"%~dp0pharmacy-service.exe" serve --config "%~dp0pharmacy-service.toml" --data-dir "%~dp0data" 2>> "%~dp0logs\pharmacy-service.log"
endlocal
