//! App-state sync crypto: the app-state KAT of media_appstate_kat.json, patch and
//! snapshot processing (refusals change nothing), typed actions, history-sync blobs.

use std::collections::HashMap;
use std::io::Write;

use prost::Message as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use whatsapp_proto::appstate::history::{self, HistoryError};
use whatsapp_proto::appstate::{
    self, AppStateError, AppStateKeys, Collection, CollectionState, DecodeOptions, LtHash,
    Operation, OutgoingMutation, PatchOutcome, PatchWarning, SyncAction, TypedMutation,
};
use whatsapp_proto::pb::e2e::{Message, MessageKey};
use whatsapp_proto::pb::history::{
    Conversation, HistorySync, HistorySyncMsg, Pushname, WebMessageInfo,
};
use whatsapp_proto::pb::sync_action::{MuteAction, SyncActionData, SyncActionValue};
use whatsapp_proto::pb::syncd::{
    KeyId, SyncdIndex, SyncdMutation, SyncdPatch, SyncdRecord, SyncdSnapshot, SyncdValue,
    SyncdVersion,
};

use crate::media::{hexv, kat};

struct Kat {
    v: Value,
}

impl Kat {
    fn new() -> Self {
        Self { v: kat() }
    }
    fn get(&self, section: &str, key: &str) -> Vec<u8> {
        hexv(&self.v[section][key])
    }
    fn keys(&self) -> AppStateKeys {
        AppStateKeys::expand(&self.get("app_state_keys", "key_data"))
    }
    fn key_id(&self) -> Vec<u8> {
        self.get("app_state_keys", "key_id")
    }
    fn lookup(&self) -> impl Fn(&[u8]) -> Option<AppStateKeys> + use<> {
        let (id, keys) = (self.key_id(), self.keys());
        move |k: &[u8]| (k == id.as_slice()).then(|| keys.clone())
    }
    /// The KAT mutation as a SET.
    fn mutation(&self) -> SyncdMutation {
        SyncdMutation {
            operation: Some(0),
            record: Some(SyncdRecord {
                index: Some(SyncdIndex {
                    blob: Some(self.get("app_state_mutation", "index_mac")),
                }),
                value: Some(SyncdValue {
                    blob: Some(self.get("app_state_mutation", "record_value_blob")),
                }),
                key_id: Some(KeyId {
                    id: Some(self.key_id()),
                }),
            }),
        }
    }
    /// The KAT patch (regular_high, version 1, one SET).
    fn patch(&self) -> SyncdPatch {
        SyncdPatch {
            version: Some(SyncdVersion { version: Some(1) }),
            mutations: vec![self.mutation()],
            snapshot_mac: Some(self.get("app_state_patch", "snapshot_mac")),
            patch_mac: Some(self.get("app_state_patch", "patch_mac")),
            key_id: Some(KeyId {
                id: Some(self.key_id()),
            }),
            ..Default::default()
        }
    }
}

fn mute_value() -> SyncActionValue {
    SyncActionValue {
        timestamp: Some(1_700_000_000_000),
        mute_action: Some(MuteAction {
            muted: Some(true),
            mute_end_timestamp: Some(1_700_003_600_000),
            auto_muted: None,
        }),
        ..Default::default()
    }
}

const JID: &str = "15551234567@s.whatsapp.net";

#[test]
fn key_expansion_matches_kat() {
    let k = Kat::new();
    let keys = k.keys();
    assert_eq!(
        keys.to_bytes().to_vec(),
        k.get("app_state_keys", "expanded_160")
    );
    assert_eq!(keys.index.to_vec(), k.get("app_state_keys", "index_key"));
    assert_eq!(
        keys.value_encryption.to_vec(),
        k.get("app_state_keys", "value_encryption_key")
    );
    assert_eq!(
        keys.value_mac.to_vec(),
        k.get("app_state_keys", "value_mac_key")
    );
    assert_eq!(
        keys.snapshot_mac.to_vec(),
        k.get("app_state_keys", "snapshot_mac_key")
    );
    assert_eq!(
        keys.patch_mac.to_vec(),
        k.get("app_state_keys", "patch_mac_key")
    );
}

