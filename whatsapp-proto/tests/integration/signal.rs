//! Signal: the known-answer vectors of ../shared/vectors/crypto/signal_kat.json byte for byte,
//! session and sender-key behaviour (out of order, duplicates, limits, archived states, identity
//! changes, records), property tests, and interop with npm libsignal 6.0.0.

use std::collections::VecDeque;

use proptest::prelude::*;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use whatsapp_proto::signal::ratchet::{
    ChainKey, MessageKeys, SenderMessageKeys, root_step, x3dh_initiator, x3dh_responder,
};
use whatsapp_proto::signal::*;

// ---------------------------------------------------------------------------------------------
// Helpers

fn kat() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/crypto/signal_kat.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors present beside the project");
    serde_json::from_str(&text).expect("valid JSON")
}

fn hex_of(v: &Value, section: &str, field: &str) -> Vec<u8> {
    let s = v[section][field]
        .as_str()
        .unwrap_or_else(|| panic!("{section}.{field} missing"));
    hex::decode(s).expect("hex")
}

fn arr32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("32 bytes")
}

fn kat_pair(v: &Value, name: &str) -> KeyPair {
    let pair = KeyPair::from_private(PrivateKey::from_slice(&hex_of(v, name, "priv")).unwrap());
    assert_eq!(
        pair.public.as_bytes().as_slice(),
        hex_of(v, name, "pub"),
        "{name} public key"
    );
    pair
}

/// An RNG that hands out scripted bytes, so that generated keys are the vector's keys.
struct ScriptedRng(VecDeque<u8>);

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.0.pop_front().expect("scripted randomness exhausted");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand::CryptoRng for ScriptedRng {}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

// ---------------------------------------------------------------------------------------------
// Known-answer vectors

#[test]
fn kat_keys_and_signed_prekey_signature() {
    let v = kat();
    for name in [
        "kat alice identity",
        "kat alice base",
        "kat alice ratchet 1",
        "kat bob identity",
        "kat bob signed prekey",
        "kat bob one-time prekey",
        "kat bob ratchet 1",
        "kat sender signing key",
    ] {
        kat_pair(&v, name);
    }
    let bob_identity = kat_pair(&v, "kat bob identity");
    let spk = kat_pair(&v, "kat bob signed prekey");
    let message = hex_of(&v, "spk_signature", "message_0x05_spk_pub");
    assert_eq!(spk.public.serialize().as_slice(), message);
    let random: [u8; 64] = hex_of(&v, "spk_signature", "random64").try_into().unwrap();
    let expected = hex_of(&v, "spk_signature", "signature");
    let record = SignedPreKeyRecord::from_key_pair(1, spk, &bob_identity, &random, 0);
    assert_eq!(record.signature.as_slice(), expected);
    assert!(record.verify(&bob_identity.public));
    assert!(!record.verify(&kat_pair(&v, "kat alice identity").public));
}

#[test]
fn kat_x3dh_and_chains() {
    let v = kat();
    let alice_id = kat_pair(&v, "kat alice identity");
    let alice_base = kat_pair(&v, "kat alice base");
    let alice_r1 = kat_pair(&v, "kat alice ratchet 1");
    let bob_id = kat_pair(&v, "kat bob identity");
    let bob_spk = kat_pair(&v, "kat bob signed prekey");
    let bob_opk = kat_pair(&v, "kat bob one-time prekey");
    let bob_r1 = kat_pair(&v, "kat bob ratchet 1");

    assert_eq!(
        alice_id.private.agree(&bob_spk.public).to_vec(),
        hex_of(&v, "x3dh", "dh1_IKa_SPKb")
    );
    assert_eq!(
        alice_base.private.agree(&bob_id.public).to_vec(),
        hex_of(&v, "x3dh", "dh2_EKa_IKb")
    );
    assert_eq!(
        alice_base.private.agree(&bob_spk.public).to_vec(),
        hex_of(&v, "x3dh", "dh3_EKa_SPKb")
    );
    assert_eq!(
        alice_base.private.agree(&bob_opk.public).to_vec(),
        hex_of(&v, "x3dh", "dh4_EKa_OPKb")
    );

    let ours = x3dh_initiator(
        &alice_id.private,
        &alice_base.private,
        &bob_id.public,
        &bob_spk.public,
        Some(&bob_opk.public),
    );
    assert_eq!(ours.master_secret, hex_of(&v, "x3dh", "master_secret"));
    assert_eq!(ours.root_key.to_vec(), hex_of(&v, "x3dh", "root_key_0"));
    assert_eq!(ours.chain_key.to_vec(), hex_of(&v, "x3dh", "chain_key_0"));
    let theirs = x3dh_responder(
        &bob_id.private,
        &bob_spk.private,
        Some(&bob_opk.private),
        &alice_id.public,
        &alice_base.public,
    );
    assert_eq!(theirs, ours);

    let (root1, alice_chain) = root_step(&ours.root_key, &alice_r1.private, &bob_spk.public);
    assert_eq!(
        alice_r1.private.agree(&bob_spk.public).to_vec(),
        hex_of(&v, "alice_sending_chain", "dh_RKa1_SPKb")
    );
    assert_eq!(
        root1.to_vec(),
        hex_of(&v, "alice_sending_chain", "root_key_1")
    );
    assert_eq!(
        alice_chain.key.to_vec(),
        hex_of(&v, "alice_sending_chain", "chain_key")
    );

    // Bob: receiving chain from his signed prekey, then his own sending chain.
    let (bob_root1, bob_recv) = root_step(&theirs.root_key, &bob_spk.private, &alice_r1.public);
    assert_eq!(bob_root1, root1);
    assert_eq!(bob_recv, alice_chain);
    let (root2, bob_chain) = root_step(&root1, &bob_r1.private, &alice_r1.public);
    assert_eq!(
        bob_r1.private.agree(&alice_r1.public).to_vec(),
        hex_of(&v, "bob_sending_chain", "dh_RKb1_RKa1")
    );
    assert_eq!(
        root2.to_vec(),
        hex_of(&v, "bob_sending_chain", "root_key_2")
    );
    assert_eq!(
        bob_chain.key.to_vec(),
        hex_of(&v, "bob_sending_chain", "chain_key")
    );

    for section in ["alice_msg1_pkmsg", "alice_msg2_pkmsg", "bob_reply_msg"] {
        let chain = ChainKey {
            key: arr32(&hex_of(&v, section, "chain_key")),
            index: 0,
        };
        let seed = chain.message_seed();
        assert_eq!(
            seed.to_vec(),
            hex_of(&v, section, "message_key_seed"),
            "{section}"
        );
        assert_eq!(
            chain.next().unwrap().key.to_vec(),
            hex_of(&v, section, "next_chain_key")
        );
        let keys = MessageKeys::derive(&seed);
        assert_eq!(
            keys.cipher_key.to_vec(),
            hex_of(&v, section, "cipher_key"),
            "{section}"
        );
        assert_eq!(
            keys.mac_key.to_vec(),
            hex_of(&v, section, "mac_key"),
            "{section}"
        );
        assert_eq!(keys.iv.to_vec(), hex_of(&v, section, "iv"), "{section}");
    }
    let msg2_chain = ChainKey {
        key: alice_chain.key,
        index: 0,
    }
    .next()
    .unwrap();
    assert_eq!(
        msg2_chain.key.to_vec(),
        hex_of(&v, "alice_msg2_pkmsg", "chain_key")
    );
}

fn kat_bundle(
    v: &Value,
    with_prekey: bool,
) -> (PreKeyBundle, KeyPair, SignedPreKeyRecord, PreKeyRecord) {
    let bob_id = kat_pair(v, "kat bob identity");
    let random: [u8; 64] = hex_of(v, "spk_signature", "random64").try_into().unwrap();
    let spk = SignedPreKeyRecord::from_key_pair(
        v["ids"]["bob_signed_prekey_id"].as_u64().unwrap() as u32,
        kat_pair(v, "kat bob signed prekey"),
        &bob_id,
        &random,
        0,
    );
    let opk = PreKeyRecord {
        id: v["ids"]["bob_one_time_prekey_id"].as_u64().unwrap() as u32,
        key_pair: kat_pair(v, "kat bob one-time prekey"),
    };
    let bundle = PreKeyBundle {
        registration_id: v["ids"]["bob_registration_id"].as_u64().unwrap() as u32,
        identity_key: bob_id.public,
        signed_prekey_id: spk.id,
        signed_prekey: spk.key_pair.public,
        signed_prekey_signature: spk.signature,
        prekey: with_prekey.then_some((opk.id, opk.key_pair.public)),
    };
    (bundle, bob_id, spk, opk)
}

