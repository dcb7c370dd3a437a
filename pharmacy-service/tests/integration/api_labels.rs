//! Conversation labels: admins define them, the agents working a ticket set them, the inbox
//! filters by them, the report counts them; and removing a customer's tag.

use super::api_support::*;
use super::api_ws::{connect, until};
use serde_json::{Value, json};

fn names(v: &Value) -> Vec<String> {
    v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn new_label(admin: &Client, name: &str, color: &str) -> i64 {
    let r = admin
        .post("/api/labels", json!({ "name": name, "color": color }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["label"]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn admins_define_rename_archive_and_restore_labels() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let agent = t.login(T1).await;
    // The pharmacy starts with its usual reasons.
    let r = agent.get("/api/labels").await;
    assert_eq!(r.status, 200);
    assert!(
        names(&r.json()).contains(&"روشتة".to_owned()),
        "{}",
        r.text()
    );

    let id = new_label(&admin, "  Price   question ", "yellow").await;
    let r = admin.get("/api/labels").await;
    assert!(names(&r.json()).contains(&"Price question".to_owned()));
    // Agents use labels, admins define them.
    let r = agent
        .post("/api/labels", json!({ "name": "x", "color": "red" }))
        .await;
    assert_eq!(r.status, 403);
    let r = agent
        .patch(&format!("/api/labels/{id}"), json!({ "name": "y" }))
        .await;
    assert_eq!(r.status, 403);
    // Names: one line, 1-40 characters, unique among labels in use; colours from the palette.
    for (body, field) in [
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "a\nb" }), "name"),
        (json!({ "name": "ش".repeat(41) }), "name"),
        (json!({ "name": "ok", "color": "#ff0000" }), "color"),
    ] {
        let r = admin.post("/api/labels", body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["details"]["field"], field, "{body}");
    }
    let r = admin
        .post("/api/labels", json!({ "name": "PRICE QUESTION" }))
        .await;
    assert_eq!(r.status, 409, "{}", r.text());

    // Renamed and recoloured; archived: gone from the default list, kept with `archived`.
    let r = admin
        .patch(
            &format!("/api/labels/{id}"),
            json!({ "name": "Price", "color": "teal" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["label"]["color"], "teal");
    let r = admin
        .patch(&format!("/api/labels/{id}"), json!({ "archived": true }))
        .await;
    assert!(r.json()["label"]["archived_at"].is_i64(), "{}", r.text());
    assert!(!names(&agent.get("/api/labels").await.json()).contains(&"Price".to_owned()));
    assert!(
        names(&agent.get("/api/labels?archived=true").await.json()).contains(&"Price".to_owned())
    );
    // Its name is free again while it is archived; restoring it then is a conflict.
    let other = new_label(&admin, "price", "gray").await;
    let r = admin
        .patch(&format!("/api/labels/{id}"), json!({ "archived": false }))
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let r = admin
        .patch(
            &format!("/api/labels/{other}"),
            json!({ "name": "Price (old)" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = admin
        .patch(&format!("/api/labels/{id}"), json!({ "archived": false }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["label"]["archived_at"].is_null());
    assert_eq!(
        admin
            .patch("/api/labels/999999", json!({ "name": "z" }))
            .await
            .status,
        404
    );
    // Every change is in the activity log.
    assert_eq!(
        t.world
            .count("SELECT count(*) FROM activity_log WHERE action LIKE 'label.%'")
            .await,
        6
    );
}

#[tokio::test]
async fn agents_label_the_tickets_they_work_and_the_inbox_filters_by_label() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let me = t.login(T1).await;
    let colleague = t.login(T2).await;
    let delivery = new_label(&admin, "Delivery", "green").await;
    let complaint = new_label(&admin, "Complaint", "red").await;
    let a = t.customer_writes("201001230101", "w1", "عايز توصيل").await;
    let b = t.customer_writes("201001230102", "w2", "شكوى").await;
    t.assign(a, t.world.agents[0]).await;
    t.assign(b, t.world.agents[0]).await;
    let mut ws = connect(&t, &me, None).await;

    let put = |ticket: i64, label: i64| {
        let me = me.clone();
        async move {
            me.send_json(
                "PUT",
                &format!("/api/tickets/{ticket}/labels/{label}"),
                json!({}),
            )
            .await
        }
    };
    let r = put(a.0, delivery).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(names(&r.json()), ["Delivery"]);
    // Idempotent: a second PUT changes nothing and logs nothing.
    assert_eq!(names(&put(a.0, delivery).await.json()), ["Delivery"]);
    assert_eq!(
        names(&put(a.0, complaint).await.json()),
        ["Complaint", "Delivery"]
    );
    assert_eq!(names(&put(b.0, complaint).await.json()), ["Complaint"]);
    // The other browsers hear of it.
    let (_, ev) = until(&mut ws, |v| {
        v["type"] == "ticketLabels" && v["ticket"]["id"] == a.0
    })
    .await;
    assert_eq!(ev["labels"][0]["name"], "Delivery");

    // The inbox rows and the ticket carry them; the filter narrows the list.
    let ids = |v: Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ticket"]["id"].as_i64().unwrap())
            .collect()
    };
    let r = me.get("/api/tickets?status=open").await;
    let row = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ticket"]["id"] == a.0)
        .cloned()
        .unwrap();
    assert_eq!(row["labels"], json!([delivery, complaint]));
    assert_eq!(
        ids(me
            .get(&format!("/api/tickets?label={delivery}"))
            .await
            .json()),
        [a.0]
    );
    let mut both = ids(me
        .get(&format!("/api/tickets?label={complaint}"))
        .await
        .json());
    both.sort();
    assert_eq!(both, [a.0, b.0]);
    let r = me.get(&format!("/api/tickets/{}", a.0)).await;
    assert_eq!(names(&r.json()), ["Complaint", "Delivery"]);

    // Off again; removing what is not there is no error.
    let path = format!("/api/tickets/{}/labels/{complaint}", a.0);
    assert_eq!(names(&me.delete(&path).await.json()), ["Delivery"]);
    assert_eq!(me.delete(&path).await.status, 200);
    assert_eq!(
        t.world
            .count("SELECT count(*) FROM activity_log WHERE action IN ('ticket.labeled', 'ticket.unlabeled')")
            .await,
        4
    );

    // A colleague's ticket is not theirs to see (404, as every other answer about it);
    // an unknown label: 404; an archived one: 422.
    let r = colleague
        .send_json(
            "PUT",
            &format!("/api/tickets/{}/labels/{delivery}", b.0),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(put(b.0, 999_999).await.status, 404);
    assert_eq!(
        me.send_json("PUT", &format!("/api/tickets/{}/labels/x", b.0), json!({}))
            .await
            .status,
        404
    );
    admin
        .patch(
            &format!("/api/labels/{delivery}"),
            json!({ "archived": true }),
        )
        .await;
    let r = put(b.0, delivery).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"]["details"]["field"], "label_id");
    // An archived label stays on the tickets that carry it.
    assert_eq!(
        names(&me.get(&format!("/api/tickets/{}", a.0)).await.json()),
        ["Delivery"]
    );

    // At most eight on one ticket.
    for i in 0..8 {
        let l = new_label(&admin, &format!("L{i}"), "gray").await;
        let r = put(b.0, l).await;
        assert_eq!(r.status, if i < 7 { 200 } else { 422 }, "{i}: {}", r.text());
    }
}

#[tokio::test]
async fn the_label_report_counts_tickets_per_label_and_branch() {
    let t = spawn_app().await;
    let admin = t.login(ADMIN).await;
    let me = t.login(T1).await;
    let g1 = t.login(G1).await;
    let l = new_label(&admin, "Stock", "purple").await;
    let a = t.customer_writes("201001230201", "w1", "a").await;
    let b = t.customer_writes("201001230202", "w2", "b").await;
    let c = t.customer_writes("201001230203", "w3", "c").await;
    t.assign(a, t.world.agents[0]).await;
    t.assign(b, t.world.agents[0]).await;
    t.assign(c, t.world.agents[2]).await;
    for (who, ticket) in [(&me, a), (&me, b), (&g1, c)] {
        let r = who
            .send_json(
                "PUT",
                &format!("/api/tickets/{}/labels/{l}", ticket.0),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = me
        .post(
            &format!("/api/tickets/{}/close", a.0),
            json!({ "reason": "resolved" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(me.get("/api/analytics/labels").await.status, 403);
    let r = admin.get("/api/analytics/labels").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rows: Vec<(Value, i64, i64)> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["label_id"] == l)
        .map(|x| {
            (
                x["branch_id"].clone(),
                x["tickets"].as_i64().unwrap(),
                x["closed"].as_i64().unwrap(),
            )
        })
        .collect();
    let (toriel, gomhoreya) = (t.world.branches[0].0, t.world.branches[1].0);
    assert_eq!(rows, [(json!(toriel), 2, 1), (json!(gomhoreya), 1, 0)]);
    let r = admin
        .get(&format!("/api/analytics/labels?branch={gomhoreya}"))
        .await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);
    // Another period: nothing.
    let r = admin
        .get("/api/analytics/labels?from=2020-01-01&to=2020-01-02")
        .await;
    assert_eq!(r.json()["items"], json!([]));
}

#[tokio::test]
async fn a_customer_tag_can_be_removed() {
    let t = spawn_app().await;
    let me = t.login(T1).await;
    let ticket = t.customer_writes("201001230301", "w1", "hi").await;
    t.assign(ticket, t.world.agents[0]).await;
    let cu = t.world.ticket(ticket).await.customer_id.0;
    for tag in ["vip", "سكر"] {
        let r = me
            .post(&format!("/api/customers/{cu}/tags"), json!({ "tag": tag }))
            .await;
        assert_eq!(r.status, 200);
    }
    // A tag with non-ASCII letters travels percent-encoded in the path.
    let r = me
        .delete(&format!("/api/customers/{cu}/tags/%D8%B3%D9%83%D8%B1"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["tags"], json!(["vip"]));
    // Removing a tag the customer does not have is no error and logs nothing.
    let r = me.delete(&format!("/api/customers/{cu}/tags/nope")).await;
    assert_eq!(r.json()["tags"], json!(["vip"]));
    assert_eq!(
        t.world
            .count("SELECT count(*) FROM activity_log WHERE action = 'customer.untag'")
            .await,
        1
    );
    // Another branch's agent cannot.
    let g1 = t.login(G1).await;
    assert_eq!(
        g1.delete(&format!("/api/customers/{cu}/tags/vip"))
            .await
            .status,
        404
    );
}
