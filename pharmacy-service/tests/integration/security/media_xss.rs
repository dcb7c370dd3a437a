//! Critical: media served on the service's origin. A customer sends an HTML document (or an
//! SVG "image") and a link to `/api/media/<sha>`; an admin opens it; the page runs on the
//! service's origin, reads the CSRF token and creates an API token. An agent can do the same by
//! uploading `invoice.html`. Only passive images, audio and video are answered inline; anything
//! else is an `application/octet-stream` attachment, and every answer is `nosniff` under a
//! Content-Security-Policy that lets nothing run. The ingest webhook may only name files the
//! service holds.

use crate::api_support::{ADMIN, Client, Resp, T1, TestApp, spawn_app};
use serde_json::{Value, json};

const PAGE: &[u8] = b"<html><script>fetch('/api/tokens',{method:'POST'})</script></html>";
const SVG: &[u8] =
    b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.domain)</script></svg>";

/// A file an agent attaches to a reply, as the composer sends it (multipart).
pub(super) async fn upload(
    c: &Client,
    ticket: i64,
    file_name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Resp {
    let b = "sec-media-boundary";
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"ticket_id\"\r\n\r\n{ticket}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    c.raw(
        "POST",
        "/api/messages/send",
        Some(&format!("multipart/form-data; boundary={b}")),
        &body,
        &[],
    )
    .await
}

/// A customer's media message as a gateway hands it to the webhook.
pub(super) fn media_event(
    wa_id: &str,
    phone: &str,
    kind: &str,
    sha256: &str,
    mime: &str,
    file_name: Option<&str>,
) -> Value {
    json!({ "type": "message", "wa_id": wa_id,
        "from": { "phone": phone, "lid": null, "push_name": "Mona" },
        "at": 1_795_593_600_000i64,
        "content": { "kind": "media", "media_kind": kind, "sha256": sha256, "mime": mime,
            "file_name": file_name, "caption": "/api/media/ please open" },
        "quoted_wa_id": null })
}

/// The policy allows nothing to load or run and sandboxes the page.
fn assert_locked_down(r: &Resp) {
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let csp = r.header("content-security-policy").expect("a CSP");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(directives.contains(&"default-src 'none'"), "{csp}");
    let sandbox = directives
        .iter()
        .find(|d| d.split(' ').next() == Some("sandbox"))
        .unwrap_or_else(|| panic!("sandboxed: {csp}"));
    assert!(!sandbox.contains("allow-scripts"), "{csp}");
    assert!(!csp.contains("script") && !csp.contains("unsafe"), "{csp}");
}

/// Answered as a download under `name`, never rendered.
fn assert_download(r: &Resp, bytes: &[u8], name: &str) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    let d = r
        .header("content-disposition")
        .expect("Content-Disposition");
    assert!(d.starts_with("attachment;"), "{d}");
    assert!(d.contains(&format!("filename=\"{name}\"")), "{d}");
    assert_locked_down(r);
    assert_eq!(
        r.header("content-security-policy").as_deref(),
        Some("default-src 'none'; sandbox")
    );
    assert_eq!(r.body, bytes);
}

/// A customer's file, held by the service and named by a webhook message; returns its sha.
async fn customer_file(
    t: &TestApp,
    wa_id: &str,
    kind: &str,
    mime: &str,
    name: Option<&str>,
    bytes: &[u8],
) -> String {
    let sha = t.world.app.store_media(bytes, mime).await.unwrap();
    let r = t
        .ingest(&media_event(wa_id, "201001230101", kind, &sha, mime, name))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outcome"]["outcome"], "stored");
    sha
}

/// The admin opens the link the customer sent.
async fn admin_fetches(t: &TestApp, sha: &str) -> Resp {
    t.login(ADMIN).await.get(&format!("/api/media/{sha}")).await
}

#[tokio::test]
async fn a_customers_html_document_is_a_download() {
    let t = spawn_app().await;
    let sha = customer_file(
        &t,
        "X-HTML",
        "document",
        "text/html",
        Some("offer.html"),
        PAGE,
    )
    .await;
    let r = admin_fetches(&t, &sha).await;
    assert_download(&r, PAGE, "offer.html");
    let stored: String = sqlx::query_scalar("SELECT mime FROM media WHERE sha256 = ?")
        .bind(&sha)
        .fetch_one(t.world.app.pool())
        .await
        .unwrap();
    assert_eq!(stored, "application/octet-stream", "normalised when stored");
}

#[tokio::test]
async fn a_customers_svg_image_is_a_download() {
    let t = spawn_app().await;
    let sha = customer_file(&t, "X-SVG", "image", "image/svg+xml", None, SVG).await;
    let r = admin_fetches(&t, &sha).await;
    assert_download(&r, SVG, &format!("file-{}", &sha[..12]));
}

