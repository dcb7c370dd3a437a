//! What the client puts on the wire beside the ciphertext, read from the sim's stanza log as
//! whatsmeow sends it: the `edit` attribute of edits and revokes, `decrypt-fail="hide"` on
//! edits, revokes and reactions, the stanza `type` per kind; delivery receipts `inactive`
//! until we announce ourselves available, and the presence with our push name; and the LID a
//! `<success>` names kept when it changed.

use whatsapp_client::e2e::{self, protocol_message::Type};
use whatsapp_client::store::{DeviceStore, SqliteStore};
use whatsapp_client::{Event, Jid};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle, StanzaRecord};

use fixtures::{
    CUSTOMER, OWN_PHONE, config, expect, hold_token, next_message, paired, poll_until, sent_until,
    start, temp_db,
};

fn record(sim: &SimHandle, tag: &str, id: &str) -> StanzaRecord {
    sim.stanzas()
        .into_iter()
        .find(|s| s.tag == tag && s.id == id)
        .unwrap_or_else(|| panic!("no {tag} {id} in the stanza log"))
}

/// (stanza `type`, `edit`, each `<enc>`'s `decrypt-fail`) of the message `id` we sent.
fn sent_attrs(sim: &SimHandle, id: &str) -> (String, Option<String>, Vec<String>) {
    let r = record(sim, "message", id);
    assert!(!r.decrypt_fail.is_empty(), "{id} carried no <enc>");
    (r.kind, r.attrs.get("edit").cloned(), r.decrypt_fail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_revokes_and_reactions_carry_whatsmeows_attributes() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("edit-attrs");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    // The customer wrote before: its privacy token lets our messages through (no 463).
    hold_token(&sim, &path, CUSTOMER).await;
    let customer = Jid::user(CUSTOMER);
    let text = client
        .send_text(&customer, "ready at 5")
        .await
        .expect("text");
    let key = |from_me: bool| e2e::MessageKey {
        remote_jid: Some(customer.to_string()),
        from_me: Some(from_me),
        id: Some(text.clone()),
        participant: None,
    };
    let protocol = |kind: Type, from_me: bool, edited: Option<&str>| e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            key: Some(key(from_me)),
            r#type: Some(kind as i32),
            edited_message: edited.map(|t| {
                Box::new(e2e::Message {
                    conversation: Some(t.into()),
                    ..Default::default()
                })
            }),
            ..Default::default()
        })),
        ..Default::default()
    };
    let send = async |message| client.send_message(&customer, message).await.expect("send");
    let edit = send(protocol(Type::MessageEdit, true, Some("ready at 6"))).await;
    let reaction = send(e2e::Message {
        reaction_message: Some(e2e::ReactionMessage {
            key: Some(key(true)),
            text: Some("👍".into()),
            sender_timestamp_ms: Some(1_700_000_000_000),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    // The service's "delete for everyone" (pharmacy-service bridge.rs `revoke`): our own.
    let revoke = send(protocol(Type::Revoke, true, None)).await;
    let admin_revoke = send(protocol(Type::Revoke, false, None)).await;

    let (kind, edit_attr, fail) = sent_attrs(&sim, &text);
    assert_eq!((kind.as_str(), edit_attr), ("text", None));
    assert!(fail.iter().all(String::is_empty), "{fail:?}");
    let hidden = |fail: &[String]| fail.iter().all(|f| f == "hide");
    for (id, kind, edit_attr) in [
        (&edit, "text", Some("1")),
        (&reaction, "reaction", None),
        (&revoke, "text", Some("7")),
        (&admin_revoke, "text", Some("8")),
    ] {
        let (sent_kind, sent_edit, fail) = sent_attrs(&sim, id);
        assert_eq!(sent_kind, kind, "{id}");
        assert_eq!(sent_edit.as_deref(), edit_attr, "{id}");
        assert!(hidden(&fail), "{id}: {fail:?}");
    }
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_receipts_are_inactive_until_we_announce_ourselves_with_our_push_name() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("inactive-receipts");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let receipt_kind = async |id: &str| {
        poll_until(&format!("the receipt of {id}"), async || {
            sim.stanzas()
                .into_iter()
                .find(|s| s.tag == "receipt" && s.id == id)
                .map(|s| s.kind)
        })
        .await
    };

    let first = sim
        .customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("one".into()), None)
        .expect("send");
    next_message(&mut events, "the first message").await.ack();
    assert_eq!(receipt_kind(&first).await, "inactive");
    // An inactive receipt still counts as delivered on the sender's side.
    sent_until(&sim, CUSTOMER, &first, "delivered").await;

    client
        .send_presence(true, Some("City Pharmacy"))
        .await
        .expect("presence");
    let presence = poll_until("our presence", async || {
        sim.stanzas().into_iter().find(|s| s.tag == "presence")
    })
    .await;
    assert_eq!(presence.kind, "available");
    assert_eq!(
        presence.attrs.get("name").map(String::as_str),
        Some("City Pharmacy")
    );

    let second = sim
        .customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("two".into()), None)
        .expect("send");
    next_message(&mut events, "the second message").await.ack();
    assert_eq!(
        receipt_kind(&second).await,
        "",
        "a plain delivery once available"
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_lid_in_success_is_stored() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("changed-lid");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    let lid = client.lid().expect("a LID from pairing");
    client.shutdown().await;
    {
        // As if our LID had changed on the server since we stored it.
        let store = SqliteStore::open(&path).await.expect("store");
        let mut device = store.load_device().await.expect("load").expect("device");
        device.lid = Some(format!("11111111:{}@lid", lid.device).parse().expect("lid"));
        store.save_device(&device).await.expect("save");
    }
    let (client, mut events) = start(&path, config(&sim)).await;
    expect(&mut events, "connected", |e| {
        matches!(e, Event::Connected).then_some(())
    })
    .await;
    assert_eq!(client.lid(), Some(lid.clone()), "the server's LID is kept");
    client.shutdown().await;
    let store = SqliteStore::open(&path).await.expect("store");
    let device = store.load_device().await.expect("load").expect("device");
    assert_eq!(device.lid, Some(lid), "and stored");
}
