//! The SQL KPI aggregates equal the pure fold over the journal.

use crate::support::*;
use pharmacy_service::app::{KpiQuery, SendReply};
use pharmacy_service::domain::kpi::{KpiTotals, roll_up};
use pharmacy_service::domain::routing::AgentStatus;
use pharmacy_service::domain::ticket::Actor;
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test]
async fn sql_aggregates_match_the_fold_per_agent_and_day() {
    let w = World::new().await;
    w.online(0).await;
    w.online(2).await;
    let reply = |t, u: usize, text: &'static str| {
        let app = w.app.clone();
        let user = w.agent_users[u];
        async move {
            app.send_reply(SendReply {
                ticket_id: t,
                user_id: user,
                text: Some(text.into()),
                ..Default::default()
            })
            .await
            .unwrap()
        }
    };
    // Day 1: three customers, replies, a close with a rating, a delay and a reassignment.
    let t1 = w.text("201000000001", "k1", "hello").await;
    w.advance(3 * MIN);
    let t2 = w.text("201000000002", "k2", "hi").await;
    // An admin (no agent seat) answers first: no KPI sample, the agent's clocks keep running.
    w.app
        .send_reply(SendReply {
            ticket_id: t2,
            user_id: w.admin,
            text: Some("an admin here".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    w.advance(2 * MIN);
    reply(t1, 0, "welcome").await;
    w.advance(MIN);
    w.text("201000000001", "k3", "do you have panadol").await;
    w.text("201000000001", "k4", "extra").await;
    w.advance(4 * MIN);
    reply(t1, 0, "yes").await;
    reply(t1, 0, "anything else?").await;
    let owner2 = w.ticket(t2).await.agent_id.unwrap();
    let u2 = w.agents.iter().position(|a| *a == owner2).unwrap();
    reply(t2, u2, "hello").await;
    w.app
        .close_ticket(t1, Actor::Agent(w.agent_users[0]), None)
        .await
        .unwrap();
    w.advance(MIN);
    w.send("201000000001", "k5", "5").await;
    let t3 = w.text("201000000003", "k6", "question").await;
    w.online(1).await;
    w.advance(11 * MIN);
    w.app.run_jobs().await.unwrap();
    let owner3 = w.ticket(t3).await.agent_id.unwrap();
    let u3 = w.agents.iter().position(|a| *a == owner3).unwrap();
    reply(t3, u3, "sorry for the wait").await;
    // Day 2 (after local midnight): a reopen cycle.
    w.advance(Duration::from_secs(14 * 3600));
    w.app
        .close_ticket(t3, Actor::Admin(w.admin), None)
        .await
        .unwrap();
    w.advance(MIN);
    w.text("201000000003", "k7", "one more thing").await;
    w.app
        .set_agent_status(w.agents[1], AgentStatus::Online, None)
        .await
        .unwrap();
    let owner3b = w.ticket(t3).await.agent_id.unwrap();
    let u3b = w.agents.iter().position(|a| *a == owner3b).unwrap();
    w.advance(7 * MIN);
    reply(t3, u3b, "sure").await;
    w.app
        .close_ticket(t3, Actor::Agent(w.agent_users[u3b]), None)
        .await
        .unwrap();

    let day1 = jiff::civil::date(2026, 11, 25);
    let day2 = jiff::civil::date(2026, 11, 26);
    for q in [
        KpiQuery {
            from: day1,
            to: day1,
        },
        KpiQuery {
            from: day2,
            to: day2,
        },
        KpiQuery {
            from: day1,
            to: day2,
        },
    ] {
        let sql: BTreeMap<_, _> = w
            .app
            .kpi_report(q)
            .await
            .unwrap()
            .agents
            .into_iter()
            .map(|r| (Some(r.agent_id), r.totals))
            .collect();
        let fold = w.app.kpi_fold(q).await.unwrap();
        let mut by_agent = roll_up(&fold, |k| k.agent);
        by_agent.remove(&None);
        by_agent.retain(|_, t| *t != KpiTotals::default());
        assert_eq!(sql, by_agent, "{q:?}");
    }
    let all = w
        .app
        .kpi_report(KpiQuery {
            from: day1,
            to: day2,
        })
        .await
        .unwrap();
    assert_eq!(all.overall.csat_count, 1);
    assert_eq!(all.overall.delays, 1);
    assert_eq!(all.overall.first_response_count, 4);
    assert!(
        all.formulas
            .iter()
            .any(|(k, _)| *k == "first_response_time")
    );
    // Rollups store the same numbers.
    w.app.roll_up_kpis(day1).await.unwrap();
    let sent: i64 = w
        .count("SELECT sum(messages_sent) FROM agent_kpi_daily WHERE day = '2026-11-25'")
        .await;
    let day1_sent: i64 = w
        .app
        .kpi_report(KpiQuery {
            from: day1,
            to: day1,
        })
        .await
        .unwrap()
        .overall
        .messages_sent;
    assert_eq!(sent, day1_sent);
    assert!(
        w.count("SELECT count(*) FROM agent_kpi_monthly WHERE month = '2026-11'")
            .await
            >= 1
    );
}