#[test]
fn kat_full_session_pkmsgs_and_reply() {
    let v = kat();
    let alice_id = kat_pair(&v, "kat alice identity");
    let alice_reg = v["ids"]["alice_registration_id"].as_u64().unwrap() as u32;
    let bob_reg = v["ids"]["bob_registration_id"].as_u64().unwrap() as u32;
    let (bundle, bob_id, spk, opk) = kat_bundle(&v, true);
    assert!(bundle.verify_signature());

    // Alice: explicit base and ratchet keys.
    let state = SessionState::initiate(
        &alice_id,
        alice_reg,
        &bundle,
        kat_pair(&v, "kat alice base"),
        kat_pair(&v, "kat alice ratchet 1"),
    );
    assert_eq!(
        state.root_key().to_vec(),
        hex_of(&v, "alice_sending_chain", "root_key_1")
    );
    let mut alice = SessionRecord::new();
    alice.promote_state(state);

    let mut sent = Vec::new();
    for section in ["alice_msg1_pkmsg", "alice_msg2_pkmsg"] {
        let out = alice
            .encrypt(&hex_of(&v, section, "plaintext_padded"))
            .unwrap();
        assert_eq!(out.enc_type(), "pkmsg");
        assert_eq!(
            hex::encode(out.serialized()),
            v[section]["prekey_whisper_message"].as_str().unwrap()
        );
        let CiphertextMessage::PreKey(pk) = &out else {
            panic!("pkmsg expected")
        };
        assert_eq!(
            hex::encode(pk.message().serialized()),
            v[section]["whisper_message"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(pk.message().ciphertext()),
            v[section]["ciphertext"].as_str().unwrap()
        );
        let inner = pk.message().serialized();
        let (body, mac) = inner.split_at(inner.len() - 8);
        assert_eq!(
            hex::encode(&body[1..]),
            v[section]["whisper_proto"].as_str().unwrap()
        );
        assert_eq!(hex::encode(mac), v[section]["mac8"].as_str().unwrap());
        sent.push(out.serialized().to_vec());
    }

    // Bob: his new ratchet key pair is the vector's "kat bob ratchet 1".
    let mut bob_rng = ScriptedRng(
        kat_pair(&v, "kat bob ratchet 1")
            .private
            .to_bytes()
            .into_iter()
            .collect(),
    );
    let mut bob = SessionRecord::new();
    let keys = ResponderKeys {
        identity: &bob_id,
        registration_id: bob_reg,
        signed_prekey: Some(&spk),
        one_time_prekey: Some(&opk),
        stored_identity: None,
    };
    let first = PreKeyWhisperMessage::decode(&sent[0]).unwrap();
    assert_eq!(first.pre_key_id(), Some(opk.id));
    assert_eq!(first.signed_pre_key_id(), spk.id);
    assert_eq!(first.registration_id(), alice_reg);
    let out = bob.decrypt_prekey(&first, &keys, &mut bob_rng).unwrap();
    assert_eq!(
        out.plaintext,
        hex_of(&v, "alice_msg1_pkmsg", "plaintext_padded")
    );
    assert_eq!(
        unpad(&out.plaintext).unwrap(),
        hex::decode("0a0948656c6c6f20426f62").unwrap()
    );
    assert_eq!(out.used_pre_key_id, Some(7));
    assert_eq!(out.identity, alice_id.public);
    assert_eq!(out.identity_status, IdentityStatus::FirstUse);

    // The second pkmsg repeats the session: no prekey needed any more.
    let keys_after = ResponderKeys {
        one_time_prekey: None,
        stored_identity: Some(&alice_id.public),
        ..keys
    };
    let second = PreKeyWhisperMessage::decode(&sent[1]).unwrap();
    let out = bob
        .decrypt_prekey(&second, &keys_after, &mut bob_rng)
        .unwrap();
    assert_eq!(
        out.plaintext,
        hex_of(&v, "alice_msg2_pkmsg", "plaintext_padded")
    );
    assert_eq!(out.used_pre_key_id, None);
    assert_eq!(out.identity_status, IdentityStatus::Known);
    assert_eq!(
        bob.current_state().unwrap().remote_registration_id(),
        alice_reg
    );
    assert_eq!(bob.previous_states().count(), 0);

    let reply = bob
        .encrypt(&hex_of(&v, "bob_reply_msg", "plaintext_padded"))
        .unwrap();
    assert_eq!(reply.enc_type(), "msg");
    assert_eq!(
        hex::encode(reply.serialized()),
        v["bob_reply_msg"]["whisper_message"].as_str().unwrap()
    );
    let parsed = WhisperMessage::decode(reply.serialized()).unwrap();
    assert_eq!(
        hex::encode(&parsed.serialized()[1..parsed.serialized().len() - 8]),
        v["bob_reply_msg"]["whisper_proto"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(&parsed.serialized()[parsed.serialized().len() - 8..]),
        v["bob_reply_msg"]["mac8"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(parsed.ciphertext()),
        v["bob_reply_msg"]["ciphertext"].as_str().unwrap()
    );
    assert_eq!((parsed.counter(), parsed.previous_counter()), (0, 0));

    // Alice reads the reply, and from then on sends plain msgs.
    let plain = alice.decrypt(&parsed, &mut rng(1)).unwrap();
    assert_eq!(plain, hex_of(&v, "bob_reply_msg", "plaintext_padded"));
    assert_eq!(alice.encrypt(b"next").unwrap().enc_type(), "msg");
}

#[test]
fn kat_sender_key() {
    let v = kat();
    let s = "sender_key";
    let signing = kat_pair(&v, "kat sender signing key");
    assert_eq!(
        signing.public.as_bytes().to_vec(),
        hex_of(&v, s, "signing_pub")
    );
    let chain_key = arr32(&hex_of(&v, s, "chain_key"));
    let key_id = v[s]["key_id"].as_u64().unwrap() as u32;
    let mut mine = SenderKeyRecord::new();
    let skdm = mine.set_own_state(key_id, 0, chain_key, signing.clone());
    assert_eq!(
        hex::encode(skdm.serialized()),
        v[s]["skdm_serialized"].as_str().unwrap()
    );

    let chain = ChainKey {
        key: chain_key,
        index: 0,
    };
    assert_eq!(
        chain.message_seed().to_vec(),
        hex_of(&v, s, "message_key_seed")
    );
    assert_eq!(
        chain.next().unwrap().key.to_vec(),
        hex_of(&v, s, "next_chain_key")
    );
    let keys = SenderMessageKeys::derive(&chain.message_seed());
    assert_eq!(keys.iv.to_vec(), hex_of(&v, s, "iv"));
    assert_eq!(keys.cipher_key.to_vec(), hex_of(&v, s, "cipher_key"));

    let random: [u8; 64] = hex_of(&v, s, "random64").try_into().unwrap();
    let plaintext = hex_of(&v, s, "plaintext_padded");
    let msg = mine.encrypt_with_random(&plaintext, &random).unwrap();
    assert_eq!(
        hex::encode(msg.serialized()),
        v[s]["skmsg_serialized"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(msg.ciphertext()),
        v[s]["ciphertext"].as_str().unwrap()
    );
    let sig = &msg.serialized()[msg.serialized().len() - 64..];
    assert_eq!(sig.to_vec(), hex_of(&v, s, "signature"));

    let mut theirs = SenderKeyRecord::new();
    theirs.process_distribution_message(
        &SenderKeyDistributionMessage::decode(&hex_of(&v, s, "skdm_serialized")).unwrap(),
    );
    let received = SenderKeyMessage::decode(&hex_of(&v, s, "skmsg_serialized")).unwrap();
    assert_eq!(received.key_id(), key_id);
    assert_eq!(theirs.decrypt(&received).unwrap(), plaintext);
    assert_eq!(
        unpad(&plaintext).unwrap(),
        hex::decode("0a0b48656c6c6f2067726f7570").unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Sessions: behaviour

/// One device: identity, registration ID, prekeys, and its sessions by peer name.
struct Device {
    identity: KeyPair,
    registration_id: u32,
    signed_prekey: SignedPreKeyRecord,
    prekeys: Vec<PreKeyRecord>,
    session: SessionRecord,
}

impl Device {
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let identity = KeyPair::generate(rng);
        Self {
            registration_id: generate_registration_id(rng),
            signed_prekey: SignedPreKeyRecord::generate(1, &identity, 0, rng),
            prekeys: PreKeyRecord::generate_batch(1, 3, rng),
            identity,
            session: SessionRecord::new(),
        }
    }

    fn bundle(&self, with_prekey: bool) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            identity_key: self.identity.public,
            signed_prekey_id: self.signed_prekey.id,
            signed_prekey: self.signed_prekey.key_pair.public,
            signed_prekey_signature: self.signed_prekey.signature,
            prekey: self
                .prekeys
                .first()
                .filter(|_| with_prekey)
                .map(|k| (k.id, k.key_pair.public)),
        }
    }

    /// Decrypts `msg` or `pkmsg` bytes as the WhatsApp layer would, deleting a used prekey.
    fn receive(
        &mut self,
        enc_type: &str,
        bytes: &[u8],
        peer: &PublicKey,
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<u8>, SignalError> {
        if enc_type == "pkmsg" {
            let msg = PreKeyWhisperMessage::decode(bytes)?;
            let one_time = msg
                .pre_key_id()
                .and_then(|id| self.prekeys.iter().find(|k| k.id == id))
                .cloned();
            let keys = ResponderKeys {
                identity: &self.identity,
                registration_id: self.registration_id,
                signed_prekey: Some(&self.signed_prekey),
                one_time_prekey: one_time.as_ref(),
                stored_identity: Some(peer),
            };
            let out = self.session.decrypt_prekey(&msg, &keys, rng)?;
            if let Some(id) = out.used_pre_key_id {
                self.prekeys.retain(|k| k.id != id);
            }
            Ok(out.plaintext)
        } else {
            self.session.decrypt(&WhisperMessage::decode(bytes)?, rng)
        }
    }
}

fn pair_with_session(seed: u8, with_prekey: bool) -> (Device, Device, ChaCha20Rng) {
    let mut rng = rng(seed);
    let mut alice = Device::new(&mut rng);
    let bob = Device::new(&mut rng);
    let status = alice
        .session
        .process_bundle(
            &alice.identity,
            alice.registration_id,
            &bob.bundle(with_prekey),
            None,
            &mut rng,
        )
        .unwrap();
    assert_eq!(status, IdentityStatus::FirstUse);
    (alice, bob, rng)
}

fn send(from: &mut Device, text: &[u8]) -> (&'static str, Vec<u8>) {
    let out = from.session.encrypt(text).unwrap();
    (out.enc_type(), out.serialized().to_vec())
}

#[test]
fn session_without_one_time_prekey_both_ways() {
    let (mut alice, mut bob, mut rng) = pair_with_session(10, false);
    let (t, m) = send(&mut alice, b"one");
    assert_eq!(t, "pkmsg");
    assert_eq!(PreKeyWhisperMessage::decode(&m).unwrap().pre_key_id(), None);
    let alice_pub = alice.identity.public;
    let bob_pub = bob.identity.public;
    assert_eq!(bob.receive(t, &m, &alice_pub, &mut rng).unwrap(), b"one");
    assert_eq!(bob.prekeys.len(), 3, "no one-time prekey consumed");
    for round in 0..5u8 {
        let (t, m) = send(&mut bob, &[round; 40]);
        assert_eq!(t, "msg");
        assert_eq!(
            alice.receive(t, &m, &bob_pub, &mut rng).unwrap(),
            [round; 40]
        );
        let (t, m) = send(&mut alice, &[round + 100; 3]);
        assert_eq!(t, "msg");
        assert_eq!(
            bob.receive(t, &m, &alice_pub, &mut rng).unwrap(),
            [round + 100; 3]
        );
    }
}

#[test]
fn out_of_order_duplicates_and_forward_limit() {
    let (mut alice, mut bob, mut rng) = pair_with_session(11, true);
    let alice_pub = alice.identity.public;
    let sent: Vec<_> = (0..20u32)
        .map(|i| send(&mut alice, &i.to_be_bytes()))
        .collect();
    // Deliver in a scrambled order: 19, 0, 18, 1, ...
    let mut order: Vec<usize> = Vec::new();
    for i in 0..10 {
        order.push(19 - i);
        order.push(i);
    }
    for &i in &order {
        let (t, m) = &sent[i];
        assert_eq!(
            bob.receive(t, m, &alice_pub, &mut rng).unwrap(),
            (i as u32).to_be_bytes()
        );
    }
    assert_eq!(
        bob.prekeys.len(),
        2,
        "the one-time prekey was consumed once"
    );
    // Every one is now a duplicate, and refusing it changes nothing.
    let before = bob.session.clone();
    for (t, m) in &sent {
        let err = bob.receive(t, m, &alice_pub, &mut rng).unwrap_err();
        assert!(
            matches!(err, SignalError::DuplicateMessage { .. }),
            "{err:?}"
        );
    }
    assert_eq!(bob.session, before);

    // Bob answers, so Alice sends msgs; 2,000 ahead is allowed, 2,001 is not.
    let (t, m) = send(&mut bob, b"ack");
    alice
        .receive(t, &m, &bob.identity.public, &mut rng)
        .unwrap();
    let burst: Vec<_> = (0..2003u32)
        .map(|i| send(&mut alice, &i.to_le_bytes()))
        .collect();
    let snapshot = bob.session.clone();
    let err = bob
        .receive(burst[2001].0, &burst[2001].1, &alice_pub, &mut rng)
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignalError::TooFarAhead {
                ahead: 2001,
                limit: 2000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(bob.session, snapshot);
    assert_eq!(
        bob.receive(burst[2000].0, &burst[2000].1, &alice_pub, &mut rng)
            .unwrap(),
        2000u32.to_le_bytes()
    );
    // 2002 then stores a 2,001st skipped key, so the oldest (0) is dropped: at most 2,000 kept.
    for i in [2002usize, 2001, 1, 1999, 1000] {
        assert_eq!(
            bob.receive(burst[i].0, &burst[i].1, &alice_pub, &mut rng)
                .unwrap(),
            (i as u32).to_le_bytes()
        );
    }
    let err = bob
        .receive(burst[0].0, &burst[0].1, &alice_pub, &mut rng)
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignalError::DuplicateMessage {
                counter: 0,
                next: 2003
            }
        ),
        "{err:?}"
    );
}

#[test]
fn receiving_chains_are_capped_at_five() {
    let (mut alice, mut bob, mut rng) = pair_with_session(12, true);
    let (alice_pub, bob_pub) = (alice.identity.public, bob.identity.public);
    let (t, m) = send(&mut alice, b"hello");
    bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
    // Alice holds back one message from each of her chains; each ping-pong turn gives Bob a new
    // receiving chain.
    let mut held = Vec::new();
    for turn in 0..7u8 {
        let (t, m) = send(&mut bob, b"ping");
        alice.receive(t, &m, &bob_pub, &mut rng).unwrap();
        held.push(send(&mut alice, &[turn]));
        let (t, m) = send(&mut alice, b"pong");
        bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
    }
    // Bob keeps the 5 newest chains: held messages of the last 5 turns decrypt, older ones do not.
    for (turn, (t, m)) in held.iter().enumerate().rev() {
        let result = bob.receive(t, m, &alice_pub, &mut rng);
        if turn >= 2 {
            assert_eq!(result.unwrap(), [turn as u8]);
        } else {
            assert!(result.is_err(), "chain of turn {turn} should be gone");
        }
    }
}

#[test]
fn archived_sessions_decrypt_and_are_capped_at_forty() {
    let mut rng = rng(13);
    let mut alice = Device::new(&mut rng);
    let mut bob = Device::new(&mut rng);
    bob.prekeys = PreKeyRecord::generate_batch(1, 42, &mut rng);
    let alice_pub = alice.identity.public;
    // 42 fresh sessions from Alice, each on its own one-time prekey (without one, a pkmsg could
    // always build its session again) and each leaving a message in flight.
    let mut held = Vec::new();
    for i in 0..42u8 {
        alice
            .session
            .process_bundle(
                &alice.identity,
                alice.registration_id,
                &bob.bundle(true),
                Some(&bob.identity.public),
                &mut rng,
            )
            .unwrap();
        let (t, m) = send(&mut alice, &[i, 0]);
        bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
        let (t2, m2) = send(&mut alice, &[i, 1]);
        held.push((t2, m2));
    }
    assert_eq!(bob.session.previous_states().count(), MAX_ARCHIVED_STATES);
    // The newest session's message decrypts on the current state; archived ones that are kept
    // decrypt too (the pkmsg repeats a known base key), the two oldest are gone.
    for (i, (t, m)) in held.iter().enumerate().rev() {
        let result = bob.receive(t, m, &alice_pub, &mut rng);
        if i >= 1 {
            assert_eq!(result.unwrap(), [i as u8, 1], "session {i}");
        } else {
            assert!(result.is_err(), "session {i} should be gone");
        }
    }
}

#[test]
fn archived_state_decrypts_a_msg_and_becomes_current() {
    let (mut alice, mut bob, mut rng) = pair_with_session(14, true);
    let (alice_pub, bob_pub) = (alice.identity.public, bob.identity.public);
    let (t, m) = send(&mut alice, b"first");
    bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
    let (t, m) = send(&mut bob, b"ack");
    alice.receive(t, &m, &bob_pub, &mut rng).unwrap();
    let (t_old, m_old) = send(&mut alice, b"on the old session");
    assert_eq!(t_old, "msg");
    // Alice starts over (e.g. after a reinstall on her side of the store).
    alice.session = SessionRecord::new();
    alice
        .session
        .process_bundle(
            &alice.identity,
            alice.registration_id,
            &bob.bundle(true),
            Some(&bob_pub),
            &mut rng,
        )
        .unwrap();
    let (t, m) = send(&mut alice, b"new session");
    bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
    let new_base = *bob.session.current_state().unwrap().base_key();
    assert_eq!(
        bob.receive(t_old, &m_old, &alice_pub, &mut rng).unwrap(),
        b"on the old session"
    );
    assert_ne!(
        *bob.session.current_state().unwrap().base_key(),
        new_base,
        "old state promoted"
    );
}

#[test]
fn identity_change_is_refused_without_change() {
    let (mut alice, mut bob, mut rng) = pair_with_session(15, true);
    let stranger = KeyPair::generate(&mut rng);
    let (_, m) = send(&mut alice, b"hi");
    let msg = PreKeyWhisperMessage::decode(&m).unwrap();
    let keys = ResponderKeys {
        identity: &bob.identity,
        registration_id: bob.registration_id,
        signed_prekey: Some(&bob.signed_prekey),
        one_time_prekey: bob.prekeys.first(),
        stored_identity: Some(&stranger.public),
    };
    let before = bob.session.clone();
    let err = bob
        .session
        .decrypt_prekey(&msg, &keys, &mut rng)
        .unwrap_err();
    assert_eq!(
        err,
        SignalError::IdentityChanged {
            stored: stranger.public,
            received: alice.identity.public
        }
    );
    assert_eq!(bob.session, before);
    // Accepting the new identity (the caller's decision) then works.
    let keys = ResponderKeys {
        stored_identity: None,
        ..keys
    };
    assert_eq!(
        bob.session
            .decrypt_prekey(&msg, &keys, &mut rng)
            .unwrap()
            .plaintext,
        b"hi"
    );

    // The same policy for bundles.
    let mut again = SessionRecord::new();
    let err = again
        .process_bundle(
            &alice.identity,
            1,
            &bob.bundle(true),
            Some(&stranger.public),
            &mut rng,
        )
        .unwrap_err();
    assert!(matches!(err, SignalError::IdentityChanged { .. }));
    assert!(!again.has_current_state());
    bob.prekeys.clear();
}

#[test]
fn bad_bundles_and_missing_prekeys_are_refused() {
    let mut rng = rng(16);
    let alice = Device::new(&mut rng);
    let bob = Device::new(&mut rng);
    let mut bundle = bob.bundle(true);
    bundle.signed_prekey_signature[5] ^= 1;
    let mut record = SessionRecord::new();
    let err = record
        .process_bundle(&alice.identity, 1, &bundle, None, &mut rng)
        .unwrap_err();
    assert_eq!(
        err,
        SignalError::BadSignature {
            what: "signed prekey"
        }
    );
    assert!(!record.has_current_state());

    let mut alice_session = SessionRecord::new();
    alice_session
        .process_bundle(&alice.identity, 1, &bob.bundle(true), None, &mut rng)
        .unwrap();
    let sent = alice_session.encrypt(b"x").unwrap();
    let msg = PreKeyWhisperMessage::decode(sent.serialized()).unwrap();
    let mut bob_session = SessionRecord::new();
    let keys = ResponderKeys {
        identity: &bob.identity,
        registration_id: bob.registration_id,
        signed_prekey: Some(&bob.signed_prekey),
        one_time_prekey: None,
        stored_identity: None,
    };
    assert_eq!(
        bob_session
            .decrypt_prekey(&msg, &keys, &mut rng)
            .unwrap_err(),
        SignalError::MissingPreKey { id: 1 }
    );
    let wrong = PreKeyRecord {
        id: 2,
        ..bob.prekeys[1].clone()
    };
    let keys2 = ResponderKeys {
        one_time_prekey: Some(&wrong),
        ..keys
    };
    assert_eq!(
        bob_session
            .decrypt_prekey(&msg, &keys2, &mut rng)
            .unwrap_err(),
        SignalError::MissingPreKey { id: 1 }
    );
    let keys3 = ResponderKeys {
        signed_prekey: None,
        one_time_prekey: bob.prekeys.first(),
        ..keys
    };
    assert_eq!(
        bob_session
            .decrypt_prekey(&msg, &keys3, &mut rng)
            .unwrap_err(),
        SignalError::MissingSignedPreKey { id: 1 }
    );
    assert_eq!(bob_session, SessionRecord::new());
    // A wrong key under the right ID: the MAC fails and nothing is stored.
    let imposter = PreKeyRecord {
        id: 1,
        key_pair: KeyPair::generate(&mut rng),
    };
    let keys4 = ResponderKeys {
        one_time_prekey: Some(&imposter),
        ..keys
    };
    assert_eq!(
        bob_session
            .decrypt_prekey(&msg, &keys4, &mut rng)
            .unwrap_err(),
        SignalError::BadMac
    );
    assert_eq!(bob_session, SessionRecord::new());
    assert_eq!(
        SessionRecord::new().encrypt(b"x").unwrap_err(),
        SignalError::NoSession
    );
}

#[test]
fn records_round_trip_and_reject_damage() {
    let (mut alice, mut bob, mut rng) = pair_with_session(17, true);
    let (alice_pub, bob_pub) = (alice.identity.public, bob.identity.public);
    // Build some state: skipped keys, several chains, an archived state.
    let (t, m) = send(&mut alice, b"a");
    bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
    for _ in 0..3 {
        let _lost = send(&mut bob, b"lost");
        let (t, m) = send(&mut bob, b"b");
        alice.receive(t, &m, &bob_pub, &mut rng).unwrap();
        let (t, m) = send(&mut alice, b"c");
        bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
    }
    alice
        .session
        .process_bundle(&alice.identity, 1, &bob.bundle(false), None, &mut rng)
        .unwrap();
    for record in [&alice.session, &bob.session] {
        let bytes = record.to_bytes();
        assert_eq!(bytes[0], RECORD_FORMAT_VERSION);
        assert_eq!(&SessionRecord::from_bytes(&bytes).unwrap(), record);
    }
    assert_eq!(
        SessionRecord::from_bytes(&SessionRecord::new().to_bytes()).unwrap(),
        SessionRecord::new()
    );
    assert_eq!(
        KeyPair::from_bytes(&alice.identity.to_bytes()).unwrap(),
        alice.identity
    );
    assert_eq!(
        SignedPreKeyRecord::from_bytes(&bob.signed_prekey.to_bytes()).unwrap(),
        bob.signed_prekey
    );
    assert_eq!(
        PreKeyRecord::from_bytes(&bob.prekeys[0].to_bytes()).unwrap(),
        bob.prekeys[0]
    );
    let mut group = SenderKeyRecord::new();
    group.create_distribution_message(&mut rng);
    group.encrypt(b"x", &mut rng).unwrap();
    let mut other = SenderKeyRecord::new();
    other.process_distribution_message(&group.current_state().unwrap().distribution_message());
    for r in [&group, &other] {
        assert_eq!(&SenderKeyRecord::from_bytes(&r.to_bytes()).unwrap(), r);
    }

    let mut bytes = bob.session.to_bytes();
    bytes[0] = 9;
    assert!(matches!(
        SessionRecord::from_bytes(&bytes),
        Err(SignalError::UnsupportedRecordVersion { version: 9, .. })
    ));
    assert!(SessionRecord::from_bytes(&[]).is_err());
    assert!(
        PreKeyRecord::from_bytes(&[RECORD_FORMAT_VERSION]).is_err(),
        "missing key pair"
    );
    // Truncations never panic.
    let bytes = bob.session.to_bytes();
    for cut in 0..bytes.len() {
        let _ = SessionRecord::from_bytes(&bytes[..cut]);
    }
}

// ---------------------------------------------------------------------------------------------
// Sender keys: behaviour

#[test]
fn sender_keys_out_of_order_duplicates_limits() {
    let mut rng = rng(20);
    let mut mine = SenderKeyRecord::new();
    let skdm = mine.create_distribution_message(&mut rng);
    assert_eq!(
        mine.create_distribution_message(&mut rng),
        skdm,
        "same state until rotated"
    );
    let mut theirs = SenderKeyRecord::new();
    theirs.process_distribution_message(
        &SenderKeyDistributionMessage::decode(skdm.serialized()).unwrap(),
    );
    let sent: Vec<_> = (0..30u32)
        .map(|i| mine.encrypt(&i.to_be_bytes(), &mut rng).unwrap())
        .collect();
    for i in (0..30).rev() {
        let m = SenderKeyMessage::decode(sent[i].serialized()).unwrap();
        assert_eq!(theirs.decrypt(&m).unwrap(), (i as u32).to_be_bytes());
    }
    let before = theirs.clone();
    let dup = SenderKeyMessage::decode(sent[7].serialized()).unwrap();
    assert!(matches!(
        theirs.decrypt(&dup),
        Err(SignalError::DuplicateMessage {
            counter: 7,
            next: 30
        })
    ));
    // A re-sent SKDM does not rewind the chain.
    theirs.process_distribution_message(&skdm);
    assert_eq!(theirs, before);
    assert!(theirs.decrypt(&dup).is_err());

    let far: Vec<_> = (0..2002)
        .map(|_| mine.encrypt(b"f", &mut rng).unwrap())
        .collect();
    let err = theirs
        .decrypt(&SenderKeyMessage::decode(far[2001].serialized()).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, SignalError::TooFarAhead { ahead: 2001, .. }),
        "{err:?}"
    );
    assert_eq!(theirs, before);
    assert_eq!(
        theirs
            .decrypt(&SenderKeyMessage::decode(far[2000].serialized()).unwrap())
            .unwrap(),
        b"f"
    );

    // Tampered signature, unknown key ID, receiving-only state cannot encrypt.
    let mut bytes = sent[0].serialized().to_vec();
    let last = bytes.len() - 1;
    bytes[last - 10] ^= 0x40;
    let before = theirs.clone();
    assert_eq!(
        theirs
            .decrypt(&SenderKeyMessage::decode(&bytes).unwrap())
            .unwrap_err(),
        SignalError::BadSignature {
            what: "sender key message"
        }
    );
    assert_eq!(theirs, before);
    let mut stranger = SenderKeyRecord::new();
    stranger.create_distribution_message(&mut rng);
    let foreign = stranger.encrypt(b"x", &mut rng).unwrap();
    assert!(matches!(
        theirs.decrypt(&foreign),
        Err(SignalError::NoSenderKeyState { .. })
    ));
    assert!(matches!(
        theirs.encrypt(b"x", &mut rng),
        Err(SignalError::NoSigningKey { .. })
    ));
}

#[test]
fn sender_key_states_are_capped_at_five() {
    let mut rng = rng(21);
    let mut theirs = SenderKeyRecord::new();
    let mut senders = Vec::new();
    for _ in 0..7 {
        let mut mine = SenderKeyRecord::new();
        theirs.process_distribution_message(&mine.create_distribution_message(&mut rng));
        senders.push(mine);
    }
    assert_eq!(theirs.states().count(), MAX_SENDER_KEY_STATES);
    for (i, mine) in senders.iter_mut().enumerate() {
        let m = mine.encrypt(b"hi", &mut rng).unwrap();
        assert_eq!(theirs.decrypt(&m).is_ok(), i >= 2, "state {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// Padding and addresses

#[test]
fn padding_add_and_remove() {
    let mut rng = rng(30);
    for _ in 0..200 {
        let padded = pad(b"body", &mut rng);
        let n = padded.len() - 4;
        assert!((1..=16).contains(&n));
        assert!(padded[4..].iter().all(|&b| b as usize == n));
        assert_eq!(unpad(&padded).unwrap(), b"body");
    }
    assert_eq!(pad_with(b"ab", 3), b"ab\x03\x03\x03");
    assert_eq!(unpad(b"\x01").unwrap(), b"");
    for bad in [&b""[..], b"ab\x00", b"a\x03\x03", b"ab\x02\x03", b"\x05"] {
        assert!(
            matches!(unpad(bad), Err(SignalError::BadPadding { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn addresses() {
    let cases = [
        ("15551234567.0", "15551234567.0"),
        ("15551234567:2@s.whatsapp.net", "15551234567.2"),
        ("15551234567@s.whatsapp.net", "15551234567.0"),
        ("123:2@lid", "123_1.2"),
        ("123@hosted", "123_128.0"),
        ("123:99@hosted.lid", "123_129.99"),
        ("123_1.2", "123_1.2"),
    ];
    for (input, want) in cases {
        assert_eq!(
            input.parse::<ProtocolAddress>().unwrap().to_string(),
            want,
            "{input}"
        );
    }
    for bad in ["", "abc", ".3", "a.b", "x:y@lid", "@s.whatsapp.net"] {
        assert!(bad.parse::<ProtocolAddress>().is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests

#[derive(Clone, Debug)]
enum Op {
    AliceSends,
    BobSends,
    DeliverToAlice(prop::sample::Index),
    DeliverToBob(prop::sample::Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::AliceSends),
        2 => Just(Op::BobSends),
        3 => any::<prop::sample::Index>().prop_map(Op::DeliverToAlice),
        3 => any::<prop::sample::Index>().prop_map(Op::DeliverToBob),
    ]
}

type InFlight = Vec<(&'static str, Vec<u8>, Vec<u8>)>;

fn deliver(
    to: &mut Device,
    peer: &PublicKey,
    queue: &mut InFlight,
    at: &prop::sample::Index,
    rng: &mut ChaCha20Rng,
) {
    if queue.is_empty() {
        return;
    }
    let (t, bytes, plain) = queue.remove(at.index(queue.len()));
    assert_eq!(to.receive(t, &bytes, peer, rng).unwrap(), plain);
}

/// Flips one byte of `bytes` at `at` and checks that `to` refuses it without changing its record.
fn assert_refused_unchanged(
    to: &mut Device,
    peer: &PublicKey,
    t: &'static str,
    bytes: &[u8],
    at: usize,
    xor: u8,
    rng: &mut ChaCha20Rng,
) {
    let mut tampered = bytes.to_vec();
    let at = at % tampered.len();
    tampered[at] ^= xor;
    let before = to.session.clone();
    let result = to.receive(t, &tampered, peer, rng);
    assert!(result.is_err(), "byte {at} ^ {xor:#04x} of {t} accepted");
    assert_eq!(to.session, before, "record changed by a refused message");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any interleaving of sends and (out-of-order) deliveries between two parties decrypts.
    #[test]
    fn random_interleavings_always_decrypt(seed in any::<u8>(), ops in prop::collection::vec(op(), 1..80)) {
        let (mut alice, mut bob, mut rng) = pair_with_session(seed, seed % 2 == 0);
        let (alice_pub, bob_pub) = (alice.identity.public, bob.identity.public);
        let mut to_bob: InFlight = Vec::new();
        let mut to_alice: InFlight = Vec::new();
        let mut n = 0u32;
        for op in &ops {
            n += 1;
            match op {
                Op::AliceSends => {
                    let (t, m) = send(&mut alice, &n.to_be_bytes());
                    to_bob.push((t, m, n.to_be_bytes().to_vec()));
                }
                Op::BobSends if bob.session.has_current_state() => {
                    let (t, m) = send(&mut bob, &n.to_le_bytes());
                    prop_assert_eq!(t, "msg");
                    to_alice.push((t, m, n.to_le_bytes().to_vec()));
                }
                Op::BobSends => {}
                Op::DeliverToAlice(at) => deliver(&mut alice, &bob_pub, &mut to_alice, at, &mut rng),
                Op::DeliverToBob(at) => deliver(&mut bob, &alice_pub, &mut to_bob, at, &mut rng),
            }
        }
        // Everything still in flight arrives, in reverse order.
        while let Some((t, m, p)) = to_bob.pop() {
            prop_assert_eq!(bob.receive(t, &m, &alice_pub, &mut rng).unwrap(), p);
        }
        while let Some((t, m, p)) = to_alice.pop() {
            prop_assert_eq!(alice.receive(t, &m, &bob_pub, &mut rng).unwrap(), p);
        }
    }

    /// Any changed byte of a `msg` (version, protobuf, ciphertext or MAC) is refused, the record is
    /// unchanged, and the genuine message still decrypts afterwards — whether it would have
    /// advanced the chain, used a skipped key, or turned the ratchet.
    #[test]
    fn any_changed_byte_is_refused_and_changes_nothing(
        seed in any::<u8>(), at in any::<usize>(), xor in 1..=255u8, case in 0..3u8,
    ) {
        let (mut alice, mut bob, mut rng) = pair_with_session(seed, true);
        let (alice_pub, bob_pub) = (alice.identity.public, bob.identity.public);
        let (t, m) = send(&mut alice, b"setup");
        bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
        let (t, m) = send(&mut bob, b"ack");
        alice.receive(t, &m, &bob_pub, &mut rng).unwrap();
        let (t, m) = match case {
            // Same chain, next counter.
            0 => { let (t, m) = send(&mut alice, b"x"); bob.receive(t, &m, &alice_pub, &mut rng).unwrap(); send(&mut alice, b"target") }
            // A skipped key.
            1 => {
                let first = send(&mut alice, b"target");
                let (t, m) = send(&mut alice, b"later");
                bob.receive(t, &m, &alice_pub, &mut rng).unwrap();
                first
            }
            // A new ratchet key.
            _ => send(&mut alice, b"target"),
        };
        prop_assert_eq!(t, "msg");
        assert_refused_unchanged(&mut bob, &alice_pub, t, &m, at, xor, &mut rng);
        prop_assert_eq!(bob.receive(t, &m, &alice_pub, &mut rng).unwrap(), b"target");
    }

    /// Any changed byte of the inner message of a `pkmsg` is refused and stores nothing.
    #[test]
    fn changed_pkmsg_is_refused(seed in any::<u8>(), at in any::<usize>(), xor in 1..=255u8) {
        let (mut alice, mut bob, mut rng) = pair_with_session(seed, true);
        let alice_pub = alice.identity.public;
        let (t, m) = send(&mut alice, b"hello");
        let inner_len = PreKeyWhisperMessage::decode(&m).unwrap().message().serialized().len();
        let inner_start = m.windows(inner_len).position(|w| w == PreKeyWhisperMessage::decode(&m).unwrap().message().serialized()).unwrap();
        assert_refused_unchanged(&mut bob, &alice_pub, t, &m, inner_start + at % inner_len, xor, &mut rng);
        prop_assert_eq!(bob.prekeys.len(), 3);
        prop_assert_eq!(bob.receive(t, &m, &alice_pub, &mut rng).unwrap(), b"hello");
    }

    /// Any changed byte of an `skmsg` is refused and leaves the record unchanged.
    #[test]
    fn changed_skmsg_is_refused(seed in any::<u8>(), at in any::<usize>(), xor in 1..=255u8, skip in 0..3usize) {
        let mut rng = rng(seed);
        let mut mine = SenderKeyRecord::new();
        let mut theirs = SenderKeyRecord::new();
        theirs.process_distribution_message(&mine.create_distribution_message(&mut rng));
        let sent: Vec<_> = (0..3).map(|_| mine.encrypt(b"group", &mut rng).unwrap()).collect();
        if skip > 0 {
            theirs.decrypt(&sent[skip]).unwrap();
        }
        let target = sent[0].serialized();
        let mut tampered = target.to_vec();
        let at = at % tampered.len();
        tampered[at] ^= xor;
        let before = theirs.clone();
        let refused = SenderKeyMessage::decode(&tampered).and_then(|m| theirs.decrypt(&m));
        prop_assert!(refused.is_err());
        prop_assert_eq!(&theirs, &before);
        prop_assert_eq!(theirs.decrypt(&SenderKeyMessage::decode(target).unwrap()).unwrap(), b"group");
    }

    /// Valid messages with several bytes changed, cut or extended never make decoding or
    /// decryption panic, and a refused one changes nothing.
    #[test]
    fn mutated_messages_never_panic(
        seed in any::<u8>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
        mode in 0..3u8,
    ) {
        let (mut alice, mut bob, mut rng) = pair_with_session(seed, true);
        let alice_pub = alice.identity.public;
        let (t, pkmsg) = send(&mut alice, b"one");
        let mut group = SenderKeyRecord::new();
        let skdm = group.create_distribution_message(&mut rng);
        let skmsg = group.encrypt(b"g", &mut rng).unwrap();
        let mutate = |bytes: &[u8]| {
            let mut out = bytes.to_vec();
            for (at, value) in &edits {
                let len = out.len().max(1);
                if let Some(b) = out.get_mut(at % len) {
                    *b = *value;
                }
            }
            match mode {
                0 => out.truncate(cut % (out.len() + 1)),
                1 => out.extend_from_slice(&cut.to_le_bytes()),
                _ => {}
            }
            out
        };
        let before = bob.session.clone();
        if bob.receive(t, &mutate(&pkmsg), &alice_pub, &mut rng).is_err() {
            prop_assert_eq!(&bob.session, &before);
        }
        let _ = bob.receive("msg", &mutate(&pkmsg), &alice_pub, &mut rng);
        let mut theirs = SenderKeyRecord::new();
        if let Ok(d) = SenderKeyDistributionMessage::decode(&mutate(skdm.serialized())) {
            theirs.process_distribution_message(&d);
        }
        theirs.process_distribution_message(&skdm);
        let before = theirs.clone();
        match SenderKeyMessage::decode(&mutate(skmsg.serialized())).and_then(|m| theirs.decrypt(&m)) {
            Ok(_) => {}
            Err(_) => prop_assert_eq!(&theirs, &before),
        }
    }

    /// Decoders never panic.
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = WhisperMessage::decode(&bytes);
        let _ = PreKeyWhisperMessage::decode(&bytes);
        let _ = SenderKeyMessage::decode(&bytes);
        let _ = SenderKeyDistributionMessage::decode(&bytes);
        let _ = SessionRecord::from_bytes(&bytes);
        let _ = SenderKeyRecord::from_bytes(&bytes);
        let _ = PreKeyRecord::from_bytes(&bytes);
        let _ = SignedPreKeyRecord::from_bytes(&bytes);
        let _ = KeyPair::from_bytes(&bytes);
        let _ = unpad(&bytes);
        let _ = PublicKey::from_slice(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = s.parse::<ProtocolAddress>();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Interop with npm libsignal 6.0.0 (WhiskeySockets/libsignal-node), through
// tests/interop/libsignal/driver.js. test.sh installs the package and exports WA_NODE_MODULES;
// without it these tests fail rather than pass silently.

mod interop {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    use rand_chacha::ChaCha20Rng;
    use serde_json::{Value, json};
    use whatsapp_proto::signal::*;

    use super::Device;

    /// The Node peer: one JSON request per line in, one JSON reply per line out.
    struct NodePeer {
        child: Child,
        stdin: ChildStdin,
        stdout: BufReader<ChildStdout>,
    }

    impl NodePeer {
        fn start() -> Self {
            let modules = std::env::var("WA_NODE_MODULES").unwrap_or_else(|_| {
                panic!(
                    "WA_NODE_MODULES is not set: run ./test.sh, which installs npm libsignal@6.0.0 \
                     and exports it (the libsignal interop tests need it)"
                )
            });
            assert!(
                std::path::Path::new(&modules)
                    .join("libsignal/package.json")
                    .exists(),
                "libsignal is not installed under WA_NODE_MODULES={modules}"
            );
            let driver = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/interop/libsignal/driver.js"
            );
            let mut child = Command::new("node")
                .arg(driver)
                .env("NODE_PATH", &modules)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("`node` must be on PATH for the libsignal interop tests");
            let stdin = child.stdin.take().expect("piped stdin");
            let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
            Self {
                child,
                stdin,
                stdout,
            }
        }

        fn try_call(&mut self, request: Value) -> Result<Value, String> {
            writeln!(self.stdin, "{request}").expect("write to node");
            let mut line = String::new();
            self.stdout.read_line(&mut line).expect("read from node");
            let reply: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("node replied {line:?} to {request}: {e}"));
            match reply.get("error") {
                Some(error) => Err(error.to_string()),
                None => Ok(reply),
            }
        }

        fn call(&mut self, request: Value) -> Value {
            let shown = request.to_string();
            self.try_call(request)
                .unwrap_or_else(|e| panic!("node refused {shown}: {e}"))
        }

        fn encrypt(&mut self, peer: &str, plaintext: &[u8]) -> (String, Vec<u8>) {
            let out =
                self.call(json!({"cmd": "encrypt", "peer": peer, "hex": hex::encode(plaintext)}));
            (
                out["type"].as_str().unwrap().to_owned(),
                hex::decode(out["hex"].as_str().unwrap()).unwrap(),
            )
        }

        fn decrypt(&mut self, peer: &str, enc_type: &str, bytes: &[u8]) -> Vec<u8> {
            let out = self.call(json!({"cmd": "decrypt", "peer": peer, "type": enc_type, "hex": hex::encode(bytes)}));
            hex::decode(out["hex"].as_str().unwrap()).unwrap()
        }
    }

    impl Drop for NodePeer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn key(v: &Value) -> PublicKey {
        PublicKey::from_slice(&hex::decode(v.as_str().unwrap()).unwrap()).unwrap()
    }

    fn bundle_from_json(b: &Value) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: b["registration_id"].as_u64().unwrap() as u32,
            identity_key: key(&b["identity_key"]),
            signed_prekey_id: b["signed_prekey"]["id"].as_u64().unwrap() as u32,
            signed_prekey: key(&b["signed_prekey"]["public"]),
            signed_prekey_signature: hex::decode(b["signed_prekey"]["signature"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
            prekey: (!b["prekey"].is_null()).then(|| {
                (
                    b["prekey"]["id"].as_u64().unwrap() as u32,
                    key(&b["prekey"]["public"]),
                )
            }),
        }
    }

    fn bundle_to_json(device: &Device) -> Value {
        let b = device.bundle(true);
        json!({
            "registration_id": b.registration_id,
            "identity_key": hex::encode(b.identity_key.serialize()),
            "signed_prekey": {
                "id": b.signed_prekey_id,
                "public": hex::encode(b.signed_prekey.serialize()),
                "signature": hex::encode(b.signed_prekey_signature),
            },
            "prekey": b.prekey.map(|(id, k)| json!({"id": id, "public": hex::encode(k.serialize())})),
        })
    }

    /// 1,000 messages each way in rounds of 50: each batch is delivered shuffled, and a few
    /// messages of every batch are held back until after the next ratchet turn.
    fn thousand_each_way(
        node: &mut NodePeer,
        us: &mut Device,
        our_addr: &str,
        rng: &mut ChaCha20Rng,
    ) {
        let node_identity = us
            .session
            .current_state()
            .unwrap()
            .remote_identity()
            .to_owned();
        let mut held_to_node: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut held_to_us: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut counter = 0u32;
        for round in 0..20 {
            // Ours to node.
            let mut batch: Vec<(Vec<u8>, Vec<u8>)> = (0..50)
                .map(|_| {
                    counter += 1;
                    let plain = format!("to node {counter}").into_bytes();
                    let out = us.session.encrypt(&plain).unwrap();
                    assert_eq!(out.enc_type(), "msg");
                    (out.serialized().to_vec(), plain)
                })
                .collect();
            batch.shuffle(rng);
            let late: Vec<_> = if round < 19 {
                batch.split_off(47)
            } else {
                Vec::new()
            };
            for (bytes, plain) in batch.iter().chain(held_to_node.iter()) {
                assert_eq!(node.decrypt(our_addr, "msg", bytes), *plain);
            }
            held_to_node = late;

            // Node to ours.
            let mut batch: Vec<(String, Vec<u8>, Vec<u8>)> = (0..50)
                .map(|_| {
                    counter += 1;
                    let plain = format!("from node {counter}").into_bytes();
                    let (t, bytes) = node.encrypt(our_addr, &plain);
                    (t, bytes, plain)
                })
                .collect();
            batch.shuffle(rng);
            let late: Vec<_> = if round < 19 {
                batch.split_off(47)
            } else {
                Vec::new()
            };
            for (t, bytes, plain) in batch.iter().chain(held_to_us.iter()) {
                assert_eq!(t, "msg");
                assert_eq!(us.receive(t, bytes, &node_identity, rng).unwrap(), *plain);
            }
            held_to_us = late;
        }
    }

    #[test]
    fn interop_libsignal_sessions_both_directions() {
        let mut rng = ChaCha20Rng::from_seed([40; 32]);
        let mut node = NodePeer::start();
        let node_bundle = node.call(json!({"cmd": "init", "reg_id": 4321}));

        // 1. We start the session from node's bundle (its signature is libsignal's deterministic
        //    XEdDSA variant and must verify here).
        let mut us = Device::new(&mut rng);
        let bundle = bundle_from_json(&node_bundle);
        assert!(bundle.verify_signature());
        us.session
            .process_bundle(&us.identity, us.registration_id, &bundle, None, &mut rng)
            .unwrap();
        for text in ["pkmsg one", "pkmsg two"] {
            let out = us.session.encrypt(text.as_bytes()).unwrap();
            assert_eq!(out.enc_type(), "pkmsg");
            assert_eq!(
                node.decrypt("rust.1", "pkmsg", out.serialized()),
                text.as_bytes()
            );
        }
        let (t, bytes) = node.encrypt("rust.1", b"node answers");
        assert_eq!(t, "msg");
        assert_eq!(
            us.receive(&t, &bytes, &bundle.identity_key, &mut rng)
                .unwrap(),
            b"node answers"
        );
        assert_eq!(us.session.encrypt(b"now a msg").unwrap().enc_type(), "msg");
        // That message is never delivered: node must skip its key.
        thousand_each_way(&mut node, &mut us, "rust.1", &mut rng);

        // 2. Node starts a session with another of our devices, from our bundle.
        let mut them = Device::new(&mut rng);
        node.call(json!({"cmd": "session", "peer": "rust.2", "bundle": bundle_to_json(&them)}));
        let sent: Vec<_> = (0..3)
            .map(|i| node.encrypt("rust.2", format!("hi {i}").as_bytes()))
            .collect();
        for (i, (t, bytes)) in sent.iter().enumerate().rev() {
            assert_eq!(t, "pkmsg");
            assert_eq!(
                them.receive(t, bytes, &bundle.identity_key, &mut rng)
                    .unwrap(),
                format!("hi {i}").as_bytes()
            );
        }
        assert_eq!(them.prekeys.len(), 2, "one-time prekey consumed");
        let reply = them.session.encrypt(b"reply").unwrap();
        assert_eq!(reply.enc_type(), "msg");
        assert_eq!(node.decrypt("rust.2", "msg", reply.serialized()), b"reply");
        let (t, bytes) = node.encrypt("rust.2", b"ack");
        assert_eq!(t, "msg", "node stopped sending pkmsgs once we answered");
        assert_eq!(
            them.receive(&t, &bytes, &bundle.identity_key, &mut rng)
                .unwrap(),
            b"ack"
        );
        thousand_each_way(&mut node, &mut them, "rust.2", &mut rng);

        // 3. A bundle without a one-time prekey.
        let no_prekey = bundle_from_json(&node.call(json!({"cmd": "bundle_without_prekey"})));
        let mut third = Device::new(&mut rng);
        third
            .session
            .process_bundle(
                &third.identity,
                third.registration_id,
                &no_prekey,
                None,
                &mut rng,
            )
            .unwrap();
        let out = third.session.encrypt(b"no prekey").unwrap();
        assert_eq!(
            PreKeyWhisperMessage::decode(out.serialized())
                .unwrap()
                .pre_key_id(),
            None
        );
        assert_eq!(
            node.decrypt("rust.3", "pkmsg", out.serialized()),
            b"no prekey"
        );
        let (t, bytes) = node.encrypt("rust.3", b"ok");
        assert_eq!(
            third
                .receive(&t, &bytes, &no_prekey.identity_key, &mut rng)
                .unwrap(),
            b"ok"
        );
    }

    #[test]
    fn interop_libsignal_sender_keys_out_of_order() {
        let mut rng = ChaCha20Rng::from_seed([41; 32]);
        let mut node = NodePeer::start();
        node.call(json!({"cmd": "init"}));
        let group = "120363000000000000@g.us";

        // Node sends to the group; we receive out of order.
        let skdm = node.call(json!({"cmd": "group_create", "group": group}));
        let skdm = SenderKeyDistributionMessage::decode(
            &hex::decode(skdm["skdm_hex"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let mut theirs = SenderKeyRecord::new();
        theirs.process_distribution_message(&skdm);
        let mut sent: Vec<(usize, Vec<u8>)> = (0..200)
            .map(|i| {
                let out = node.call(json!({"cmd": "group_encrypt", "group": group, "hex": hex::encode(format!("g{i}"))}));
                (i, hex::decode(out["hex"].as_str().unwrap()).unwrap())
            })
            .collect();
        sent.shuffle(&mut rng);
        for (i, bytes) in &sent {
            let message = SenderKeyMessage::decode(bytes).unwrap();
            assert_eq!(
                theirs.decrypt(&message).unwrap(),
                format!("g{i}").as_bytes()
            );
        }
        let (_, again) = &sent[0];
        assert!(matches!(
            theirs.decrypt(&SenderKeyMessage::decode(again).unwrap()),
            Err(SignalError::DuplicateMessage { .. })
        ));

        // We send to the group; node receives out of order.
        let mut mine = SenderKeyRecord::new();
        let skdm = mine.create_distribution_message(&mut rng);
        node.call(json!({"cmd": "group_process", "group": group, "sender": "rust.1", "hex": hex::encode(skdm.serialized())}));
        let mut sent: Vec<(usize, Vec<u8>)> = (0..200)
            .map(|i| {
                (
                    i,
                    mine.encrypt(format!("r{i}").as_bytes(), &mut rng)
                        .unwrap()
                        .serialized()
                        .to_vec(),
                )
            })
            .collect();
        sent.shuffle(&mut rng);
        for (i, bytes) in &sent {
            let out = node.call(json!({"cmd": "group_decrypt", "group": group, "sender": "rust.1", "hex": hex::encode(bytes)}));
            assert_eq!(
                hex::decode(out["hex"].as_str().unwrap()).unwrap(),
                format!("r{i}").as_bytes()
            );
        }
        // A changed byte is refused over there too (its signature check is tested by value).
        let mut bad = mine.encrypt(b"x", &mut rng).unwrap().serialized().to_vec();
        let at = bad.len() - 70;
        bad[at] ^= 1;
        assert!(node.try_call(json!({"cmd": "group_decrypt", "group": group, "sender": "rust.1", "hex": hex::encode(&bad)})).is_err());
    }

    #[test]
    fn interop_libsignal_xeddsa_signatures_verify_across() {
        let mut rng = ChaCha20Rng::from_seed([42; 32]);
        let mut node = NodePeer::start();
        let node_bundle = node.call(json!({"cmd": "init"}));
        let node_identity = key(&node_bundle["identity_key"]);
        for len in [0usize, 1, 33, 100, 1000] {
            let message: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            // Node signs (deterministic variant), we verify.
            let sig = node.call(json!({"cmd": "sign", "hex": hex::encode(&message)}));
            let sig = hex::decode(sig["signature"].as_str().unwrap()).unwrap();
            assert!(node_identity.verify_signature(&message, &sig), "len {len}");
            let mut bad = sig.clone();
            bad[10] ^= 4;
            assert!(!node_identity.verify_signature(&message, &bad));
            // We sign (random nonce), node verifies; its verify returns false instead of throwing.
            let ours = KeyPair::generate(&mut rng);
            let our_sig = ours.private.sign(&message, &mut rng);
            let verify = |node: &mut NodePeer, sig: &[u8], msg: &[u8]| {
                node.call(json!({"cmd": "verify", "pub": hex::encode(ours.public.serialize()), "hex": hex::encode(msg), "sig": hex::encode(sig)}))["valid"]
                    .as_bool()
                    .unwrap()
            };
            assert!(
                verify(&mut node, &our_sig, &message),
                "node refused our signature, len {len}"
            );
            let mut bad = our_sig;
            bad[40] ^= 1;
            assert!(!verify(&mut node, &bad, &message));
            let mut other = message.clone();
            other.push(1);
            assert!(!verify(&mut node, &our_sig, &other));
        }
        // Our signed prekey signature verifies there.
        let device = Device::new(&mut rng);
        let out = node.call(json!({
            "cmd": "verify",
            "pub": hex::encode(device.identity.public.serialize()),
            "hex": hex::encode(device.signed_prekey.key_pair.public.serialize()),
            "sig": hex::encode(device.signed_prekey.signature),
        }));
        assert_eq!(out["valid"], true);
    }

    #[test]
    fn interop_libsignal_corrupted_signed_prekey_signature_is_refused() {
        let mut rng = ChaCha20Rng::from_seed([43; 32]);
        let mut node = NodePeer::start();
        let mut json = node.call(json!({"cmd": "init"}));
        let good = bundle_from_json(&json);
        let sig = json["signed_prekey"]["signature"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut raw = hex::decode(&sig).unwrap();
        raw[20] ^= 0x10;
        json["signed_prekey"]["signature"] = Value::String(hex::encode(raw));
        let bad = bundle_from_json(&json);
        let us = Device::new(&mut rng);
        let mut record = SessionRecord::new();
        assert_eq!(
            record
                .process_bundle(&us.identity, us.registration_id, &bad, None, &mut rng)
                .unwrap_err(),
            SignalError::BadSignature {
                what: "signed prekey"
            }
        );
        assert!(!record.has_current_state());
        record
            .process_bundle(&us.identity, us.registration_id, &good, None, &mut rng)
            .unwrap();
    }
}

#[test]
fn registration_ids_and_prekey_ids() {
    let mut rng = rng(31);
    for _ in 0..1000 {
        let id = generate_registration_id(&mut rng);
        assert!((1..=0x3FFF).contains(&id));
    }
    let ids: Vec<u32> = PreKeyRecord::generate_batch(MAX_PREKEY_ID - 1, 3, &mut rng)
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(
        ids,
        [MAX_PREKEY_ID - 1, MAX_PREKEY_ID, 1],
        "wraps past 0xFFFFFF to 1, never 0"
    );
    assert_eq!(PreKeyRecord::generate_batch(0, 1, &mut rng)[0].id, 1);
}
