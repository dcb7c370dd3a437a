//! A captured or forged ingest-webhook request: without a timestamp, replayed later, signed
//! for another time, or signed wrongly. The signature covers `"<X-Timestamp>.<body>"` and the
//! timestamp must be within 5 minutes of the service's clock; a short secret is refused at
//! start.

use super::super::api_support::*;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

fn hmac_hex(data: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(INGEST_SECRET).unwrap();
    mac.update(data);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn signed(ts: i64, body: &str) -> String {
    hmac_hex(format!("{ts}.{body}").as_bytes())
}

async fn post(t: &TestApp, body: &str, headers: &[(&str, &str)]) -> Resp {
    t.client()
        .raw(
            "POST",
            "/api/messages/receive",
            Some("application/json"),
            body.as_bytes(),
            headers,
        )
        .await
}

#[tokio::test]
async fn unsigned_stale_and_forged_requests_are_refused() {
    let t = spawn_app().await;
    let body = json!({ "type": "message", "wa_id": "GW-R1", "from": { "phone": "201001230009" },
        "at": t.world.app.now().0, "content": { "kind": "text", "text": "replayed?" } })
    .to_string();
    let now = t.world.app.now().0 / 1000;
    let (fresh, stale, future) = (
        now.to_string(),
        (now - 301).to_string(),
        (now + 301).to_string(),
    );
    let cases: [(&str, Vec<(&str, String)>); 6] = [
        // The old scheme: the body alone, no timestamp.
        (
            "no timestamp",
            vec![("X-Signature", hmac_hex(body.as_bytes()))],
        ),
        (
            "stale",
            vec![
                ("X-Timestamp", stale.clone()),
                ("X-Signature", signed(now - 301, &body)),
            ],
        ),
        (
            "from the future",
            vec![
                ("X-Timestamp", future.clone()),
                ("X-Signature", signed(now + 301, &body)),
            ],
        ),
        // A captured request with a fresh timestamp pasted on: its signature is for the old one.
        (
            "timestamp swapped",
            vec![
                ("X-Timestamp", fresh.clone()),
                ("X-Signature", signed(now - 600, &body)),
            ],
        ),
        (
            "wrong signature",
            vec![
                ("X-Timestamp", fresh.clone()),
                ("X-Signature", "sha256=00".into()),
            ],
        ),
        ("no signature", vec![("X-Timestamp", fresh.clone())]),
    ];
    for (what, headers) in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = post(&t, &body, &h).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(r.code(), "unauthenticated", "{what}");
    }
    assert_eq!(t.world.count("SELECT count(*) FROM messages").await, 0);

    // Within 5 minutes either way, correctly signed: accepted.
    for (i, ts) in [now, now - 299, now + 299].into_iter().enumerate() {
        let body = body.replace("GW-R1", &format!("GW-OK{i}"));
        let r = post(
            &t,
            &body,
            &[
                ("X-Timestamp", &ts.to_string()),
                ("X-Signature", &signed(ts, &body)),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{ts}: {}", r.text());
        assert_eq!(r.json()["outcome"]["outcome"], "stored");
    }
}

#[test]
fn a_short_secret_is_refused_at_start() {
    let dir = super::super::support::TempDir::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pharmacy-service"))
        .current_dir(&dir.0)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.0.join("data"))
        .args(["--ingest-secret", "only-24-bytes-of-secret!"])
        .args(["--whatsapp-url", "ws://127.0.0.1:9/ws"])
        .env_remove("PHARMACY_CONFIG")
        .env_remove("PHARMACY_INGEST_SECRET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary");
    // A coarse bound: refusing takes milliseconds; a service that started never exits.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve started with a 24-byte ingest secret");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("at least 32"), "{err}");
}