#[test]
fn mutation_encoding_matches_kat() {
    let k = Kat::new();
    let keys = k.keys();
    let m = &k.v["app_state_mutation"];
    let index_json = m["index_json"].as_str().unwrap().as_bytes();
    assert_eq!(appstate::encode_index(&["mute", JID]), index_json);
    assert_eq!(appstate::parse_index(index_json).unwrap(), ["mute", JID]);

    let value = mute_value();
    assert_eq!(
        value.encode_to_vec(),
        k.get("app_state_mutation", "sync_action_value_proto")
    );
    let data = SyncActionData {
        index: Some(index_json.to_vec()),
        value: Some(value),
        padding: Some(vec![]),
        version: Some(2),
    };
    assert_eq!(
        data.encode_to_vec(),
        k.get("app_state_mutation", "sync_action_data_proto")
    );

    let iv: [u8; 16] = k.get("app_state_mutation", "iv").try_into().unwrap();
    let mutation = appstate::encrypt_mutation(&keys, &k.key_id(), Operation::Set, &data, iv);
    assert_eq!(mutation, k.mutation());
    let blob = k.get("app_state_mutation", "record_value_blob");
    let ciphertext = k.get("app_state_mutation", "ciphertext");
    assert_eq!(&blob[16..16 + ciphertext.len()], ciphertext.as_slice());

    let iv_ct = &blob[..blob.len() - 32];
    assert_eq!(
        appstate::value_mac(&keys, Operation::Set, &k.key_id(), iv_ct).to_vec(),
        k.get("app_state_mutation", "value_mac_SET")
    );
    assert_eq!(
        appstate::value_mac(&keys, Operation::Remove, &k.key_id(), iv_ct).to_vec(),
        k.get("app_state_mutation", "value_mac_if_REMOVE")
    );
    assert_eq!(
        appstate::index_mac(&keys, index_json).to_vec(),
        k.get("app_state_mutation", "index_mac")
    );

    let record = k.mutation().record.unwrap();
    let decoded = appstate::decrypt_mutation(Operation::Set, &record, &keys, true).unwrap();
    assert_eq!(decoded.index, ["mute", JID]);
    assert_eq!(decoded.version, Some(2));
    assert_eq!(decoded.value, Some(mute_value()));
    assert_eq!(decoded.key_id, k.key_id());
    assert_eq!(
        TypedMutation::from_decoded(&decoded),
        TypedMutation {
            operation: Operation::Set,
            timestamp_ms: Some(1_700_000_000_000),
            action: SyncAction::Mute {
                chat: JID.into(),
                muted: true,
                mute_end_ms: Some(1_700_003_600_000),
            },
        }
    );
}

#[test]
fn lthash_matches_kat() {
    let k = Kat::new();
    let l = &k.v["lthash"];
    assert_eq!(l["info"].as_str().unwrap(), appstate::PATCH_INTEGRITY_INFO);
    let value_mac = k.get("app_state_mutation", "value_mac_SET");
    let other = hexv(&l["other_value_mac"]);
    assert_eq!(
        appstate::expand_item(&value_mac).to_vec(),
        hexv(&l["expand_of_value_mac_SET"])
    );
    let mut h = LtHash::ZERO;
    h.add(&value_mac);
    assert_eq!(h.0.to_vec(), hexv(&l["zero_plus_value_mac"]));
    h.add(&other);
    assert_eq!(h.0.to_vec(), hexv(&l["plus_other"]));
    h.subtract(&other);
    assert_eq!(h.0.to_vec(), hexv(&l["then_minus_other"]));
}

#[test]
fn patch_macs_match_kat() {
    let k = Kat::new();
    let keys = k.keys();
    let p = &k.v["app_state_patch"];
    let name = p["collection"].as_str().unwrap();
    let version = p["version"].as_u64().unwrap();
    let hash = LtHash::from_slice(&hexv(&p["lthash_after"])).unwrap();
    let snapshot_mac = appstate::snapshot_mac(&keys, &hash, version, name);
    assert_eq!(snapshot_mac.to_vec(), hexv(&p["snapshot_mac"]));
    let value_mac = k.get("app_state_mutation", "value_mac_SET");
    assert_eq!(
        appstate::patch_mac(&keys, &snapshot_mac, [value_mac.as_slice()], version, name).to_vec(),
        hexv(&p["patch_mac"])
    );
}

