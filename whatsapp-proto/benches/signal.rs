//! Signal hot paths: steady-state `msg` encrypt and decrypt (also with the record loaded from and
//! stored back to bytes, as the client store does per message), a DH ratchet turn, and `skmsg`
//! encrypt and decrypt. Plaintexts are 64 bytes, a typical padded text message.
//!
//! Figures on the 2-core dev machine, 2026-11-24, two runs while other builds were running (load
//! 4–7), so the spread is the machine's: msg_encrypt 1.5–2.9 µs, msg_decrypt 1.5–2.9 µs,
//! msg_decrypt_with_record_bytes 3.0–3.8 µs (goal ≤ 5 µs), ratchet_turn 91–124 µs,
//! skmsg_encrypt 40–53 µs, skmsg_decrypt 43–51 µs (XEdDSA dominates both skmsg figures).

// Test and tool code, outside the sans-IO rule of clippy.toml.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use whatsapp_proto::signal::{
    KeyPair, PreKeyBundle, PreKeyRecord, PreKeyWhisperMessage, ResponderKeys, SenderKeyMessage,
    SenderKeyRecord, SessionRecord, SignedPreKeyRecord, WhisperMessage,
};

const PLAINTEXT: [u8; 64] = [0x42; 64];

/// Alice and Bob with a session both have answered on, so both send plain `msg`s.
fn established() -> (SessionRecord, SessionRecord, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let alice_id = KeyPair::generate(&mut rng);
    let bob_id = KeyPair::generate(&mut rng);
    let spk = SignedPreKeyRecord::generate(1, &bob_id, 0, &mut rng);
    let opk = PreKeyRecord::generate(1, &mut rng);
    let bundle = PreKeyBundle {
        registration_id: 2,
        identity_key: bob_id.public,
        signed_prekey_id: 1,
        signed_prekey: spk.key_pair.public,
        signed_prekey_signature: spk.signature,
        prekey: Some((1, opk.key_pair.public)),
    };
    let mut alice = SessionRecord::new();
    alice
        .process_bundle(&alice_id, 1, &bundle, None, &mut rng)
        .unwrap();
    let first = alice.encrypt(&PLAINTEXT).unwrap();
    let mut bob = SessionRecord::new();
    let keys = ResponderKeys {
        identity: &bob_id,
        registration_id: 2,
        signed_prekey: Some(&spk),
        one_time_prekey: Some(&opk),
        stored_identity: None,
    };
    let pkmsg = PreKeyWhisperMessage::decode(first.serialized()).unwrap();
    bob.decrypt_prekey(&pkmsg, &keys, &mut rng).unwrap();
    let reply = bob.encrypt(&PLAINTEXT).unwrap();
    alice
        .decrypt(
            &WhisperMessage::decode(reply.serialized()).unwrap(),
            &mut rng,
        )
        .unwrap();
    (alice, bob, rng)
}

/// Times decrypting `iters` consecutive messages of one chain, produced outside the timing.
fn steady_decrypt(iters: u64, with_record_bytes: bool) -> Duration {
    let (mut alice, mut bob, mut rng) = established();
    let wire: Vec<Vec<u8>> = (0..iters)
        .map(|_| alice.encrypt(&PLAINTEXT).unwrap().serialized().to_vec())
        .collect();
    let mut stored = bob.to_bytes();
    let start = Instant::now();
    for bytes in &wire {
        let message = WhisperMessage::decode(black_box(bytes)).unwrap();
        if with_record_bytes {
            let mut record = SessionRecord::from_bytes(&stored).unwrap();
            black_box(record.decrypt(&message, &mut rng).unwrap());
            stored = record.to_bytes();
        } else {
            black_box(bob.decrypt(&message, &mut rng).unwrap());
        }
    }
    start.elapsed()
}

fn sessions(c: &mut Criterion) {
    let mut group = c.benchmark_group("signal");
    let (mut alice, _, _) = established();
    group.bench_function("msg_encrypt", |b| {
        b.iter(|| black_box(alice.encrypt(black_box(&PLAINTEXT)).unwrap()))
    });
    group.bench_function("msg_decrypt", |b| {
        b.iter_custom(|iters| steady_decrypt(iters, false))
    });
    group.bench_function("msg_decrypt_with_record_bytes", |b| {
        b.iter_custom(|iters| steady_decrypt(iters, true))
    });

    // A ratchet turn: Alice decrypts a reply carrying Bob's new ratchet key (two X25519
    // agreements and a key generation, plus the message).
    let (mut alice, mut bob, mut rng) = established();
    group.bench_function("ratchet_turn", |b| {
        b.iter_batched(
            || {
                let to_bob = alice.encrypt(&PLAINTEXT).unwrap();
                bob.decrypt(
                    &WhisperMessage::decode(to_bob.serialized()).unwrap(),
                    &mut rng,
                )
                .unwrap();
                let reply =
                    WhisperMessage::decode(bob.encrypt(&PLAINTEXT).unwrap().serialized()).unwrap();
                let before = alice.clone();
                alice.decrypt(&reply, &mut rng).unwrap();
                (before, reply, ChaCha20Rng::from_seed([1; 32]))
            },
            |(mut record, reply, mut rng)| black_box(record.decrypt(&reply, &mut rng).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn sender_keys(c: &mut Criterion) {
    let mut group = c.benchmark_group("signal");
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let mut mine = SenderKeyRecord::new();
    let skdm = mine.create_distribution_message(&mut rng);
    group.bench_function("skmsg_encrypt", |b| {
        b.iter(|| black_box(mine.encrypt(black_box(&PLAINTEXT), &mut rng).unwrap()))
    });
    group.bench_function("skmsg_decrypt", |b| {
        b.iter_custom(|iters| {
            let mut sender = SenderKeyRecord::new();
            let skdm = sender.create_distribution_message(&mut rng);
            let mut theirs = SenderKeyRecord::new();
            theirs.process_distribution_message(&skdm);
            let wire: Vec<Vec<u8>> = (0..iters)
                .map(|_| {
                    sender
                        .encrypt(&PLAINTEXT, &mut rng)
                        .unwrap()
                        .serialized()
                        .to_vec()
                })
                .collect();
            let start = Instant::now();
            for bytes in &wire {
                let message = SenderKeyMessage::decode(black_box(bytes)).unwrap();
                black_box(theirs.decrypt(&message).unwrap());
            }
            start.elapsed()
        })
    });
    drop(skdm);
    group.finish();
}

criterion_group!(benches, sessions, sender_keys);
criterion_main!(benches);
