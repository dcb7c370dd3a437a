//! Switch-over day (issue 34) on a database Django 4.2 itself wrote: `migrate` over a minimal
//! models file of the seed's models, rows through the ORM (tests/django/build_db.py, run with
//! the venv tests/django/setup.sh installs into .tools/django; test.sh runs it first).

use crate::support::*;
use pharmacy_service::app::{
    App, BranchGap, BranchSetup, CarryOverDecision, ManualClock, MapTarget,
};
use pharmacy_service::app::{InboundContent, InboundEvent, InboundMessage, InboundOutcome, Sender};
use pharmacy_service::db;
use pharmacy_service::db::tickets::TicketFilter;
use pharmacy_service::domain::ids::{AgentId, TicketId, UserId};
use pharmacy_service::domain::routing::AgentStatus;
use pharmacy_service::domain::schedule::{Span, WeeklyHours};
use pharmacy_service::domain::ticket::{Actor, TicketStatus};
use pharmacy_service::import::{ImportOptions, ImportReport, import_into};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

/// What build_db.py wrote, as it reports it.
#[derive(Debug, Deserialize)]
struct Facts {
    old_password_user: String,
    old_password: String,
    body: String,
    duration_ms: i64,
    duration_stored: i64,
    open_tickets: Vec<i64>,
}

/// The venv's Python; fails (never skips) when setup.sh has not run.
fn django_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let venv = root.join(".tools").join("django");
    let python = if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    };
    assert!(
        python.is_file(),
        "Django is not installed in {}: run pharmacy-service/tests/django/setup.sh (test.sh runs it before cargo test)",
        venv.display()
    );
    python
}

struct Switchover {
    _dir: TempDir,
    django: PathBuf,
    facts: Facts,
    clock: Arc<ManualClock>,
    app: App,
}

impl Switchover {
    /// A Django database, and a fresh service (no branches yet) with a virtual clock.
    async fn new() -> Switchover {
        let dir = TempDir::new();
        let django = dir.0.join("db.sqlite3");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/django/build_db.py");
        let out = std::process::Command::new(django_python())
            .arg(&script)
            .arg(&django)
            .output()
            .expect("running build_db.py");
        assert!(
            out.status.success(),
            "build_db.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let facts: Facts = serde_json::from_slice(&out.stdout).expect("build_db.py's facts");
        let clock = Arc::new(ManualClock::new(T0));
        let app = App::open(&dir.0.join("pharmacy.db"), clock.clone(), config(&dir))
            .await
            .unwrap();
        Switchover {
            _dir: dir,
            django,
            facts,
            clock,
            app,
        }
    }

    async fn import(&self) -> ImportReport {
        import_into(&self.app, &ImportOptions::new(&self.django))
            .await
            .unwrap()
    }

    async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        sqlx::query_scalar(sql)
            .fetch_one(self.app.pool())
            .await
            .unwrap()
    }

    /// The service ticket a Django ticket became.
    async fn ticket_of(&self, django_id: i64) -> TicketId {
        TicketId(
            self.scalar(&format!(
                "SELECT target_id FROM import_source_ids
                 WHERE source_table = 'conversations_ticket' AND source_id = '{django_id}'"
            ))
            .await,
        )
    }

    async fn ticket(&self, id: TicketId) -> db::tickets::Ticket {
        let mut c = self.app.pool().acquire().await.unwrap();
        db::tickets::by_id(&mut c, id).await.unwrap().unwrap()
    }

    async fn user(&self, username: &str) -> UserId {
        UserId(
            self.scalar(&format!(
                "SELECT id FROM users WHERE username = '{username}'"
            ))
            .await,
        )
    }

    async fn agent(&self, username: &str) -> AgentId {
        AgentId(
            self.scalar(&format!(
                "SELECT a.id FROM agents a JOIN users u ON u.id = a.user_id WHERE u.username = '{username}'"
            ))
            .await,
        )
    }