#[test]
fn kat_patch_decodes_from_empty_state() {
    let k = Kat::new();
    let out = appstate::decode_patch(
        "regular_high",
        &CollectionState::default(),
        &k.patch(),
        k.lookup(),
        |_| None,
        DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(out.state.version, 1);
    assert_eq!(
        out.state.hash.0.to_vec(),
        k.get("app_state_patch", "lthash_after")
    );
    assert_eq!(out.mutations.len(), 1);
    assert_eq!(out.mutations[0].index, ["mute", JID]);
    let index_mac: [u8; 32] = k.get("app_state_mutation", "index_mac").try_into().unwrap();
    let value_mac: [u8; 32] = k
        .get("app_state_mutation", "value_mac_SET")
        .try_into()
        .unwrap();
    assert_eq!(out.added, vec![(index_mac, value_mac)]);
    assert!(out.removed.is_empty() && out.warnings.is_empty() && !out.replaces_all);
}

fn refuse(patch: &SyncdPatch, k: &Kat) -> AppStateError {
    appstate::decode_patch(
        "regular_high",
        &CollectionState::default(),
        patch,
        k.lookup(),
        |_| None,
        DecodeOptions::default(),
    )
    .expect_err("must be refused")
}

#[test]
fn wrong_macs_and_hashes_are_refused() {
    let k = Kat::new();
    // Wrong collection name or version: the snapshot MAC no longer matches.
    let err = appstate::decode_patch(
        "regular_low",
        &CollectionState::default(),
        &k.patch(),
        k.lookup(),
        |_| None,
        DecodeOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        AppStateError::SnapshotMacMismatch {
            what: "patch",
            version: 1
        }
    );
    // A starting LTHash that differs from the server's (a lost mutation).
    let mut off = CollectionState::default();
    off.hash.add(b"something we missed");
    let err = appstate::decode_patch(
        "regular_high",
        &off,
        &k.patch(),
        k.lookup(),
        |_| None,
        DecodeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, AppStateError::SnapshotMacMismatch { .. }));
    // Tampered patch MAC.
    let mut p = k.patch();
    p.patch_mac.as_mut().unwrap()[0] ^= 1;
    assert_eq!(
        refuse(&p, &k),
        AppStateError::PatchMacMismatch { version: 1 }
    );
    // Tampered snapshot MAC.
    let mut p = k.patch();
    p.snapshot_mac.as_mut().unwrap()[31] ^= 1;
    assert!(matches!(
        refuse(&p, &k),
        AppStateError::SnapshotMacMismatch { .. }
    ));
    // Tampered ciphertext: value MAC (the LTHash still matches, the MAC does not).
    let mut p = k.patch();
    let blob = p.mutations[0]
        .record
        .as_mut()
        .unwrap()
        .value
        .as_mut()
        .unwrap()
        .blob
        .as_mut()
        .unwrap();
    blob[20] ^= 1;
    assert_eq!(
        refuse(&p, &k),
        AppStateError::Mutation {
            position: 0,
            source: Box::new(AppStateError::ValueMacMismatch)
        }
    );
    // Wrong operation byte: the value MAC covers it.
    let mut p = k.patch();
    p.mutations[0].operation = Some(1);
    let out = appstate::decode_patch(
        "regular_high",
        &CollectionState::default(),
        &p,
        k.lookup(),
        |_| None,
        DecodeOptions::default().with_verify_macs(false),
    );
    assert!(out.is_ok(), "with checks off only decryption is checked");
    assert!(matches!(
        refuse(&p, &k),
        AppStateError::SnapshotMacMismatch { .. }
    ));
    // Unknown key.
    let err = appstate::decode_patch(
        "regular_high",
        &CollectionState::default(),
        &k.patch(),
        |_: &[u8]| None,
        |_| None,
        DecodeOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err, AppStateError::MissingKey { key_id: k.key_id() });
    assert_eq!(err.missing_key(), Some(k.key_id().as_slice()));
    // Without MAC checks the record's own key is still needed; the error says which.
    let err = appstate::decode_patch(
        "regular_high",
        &CollectionState::default(),
        &k.patch(),
        |_: &[u8]| None,
        |_| None,
        DecodeOptions::default().with_verify_macs(false),
    )
    .unwrap_err();
    assert!(matches!(err, AppStateError::Mutation { position: 0, .. }));
    assert_eq!(err.missing_key(), Some(k.key_id().as_slice()));
    assert_eq!(AppStateError::ValueMacMismatch.missing_key(), None);
    // Missing version, unknown operation, short index MAC.
    let mut p = k.patch();
    p.version = None;
    assert_eq!(
        refuse(&p, &k),
        AppStateError::MissingField {
            field: "patch.version"
        }
    );
    let mut p = k.patch();
    p.mutations[0].operation = Some(7);
    assert!(matches!(
        refuse(&p, &k),
        AppStateError::Mutation { position: 0, source } if *source == AppStateError::UnknownOperation { value: 7 }
    ));
    let mut p = k.patch();
    p.mutations[0].record.as_mut().unwrap().index = Some(SyncdIndex {
        blob: Some(vec![1; 31]),
    });
    assert!(matches!(
        refuse(&p, &k),
        AppStateError::Mutation { position: 0, .. }
    ));
    // External mutations that were not loaded.
    let mut p = k.patch();
    p.mutations.clear();
    p.external_mutations = Some(Default::default());
    assert_eq!(refuse(&p, &k), AppStateError::ExternalMutationsNotLoaded);
}

