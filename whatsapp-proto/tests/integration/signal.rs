//! Signal: the known-answer vectors of ../shared/vectors/crypto/signal_kat.json byte for byte,
//! session and sender-key behaviour (out of order, duplicates, limits, archived states, identity
//! changes, records), property tests, and interop with npm libsignal 6.0.0.

use std::collections::VecDeque;

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
