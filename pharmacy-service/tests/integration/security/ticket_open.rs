//! An agent opens a ticket by hand for a customer of another branch, to read the customer's
//! profile, history, messages and notes. Only a customer the agent serves or has just added
//! may get a hand-opened ticket; any other answers 404 and nothing becomes readable.

use super::super::api_support::*;
use pharmacy_service::domain::ticket::Actor;
use serde_json::json;

/// A customer served and closed at Gomhoreya, with a ticket note; returns (customer, ticket).
async fn gomhoreya_customer(t: &TestApp, phone: &str) -> (i64, i64) {
    let ticket = t.customer_writes(phone, "G-1", "my prescription").await;
    t.assign(ticket, t.world.agents[2]).await;
    t.world
        .app
        .add_ticket_note(ticket, t.world.agent_users[2], "diabetic, see file")
        .await
        .unwrap();
    t.world
        .app
        .close_ticket(ticket, Actor::System, None)
        .await
        .unwrap();
    (t.world.ticket(ticket).await.customer_id.0, ticket.0)
}

/// Everything of the customer T1 must not read.
async fn history_hidden(t: &TestApp, agent: &Client, customer: i64, ticket: i64) {
    for path in [
        format!("/api/customers/{customer}"),
        format!("/api/customers/{customer}/history"),
        format!("/api/tickets/{ticket}"),
        format!("/api/tickets/{ticket}/notes"),
        format!("/api/messages?ticket={ticket}"),
    ] {
        let r = agent.get(&path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    let listed = agent
        .get(&format!("/api/tickets?customer={customer}"))
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, 0);
    let found = agent
        .get("/api/messages/search?q=prescription")
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(found, 0);
    let _ = t;
}

#[tokio::test]
async fn another_branchs_customer_cannot_be_opened() {
    let t = spawn_app().await;
    let (customer, ticket) = gomhoreya_customer(&t, "201002220001").await;
    let agent = t.login(T1).await;
    let tickets_before = t.world.count("SELECT count(*) FROM tickets").await;
    let r = agent
        .post("/api/tickets", json!({ "customer_id": customer }))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.code(), "not_found");
    assert_eq!(
        t.world.count("SELECT count(*) FROM tickets").await,
        tickets_before
    );
    history_hidden(&t, &agent, customer, ticket).await;

    // While the customer's ticket is open at Gomhoreya, the answer is the same 404 (not a
    // 409 saying that the customer exists and is busy).
    let open = t.customer_writes("201002220002", "G-2", "hello").await;
    t.assign(open, t.world.agents[2]).await;
    let busy = t.world.ticket(open).await.customer_id.0;
    let r = agent
        .post("/api/tickets", json!({ "customer_id": busy }))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
}

#[tokio::test]
async fn only_a_customer_the_agent_just_added_can_be_opened() {
    let t = spawn_app().await;
    let t1 = t.login(T1).await;
    let t2 = t.login(T2).await;
    // Added by a colleague: not T1's to open.
    let r = t2
        .post("/api/customers", json!({ "phone": "01002220003" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let colleagues = r.json()["customer"]["id"].as_i64().unwrap();
    let r = t1
        .post("/api/tickets", json!({ "customer_id": colleagues }))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());

    // Added by T1 but with tickets since (the customer wrote and was served at Gomhoreya):
    // opening it would show that history.
    let r = t1
        .post("/api/customers", json!({ "phone": "01002220004" }))
        .await;
    let added = r.json()["customer"]["id"].as_i64().unwrap();
    let (customer, ticket) = gomhoreya_customer(&t, "201002220004").await;
    assert_eq!(customer, added);
    let r = t1
        .post("/api/tickets", json!({ "customer_id": added }))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    history_hidden(&t, &t1, customer, ticket).await;

    // Just added by T1, no tickets: opened, and theirs.
    let r = t1
        .post("/api/customers", json!({ "phone": "01002220005" }))
        .await;
    let fresh = r.json()["customer"]["id"].as_i64().unwrap();
    let r = t1
        .post("/api/tickets", json!({ "customer_id": fresh }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["ticket"]["agent_id"], t.world.agents[0].0);
    // An admin may open for anyone.
    let admin = t.login(ADMIN).await;
    let r = admin
        .post("/api/tickets", json!({ "customer_id": customer }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
}