#[test]
fn index_mac_is_checked() {
    // Re-encrypt the KAT data under a different index MAC but a valid value MAC.
    let k = Kat::new();
    let keys = k.keys();
    let mut record = k.mutation().record.unwrap();
    record.index = Some(SyncdIndex {
        blob: Some(appstate::index_mac(&keys, b"[\"mute\",\"other\"]").to_vec()),
    });
    assert_eq!(
        appstate::decrypt_mutation(Operation::Set, &record, &keys, true),
        Err(AppStateError::IndexMacMismatch)
    );
}

/// Applies an outcome to a stored map, as a client's store would.
fn apply(map: &mut HashMap<[u8; 32], [u8; 32]>, out: &PatchOutcome) {
    if out.replaces_all {
        map.clear();
    }
    for r in &out.removed {
        map.remove(r);
    }
    for (i, v) in &out.added {
        map.insert(*i, *v);
    }
}

/// The LTHash of a map is the sum of its value MACs.
fn hash_of(map: &HashMap<[u8; 32], [u8; 32]>) -> LtHash {
    let mut h = LtHash::ZERO;
    for v in map.values() {
        h.add(v);
    }
    h
}

#[test]
fn our_patches_round_trip_through_the_decoder() {
    let key_id = b"\x00\x00\x00\x01\x00\x07".to_vec();
    let keys = AppStateKeys::expand(&[0x33; 32]);
    let lookup = {
        let (id, keys) = (key_id.clone(), keys.clone());
        move |k: &[u8]| (k == id.as_slice()).then(|| keys.clone())
    };
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut state = CollectionState::default();
    let mut map = HashMap::new();
    let name = Collection::RegularLow.name();
    let rounds: Vec<Vec<OutgoingMutation>> = vec![
        vec![
            OutgoingMutation::archive("a@s.whatsapp.net", true, None, 1),
            OutgoingMutation::pin("b@s.whatsapp.net", true, 2),
            OutgoingMutation::mark_chat_as_read("c@s.whatsapp.net", false, None, 3),
        ],
        // Overwrites an index set in an earlier patch, and one set twice in this patch.
        vec![
            OutgoingMutation::archive("a@s.whatsapp.net", false, None, 4),
            OutgoingMutation::pin("d@s.whatsapp.net", true, 5),
            OutgoingMutation::pin("d@s.whatsapp.net", false, 6),
        ],
        vec![OutgoingMutation {
            operation: Operation::Remove,
            ..OutgoingMutation::pin("b@s.whatsapp.net", true, 7)
        }],
    ];
    for muts in rounds {
        let enc = appstate::encode_patch(
            name,
            &state,
            &key_id,
            &keys,
            &muts,
            |i| map.get(i).copied(),
            &mut rng,
        );
        assert!(
            enc.patch.version.is_none(),
            "the server assigns the version"
        );
        let mut received = enc.patch.clone();
        received.version = Some(SyncdVersion {
            version: Some(state.version + 1),
        });
        let out = appstate::decode_patch(
            name,
            &state,
            &received,
            &lookup,
            |i| map.get(i).copied(),
            DecodeOptions::default(),
        )
        .unwrap();
        assert_eq!(out.state, enc.state);
        assert!(out.warnings.is_empty());
        apply(&mut map, &out);
        assert_eq!(
            hash_of(&map),
            out.state.hash,
            "LTHash = sum of live value MACs"
        );
        let typed: Vec<_> = out
            .mutations
            .iter()
            .map(TypedMutation::from_decoded)
            .collect();
        assert_eq!(typed.len(), muts.len());
        state = out.state;
    }
    assert_eq!(state.version, 3);
    // Live: archive a (false), read c, pin d (false). b was removed.
    assert_eq!(map.len(), 3);
    // Decoding a patch twice on top of itself fails: the LTHash no longer matches.
    let enc = appstate::encode_patch(
        name,
        &state,
        &key_id,
        &keys,
        &[OutgoingMutation::pin("e@s.whatsapp.net", true, 8)],
        |i| map.get(i).copied(),
        &mut rng,
    );
    let mut received = enc.patch;
    received.version = Some(SyncdVersion { version: Some(4) });
    let stale = CollectionState {
        version: 3,
        hash: LtHash::ZERO,
    };
    assert!(matches!(
        appstate::decode_patch(
            name,
            &stale,
            &received,
            &lookup,
            |i| map.get(i).copied(),
            DecodeOptions::default()
        ),
        Err(AppStateError::SnapshotMacMismatch { .. })
    ));
}

