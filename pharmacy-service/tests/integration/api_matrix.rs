//! The authorisation matrix: every documented endpoint x role (anonymous, agent, admin), and
//! every object endpoint x ownership (the agent's own ticket, their branch's queue, a
//! colleague's ticket, another branch's ticket, an earlier ticket of a customer they serve).
//! Any cell that answers differently from the table fails the test.

use super::api_support::*;
use pharmacy_service::db;
use pharmacy_service::domain::ids::TicketId;
use pharmacy_service::http::openapi::{Access, operations};
use serde_json::json;
use std::time::Duration;

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{sha256}", &"0".repeat(64))
}

#[tokio::test]
async fn every_documented_endpoint_checks_the_role() {
    let t = spawn_app().await;
    let anon = t.client();
    let agent = t.login(T1).await;
    let mut failures = Vec::new();
    for op in operations() {
        let path = concrete(&op.path);
        let method = op.method.to_uppercase();
        let body = if matches!(method.as_str(), "POST" | "PATCH") {
            Some("{}")
        } else {
            None
        };
        let call = |c: &Client| {
            let c = c.clone();
            let (m, p) = (method.clone(), path.clone());
            async move {
                c.raw(
                    &m,
                    &p,
                    body.map(|_| "application/json"),
                    body.unwrap_or("").as_bytes(),
                    &[],
                )
                .await
            }
        };
        let r = call(&anon).await;
        let want_anon = match op.access {
            Access::Public => None,
            _ => Some(401),
        };
        if let Some(w) = want_anon
            && r.status != w
        {
            failures.push(format!(
                "anonymous {method} {path}: {} (want {w})",
                r.status
            ));
        }
        // The document states no more than the code asks: a public operation takes anyone.
        if op.access == Access::Public && r.status == 401 {
            failures.push(format!(
                "anonymous {method} {path}: 401 but documented public"
            ));
        }
        if r.status >= 500 {
            failures.push(format!("anonymous {method} {path}: {}", r.status));
        }
        // (Logging the agent out would end the session the loop uses.)
        if op.path == "/auth/logout" {
            continue;
        }
        let r = call(&agent).await;
        let admins_only =
            r.status == 403 && r.json()["error"]["message"] == "forbidden: admins only";
        if op.access == Access::Admin && r.status != 403 {
            failures.push(format!("agent {method} {path}: {} (want 403)", r.status));
        }
        // ...and an operation documented for any user is not refused to agents by role.
        if op.access != Access::Admin && admins_only {
            failures.push(format!(
                "agent {method} {path}: admins only, documented for users"
            ));
        }
        // Never a 5xx, whoever asks.
        if r.status >= 500 {
            failures.push(format!("agent {method} {path}: {}", r.status));
        }
    }
    assert!(
        failures.is_empty(),
        "leaking cells:\n{}",
        failures.join("\n")
    );
}

struct Fixture {
    own: TicketId,
    queue: TicketId,
    colleague: TicketId,
    foreign: TicketId,
    history: TicketId,
}

async fn fixture(t: &TestApp) -> Fixture {
    let w = &t.world;
    // An earlier ticket of the customer T1 will serve, handled and closed at Gomhoreya.
    let history = t
        .customer_writes("201002000001", "h1", "word-history")
        .await;
    t.assign(history, w.agents[2]).await;
    w.app
        .close_ticket(
            history,
            pharmacy_service::domain::ticket::Actor::System,
            None,
        )
        .await
        .unwrap();
    w.advance(Duration::from_secs(2 * 86_400));
    let own = t.customer_writes("201002000001", "o1", "word-own").await;
    assert_ne!(own, history);
    t.assign(own, w.agents[0]).await;
    let queue = t.customer_writes("201002000002", "q1", "word-queue").await;
    let colleague = t
        .customer_writes("201002000003", "c1", "word-colleague")
        .await;
    t.assign(colleague, w.agents[1]).await;
    let foreign = t
        .customer_writes("201002000004", "f1", "word-foreign")
        .await;
    t.assign(foreign, w.agents[2]).await;
    let mut c = w.app.pool().acquire().await.unwrap();
    db::tickets::assign(&mut c, queue, None, Some(w.branches[0]), w.app.now())
        .await
        .unwrap();
    Fixture {
        own,
        queue,
        colleague,
        foreign,
        history,
    }
}

