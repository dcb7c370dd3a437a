//! One behaviour test shared by every store implementation: write every kind of record,
//! read it back (after a reopen for durable stores), then wipe. Public behind the `testing`
//! feature, so that a store written elsewhere passes the same checks as ours.
//!
//! ```no_run
//! # async fn run() {
//! use whatsapp_client::store::{MemoryStore, conformance};
//!
//! let store = MemoryStore::new();
//! conformance::write_all(&store).await;
//! // A durable store: reopen it here, then check the reopened one.
//! conformance::check_all(&store).await;
//! conformance::check_delete_users(&store).await;
//! conformance::check_lid_migration(&store).await;
//! conformance::check_wipe(&store).await;
//! # }
//! ```
//!
//! Each check panics (as a test assertion) on the first difference.

use super::*;

/// A decrypt commit for tests: `session` for `address`, the buffer keyed by `hash`, no
/// identity, prekey or sender key (callers set those with struct update syntax).
pub fn decrypt_commit(address: &str, session: &[u8], hash: [u8; 32]) -> DecryptCommit {
    DecryptCommit {
        address: address.into(),
        session: Some(session.to_vec()),
        sender_key: None,
        identity: None,
        consumed_prekey: None,
        ciphertext_hash: hash,
        sender: format!("{address}@s.whatsapp.net"),
        message_id: format!("ID{:02X}{:02X}", hash[0], hash[1]),
        plaintext: vec![hash[0]],
        created_at: 1,
    }
}

fn device() -> Device {
    let mut device = Device::generate(&mut rand::thread_rng());
    device.jid = Some("15551234567:12@s.whatsapp.net".parse().expect("jid"));
    device.lid = Some("100000000000001:12@lid".parse().expect("lid"));
    device.account = Some(vec![1, 2, 3]);
    device.push_name = "Pharmacy".into();
    device.app_version = AppVersion::parse("2.3000.1045649368");
    device
}

/// Writes one record of every kind (and the device).
pub async fn write_all(store: &dyn Store) {
    let d = device();
    store.save_device(&d).await.unwrap();
    store
        .store_prekeys(&[(1, vec![1]), (2, vec![2]), (3, vec![3])])
        .await
        .unwrap();
    store.mark_prekeys_uploaded(&[1, 2]).await.unwrap();
    store.remove_prekey(3).await.unwrap();
    store.store_session("a.0", b"s1").await.unwrap();
    store
        .store_sessions(&[
            ("b.1".into(), b"s2".to_vec()),
            ("c.2".into(), b"s3".to_vec()),
        ])
        .await
        .unwrap();
    store.store_session("gone.0", b"x").await.unwrap();
    store.delete_session("gone.0").await.unwrap();
    store.store_identity("a.0", &[4; 32]).await.unwrap();
    store
        .store_sender_key("g@g.us", "a.0", b"sk")
        .await
        .unwrap();
    store
        .store_app_state_keys(&[(vec![9], vec![10])])
        .await
        .unwrap();
    store
        .store_app_state_version("regular", 7, &[0; 128])
        .await
        .unwrap();
    write_app_state(store).await;
    store
        .store_lid_mappings(&[("111".into(), "222".into())])
        .await
        .unwrap();
    // Remapping the same phone number to a new LID replaces the old pair.
    store
        .store_lid_mappings(&[("333".into(), "222".into())])
        .await
        .unwrap();
    store
        .store_push_name("222@s.whatsapp.net", "Mona")
        .await
        .unwrap();
    store
        .store_privacy_token("222@s.whatsapp.net", b"tok", 1_700_000_000)
        .await
        .unwrap();
    // An older token (a history sync after the notification) does not replace it.
    store
        .store_privacy_token("222@s.whatsapp.net", b"old", 1_600_000_000)
        .await
        .unwrap();
    store
        .store_token_issued("333@lid", 1_700_000_100)
        .await
        .unwrap();
    store.store_nct_salt(Some(b"salt")).await.unwrap();
    store
        .store_sent("222@s.whatsapp.net", "ID1", b"m", 100)
        .await
        .unwrap();
    store
        .store_sent("222@s.whatsapp.net", "OLD", b"m", 10)
        .await
        .unwrap();
    assert_eq!(store.prune_sent(50).await.unwrap(), 1);
    store.store_prekeys(&[(7, vec![7])]).await.unwrap();
    store
        .commit_decrypted(&DecryptCommit {
            address: "d.0".into(),
            session: Some(b"s4".to_vec()),
            sender_key: Some(("g2@g.us".into(), "d.0".into(), b"sk2".to_vec())),
            identity: Some([5; 32]),
            consumed_prekey: Some(7),
            ciphertext_hash: [6; 32],
            sender: "d@s.whatsapp.net".into(),
            message_id: "M1".into(),
            plaintext: b"hello".to_vec(),
            created_at: 1,
        })
        .await
        .unwrap();
    // An offline group: two messages of one sender (the second record wins), a consumed
    // prekey, and a sender key changed by a distribution message.
    store.store_prekeys(&[(8, vec![8])]).await.unwrap();
    let commit = |hash: u8, session: &[u8], prekey: Option<u32>| DecryptCommit {
        consumed_prekey: prekey,
        created_at: 2,
        ..decrypt_commit("e.0", session, [hash; 32])
    };
    store
        .commit_decrypted_batch(&DecryptBatch {
            commits: vec![commit(21, b"s5", Some(8)), commit(22, b"s6", None)],
            sender_keys: vec![("g3@g.us".into(), "e.0".into(), b"sk3".to_vec())],
            message_secrets: vec![secret("e@s.whatsapp.net", "POLL1", 1)],
        })
        .await
        .unwrap();
    // Secrets stored on their own; the first secret of a message stays.
    store
        .store_message_secrets(&[secret("f@lid", "POLL2", 2), secret("f@lid", "POLL3", 3)])
        .await
        .unwrap();
    store
        .store_message_secrets(&[secret("f@lid", "POLL2", 9)])
        .await
        .unwrap();
    store
        .commit_decrypted_batch(&DecryptBatch {
            message_secrets: vec![secret("e@s.whatsapp.net", "POLL1", 9)],
            ..DecryptBatch::default()
        })
        .await
        .unwrap();
}