#[test]
fn remove_without_previous_value_is_a_warning() {
    let key_id = b"k".to_vec();
    let keys = AppStateKeys::expand(&[1; 32]);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let m = OutgoingMutation {
        operation: Operation::Remove,
        ..OutgoingMutation::mute(JID, None, 1)
    };
    let enc = appstate::encode_patch(
        "regular_high",
        &CollectionState::default(),
        &key_id,
        &keys,
        &[m],
        |_| None,
        &mut rng,
    );
    let mut p = enc.patch;
    p.version = Some(SyncdVersion { version: Some(1) });
    let out = appstate::decode_patch(
        "regular_high",
        &CollectionState::default(),
        &p,
        |_: &[u8]| Some(keys.clone()),
        |_| None,
        DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(out.state.hash, LtHash::ZERO);
    assert!(matches!(
        out.warnings[..],
        [PatchWarning::RemoveWithoutPreviousValue { position: 0, .. }]
    ));
    assert_eq!(out.removed.len(), 1);
}

#[test]
fn snapshot_decodes_and_verifies() {
    let k = Kat::new();
    let keys = k.keys();
    let record = k.mutation().record.unwrap();
    let mut hash = LtHash::ZERO;
    hash.add(&k.get("app_state_mutation", "value_mac_SET"));
    let snapshot = SyncdSnapshot {
        version: Some(SyncdVersion { version: Some(1) }),
        records: vec![record],
        mac: Some(appstate::snapshot_mac(&keys, &hash, 1, "regular_high").to_vec()),
        key_id: Some(KeyId {
            id: Some(k.key_id()),
        }),
    };
    // A snapshot with the KAT record has the KAT patch's snapshot MAC.
    assert_eq!(
        snapshot.mac.as_ref().unwrap(),
        &k.get("app_state_patch", "snapshot_mac")
    );
    let out = appstate::decode_snapshot(
        "regular_high",
        &snapshot,
        k.lookup(),
        DecodeOptions::default(),
    )
    .unwrap();
    assert!(out.replaces_all);
    assert_eq!(out.state.hash, hash);
    assert_eq!(out.state.version, 1);
    assert_eq!(out.added.len(), 1);
    let mut bad = snapshot.clone();
    bad.mac.as_mut().unwrap()[0] ^= 1;
    assert_eq!(
        appstate::decode_snapshot("regular_high", &bad, k.lookup(), DecodeOptions::default()),
        Err(AppStateError::SnapshotMacMismatch {
            what: "snapshot",
            version: 1
        })
    );
}

#[test]
fn typed_actions_from_indexes() {
    let idx = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        SyncAction::from_index(
            &idx(&["star", "c@g.us", "ID1", "0", "p@s.whatsapp.net"]),
            None
        ),
        SyncAction::Star {
            chat: "c@g.us".into(),
            message_id: "ID1".into(),
            from_me: false,
            participant: Some("p@s.whatsapp.net".into()),
            starred: false
        }
    );
    assert_eq!(
        SyncAction::from_index(&idx(&["deleteChat", "c@s.whatsapp.net", "1"]), None),
        SyncAction::DeleteChat {
            chat: "c@s.whatsapp.net".into(),
            delete_media: true
        }
    );
    assert_eq!(
        SyncAction::from_index(
            &idx(&["label_message", "5", "c@s.whatsapp.net", "MID", "0", "0"]),
            None
        ),
        SyncAction::LabelMessage {
            label_id: "5".into(),
            chat: "c@s.whatsapp.net".into(),
            message_id: "MID".into(),
            labeled: false
        }
    );
    // Too short or unknown indexes are kept whole.
    assert_eq!(
        SyncAction::from_index(&idx(&["star", "x"]), None),
        SyncAction::Other {
            index: idx(&["star", "x"])
        }
    );
    assert_eq!(
        SyncAction::from_index(&[], None),
        SyncAction::Other { index: vec![] }
    );
    assert_eq!(
        SyncAction::from_index(&idx(&["favorites"]), None),
        SyncAction::Other {
            index: idx(&["favorites"])
        }
    );
    // Builders produce what the decoder types back.
    for (m, expected) in [
        (
            OutgoingMutation::push_name("Pharmacy", 9),
            SyncAction::PushName {
                name: "Pharmacy".into(),
            },
        ),
        (
            OutgoingMutation::label_chat("3", "c@s.whatsapp.net", true, 9),
            SyncAction::LabelChat {
                label_id: "3".into(),
                chat: "c@s.whatsapp.net".into(),
                labeled: true,
            },
        ),
        (
            OutgoingMutation::label_edit("3", "Orders", 2, false, 9),
            SyncAction::LabelEdit {
                label_id: "3".into(),
                name: Some("Orders".into()),
                color: Some(2),
                predefined_id: None,
                deleted: false,
            },
        ),
        (
            OutgoingMutation::mute("c@s.whatsapp.net", Some(-1), 9),
            SyncAction::Mute {
                chat: "c@s.whatsapp.net".into(),
                muted: true,
                mute_end_ms: Some(-1),
            },
        ),
    ] {
        assert_eq!(SyncAction::from_index(&m.index, Some(&m.value)), expected);
    }
}