    async fn carried_over_view(&self) -> Vec<TicketId> {
        let filter = TicketFilter {
            carried_over: Some(true),
            ..TicketFilter::default()
        };
        let mut ids: Vec<TicketId> = self
            .app
            .list_tickets(filter, None, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.ticket.id)
            .collect();
        ids.sort();
        ids
    }
}

#[tokio::test]
async fn a_django_database_imports_whole_and_its_open_tickets_survive_the_first_week() {
    let s = Switchover::new().await;
    let report = s.import().await;

    // The four spellings of one number are one customer; the deleted agent's ticket came in
    // unassigned; every open or pending ticket is carried over.
    assert_eq!(report.get("customers").imported, 4, "{report:#?}");
    assert_eq!(report.get("customers").merged, 3, "{report:#?}");
    assert_eq!(report.get("tickets").imported, 5, "{report:#?}");
    assert_eq!(report.get("messages").imported, 9, "{report:#?}");
    assert_eq!(report.carried_over, 4);
    assert_eq!(report.switchover_page, "/app#/switchover");
    assert!(report.human_summary().contains("/app#/switchover"));
    assert!(report.unmappable.is_empty(), "{:#?}", report.unmappable);

    // Message bodies exactly as Django stored them.
    let body: String = s
        .scalar("SELECT body FROM messages WHERE wa_id = '3EB0AAA1'")
        .await;
    assert_eq!(body, s.facts.body);

    // The DurationField (integer microseconds in SQLite) of the row with only the reply time.
    assert_eq!(s.facts.duration_stored, s.facts.duration_ms * 1000);
    let closed = s.ticket_of(1).await;
    let millis: i64 = s
        .scalar(&format!(
            "SELECT millis FROM response_times WHERE ticket_id = {} AND kind = 'reply'",
            closed.0
        ))
        .await;
    assert_eq!(millis, s.facts.duration_ms);

    // Old passwords (make_password's pbkdf2_sha256) work.
    assert!(
        s.app
            .authenticate(&s.facts.old_password_user, &s.facts.old_password, None)
            .await
            .unwrap()
            .is_some()
    );

    // First start, then a week of virtual time with the jobs running: nothing carried over is
    // closed or flagged as delayed while nobody acts.
    let mut open = Vec::new();
    for id in &s.facts.open_tickets {
        open.push(s.ticket_of(*id).await);
    }
    open.sort();
    assert_eq!(s.carried_over_view().await, open);
    for _ in 0..7 {
        let jobs = s.app.run_jobs().await.unwrap();
        assert!(jobs.auto_closed.is_empty(), "{jobs:?}");
        assert!(jobs.delayed.is_empty(), "{jobs:?}");
        s.clock.advance(DAY);
    }
    for t in &open {
        let t = s.ticket(*t).await;
        assert_ne!(t.status, TicketStatus::Closed, "{t:?}");
        assert_eq!(t.carried_over_at.map(|c| c.0), Some(T0.0));
    }

    // Keeping one makes it a normal ticket whose inactivity clock starts now; closing another
    // takes it out of the view; the rest stay.
    let toriel = s.user("agent_toriel").await;
    let kept = s.ticket_of(s.facts.open_tickets[0]).await;
    let kept_at = s.app.now();
    let t = s
        .app
        .review_carried_over(kept, Actor::Agent(toriel), CarryOverDecision::Keep)
        .await
        .unwrap();
    assert_eq!((t.carried_over_at, t.last_activity_at), (None, kept_at));
    let boss = s.user("boss").await;
    let gone = s.ticket_of(s.facts.open_tickets[1]).await;
    let t = s
        .app
        .review_carried_over(gone, Actor::Admin(boss), CarryOverDecision::Close(None))
        .await
        .unwrap();
    assert_eq!((t.status, t.carried_over_at), (TicketStatus::Closed, None));
    assert!(
        s.app
            .review_carried_over(gone, Actor::Admin(boss), CarryOverDecision::Keep)
            .await
            .is_err(),
        "a reviewed ticket is reviewed once"
    );
    let rest: Vec<TicketId> = open
        .iter()
        .copied()
        .filter(|t| *t != kept && *t != gone)
        .collect();
    assert_eq!(s.carried_over_view().await, rest);
    s.clock.advance(DAY * 3);
    let jobs = s.app.run_jobs().await.unwrap();
    assert_eq!(
        jobs.auto_closed,
        [kept],
        "only the kept ticket's clock runs"
    );
    for t in &rest {
        assert_ne!(s.ticket(*t).await.status, TicketStatus::Closed);
    }
}

