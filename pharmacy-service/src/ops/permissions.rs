//! Files at rest are the service account's only: the databases (with the WhatsApp identity
//! keys), their WAL/SHM files, media and backups hold customers' conversations.
//!
//! On Unix the binary sets the file-creation mask to 0077 before it creates anything
//! ([`private_umask`]), so every directory it makes is 0700 and every file 0600 (SQLite's
//! 0644 and its WAL/SHM files included), and [`check_data_dir`] warns at start when the data
//! directory is open to others. On Windows, `deploy/windows` restricts the directory's ACL;
//! [`check_data_dir`] warns when its ACL lets everyone or all users in.

use std::path::Path;

/// Sets the process's file-creation mask to 0077 (Unix; nothing elsewhere).
pub fn private_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Why the data directory is readable by others, if it is (`None`: private, or unknown).
pub fn data_dir_exposure(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "mode {mode:03o} lets other accounts in; `chmod 700 {}`",
                dir.display()
            )
        })
    }
    #[cfg(windows)]
    {
        windows_exposure(dir)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        None
    }
}

/// Logs a warning when [`data_dir_exposure`] finds the data directory open to others.
pub fn check_data_dir(dir: &Path) {
    if let Some(why) = data_dir_exposure(dir) {
        tracing::warn!(
            dir = %dir.display(),
            "the data directory is readable by other accounts: {why}"
        );
    }
}

/// Not verified on Windows from this workspace. The directory's security descriptor in SDDL
/// (locale-independent, unlike `icacls`' names) from PowerShell; an allow entry (`A;`) for
/// Everyone (WD), Authenticated Users (AU), Users (BU) or Guests (BG) is an exposure.
#[cfg(windows)]
fn windows_exposure(dir: &Path) -> Option<String> {
    let script = format!(
        "(Get-Acl -LiteralPath '{}').Sddl",
        dir.display().to_string().replace('\'', "''")
    );
    let out = std::process::Command::new("powershell")
        .args(["-NoProfile", "-NonInteractive", "-Command", script.as_str()])
        .output()
        .ok()?;
    let sddl = String::from_utf8_lossy(&out.stdout);
    let open = sddl
        .split('(')
        .map(str::trim_end)
        .filter(|ace| ace.starts_with("A;"))
        .any(|ace| {
            [";WD)", ";AU)", ";BU)", ";BG)"]
                .iter()
                .any(|s| ace.ends_with(s))
        });
    open.then(|| {
        "its ACL allows Everyone or all users; run deploy\\windows\\restrict-data.bat".into()
    })
}

/// Creates `path` holding `bytes`, readable by the service account only (0600 on Unix, made
/// so at creation, whatever the umask); fails if it exists.
pub fn create_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
