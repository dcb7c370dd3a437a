//! The test world: a fresh database file, a manual clock at a known Cairo time, three
//! branches, three agents, an admin and the system templates.

use pharmacy_service::app::{
    App, InboundContent, InboundEvent, InboundMessage, InboundOutcome, ManualClock, Sender,
    ServiceConfig,
};
use pharmacy_service::db;
use pharmacy_service::db::branches::NewBranch;
use pharmacy_service::db::users::Role;
use pharmacy_service::domain::ids::{AgentId, BranchId, TicketId, UserId};
use pharmacy_service::domain::pacing::PacingPolicy;
use pharmacy_service::domain::routing::AgentStatus;
use pharmacy_service::domain::schedule::{Span, WeeklyHours};
use pharmacy_service::domain::time::Timestamp;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Wednesday 2026-11-25 10:00 in Cairo (08:00Z, winter time UTC+2).
pub const T0: Timestamp = Timestamp(1_795_593_600_000);
pub const MIN: Duration = Duration::from_secs(60);

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "pharmacy-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct World {
    pub app: App,
    pub clock: Arc<ManualClock>,
    /// Kept so the database directory lives as long as the world.
    pub _dir: TempDir,
    /// Toriel (09:00-02:00), Gomhoreya (24 h), Talkha (09:00-17:00).
    pub branches: [BranchId; 3],
    /// Two agents at Toriel, one at Gomhoreya.
    pub agents: [AgentId; 3],
    pub agent_users: [UserId; 3],
    pub admin: UserId,
}

pub fn config(dir: &TempDir) -> ServiceConfig {
    ServiceConfig {
        pacing: PacingPolicy::fast(),
        media_dir: dir.0.join("media"),
        ..ServiceConfig::default()
    }
}

impl World {
    pub async fn new() -> World {
        World::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut ServiceConfig)) -> World {
        let dir = TempDir::new();
        let mut cfg = config(&dir);
        tweak(&mut cfg);
        let clock = Arc::new(ManualClock::new(T0));
        let app = App::open(&dir.0.join("pharmacy.db"), clock.clone(), cfg)
            .await
            .unwrap();
        let mut c = app.pool().acquire().await.unwrap();
        let mk = |code: &str, lat: f64, lon: f64, hours: WeeklyHours| NewBranch {
            code: code.into(),
            name: format!("Khalifa {code}"),
            name_ar: format!("خليفة {code}"),
            address: "Mansoura".into(),
            phone: None,
            latitude: lat,
            longitude: lon,
            hours,
        };
        let b1 = db::branches::upsert(
            &mut c,
            &mk(
                "toriel",
                31.044,
                31.362,
                WeeklyHours::every_day(&[Span::hm(9, 0, 2, 0)]),
            ),
            T0,
        )
        .await
        .unwrap();
        let b2 = db::branches::upsert(
            &mut c,
            &mk(
                "gomhoreya",
                31.0425,
                31.379,
                WeeklyHours::every_day(&[Span::hm(0, 0, 24, 0)]),
            ),
            T0,
        )
        .await
        .unwrap();
        let b3 = db::branches::upsert(
            &mut c,
            &mk(
                "talkha",
                31.057,
                31.376,
                WeeklyHours::every_day(&[Span::hm(9, 0, 17, 0)]),
            ),
            T0,
        )
        .await
        .unwrap();
        let admin = db::users::insert(&mut c, "admin", "Admin", None, "x", Role::Admin, T0)
            .await
            .unwrap();
        let mut agents = [AgentId(0); 3];
        let mut users = [UserId(0); 3];
        for (i, (name, branch)) in [("toriel.1", b1), ("toriel.2", b1), ("gomhoreya.1", b2)]
            .into_iter()
            .enumerate()
        {
            let u = db::users::insert(
                &mut c,
                name,
                &format!("Agent {name}"),
                None,
                "x",
                Role::Agent,
                T0,
            )
            .await
            .unwrap();
            users[i] = u;
            agents[i] = db::agents::insert(&mut c, u, Some(branch), 3, &WeeklyHours::default(), T0)
                .await
                .unwrap();
        }
        for (key, body) in [
            ("greeting", "Welcome {customer_name}"),
            ("out_of_office", "Closed now ({branch_hours})"),
            ("csat_survey", "Rate {branch_name} 1-5"),
            ("csat_thanks", "Thanks!"),
            ("transfer_notice", "Now with {branch_name}"),
        ] {
            db::templates::upsert(&mut c, None, key, key, body, true, T0)
                .await
                .unwrap();
        }
        drop(c);
        World {
            app,
            clock,
            _dir: dir,
            branches: [b1, b2, b3],
            agents,
            agent_users: users,
            admin,
        }
    }

    pub async fn online(&self, i: usize) {
        self.app
            .set_agent_status(self.agents[i], AgentStatus::Online, None)
            .await
            .unwrap();
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub async fn set_home(&self, ticket: TicketId, branch: BranchId) {
        let mut c = self.app.pool().acquire().await.unwrap();
        let t = db::tickets::by_id(&mut c, ticket).await.unwrap().unwrap();
        db::customers::patch(
            &mut c,
            t.customer_id,
            &db::customers::CustomerPatch {
                home_branch_id: Some(branch),
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
    }

    pub async fn ticket(&self, id: TicketId) -> db::tickets::Ticket {
        let mut c = self.app.pool().acquire().await.unwrap();
        db::tickets::by_id(&mut c, id).await.unwrap().unwrap()
    }

    /// A text from a phone number; returns the ticket.
    pub async fn text(&self, phone: &str, wa_id: &str, text: &str) -> TicketId {
        match self.send(phone, wa_id, text).await {
            InboundOutcome::Stored { ticket_id, .. } => ticket_id,
            other => panic!("expected Stored, got {other:?}"),
        }
    }

    pub async fn send(&self, phone: &str, wa_id: &str, text: &str) -> InboundOutcome {
        self.app
            .handle_inbound(text_event(Some(phone), None, wa_id, text, self.app.now()))
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.app.pool())
            .await
            .unwrap()
    }
}

pub fn text_event(
    phone: Option<&str>,
    lid: Option<&str>,
    wa_id: &str,
    text: &str,
    at: Timestamp,
) -> InboundEvent {
    InboundEvent::Message(InboundMessage {
        wa_id: wa_id.into(),
        from: Sender {
            phone: phone.map(Into::into),
            lid: lid.map(Into::into),
            push_name: Some("Mona".into()),
        },
        at,
        content: InboundContent::Text { text: text.into() },
        quoted_wa_id: None,
    })
}

/// Another connection to the database file holding its write lock (`BEGIN IMMEDIATE`), as a long
/// write does: writers wait out SQLite's busy timeout, then fail busy. `ROLLBACK` on it lets them
/// in again.
pub async fn hold_write_lock(db: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(db),
    )
    .await
    .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut c)
        .await
        .unwrap();
    c
}