/// A poll's secret in the 1:1 chat with `sender`.
fn secret(sender: &str, id: &str, byte: u8) -> MessageSecret {
    MessageSecret {
        chat: sender.into(),
        sender: sender.into(),
        message_id: id.into(),
        secret: vec![byte; 32],
    }
}

async fn check_message_secrets(store: &dyn Store) {
    let load = |chat: &'static str, sender: &'static str, id: &'static str| {
        store.load_message_secret(chat, sender, id)
    };
    assert_eq!(
        load("e@s.whatsapp.net", "e@s.whatsapp.net", "POLL1")
            .await
            .unwrap(),
        Some(vec![1; 32]),
        "stored with the batch, not replaced by a later one"
    );
    assert_eq!(
        load("f@lid", "f@lid", "POLL2").await.unwrap(),
        Some(vec![2; 32])
    );
    assert_eq!(
        load("f@lid", "f@lid", "POLL3").await.unwrap(),
        Some(vec![3; 32])
    );
    // Every part of the key counts.
    assert_eq!(
        load("f@lid", "e@s.whatsapp.net", "POLL2").await.unwrap(),
        None
    );
    assert_eq!(
        load("e@s.whatsapp.net", "f@lid", "POLL2").await.unwrap(),
        None
    );
    assert_eq!(load("f@lid", "f@lid", "POLL1").await.unwrap(), None);
}