#[tokio::test]
async fn an_agents_uploaded_invoice_html_is_a_download() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001230102", "w1", "invoice?").await;
    t.assign(ticket, t.world.agents[0]).await;
    let me = t.login(T1).await;
    let r = upload(
        &me,
        ticket.0,
        "invoice.html",
        "text/html; charset=utf-8",
        PAGE,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let m = &r.json()["message"];
    assert_eq!(m["kind"], "document", "not an image, whatever it claims");
    assert_eq!(m["media_mime"], "application/octet-stream");
    let sha = m["media_sha256"].as_str().unwrap().to_owned();
    let r = admin_fetches(&t, &sha).await;
    assert_download(&r, PAGE, "invoice.html");
}

#[tokio::test]
async fn a_pdf_is_a_download_with_its_arabic_name() {
    let t = spawn_app().await;
    let pdf = b"%PDF-1.4\n1 0 obj<</OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\n%%EOF\n";
    let sha = customer_file(
        &t,
        "X-PDF",
        "document",
        "application/pdf",
        Some("روشتة.pdf"),
        pdf,
    )
    .await;
    let r = admin_fetches(&t, &sha).await;
    assert_download(&r, pdf, &format!("file-{}.pdf", &sha[..12]));
    let d = r.header("content-disposition").unwrap();
    assert!(
        d.ends_with("; filename*=UTF-8''%D8%B1%D9%88%D8%B4%D8%AA%D8%A9.pdf"),
        "{d}"
    );
}

#[tokio::test]
async fn a_passive_image_is_inline_and_sandboxed() {
    let t = spawn_app().await;
    let ticket = t.customer_writes("201001230103", "w1", "photo?").await;
    t.assign(ticket, t.world.agents[0]).await;
    let me = t.login(T1).await;
    let png = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script>";
    let r = upload(&me, ticket.0, "shelf.png", "IMAGE/PNG", png).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let sha = r.json()["message"]["media_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = me.get(&format!("/api/media/{sha}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(r.header("content-disposition"), None);
    assert_locked_down(&r);
    assert_eq!(
        r.header("content-security-policy").as_deref(),
        Some("default-src 'none'; sandbox")
    );
    assert_eq!(r.body, png);
    // A voice note plays inline too; its player page may fetch only the file itself.
    let ogg = b"OggS\0voice";
    let sha = customer_file(&t, "X-PTT", "audio", "audio/ogg; codecs=opus", None, ogg).await;
    let r = admin_fetches(&t, &sha).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("audio/ogg; codecs=opus")
    );
    assert_eq!(r.header("content-disposition"), None);
    assert_locked_down(&r);
    assert_eq!(
        r.header("content-security-policy").as_deref(),
        Some("default-src 'none'; media-src 'self'; sandbox allow-same-origin")
    );
}

#[tokio::test]
async fn a_dangerous_type_stored_before_the_rule_is_still_a_download() {
    let t = spawn_app().await;
    // A row written by an older version, type and all, as it is in a database today (under
    // its content address: a file that does not hash to its name is served as damaged).
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(PAGE))
    };
    let path = t.world.app.media_path(&sha);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, PAGE).unwrap();
    sqlx::query("INSERT INTO media (sha256, mime, size, created_at) VALUES (?, 'text/html', ?, 0)")
        .bind(&sha)
        .bind(PAGE.len() as i64)
        .execute(t.world.app.pool())
        .await
        .unwrap();
    let r = t
        .ingest(&media_event(
            "X-OLD",
            "201001230104",
            "document",
            &sha,
            "image/png",
            Some("x.htm"),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin_fetches(&t, &sha).await;
    assert_download(&r, PAGE, "x.htm");
}

#[tokio::test]
async fn the_webhook_cannot_name_a_file_the_service_does_not_hold() {
    let t = spawn_app().await;
    let sha = "cd".repeat(32);
    let r = t
        .ingest(&media_event(
            "X-GHOST",
            "201001230105",
            "image",
            &sha,
            "image/jpeg",
            None,
        ))
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.code(), "validation");
    assert_eq!(r.json()["error"]["details"]["field"], "content.sha256");
    let n = t
        .world
        .count("SELECT count(*) FROM messages WHERE wa_id = 'X-GHOST'")
        .await;
    assert_eq!(n, 0, "nothing stored");
    let n = t
        .world
        .count(&format!(
            "SELECT count(*) FROM media WHERE sha256 = '{sha}'"
        ))
        .await;
    assert_eq!(n, 0, "no media row for a file nobody has");
    // Named by a message the pharmacy's phone sent: the same rule.
    let mut ev = media_event(
        "X-GHOST-2",
        "201001230105",
        "image",
        &sha,
        "image/jpeg",
        None,
    );
    ev["type"] = json!("sent_from_phone");
    assert_eq!(t.ingest(&ev).await.status, 422);
}
