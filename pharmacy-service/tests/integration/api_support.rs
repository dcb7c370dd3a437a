//! `spawn_app()`: the service (through the composition root, `startup::Application`) on
//! 127.0.0.1 port 0 over a fresh SQLite file (the [`World`] of the core tests: three branches,
//! three agents, an admin, a manual clock), and a client that keeps the session cookie and the
//! CSRF token.

use super::http_client;
pub use super::http_client::Resp;
use super::support::World;
use pharmacy_service::app::hash_password;
use pharmacy_service::db;
use pharmacy_service::domain::ids::{AgentId, TicketId};
use pharmacy_service::http::{AppState, FakeWhatsapp, HttpConfig};
use pharmacy_service::startup::{Application, Config};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const PASSWORD: &str = "correct-horse-1";
pub const INGEST_SECRET: &[u8] = b"ingest-test-secret-of-32-bytes-at-least";
/// Logins of the world: admin, two agents at Toriel, one at Gomhoreya.
pub const ADMIN: &str = "admin";
pub const T1: &str = "toriel.1";
pub const T2: &str = "toriel.2";
pub const G1: &str = "gomhoreya.1";

pub struct TestApp {
    pub world: World,
    pub addr: SocketAddr,
    pub wa: Arc<FakeWhatsapp>,
    #[allow(dead_code)]
    pub state: AppState,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(HttpConfig {
        ingest_secret: Some(INGEST_SECRET.to_vec()),
        presence_grace: Duration::from_millis(200),
        ..HttpConfig::default()
    })
    .await
}

pub async fn spawn_with(config: HttpConfig) -> TestApp {
    spawn_on(World::new().await, config).await
}

/// The API over a world built by the caller (e.g. `World::with` a core setting).
pub async fn spawn_on(world: World, config: HttpConfig) -> TestApp {
    spawn_state(world, config, |_| {}).await
}

/// [`spawn_on`] with the composition changed by `adjust` before it serves (e.g. other alerts).
pub async fn spawn_state(
    world: World,
    config: HttpConfig,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let hash = hash_password(PASSWORD).unwrap();
    let mut c = world.app.pool().acquire().await.unwrap();
    for u in db::users::list(&mut c).await.unwrap() {
        db::users::set_password_hash(&mut c, u.id, &hash)
            .await
            .unwrap();
    }
    drop(c);
    let wa = Arc::new(FakeWhatsapp::default());
    let mut composition = Config {
        http: config,
        ..Config::new(world.app.clone(), wa.clone())
    };
    adjust(&mut composition);
    let running = Application::build(composition).await.unwrap().spawn();
    let (addr, state) = (running.addr, running.state.clone());
    TestApp {
        world,
        addr,
        wa,
        state,
    }
}

impl TestApp {
    pub fn client(&self) -> Client {
        Client {
            addr: self.addr,
            cookie: None,
            csrf: None,
            bearer: None,
        }
    }

    pub async fn login(&self, username: &str) -> Client {
        let mut c = self.client();
        let r = c.log_in(username, PASSWORD).await;
        assert_eq!(r.status, 200, "login {username}: {}", r.text());
        c
    }

    /// A customer writes; returns the ticket.
    pub async fn customer_writes(&self, phone: &str, wa_id: &str, text: &str) -> TicketId {
        self.world.text(phone, wa_id, text).await
    }

    /// Posts `body` to the ingest webhook signed now (by the app's clock) as a gateway does:
    /// `X-Timestamp` and the HMAC-SHA256 of `"<timestamp>.<body>"`.
    /// (`body`: a JSON text or a `serde_json::Value`.)
    pub async fn ingest(&self, body: impl std::fmt::Display) -> Resp {
        self.ingest_to("/api/messages/receive", &body.to_string())
            .await
    }

    /// [`Self::ingest`] to another spelling of the path.
    pub async fn ingest_to(&self, path: &str, body: &str) -> Resp {
        use hmac::{Hmac, Mac};
        let ts = (self.world.app.now().0 / 1000).to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(INGEST_SECRET).unwrap();
        mac.update(format!("{ts}.{body}").as_bytes());
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        self.client()
            .raw(
                "POST",
                path,
                Some("application/json"),
                body.as_bytes(),
                &[("X-Timestamp", &ts), ("X-Signature", &sig)],
            )
            .await
    }

    /// Puts a ticket on an agent (as the admin would).
    pub async fn assign(&self, t: TicketId, agent: AgentId) {
        self.world
            .app
            .transfer_ticket(
                t,
                self.world.admin,
                pharmacy_service::app::TransferTarget::Agent(agent),
                "test setup",
            )
            .await
            .unwrap();
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Client {
    pub async fn get(&self, path: &str) -> Resp {
        self.raw("GET", path, None, &[], &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send_json("POST", path, body).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send_json("PATCH", path, body).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.raw("DELETE", path, None, &[], &[]).await
    }
    pub async fn send_json(&self, method: &str, path: &str, body: Value) -> Resp {
        self.raw(
            method,
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
            &[],
        )
        .await
    }

    /// `POST /auth/login`; a success's session cookie and CSRF token are kept.
    pub async fn log_in(&mut self, username: &str, password: &str) -> Resp {
        let r = self
            .post(
                "/auth/login",
                json!({ "username": username, "password": password }),
            )
            .await;
        if r.status == 200 {
            let cookie = r.header("set-cookie").expect("session cookie");
            self.cookie = Some(cookie.split(';').next().unwrap().to_owned());
            self.csrf = r.json()["csrf_token"].as_str().map(str::to_owned);
        }
        r
    }

    /// A request with this client's session cookie, CSRF token (not on GET) and bearer token,
    /// plus `extra` headers.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Resp {
        let bearer = self.bearer.as_ref().map(|b| format!("Bearer {b}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        if let Some(c) = &self.cookie {
            headers.push(("Cookie", c));
        }
        if let (Some(t), false) = (&self.csrf, method == "GET") {
            headers.push(("X-CSRF-Token", t));
        }
        if let Some(b) = &bearer {
            headers.push(("Authorization", b));
        }
        headers.extend_from_slice(extra);
        let base = self.addr.to_string();
        http_client::request(&base, method, path, &headers, body.to_vec())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}