/// Reads back everything [`write_all`] wrote.
pub async fn check_all(store: &dyn Store) {
    check_message_secrets(store).await;
    let d = store.load_device().await.unwrap().expect("device");
    assert!(d.is_paired());
    assert_eq!(d.push_name, "Pharmacy");
    assert_eq!(d.app_version, AppVersion::parse("2.3000.1045649368"));
    assert_eq!(d.account, Some(vec![1, 2, 3]));
    assert_eq!(
        d.lid.as_ref().map(|j| j.user.as_str()),
        Some("100000000000001")
    );
    assert!(d.signed_prekey_record().is_ok());
    assert_eq!(
        d.signal_identity().unwrap().public.serialize()[1..],
        d.identity_pair().public()[..]
    );
    assert_eq!(store.load_prekey(1).await.unwrap(), Some(vec![1]));
    assert_eq!(store.load_prekey(3).await.unwrap(), None);
    assert_eq!(store.load_prekey(7).await.unwrap(), None);
    assert_eq!(store.uploaded_prekey_count().await.unwrap(), 2);
    assert_eq!(store.max_prekey_id().await.unwrap(), 2);
    assert_eq!(
        store.load_session("a.0").await.unwrap(),
        Some(b"s1".to_vec())
    );
    assert_eq!(
        store.load_session("c.2").await.unwrap(),
        Some(b"s3".to_vec())
    );
    assert_eq!(
        store.load_session("d.0").await.unwrap(),
        Some(b"s4".to_vec())
    );
    assert_eq!(store.load_session("gone.0").await.unwrap(), None);
    assert_eq!(store.load_identity("a.0").await.unwrap(), Some([4; 32]));
    assert_eq!(store.load_identity("d.0").await.unwrap(), Some([5; 32]));
    assert_eq!(
        store.load_sender_key("g@g.us", "a.0").await.unwrap(),
        Some(b"sk".to_vec())
    );
    assert_eq!(
        store.load_sender_key("g2@g.us", "d.0").await.unwrap(),
        Some(b"sk2".to_vec())
    );
    assert_eq!(
        store.load_app_state_key(&[9]).await.unwrap(),
        Some(vec![10])
    );
    assert_eq!(
        store.load_app_state_version("regular").await.unwrap(),
        Some((7, vec![0; 128]))
    );
    check_app_state(store).await;
    assert_eq!(store.pn_for_lid("333").await.unwrap(), Some("222".into()));
    assert_eq!(store.pn_for_lid("111").await.unwrap(), None);
    assert_eq!(store.lid_for_pn("222").await.unwrap(), Some("333".into()));
    assert_eq!(
        store
            .load_contact("222@s.whatsapp.net")
            .await
            .unwrap()
            .and_then(|c| c.push_name),
        Some("Mona".into())
    );
    assert_eq!(
        store
            .load_privacy_token("222@s.whatsapp.net")
            .await
            .unwrap(),
        Some((b"tok".to_vec(), 1_700_000_000))
    );
    assert_eq!(
        store.load_token_issued("333@lid").await.unwrap(),
        Some(1_700_000_100)
    );
    assert_eq!(
        store.load_token_issued("222@s.whatsapp.net").await.unwrap(),
        None
    );
    assert_eq!(store.load_nct_salt().await.unwrap(), Some(b"salt".to_vec()));
    assert_eq!(
        store.load_sent("222@s.whatsapp.net", "ID1").await.unwrap(),
        Some(b"m".to_vec())
    );
    assert_eq!(
        store.load_sent("222@s.whatsapp.net", "OLD").await.unwrap(),
        None
    );
    assert_eq!(
        store.load_decrypted(&[6; 32]).await.unwrap(),
        Some(b"hello".to_vec())
    );
    assert_eq!(
        store.load_session("e.0").await.unwrap(),
        Some(b"s6".to_vec())
    );
    assert_eq!(store.load_prekey(8).await.unwrap(), None);
    assert_eq!(
        store.load_decrypted(&[21; 32]).await.unwrap(),
        Some(vec![21])
    );
    assert_eq!(
        store.load_decrypted(&[22; 32]).await.unwrap(),
        Some(vec![22])
    );
    assert_eq!(
        store.load_sender_key("g3@g.us", "e.0").await.unwrap(),
        Some(b"sk3".to_vec())
    );
}

fn sync_key(id: u8, timestamp: i64) -> AppStateSyncKey {
    AppStateSyncKey {
        id: vec![id],
        data: vec![id; 32],
        timestamp,
    }
}

/// Sync keys with timestamps, and a snapshot then a patch applied to the index MAC map.
async fn write_app_state(store: &dyn Store) {
    store
        .store_app_state_sync_keys(&[sync_key(20, 300), sync_key(21, 100)])
        .await
        .unwrap();
    let snapshot = AppStatePatchUpdate {
        version: 3,
        hash: vec![1; 128],
        replaces_all: true,
        removed: vec![],
        added: vec![
            ([1; 32], [11; 32]),
            ([2; 32], [12; 32]),
            ([3; 32], [13; 32]),
        ],
    };
    store
        .apply_app_state_patch("regular_low", &snapshot)
        .await
        .unwrap();
    let patch = AppStatePatchUpdate {
        version: 4,
        hash: vec![2; 128],
        replaces_all: false,
        removed: vec![[1; 32]],
        added: vec![([2; 32], [22; 32]), ([4; 32], [14; 32])],
    };
    store
        .apply_app_state_patch("regular_low", &patch)
        .await
        .unwrap();
    // A second collection, then forgotten: the first is untouched.
    store
        .apply_app_state_patch("regular_high", &snapshot)
        .await
        .unwrap();
    store.delete_app_state("regular_high").await.unwrap();
    // History notifications wait in order of arrival; a repeat is ignored, a done one goes.
    for id in ["H1", "H2", "H1", "H3"] {
        store
            .store_pending_history(id, id.as_bytes())
            .await
            .unwrap();
    }
    store.delete_pending_history("H2").await.unwrap();
    // Address-book names beside push names; a removed name is forgotten.
    store
        .store_full_name("444@s.whatsapp.net", Some("Nour Adel"))
        .await
        .unwrap();
    store
        .store_push_name("444@s.whatsapp.net", "Nour")
        .await
        .unwrap();
    store
        .store_full_name("555@s.whatsapp.net", Some("Old"))
        .await
        .unwrap();
    store
        .store_full_name("555@s.whatsapp.net", None)
        .await
        .unwrap();
}

