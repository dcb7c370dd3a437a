//! A headless chromium session through chromedriver (WebDriver, with fantoccini), as the browser
//! tests and the inbox bench (`benches/inbox.rs`, which includes this file) drive it.

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A program on `PATH`; a missing one fails (never skips) with the command that installs it.
pub fn find_program(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = PathBuf::from(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{name} is not installed: the browser tests need Debian's chromium, chromium-driver and \
         zbar-tools (`apt-get install chromium chromium-driver zbar-tools`, as .ci/run does)"
    );
}

/// chromedriver on a free loopback port (the caller stops it) and a headless chromium session
/// with its own profile directory, in language `lang`.
pub async fn session(profile: &Path, lang: &str) -> (Client, Child) {
    let chromium = find_program("chromium");
    let chromedriver = find_program("chromedriver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1366,860",
                format!("--user-data-dir={}", profile.display()),
                format!("--lang={lang}"),
            ],
        },
    }))
    .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
        }
    };
    (client, driver)
}