#[tokio::test]
async fn every_object_endpoint_checks_ownership() {
    let t = spawn_app().await;
    let f = fixture(&t).await;
    let agent = t.login(T1).await;
    let admin = t.login(ADMIN).await;
    let customer = |id: TicketId| {
        let w = &t.world;
        async move { w.ticket(id).await.customer_id.0 }
    };
    let first_message = |id: TicketId| {
        let w = &t.world;
        async move {
            w.count(&format!(
                "SELECT min(id) FROM messages WHERE ticket_id = {}",
                id.0
            ))
            .await
        }
    };
    // (who, ticket, readable by T1, workable by T1)
    let cells = [
        ("own", f.own, true, true),
        ("queue", f.queue, true, true),
        ("colleague", f.colleague, false, false),
        ("foreign", f.foreign, false, false),
        ("history", f.history, true, false),
    ];
    let mut failures = Vec::new();
    let mut check = |label: String, got: u16, want: &[u16]| {
        if !want.contains(&got) {
            failures.push(format!("{label}: {got} (want {want:?})"));
        }
    };
    for (who, ticket, readable, workable) in cells {
        let id = ticket.0;
        let read_want: &[u16] = if readable { &[200] } else { &[404] };
        let act_want: &[u16] = match (readable, workable) {
            (_, true) => &[200, 201],
            (true, false) => &[403],
            (false, _) => &[404],
        };
        let cu = customer(ticket).await;
        let mid = first_message(ticket).await;
        for (name, path) in [
            ("ticket", format!("/api/tickets/{id}")),
            ("messages", format!("/api/messages?ticket={id}")),
            ("message", format!("/api/messages/{mid}")),
        ] {
            check(
                format!("agent GET {name} of {who}"),
                agent.get(&path).await.status,
                read_want,
            );
            check(
                format!("admin GET {name} of {who}"),
                admin.get(&path).await.status,
                &[200],
            );
        }
        // The customer behind the ticket: T1 serves the own (and so the history) customer;
        // a queue ticket's customer becomes theirs when they claim it.
        let serves = matches!(who, "own" | "history");
        let cwant: &[u16] = if serves { &[200] } else { &[404] };
        for path in [
            format!("/api/customers/{cu}"),
            format!("/api/customers/{cu}/history"),
        ] {
            check(
                format!("agent GET {path} ({who})"),
                agent.get(&path).await.status,
                cwant,
            );
        }
        let cw: &[u16] = if serves { &[200, 201] } else { &[404] };
        check(
            format!("agent tag customer of {who}"),
            agent
                .post(&format!("/api/customers/{cu}/tags"), json!({ "tag": "t" }))
                .await
                .status,
            cw,
        );
        check(
            format!("agent note customer of {who}"),
            agent
                .post(
                    &format!("/api/customers/{cu}/notes"),
                    json!({ "body": "n" }),
                )
                .await
                .status,
            cw,
        );
        check(
            format!("agent patch customer of {who}"),
            agent
                .patch(
                    &format!("/api/customers/{cu}"),
                    json!({ "email": "a@b.eg" }),
                )
                .await
                .status,
            cw,
        );
        // Acting on the ticket.
        check(
            format!("agent note on {who}"),
            agent
                .post(&format!("/api/tickets/{id}/notes"), json!({ "body": "n" }))
                .await
                .status,
            act_want,
        );
        check(
            format!("agent patch {who}"),
            agent
                .patch(&format!("/api/tickets/{id}"), json!({ "priority": "high" }))
                .await
                .status,
            act_want,
        );
        if !workable {
            // Refused cells change nothing, so the destructive ones can be tried too.
            check(
                format!("agent send on {who}"),
                agent
                    .post(
                        "/api/messages/send",
                        json!({ "ticket_id": id, "text": "x" }),
                    )
                    .await
                    .status,
                act_want,
            );
            check(
                format!("agent close {who}"),
                agent
                    .post(&format!("/api/tickets/{id}/close"), json!({}))
                    .await
                    .status,
                act_want,
            );
            check(
                format!("agent transfer {who}"),
                agent
                    .post(
                        &format!("/api/tickets/{id}/transfer"),
                        json!({ "agent_id": t.world.agents[0].0, "note": "mine now" }),
                    )
                    .await
                    .status,
                act_want,
            );
            check(
                format!("agent revoke in {who}"),
                agent.delete(&format!("/api/messages/{mid}")).await.status,
                act_want,
            );
            check(
                format!("agent review carried-over {who}"),
                agent
                    .post(
                        &format!("/api/switchover/tickets/{id}/review"),
                        json!({ "action": "keep" }),
                    )
                    .await
                    .status,
                act_want,
            );
        }
        check(
            format!("admin note on {who}"),
            admin
                .post(&format!("/api/tickets/{id}/notes"), json!({ "body": "n" }))
                .await
                .status,
            &[201],
        );
        check(
            format!("agent delete {who}"),
            agent.delete(&format!("/api/tickets/{id}")).await.status,
            &[403],
        );
    }
    // Sending on the own and queue tickets works (the queue ticket is claimed).
    for id in [f.own, f.queue] {
        check(
            format!("agent send on {id}"),
            agent
                .post(
                    "/api/messages/send",
                    json!({ "ticket_id": id.0, "text": "ok" }),
                )
                .await
                .status,
            &[201],
        );
    }
    // Lists and search show exactly the readable ones.
    let listed: Vec<i64> = agent.get("/api/tickets?limit=200").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ticket"]["id"].as_i64().unwrap())
        .collect();
    // The inbox: their tickets, their branch's queue, and the history of customers they serve.
    let mut want = vec![f.own.0, f.queue.0, f.history.0];
    want.sort();
    let mut got = listed.clone();
    got.sort();
    let rows: Vec<(i64, Option<i64>, Option<i64>, String)> =
        sqlx::query_as("SELECT id, agent_id, branch_id, status FROM tickets ORDER BY id")
            .fetch_all(t.world.app.pool())
            .await
            .unwrap();
    check(
        format!("agent inbox {got:?} vs {want:?}; {rows:?}"),
        (got == want) as u16,
        &[1],
    );
    let cu_own = customer(f.own).await;
    let hist: Vec<i64> = agent
        .get(&format!("/api/tickets?customer={cu_own}"))
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ticket"]["id"].as_i64().unwrap())
        .collect();
    check(
        format!("history list {hist:?}"),
        hist.contains(&f.history.0) as u16,
        &[1],
    );
    let cu_foreign = customer(f.foreign).await;
    let other = agent
        .get(&format!("/api/tickets?customer={cu_foreign}"))
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .len();
    check("foreign customer's tickets".into(), other as u16, &[0]);
    for (word, visible) in [
        ("own", true),
        ("queue", true),
        ("history", true),
        ("colleague", false),
        ("foreign", false),
    ] {
        let n = agent
            .get(&format!("/api/messages/search?q=word-{word}"))
            .await
            .json()["items"]
            .as_array()
            .unwrap()
            .len();
        check(
            format!("search word-{word}"),
            (n > 0) as u16,
            &[visible as u16],
        );
        let n = admin
            .get(&format!("/api/messages/search?q=word-{word}"))
            .await
            .json()["items"]
            .as_array()
            .unwrap()
            .len();
        check(format!("admin search word-{word}"), (n > 0) as u16, &[1]);
    }
    let customers: Vec<i64> = agent.get("/api/customers").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    check(
        format!("customer list {customers:?}"),
        (customers.contains(&cu_own) && !customers.contains(&cu_foreign)) as u16,
        &[1],
    );
    // Agents: own KPIs and status only.
    let (own_agent, other_agent) = (t.world.agents[0].0, t.world.agents[1].0);
    check(
        "own kpi".into(),
        agent
            .get(&format!("/api/agents/{own_agent}/kpi"))
            .await
            .status,
        &[200],
    );
    check(
        "other kpi".into(),
        agent
            .get(&format!("/api/agents/{other_agent}/kpi"))
            .await
            .status,
        &[403],
    );
    check(
        "own status".into(),
        agent
            .post(
                &format!("/api/agents/{own_agent}/status"),
                json!({ "status": "away" }),
            )
            .await
            .status,
        &[200],
    );
    check(
        "other status".into(),
        agent
            .post(
                &format!("/api/agents/{other_agent}/status"),
                json!({ "status": "away" }),
            )
            .await
            .status,
        &[403],
    );
    // Templates: an agent's own are theirs alone.
    let r = t
        .login(T2)
        .await
        .post(
            "/api/templates",
            json!({ "key": "mine", "title": "t", "body": "b" }),
        )
        .await;
    let tid = r.json()["template"]["id"].as_i64().unwrap();
    check(
        "agent deletes colleague's template".into(),
        agent.delete(&format!("/api/templates/{tid}")).await.status,
        &[404],
    );
    check(
        "agent sends colleague's template".into(),
        agent
            .post(
                "/api/messages/send",
                json!({ "ticket_id": f.own.0, "template_id": tid }),
            )
            .await
            .status,
        &[403],
    );
    assert!(
        failures.is_empty(),
        "leaking cells:\n{}",
        failures.join("\n")
    );
}