#[tokio::test]
async fn mapping_the_imported_branches_routes_new_customers_by_branch() {
    let s = Switchover::new().await;
    s.import().await;
    let boss = s.user("boss").await;

    // The old system's free-text branches came in as legacy rows, with suggestions from the
    // seed's branches by normalised name (Arabic "فرع المشاية" included).
    let st = s.app.switchover_status().await.unwrap();
    assert!(!st.ready);
    assert_eq!(st.carried_over, 4);
    let mut legacy: Vec<(String, Vec<String>)> = st
        .legacy_branches
        .iter()
        .map(|l| {
            (
                l.branch.name.clone(),
                l.suggestions.iter().map(|x| x.code.clone()).collect(),
            )
        })
        .collect();
    legacy.sort();
    assert_eq!(
        legacy,
        [
            ("Mit Ghamr".to_owned(), vec![]),
            ("Toriel".to_owned(), vec!["toriel".to_owned()]),
            ("فرع المشاية".to_owned(), vec!["mashaya".to_owned()]),
        ]
    );
    let id_of = |name: &str| {
        st.legacy_branches
            .iter()
            .find(|l| l.branch.name == name)
            .unwrap()
            .branch
            .id
    };

    // Map two onto the default branches; complete the third (no such default) in place.
    let toriel = s
        .app
        .map_legacy_branch(id_of("Toriel"), MapTarget::Default("toriel".into()), boss)
        .await
        .unwrap();
    let mashaya = s
        .app
        .map_legacy_branch(
            id_of("فرع المشاية"),
            MapTarget::Default("mashaya".into()),
            boss,
        )
        .await
        .unwrap();
    let half = s.app.switchover_status().await.unwrap();
    let far = &half.legacy_branches[0];
    assert_eq!(far.branch.name, "Mit Ghamr");
    assert!(
        s.app
            .set_up_branch(
                far.branch.id,
                &BranchSetup {
                    active: Some(true),
                    ..BranchSetup::default()
                },
                boss,
            )
            .await
            .is_err(),
        "a legacy code takes no tickets"
    );
    s.app
        .set_up_branch(
            far.branch.id,
            &BranchSetup {
                code: Some("mit-ghamr".into()),
                name_ar: Some("صيدلية خليفة – ميت غمر".into()),
                address: Some("El Bahr St, Mit Ghamr".into()),
                latitude: Some(30.7160),
                longitude: Some(31.2600),
                hours: Some(WeeklyHours::every_day(&[Span::hm(9, 0, 23, 0)])),
                active: Some(true),
                ..BranchSetup::default()
            },
            boss,
        )
        .await
        .unwrap();
    let done = s.app.switchover_status().await.unwrap();
    assert!(done.legacy_branches.is_empty());
    assert_eq!(done.branches.len(), 3);
    for b in &done.branches {
        assert_eq!(b.missing, Vec::<BranchGap>::new(), "{b:?}");
    }
    assert!(done.ready);

    // Agents, their tickets, and the import's ledger moved: a second import run creates no
    // branch again.
    let mashaya_agent = s.agent("agent_mashaya").await;
    let agent_branch: i64 = s
        .scalar(&format!(
            "SELECT branch_id FROM agents WHERE id = {}",
            mashaya_agent.0
        ))
        .await;
    assert_eq!(agent_branch, mashaya.id.0);
    let pending = s.ticket(s.ticket_of(s.facts.open_tickets[1]).await).await;
    assert_eq!(pending.branch_id, Some(mashaya.id));
    assert_eq!(
        s.scalar::<i64>("SELECT count(*) FROM branches WHERE code LIKE 'legacy-%'")
            .await,
        0
    );
    let again = s.import().await;
    assert_eq!(again.get("branches").imported, 0, "{again:#?}");
    assert_eq!(
        s.scalar::<i64>("SELECT count(*) FROM branches").await,
        3,
        "{again:#?}"
    );

    // Routing works by branch now: a new customer near El Mashaya goes to its pharmacist.
    for agent in [s.agent("agent_toriel").await, mashaya_agent] {
        s.app
            .set_agent_status(agent, AgentStatus::Online, None)
            .await
            .unwrap();
    }
    let outcome = s
        .app
        .handle_inbound(InboundEvent::Message(InboundMessage {
            wa_id: "NEW-1".into(),
            from: Sender {
                phone: Some("201155566677".into()),
                lid: None,
                push_name: Some("Mona".into()),
            },
            at: s.app.now(),
            content: InboundContent::Location {
                latitude: mashaya.latitude + 0.0005,
                longitude: mashaya.longitude,
                name: None,
            },
            quoted_wa_id: None,
        }))
        .await
        .unwrap();
    let InboundOutcome::Stored { ticket_id, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let t = s.ticket(ticket_id).await;
    assert_eq!(
        (t.branch_id, t.agent_id),
        (Some(mashaya.id), Some(mashaya_agent))
    );
    assert_ne!(toriel.id, mashaya.id);
}

#[tokio::test]
async fn the_switchover_api_is_typed_admin_only_and_reviews_once() {
    use super::api_support::{ADMIN, T1, spawn_app};
    use serde_json::json;
    let t = spawn_app().await;
    let ticket = t
        .customer_writes("201007770001", "co-1", "من النظام القديم")
        .await;
    t.assign(ticket, t.world.agents[0]).await;
    sqlx::query("UPDATE tickets SET carried_over_at = ? WHERE id = ?")
        .bind(t.world.app.now())
        .bind(ticket)
        .execute(t.world.app.pool())
        .await
        .unwrap();
    let agent = t.login(T1).await;
    let admin = t.login(ADMIN).await;

    // The inbox's carried-over view, for the agent too.
    let listed = agent.get("/api/tickets?carried_over=true").await.json();
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ticket"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [ticket.0]);

    // The page is for admins.
    let r = agent.get("/api/switchover").await;
    assert_eq!((r.status, r.code()), (403, "forbidden".to_owned()));
    let r = admin.get("/api/switchover").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let st = r.json();
    assert_eq!(st["carried_over"], 1);
    assert_eq!(st["legacy_branches"], json!([]));
    let branch = t.world.branches[0].0;
    let r = admin
        .post(
            &format!("/api/switchover/branches/{branch}/map"),
            json!({ "default_code": "toriel" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "conflict".to_owned()));
    let r = admin
        .send_json(
            "PUT",
            &format!("/api/switchover/branches/{branch}"),
            json!({ "hours": { "days": [[{ "start": 600, "end": 600 }], [], [], [], [], [], []] } }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"]["details"]["field"], "hours.days[0]");

    // The agent keeps their carried-over ticket, once.
    let path = format!("/api/switchover/tickets/{}/review", ticket.0);
    let r = agent.post(&path, json!({ "action": "keep" })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ticket"]["carried_over_at"], json!(null));
    let r = agent.post(&path, json!({ "action": "keep" })).await;
    assert_eq!((r.status, r.code()), (409, "conflict".to_owned()));
}