async fn check_app_state(store: &dyn Store) {
    assert_eq!(
        store.pending_history().await.unwrap(),
        vec![
            ("H1".to_string(), b"H1".to_vec()),
            ("H3".to_string(), b"H3".to_vec())
        ]
    );
    assert_eq!(
        store.load_contact("444@s.whatsapp.net").await.unwrap(),
        Some(Contact {
            push_name: Some("Nour".into()),
            full_name: Some("Nour Adel".into()),
        })
    );
    assert_eq!(
        store
            .load_contact("555@s.whatsapp.net")
            .await
            .unwrap()
            .and_then(|c| c.full_name),
        None
    );
    // The newest timestamp wins, not the last stored.
    assert_eq!(
        store.latest_app_state_key().await.unwrap(),
        Some(sync_key(20, 300))
    );
    assert_eq!(
        store.load_app_state_key(&[21]).await.unwrap(),
        Some(vec![21; 32])
    );
    assert_eq!(
        store.load_app_state_version("regular_low").await.unwrap(),
        Some((4, vec![2; 128]))
    );
    let mut macs = store
        .load_app_state_mutation_macs("regular_low", &[[1; 32], [2; 32], [3; 32], [4; 32]])
        .await
        .unwrap();
    macs.sort();
    assert_eq!(
        macs,
        vec![
            ([2; 32], [22; 32]),
            ([3; 32], [13; 32]),
            ([4; 32], [14; 32])
        ]
    );
    assert_eq!(
        store.load_app_state_version("regular_high").await.unwrap(),
        None
    );
    assert!(
        store
            .load_app_state_mutation_macs("regular_high", &[[1; 32]])
            .await
            .unwrap()
            .is_empty()
    );
}

/// Whether the store holds a session and an identity for `address`.
async fn held(store: &dyn Store, address: &str) -> (bool, bool) {
    (
        store.load_session(address).await.unwrap().is_some(),
        store.load_identity(address).await.unwrap().is_some(),
    )
}

/// A user reinstalled: every session and identity of its devices goes, under its phone
/// number and its LID, and nothing of users whose addresses merely look alike. Reads before
/// the delete make a caching store hold the rows, so it must forget them too.
pub async fn check_delete_users(store: &dyn Store) {
    let gone = ["2010.0", "2010.3", "99_1.0", "99_1.5"];
    // `20101` shares the digits; `9901` is what `LIKE '99_1.%'` would also match.
    let kept = ["20101.0", "9901.0", "201.0"];
    for address in gone.iter().chain(&kept) {
        store.store_session(address, b"s").await.unwrap();
        store.store_identity(address, &[7; 32]).await.unwrap();
        assert_eq!(held(store, address).await, (true, true));
    }
    let users = [Jid::user("2010"), "99@lid".parse::<Jid>().expect("lid")];
    assert_eq!(store.delete_all_sessions(&users).await.unwrap(), 4);
    for address in gone {
        assert_eq!(held(store, address).await, (false, true), "{address}");
    }
    assert_eq!(store.delete_all_identities(&users).await.unwrap(), 4);
    for address in gone {
        assert_eq!(held(store, address).await, (false, false), "{address}");
    }
    for address in kept {
        assert_eq!(held(store, address).await, (true, true), "{address}");
    }
    // Nothing left to delete; the other users' records were untouched before.
    assert_eq!(store.delete_all_sessions(&users).await.unwrap(), 0);
    assert_eq!(store.delete_all_identities(&users).await.unwrap(), 0);
    assert_eq!(
        store.load_session("a.0").await.unwrap(),
        Some(b"s1".to_vec())
    );
}

