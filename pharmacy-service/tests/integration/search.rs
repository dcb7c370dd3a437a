//! Arabic-normalised full-text search over messages and customers.

use crate::support::*;
use pharmacy_service::db::messages::SearchScope;

#[tokio::test]
async fn a_word_is_found_with_and_without_diacritics() {
    let w = World::new().await;
    let t = w
        .text("201001234567", "S1", "هل عندكم بَنَادُول إكسترا في الصيدلية؟")
        .await;
    w.text("201009999999", "S2", "أريد دواء للبرد").await;
    for q in [
        "بنادول",
        "بَنَادُول",
        "اكسترا",
        "صيدليه",
        "الصيدلية",
        "بناد",
        "panadol",
    ] {
        let hits = w
            .app
            .search_messages_in(q, SearchScope::All, 10)
            .await
            .unwrap();
        let expected = usize::from(q != "panadol");
        assert_eq!(hits.len(), expected, "{q}");
    }
    assert_eq!(
        w.app
            .search_messages_in("ادويه", SearchScope::All, 10)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        w.app
            .search_messages_in("دواء", SearchScope::All, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Scoped to the tickets an agent may see.
    assert_eq!(
        w.app
            .search_messages_in("بنادول", SearchScope::Tickets(&[t]), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        w.app
            .search_messages_in("بنادول", SearchScope::Tickets(&[]), 10)
            .await
            .unwrap()
            .len(),
        0
    );
    assert!(
        w.app
            .search_messages_in("  \"* ", SearchScope::All, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn customers_are_found_by_name_and_either_spelling_of_the_number() {
    let w = World::new().await;
    w.text("201001234567", "C1", "hi").await;
    for q in ["01001234567", "٠١٠٠١٢٣٤٥٦٧", "201001234567", "mona"] {
        assert_eq!(w.app.search_customers(q, 10).await.unwrap().len(), 1, "{q}");
    }
    let listed = w
        .app
        .list_tickets(Default::default(), Some("0100123"), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn agents_search_and_see_only_their_tickets_and_their_customers_history() {
    let w = World::new().await;
    w.online(0).await;
    let t1 = w.text("201001234567", "V1", "بنادول للصداع").await;
    w.app
        .close_ticket(
            t1,
            pharmacy_service::domain::ticket::Actor::Admin(w.admin),
            None,
        )
        .await
        .unwrap();
    w.advance(std::time::Duration::from_secs(13 * 3600));
    w.app
        .set_agent_status(
            w.agents[0],
            pharmacy_service::domain::routing::AgentStatus::Offline,
            None,
        )
        .await
        .unwrap();
    w.online(2).await;
    // The same customer returns and is served by the Gomhoreya agent: they see the old ticket too.
    let t2 = w.text("201001234567", "V2", "بنادول تاني").await;
    assert_eq!(w.ticket(t2).await.agent_id, Some(w.agents[2]));
    let other = w.text("201009999999", "V3", "بنادول").await;
    assert_eq!(w.ticket(other).await.agent_id, Some(w.agents[2]));
    w.app
        .transfer_ticket(
            other,
            w.admin,
            pharmacy_service::app::TransferTarget::Agent(w.agents[1]),
            "toriel",
        )
        .await
        .unwrap();
    let a2 = w.agents[2];
    assert!(w.app.agent_can_see(a2, t1).await.unwrap());
    assert!(w.app.agent_can_see(a2, t2).await.unwrap());
    assert!(!w.app.agent_can_see(a2, other).await.unwrap());
    let hits = w
        .app
        .search_messages_in("بنادول", SearchScope::Agent(a2, Some(w.branches[1])), 10)
        .await
        .unwrap();
    let mut tickets: Vec<_> = hits.iter().map(|m| m.ticket_id).collect();
    tickets.dedup();
    assert_eq!(tickets, [t2, t1]);
    let filter = pharmacy_service::db::tickets::TicketFilter {
        visible_to_agent: Some((a2, Some(w.branches[1]))),
        ..Default::default()
    };
    let listed: Vec<_> = w
        .app
        .list_tickets(filter, None, None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.ticket.id)
        .collect();
    assert_eq!(listed, [t2, t1]);
}

#[tokio::test]
async fn an_agent_with_more_tickets_than_sqlite_parameters_can_search_over_http() {
    use crate::api_support::{G1, spawn_app};
    let t = spawn_app().await;
    let w = &t.world;
    let mine = t
        .customer_writes("201001234567", "P1", "عندكم بنادول؟")
        .await;
    t.assign(mine, w.agents[2]).await;
    let other = t
        .customer_writes("201009999999", "P2", "بنادول من فضلك")
        .await;
    t.assign(other, w.agents[0]).await;
    // 34,000 closed tickets of the agent's customer, all visible to them (the customer's
    // history): more than SQLite's 32,766 bound parameters if each id were bound.
    let customer = w.ticket(mine).await.customer_id;
    let mut tx = w.app.pool().begin().await.unwrap();
    let inserted = sqlx::query(
        "INSERT INTO tickets (customer_id, branch_id, agent_id, status, created_at, opened_at, \
         last_activity_at, closed_at) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 34000) \
         SELECT ?1, ?2, ?3, 'closed', 0, 0, 0, 0 FROM n",
    )
    .bind(customer)
    .bind(w.branches[1])
    .bind(w.agents[2])
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(inserted.rows_affected(), 34_000);
    tx.commit().await.unwrap();

    let me = t.login(G1).await;
    let r = me.get("/api/messages/search?q=بنادول").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tickets: Vec<i64> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ticket_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        tickets,
        [mine.0],
        "only the agent's own ticket: {}",
        r.text()
    );
    // The admin still sees both.
    let admin = t.login(crate::api_support::ADMIN).await;
    let r = admin.get("/api/messages/search?q=بنادول").await;
    assert_eq!(
        r.json()["items"].as_array().unwrap().len(),
        2,
        "{}",
        r.text()
    );
}
