//! App-state sync of whatsapp-client against whatsapp-sim: after pairing the phone shares its
//! keys, the client fetches verified snapshots (external blobs from the sim's media server)
//! and patches, contact names and chat states arrive as events; live changes follow
//! `server_sync`; our own changes go up as patches; tampered patches are refused.

use std::collections::HashSet;

use whatsapp_client::appstate::{AppStateEvent, AppStateMutation, Collection, SyncAction};
use whatsapp_client::store::{ContactStore, SqliteStore};
use whatsapp_client::{Client, ClientError, Event, EventStream, Jid};
use whatsapp_proto::appstate::AppStateError;
use whatsapp_sim::appstate::PhoneMutation;
use whatsapp_sim::{Fault, Sim, SimConfig, SimHandle};

use fixtures::{CUSTOMER, OWN_PHONE, config, expect, paired, start, temp_db};

fn customer_jid() -> String {
    format!("{CUSTOMER}@s.whatsapp.net")
}

/// Collects app-state mutations until every collection reported `Synced`.
async fn until_all_synced(events: &mut EventStream) -> Vec<SyncAction> {
    let mut synced = HashSet::new();
    let mut actions = Vec::new();
    while synced.len() < Collection::ALL.len() {
        let event = expect(events, "app-state sync of every collection", |e| match e {
            Event::AppState(e) => Some(e),
            _ => None,
        })
        .await;
        match event {
            AppStateEvent::Mutation(m) => {
                assert!(m.full_sync, "the first sync starts from snapshots");
                actions.push(m.mutation.action);
            }
            AppStateEvent::Synced { collection, .. } => {
                synced.insert(collection);
            }
            AppStateEvent::SyncFailed { collection, error } => {
                panic!("{} failed: {error}", collection.name())
            }
            _ => {}
        }
    }
    actions
}

/// The next app-state mutation (or failure) of `collection`.
async fn next_in(events: &mut EventStream, collection: Collection) -> AppStateEvent {
    expect(events, "an app-state event", |e| match e {
        Event::AppState(AppStateEvent::Mutation(m)) if m.collection == collection => {
            Some(AppStateEvent::Mutation(m))
        }
        Event::AppState(e @ AppStateEvent::SyncFailed { .. }) => Some(e),
        _ => None,
    })
    .await
}

/// The next verified mutation of `collection`; a refusal fails the test.
async fn next_mutation(events: &mut EventStream, collection: Collection) -> AppStateMutation {
    match next_in(events, collection).await {
        AppStateEvent::Mutation(m) => m,
        other => panic!(
            "expected a mutation of {}, got {other:?}",
            collection.name()
        ),
    }
}

/// The phone changes one thing (a patch; companions get `server_sync`).
fn phone_changes(sim: &SimHandle, mutation: PhoneMutation) {
    sim.app_state_mutations(OWN_PHONE, &[mutation])
        .expect("phone mutation");
}

fn archive(archived: bool) -> PhoneMutation {
    PhoneMutation::Archive {
        chat: CUSTOMER.into(),
        archived,
    }
}

fn archived(archived: bool) -> SyncAction {
    SyncAction::Archive {
        chat: customer_jid(),
        archived,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_names_and_chat_states_arrive_after_pairing() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("appstate-initial");
    let customer = customer_jid();
    // The phone's state before this device exists: served to it as snapshots.
    sim.add_account(OWN_PHONE, "City Pharmacy")
        .expect("account");
    sim.app_state_mutations(
        OWN_PHONE,
        &[
            PhoneMutation::Mute {
                chat: CUSTOMER.into(),
                until_ms: Some(-1),
            },
            PhoneMutation::LabelChat {
                label_id: "3".into(),
                chat: CUSTOMER.into(),
                labeled: true,
            },
            PhoneMutation::Pin {
                chat: CUSTOMER.into(),
                pinned: true,
            },
            PhoneMutation::Contact {
                jid: CUSTOMER.into(),
                name: "Mona Ali".into(),
            },
            PhoneMutation::MarkRead {
                chat: CUSTOMER.into(),
                read: false,
            },
            PhoneMutation::Label {
                id: "3".into(),
                name: "Refills".into(),
                color: 2,
            },
            PhoneMutation::Archive {
                chat: CUSTOMER.into(),
                archived: true,
            },
            PhoneMutation::PushName {
                name: "City Pharmacy".into(),
            },
        ],
    )
    .expect("phone mutations");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    let actions = until_all_synced(&mut events).await;
    let expected = [
        SyncAction::PushName {
            name: "City Pharmacy".into(),
        },
        SyncAction::Archive {
            chat: customer.clone(),
            archived: true,
        },
        SyncAction::Pin {
            chat: customer.clone(),
            pinned: true,
        },
        SyncAction::MarkChatAsRead {
            chat: customer.clone(),
            read: false,
        },
        SyncAction::Mute {
            chat: customer.clone(),
            muted: true,
            mute_end_ms: Some(-1),
        },
        SyncAction::LabelChat {
            label_id: "3".into(),
            chat: customer.clone(),
            labeled: true,
        },
    ];
    for action in &expected {
        assert!(
            actions.contains(action),
            "{action:?} missing from {actions:?}"
        );
    }
    assert!(actions.iter().any(|a| matches!(
        a,
        SyncAction::Contact { jid, full_name: Some(name), .. } if *jid == customer && name == "Mona Ali"
    )));
    assert!(actions.iter().any(|a| matches!(
        a,
        SyncAction::LabelEdit { label_id, name: Some(name), deleted: false, .. } if label_id == "3" && name == "Refills"
    )));
    // The address-book name is in the store.
    let store = SqliteStore::open(&path).await.expect("store");
    assert_eq!(
        store
            .load_contact(&customer)
            .await
            .expect("contact")
            .and_then(|c| c.full_name)
            .as_deref(),
        Some("Mona Ali")
    );

    // A live change on the phone arrives through server_sync as a patch.
    phone_changes(&sim, archive(false));
    let m = next_mutation(&mut events, Collection::RegularLow).await;
    assert!(!m.full_sync);
    assert_eq!(m.mutation.action, archived(false));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_changes_go_up_as_patches() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("appstate-send");
    let customer = customer_jid();
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    until_all_synced(&mut events).await;
    let chat: Jid = customer.parse().expect("jid");
    let before = client
        .sync_app_state(Collection::RegularLow)
        .await
        .expect("sync");
    client.archive_chat(&chat, true).await.expect("archive");
    client.mark_chat_read(&chat, true).await.expect("mark read");
    // The server's copies came back verified: two more versions, and their mutations.
    let after = client
        .sync_app_state(Collection::RegularLow)
        .await
        .expect("sync");
    assert_eq!(after, before + 2);
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(
            next_mutation(&mut events, Collection::RegularLow)
                .await
                .mutation
                .action,
        );
    }
    let read = SyncAction::MarkChatAsRead {
        chat: customer.clone(),
        read: true,
    };
    assert_eq!(seen, [archived(true), read]);
    client.label_chat(&chat, "5", true).await.expect("label");
    let labeled = SyncAction::LabelChat {
        label_id: "5".into(),
        chat: customer.clone(),
        labeled: true,
    };
    assert_eq!(
        next_mutation(&mut events, Collection::Regular)
            .await
            .mutation
            .action,
        labeled
    );
    client.shutdown().await;
}

