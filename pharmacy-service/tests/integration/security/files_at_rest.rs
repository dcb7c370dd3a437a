//! Files at rest on Unix (issue 19, item 5): started under the usual umask 022, the binary
//! still leaves every file it writes 0600 and every directory 0700: the databases and their
//! WAL/SHM, the instance lock, media, and an online backup; and it warns at start when the
//! data directory is open to others.

use crate::api_support::Client;
use crate::demo::login;
use crate::support::TempDir;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary under `sh -c 'umask 022; exec ...'`, with a clean environment.
fn binary(cwd: &Path, data: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pharmacy-service"))
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("PHARMACY_DATA_DIR", data);
    c
}

/// Every path under `root` (itself included) whose mode is not 0700 (directories) or 0600.
fn too_open(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut wrong = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            if mode != 0o700 {
                wrong.push((p.clone(), mode));
            }
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
        } else if mode != 0o600 {
            wrong.push((p, mode));
        }
    }
    wrong
}

async fn send_media(admin: &Client) {
    let r = admin
        .post(
            "/api/customers",
            json!({ "phone": "201001234500", "name": "At rest" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let customer = r.json()["customer"]["id"].clone();
    let r = admin
        .post("/api/tickets", json!({ "customer_id": customer }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let ticket = r.json()["ticket"]["id"].clone();
    let b = "AtRest42";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"ticket_id\"\r\n\r\n{ticket}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"rx.png\"\r\n\
         Content-Type: image/png\r\n\r\n\u{89}PNG prescription\r\n--{b}--\r\n"
    );
    let r = admin
        .raw(
            "POST",
            "/api/messages/send",
            Some(&format!("multipart/form-data; boundary={b}")),
            body.as_bytes(),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_media_and_backups_are_private() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let mut serve = binary(&dir.0, &data)
        // A configured first password: a generated one must be changed before anything else.
        .args(["serve", "--port", "0", "--wa-url", "ws://127.0.0.1:9/ws"])
        .args(["--admin-password", "at-rest-admin-2026"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary");
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let first = tokio::task::spawn_blocking(move || lines.next())
        .await
        .unwrap()
        .expect("a start line")
        .expect("readable");
    let line: Value = serde_json::from_str(&first).expect("JSON start line");
    let addr = line["url"].as_str().unwrap()["http://".len()..]
        .parse()
        .unwrap();
    let admin = login(addr, "admin", "at-rest-admin-2026").await;
    send_media(&admin).await;
    let backup = dir.0.join("backup");
    let out = binary(&dir.0, &data)
        .arg("backup")
        .arg("--to")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A data directory others can read: the service says so at start (this one then fails
    // to bind the port the first one holds, and exits).
    let open = dir.0.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = addr.port().to_string();
    let second = binary(&dir.0, &open)
        .args(["serve", "--port", &port, "--wa-url", "ws://127.0.0.1:9/ws"])
        .output()
        .unwrap();

    // Checked while the service runs: the WAL and SHM files exist now.
    let wrong: Vec<_> = too_open(&data)
        .into_iter()
        .chain(too_open(&backup))
        .collect();
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(data.join("pharmacy.db-wal").exists() && data.join("media").is_dir());
    assert!(wrong.is_empty(), "not private: {wrong:?}");
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("readable by other accounts"), "{err}");
}