#[test]
fn index_json_edge_cases() {
    let parse = |s: &str| appstate::parse_index(s.as_bytes());
    assert_eq!(parse(" [ ] ").unwrap(), Vec::<String>::new());
    assert_eq!(
        parse(r#"["a\"b\\c\/\n\u00e9\ud83d\ude00"]"#).unwrap(),
        ["a\"b\\c/\né😀"]
    );
    assert_eq!(parse(r#"["\ud83d"]"#).unwrap(), ["\u{FFFD}"]);
    for bad in [
        "",
        "[",
        "[\"a\"",
        "[\"a\",]",
        "[1]",
        "[\"a\"] x",
        "{}",
        "[\"\\x\"]",
        "[\"\\u12\"]",
        "[\"\\u+123\"]",
        "[\"\u{1}\"]",
    ] {
        assert!(
            matches!(parse(bad), Err(AppStateError::BadIndex { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        appstate::parse_index(b"[\"\xff\"]"),
        Err(AppStateError::BadIndex {
            reason: "invalid UTF-8",
            offset: 2
        })
    ));
    let weird = ["q\"uote", "back\\slash", "tab\tnl\n", "\u{1}ctl", "é😀"];
    assert_eq!(
        appstate::parse_index(&appstate::encode_index(&weird)).unwrap(),
        weird
    );
    assert_eq!(appstate::encode_index(&["\u{1}"]), br#"["\u0001"]"#);
}

#[test]
fn collections() {
    for c in Collection::ALL {
        assert_eq!(Collection::from_name(c.name()), Some(c));
    }
    assert_eq!(Collection::from_name("nope"), None);
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

#[test]
fn history_sync_blob_inflates_and_parses() {
    let sync = HistorySync {
        sync_type: 0,
        conversations: vec![Conversation {
            id: "1555@s.whatsapp.net".into(),
            messages: vec![HistorySyncMsg {
                message: Some(WebMessageInfo {
                    key: MessageKey {
                        remote_jid: Some("1555@s.whatsapp.net".into()),
                        from_me: Some(false),
                        id: Some("3EB0AA".into()),
                        participant: None,
                    },
                    message: Some(Message {
                        conversation: Some("hello".into()),
                        ..Default::default()
                    }),
                    message_timestamp: Some(1_700_000_000),
                    push_name: Some("Ann".into()),
                    ..Default::default()
                }),
                msg_order_id: Some(1),
            }],
            unread_count: Some(2),
            name: Some("Ann".into()),
            ..Default::default()
        }],
        pushnames: vec![Pushname {
            id: Some("1555@s.whatsapp.net".into()),
            pushname: Some("Ann".into()),
        }],
        chunk_order: Some(1),
        progress: Some(100),
        ..Default::default()
    };
    let raw = sync.encode_to_vec();
    let blob = zlib(&raw);
    assert_eq!(
        history::inflate_history_sync(&blob, history::DEFAULT_MAX_INFLATED).unwrap(),
        sync
    );
    // The cap is exact: raw.len() passes, one byte less is refused.
    assert_eq!(history::inflate_zlib(&blob, raw.len()).unwrap(), raw);
    assert_eq!(
        history::inflate_zlib(&blob, raw.len() - 1),
        Err(HistoryError::TooLarge {
            limit: raw.len() - 1
        })
    );
    // A bomb: 16 MiB of zeros from ~16 KiB, against a 1 MiB cap.
    let bomb = zlib(&vec![0u8; 16 << 20]);
    assert_eq!(
        history::inflate_zlib(&bomb, 1 << 20),
        Err(HistoryError::TooLarge { limit: 1 << 20 })
    );
    // Raw deflate or garbage is not zlib.
    assert!(matches!(
        history::inflate_zlib(&raw, 1 << 20),
        Err(HistoryError::Inflate { .. })
    ));
    assert!(matches!(
        history::inflate_zlib(&blob[..blob.len() / 2], 1 << 20),
        Err(HistoryError::Inflate { .. })
    ));
    // Inflates but is not a HistorySync.
    assert!(matches!(
        history::inflate_history_sync(&zlib(&[0xff, 0xff, 0xff]), 1 << 20),
        Err(HistoryError::Decode { .. })
    ));
}

fn mutate(rng: &mut ChaCha20Rng, bytes: &mut Vec<u8>) {
    use rand::Rng;
    for _ in 0..rng.gen_range(1..4) {
        let n = bytes.len();
        match rng.gen_range(0..6) {
            0 if n > 0 => {
                let i = rng.gen_range(0..n);
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if n > 0 => {
                let i = rng.gen_range(0..n);
                bytes[i] = rng.r#gen();
            }
            2 => bytes.truncate(rng.gen_range(0..=n)),
            3 => {
                let i = rng.gen_range(0..=n);
                bytes.insert(i, rng.r#gen());
            }
            4 if n > 1 => {
                let i = rng.gen_range(0..n);
                bytes.remove(i);
            }
            _ => bytes.extend((0..rng.gen_range(1..8)).map(|_| rng.r#gen::<u8>())),
        }
    }
}

/// No input makes the mutation/patch decoder panic: 100,000 mutated patches and
/// snapshots (decoded with and without MAC checks) and 40,000 mutated, validly
/// encrypted SyncActionData and index payloads. Seeded, reproducible.
#[test]
fn mutation_decoder_survives_mutated_input() {
    use rand::Rng;
    let k = Kat::new();
    let keys = k.keys();
    let key_id = k.key_id();
    let lookup = k.lookup();
    let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);

    // Valid inputs to mutate: the KAT patch and one of ours with SET and REMOVE.
    let own = appstate::encode_patch(
        "regular_high",
        &CollectionState::default(),
        &key_id,
        &keys,
        &[
            OutgoingMutation::mute(JID, Some(-1), 1),
            OutgoingMutation::star(JID, "ID", true, None, true, 2),
            OutgoingMutation {
                operation: Operation::Remove,
                ..OutgoingMutation::mute(JID, None, 3)
            },
        ],
        |_| None,
        &mut rng,
    );
    let mut own_patch = own.patch.clone();
    own_patch.version = Some(SyncdVersion { version: Some(1) });
    let bases: Vec<(Vec<u8>, LtHash)> = vec![
        (
            k.patch().encode_to_vec(),
            LtHash::from_slice(&k.get("app_state_patch", "lthash_after")).unwrap(),
        ),
        (own_patch.encode_to_vec(), own.state.hash),
    ];
    let mut verified = 0u32;
    for round in 0..100_000u32 {
        let (base, hash_after) = &bases[round as usize % bases.len()];
        let mut bytes = base.clone();
        mutate(&mut rng, &mut bytes);
        if round % 3 == 0 {
            // As a snapshot too: the same bytes rarely decode as both.
            if let Ok(s) = SyncdSnapshot::decode(bytes.as_slice()) {
                let _ = appstate::decode_snapshot(
                    "regular_high",
                    &s,
                    &lookup,
                    DecodeOptions::default(),
                );
                let _ = appstate::decode_snapshot(
                    "regular_high",
                    &s,
                    &lookup,
                    DecodeOptions::default().with_verify_macs(false),
                );
            }
        }
        let Ok(patch) = SyncdPatch::decode(bytes.as_slice()) else {
            continue;
        };
        let start = CollectionState::default();
        if let Ok(out) = appstate::decode_patch(
            "regular_high",
            &start,
            &patch,
            &lookup,
            |_| None,
            DecodeOptions::default(),
        ) {
            // Whatever changed, it was outside the MACed content.
            assert_eq!(out.state.hash, *hash_after);
            verified += 1;
        }
        if let Ok(out) = appstate::decode_patch(
            "regular_high",
            &start,
            &patch,
            &lookup,
            |_| None,
            DecodeOptions::default().with_verify_macs(false),
        ) {
            for m in &out.mutations {
                let _ = TypedMutation::from_decoded(m);
            }
        }
    }
    assert!(verified > 0, "unmutated-equivalent inputs still verify");

    // Mutated plaintexts under valid encryption reach SyncActionData and index parsing.
    let data_bytes = k.get("app_state_mutation", "sync_action_data_proto");
    let index_json = br#"["star","1555@s.whatsapp.net","3EB0","1","0"]"#.to_vec();
    for round in 0..40_000u32 {
        let data = if round % 2 == 0 {
            let mut b = data_bytes.clone();
            mutate(&mut rng, &mut b);
            match SyncActionData::decode(b.as_slice()) {
                Ok(d) => d,
                Err(_) => continue,
            }
        } else {
            let mut idx = index_json.clone();
            mutate(&mut rng, &mut idx);
            if round % 7 == 1 {
                idx = (0..rng.gen_range(0..24)).map(|_| rng.r#gen()).collect();
            }
            SyncActionData {
                index: Some(idx),
                value: Some(mute_value()),
                padding: None,
                version: Some(2),
            }
        };
        let op = if rng.r#gen() {
            Operation::Set
        } else {
            Operation::Remove
        };
        let m = appstate::encrypt_mutation(&keys, &key_id, op, &data, rng.r#gen());
        let record = m.record.unwrap();
        if let Ok(d) = appstate::decrypt_mutation(op, &record, &keys, true) {
            // Whatever parsed re-encodes to a JSON array.
            assert!(appstate::encode_index(&d.index).starts_with(b"["));
            let _ = TypedMutation::from_decoded(&d);
        }
    }
}