/// A paired client synced past a first regular_low patch (so that its next fetch asks for
/// patches, not a snapshot), with that collection's version.
async fn paired_past_one_patch(
    name: &str,
) -> (SimHandle, std::path::PathBuf, Client, EventStream, u64) {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db(name);
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    until_all_synced(&mut events).await;
    phone_changes(&sim, archive(true));
    next_mutation(&mut events, Collection::RegularLow).await;
    let version = client
        .sync_app_state(Collection::RegularLow)
        .await
        .expect("sync");
    assert!(version > 0);
    (sim, path, client, events, version)
}

/// Injects `fault`, lets the phone change a chat, and checks that the served patch is refused
/// with `expected`, nothing of it applied, and that the clean copy applies afterwards.
async fn tampered_patch_is_refused(fault: Fault, expected: fn(&AppStateError) -> bool) {
    let name = format!("appstate-{fault:?}").to_lowercase();
    let (sim, _path, client, mut events, version) = paired_past_one_patch(&name).await;
    sim.fault(&fault).expect("fault");
    phone_changes(&sim, archive(false));
    match next_in(&mut events, Collection::RegularLow).await {
        AppStateEvent::SyncFailed {
            collection: Collection::RegularLow,
            error: ClientError::AppState(error),
        } => assert!(expected(&error), "wrong refusal: {error:?}"),
        other => panic!("the tampered patch was not refused: {other:?}"),
    }
    // The fault was one patch: the next sync gets the clean copy, which applies on top of the
    // unchanged state (it would not verify had anything of the bad copy been applied).
    let after = client
        .sync_app_state(Collection::RegularLow)
        .await
        .expect("clean sync");
    assert_eq!(after, version + 1);
    let m = next_mutation(&mut events, Collection::RegularLow).await;
    assert_eq!(m.mutation.action, archived(false));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_with_a_wrong_mac_is_refused() {
    tampered_patch_is_refused(Fault::BadPatchMac, |e| {
        matches!(e, AppStateError::PatchMacMismatch { .. })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_with_a_wrong_lthash_is_refused() {
    tampered_patch_is_refused(Fault::BadPatchLthash, |e| {
        matches!(e, AppStateError::SnapshotMacMismatch { what: "patch", .. })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_apply_on_the_state_stored_before_a_restart() {
    let (sim, path, client, _events, version) = paired_past_one_patch("appstate-restart").await;
    client.shutdown().await;
    drop(client);

    // A new process: version, LTHash and index MACs come from the file. Overwriting the
    // archive record subtracts its stored value MAC; a lost map would fail the LTHash check.
    let (client, mut events) = start(&path, config(&sim)).await;
    expect(&mut events, "connected after restart", |e| {
        matches!(e, Event::Connected).then_some(())
    })
    .await;
    phone_changes(&sim, archive(false));
    let m = next_mutation(&mut events, Collection::RegularLow).await;
    assert!(!m.full_sync, "incremental, not a new snapshot");
    assert_eq!(m.version, version + 1);
    assert_eq!(m.mutation.action, archived(false));
    client.shutdown().await;
}
