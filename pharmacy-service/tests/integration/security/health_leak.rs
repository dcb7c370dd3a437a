//! The WhatsApp number is not public (issue 19, item 9): `/readyz`, `/healthz` and `/metrics`
//! answer anyone and never show it; admins read it in `/api/whatsapp/status`.

use crate::api_support::{ADMIN, T1, spawn_app};

const NUMBER: &str = "201009998877";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_endpoints_never_show_the_number() {
    let t = spawn_app().await;
    t.wa.connect(NUMBER);
    let anyone = t.client();
    for path in ["/readyz", "/healthz", "/metrics"] {
        let r = anyone.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let body = r.text();
        assert!(
            !body.contains(NUMBER) && !body.contains(&NUMBER[3..]),
            "{path} shows the number: {body}"
        );
    }
    // The link's state is still there for monitoring.
    assert_eq!(
        anyone.get("/readyz").await.json()["checks"]["whatsapp"]["state"],
        "connected"
    );
    assert_eq!(anyone.get("/api/whatsapp/status").await.status, 401);
    assert_eq!(
        t.login(T1).await.get("/api/whatsapp/status").await.status,
        403
    );
    let r = t.login(ADMIN).await.get("/api/whatsapp/status").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["phone"], NUMBER);
}