/// A phone-number user's sessions, identities and sender keys move to its LID (whatsmeow
/// `MigratePNToLID`): a PN record replaces the LID record of the same device, users whose
/// addresses merely look alike keep theirs; then the whole store's one-time migration moves
/// every mapped user and marks the store. Reads first, so a caching store must forget too.
pub async fn check_lid_migration(store: &dyn Store) {
    assert!(!store.lid_db_migrated().await.unwrap());
    for address in ["2020.0", "2020.3", "20201.0", "88_1.3"] {
        store
            .store_session(address, address.as_bytes())
            .await
            .unwrap();
        store.store_identity(address, &[3; 32]).await.unwrap();
        assert_eq!(held(store, address).await, (true, true));
    }
    store
        .store_sender_key("g@g.us", "2020.3", b"k")
        .await
        .unwrap();
    // Three records of each of two devices (the sender key only for one).
    assert_eq!(store.migrate_pn_to_lid("2020", "88").await.unwrap(), 5);
    for gone in ["2020.0", "2020.3"] {
        assert_eq!(held(store, gone).await, (false, false), "{gone}");
    }
    assert_eq!(held(store, "20201.0").await, (true, true));
    assert_eq!(
        store.load_session("88_1.0").await.unwrap().as_deref(),
        Some(&b"2020.0"[..])
    );
    assert_eq!(
        store.load_session("88_1.3").await.unwrap().as_deref(),
        Some(&b"2020.3"[..]),
        "the PN session replaces the LID one"
    );
    assert_eq!(store.load_identity("88_1.3").await.unwrap(), Some([3; 32]));
    assert_eq!(
        store.load_sender_key("g@g.us", "88_1.3").await.unwrap(),
        Some(b"k".to_vec())
    );
    assert_eq!(
        store.load_sender_key("g@g.us", "2020.3").await.unwrap(),
        None
    );
    assert_eq!(store.migrate_pn_to_lid("2020", "88").await.unwrap(), 0);
    // The whole store: every mapped user, once.
    store
        .store_lid_mappings(&[("77".into(), "3030".into())])
        .await
        .unwrap();
    store.store_session("3030.1", b"s").await.unwrap();
    assert_eq!(held(store, "3030.1").await, (true, false));
    assert!(!store.lid_db_migrated().await.unwrap());
    assert!(store.migrate_all_pn_to_lid().await.unwrap() >= 1);
    assert!(store.lid_db_migrated().await.unwrap());
    assert_eq!(held(store, "3030.1").await, (false, false));
    assert_eq!(held(store, "77_1.1").await, (true, false));
    assert_eq!(held(store, "20201.0").await, (true, true));
}

/// Wipes the store and checks that nothing is left.
pub async fn check_wipe(store: &dyn Store) {
    // The plaintext buffer is pruned by age (the commit above was at t = 1).
    assert_eq!(store.prune_decrypted(0).await.unwrap(), 0);
    assert_eq!(store.prune_decrypted(2).await.unwrap(), 1);
    assert_eq!(store.load_decrypted(&[6; 32]).await.unwrap(), None);
    store.wipe().await.unwrap();
    assert!(store.load_device().await.unwrap().is_none());
    assert_eq!(store.latest_app_state_key().await.unwrap(), None);
    assert!(store.pending_history().await.unwrap().is_empty());
    assert!(
        store
            .load_app_state_mutation_macs("regular_low", &[[2; 32]])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.load_session("a.0").await.unwrap(), None);
    assert_eq!(store.max_prekey_id().await.unwrap(), 0);
    assert_eq!(store.load_nct_salt().await.unwrap(), None);
    assert_eq!(store.load_token_issued("333@lid").await.unwrap(), None);
    assert_eq!(
        store
            .load_message_secret("f@lid", "f@lid", "POLL2")
            .await
            .unwrap(),
        None
    );
    // Still usable after the wipe.
    store.save_device(&device()).await.unwrap();
    assert!(store.load_device().await.unwrap().is_some());
}

#[cfg(test)]
#[tokio::test]
async fn conformance_memory() {
    let store = MemoryStore::new();
    write_all(&store).await;
    check_all(&store).await;
    check_delete_users(&store).await;
    check_lid_migration(&store).await;
    check_wipe(&store).await;
}
