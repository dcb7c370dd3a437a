//! Privacy tokens between whatsapp-client and whatsapp-sim (part 2 §4.7): a token the phone's
//! history sync carries goes on the next 1:1 message as `<tctoken>`, our own token is issued
//! once per 7-day bucket, a message to someone who never wrote is refused with 463, and one
//! carrying a `<cstoken>` from the account's NCT salt (history sync) is let through.

use fixtures::{CUSTOMER, OWN_PHONE, config, expect, lid_of, next_message, paired, temp_db};
use whatsapp_client::store::{PrivacyTokenStore, SqliteStore};
use whatsapp_client::{ClientError, Event, Jid};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::history::{HistoryChat, HistoryMessage};
use whatsapp_sim::{Sim, SimConfig, SimHandle, StanzaRecord};

fn customer() -> Jid {
    Jid::user(CUSTOMER)
}

fn message_stanza(sim: &SimHandle, id: &str) -> StanzaRecord {
    sim.stanzas()
        .into_iter()
        .find(|s| s.tag == "message" && s.id == id)
        .unwrap_or_else(|| panic!("no message {id} in the sim's log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_history_sync_goes_on_the_next_send() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("token-history");
    sim.add_account(OWN_PHONE, "City Pharmacy")
        .expect("account");
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    // The customer wrote before this companion was linked: its token reaches the companion
    // only through the phone's history sync (no privacy_token notification).
    sim.customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("hi".into()), None)
        .expect("customer send");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    sim.seed_history(
        OWN_PHONE,
        vec![HistoryChat {
            jid: format!("{CUSTOMER}@s.whatsapp.net"),
            name: Some("Mona".into()),
            unread_count: 1,
            messages: vec![HistoryMessage {
                id: "3EB0HISTORY1".into(),
                from_me: false,
                text: "hi".into(),
                timestamp: now - 60,
            }],
        }],
    )
    .expect("history");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    expect(&mut events, "the history chunk", |e| match e {
        Event::HistorySync(_) => Some(()),
        _ => None,
    })
    .await;
    // Kept under the customer's LID (the chunk maps its number to it).
    let store = SqliteStore::open(&path).await.expect("store");
    let (token, _) = store
        .load_privacy_token(&lid_of(&sim, CUSTOMER))
        .await
        .expect("load")
        .expect("the history's token, under the LID");
    let id = client
        .send_text(&customer(), "welcome back")
        .await
        .expect("send");
    assert_eq!(
        message_stanza(&sim, &id).privacy_token,
        Some(("tctoken".to_owned(), hex::encode(token)))
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_token_is_issued_once_per_bucket() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("token-issue");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("hi".into()), None)
        .expect("customer send");
    next_message(&mut events, "the customer's message")
        .await
        .ack();
    for text in ["one", "two", "three"] {
        client.send_text(&customer(), text).await.expect("send");
    }
    // Issued after the first reply (the IQ is answered before the send returns), then not
    // again in the same 7-day bucket; to the customer's LID.
    let issues: Vec<Vec<String>> = sim
        .stanzas()
        .into_iter()
        .filter(|s| s.xmlns == "privacy")
        .map(|s| s.tokens_issued_to)
        .collect();
    assert_eq!(issues, vec![vec![lid_of(&sim, CUSTOMER)]]);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_someone_who_never_wrote_is_refused_with_463() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("token-463");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let refused = client.send_text(&customer(), "a first message").await;
    assert!(
        matches!(refused, Err(ClientError::NewChatRefused { .. })),
        "{refused:?}"
    );
    assert!(sim.customer_inbox(CUSTOMER).expect("inbox").is_empty());
    // Nothing was issued for a message that did not go out.
    assert!(!sim.stanzas().iter().any(|s| s.xmlns == "privacy"));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_a_cstoken_from_the_histories_nct_salt_reaches_a_new_contact() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("token-cstoken");
    sim.add_account(OWN_PHONE, "City Pharmacy")
        .expect("account");
    // The account's salt reaches the companion in its first history-sync chunk.
    let salt = sim.provision_nct_salt(OWN_PHONE).expect("salt");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    let store = SqliteStore::open(&path).await.expect("store");
    fixtures::poll_until("the NCT salt in the client's store", async || {
        store
            .load_nct_salt()
            .await
            .expect("salt")
            .filter(|s| *s == salt)
    })
    .await;
    // A customer who never wrote, addressed by its LID: no tctoken, so the cstoken.
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let lid: Jid = lid_of(&sim, CUSTOMER).parse().expect("lid");
    let id = client
        .send_text(&lid, "your order is ready")
        .await
        .expect("accepted with the cstoken");
    let expected = whatsapp_proto::stanza::privacy_token::cstoken(&salt, &lid).expect("cstoken");
    assert_eq!(
        message_stanza(&sim, &id).privacy_token,
        Some(("cstoken".to_owned(), hex::encode(expected)))
    );
    fixtures::inbox_until(&sim, CUSTOMER, "the message at the customer", |inbox| {
        inbox.iter().any(|e| e.id == id)
    })
    .await;
    client.shutdown().await;
}
