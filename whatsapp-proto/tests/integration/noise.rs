//! Noise handshake, transport cipher, certificate chain, XEdDSA and ClientPayload tests.

use serde_json::Value;
use whatsapp_proto::xeddsa;

fn vectors(rel: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/").to_owned() + rel;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("missing {key}"))).unwrap()
}

fn arr<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap()
}

#[test]
fn xeddsa_reproduces_libsignal_spk_signature() {
    let kat = &vectors("crypto/signal_kat.json")["spk_signature"];
    let private: [u8; 32] = arr(&hex_field(kat, "signing_priv"));
    let message = hex_field(kat, "message_0x05_spk_pub");
    let random: [u8; 64] = arr(&hex_field(kat, "random64"));
    let expected: [u8; 64] = arr(&hex_field(kat, "signature"));
    assert_eq!(xeddsa::sign(&private, &message, &random), expected);
    let public = xeddsa::public_key(&private);
    assert!(xeddsa::verify(&public, &message, &expected));
    let mut tampered = message.clone();
    tampered[5] ^= 1;
    assert!(!xeddsa::verify(&public, &tampered, &expected));
}

// ------------------------------------------------------------------ handshake KAT

use prost::Message as _;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use whatsapp_proto::noise::cert::{
    self, CertDetails, CertError, CertRole, build_cert_chain, verify_cert_chain,
};
use whatsapp_proto::noise::{
    self, HandshakeConfig, HandshakeError, PROLOGUE, PROTOCOL_NAME, Transport,
};
use whatsapp_proto::pb::handshake::HandshakeMessage;
use whatsapp_proto::pb::handshake::handshake_message::ServerHello;
use whatsapp_proto::xeddsa::KeyPair;

fn frame(payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8];
    out.extend_from_slice(payload);
    out
}

fn trace_value(trace: &[(&'static str, [u8; 32])], label: &str) -> [u8; 32] {
    trace
        .iter()
        .find(|(l, _)| *l == label)
        .unwrap_or_else(|| panic!("{label} not traced"))
        .1
}

#[test]
fn handshake_kat_reproduced_by_initiator() {
    let kat = vectors("noise/handshake_kat.json");
    let (cap, der) = (&kat["captured"], &kat["derived"]);
    assert_eq!(PROTOCOL_NAME.to_vec(), hex_field(&kat, "protocol_name_hex"));
    assert_eq!(PROLOGUE.to_vec(), hex_field(&kat, "prologue_hex"));
    let window = [
        kat["captured"]["cert_valid_now_range"][0].as_u64().unwrap(),
        kat["captured"]["cert_valid_now_range"][1].as_u64().unwrap(),
    ];

    let ephemeral = KeyPair::from_private(arr(&hex_field(cap, "client_ephemeral_private")));
    assert_eq!(
        ephemeral.public().to_vec(),
        hex_field(cap, "client_ephemeral_public")
    );
    let noise_key = KeyPair::from_private(arr(&hex_field(der, "client_static_private")));
    assert_eq!(
        noise_key.public().to_vec(),
        hex_field(der, "client_static_public")
    );

    for now in [window[0], (window[0] + window[1]) / 2, window[1]] {
        let config = HandshakeConfig::default().with_trace(true);
        let (client, hello) = noise::initiate(&config, noise_key.clone(), ephemeral.clone());
        let mut first_ws = PROLOGUE.to_vec();
        first_ws.extend(frame(&hello));
        assert_eq!(first_ws, hex_field(der, "first_ws_message"));
        assert_eq!(
            client.handshake_hash().to_vec(),
            hex_field(cap, "h_after_client_ephemeral")
        );

        let server_hello = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(hex_field(cap, "server_ephemeral_public")),
                r#static: Some(hex_field(cap, "server_static_ciphertext")),
                payload: Some(hex_field(cap, "cert_ciphertext")),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let client = client.read_server_hello(&server_hello, now).unwrap();
        assert_eq!(
            client.server_static().to_vec(),
            hex_field(cap, "server_static_public")
        );
        assert_eq!(client.cert_chain().leaf.serial, 329);
        assert_eq!(client.cert_chain().intermediate.serial, 3);

        let payload = hex_field(der, "client_payload_plaintext");
        let mut done = client.finish(&payload);
        for label in [
            "h_after_prologue",
            "h_after_client_ephemeral",
            "h_after_server_ephemeral",
            "chaining_key_after_mix_ee",
            "h_after_server_static",
            "chaining_key_after_mix_es",
            "h_after_cert",
        ] {
            assert_eq!(
                trace_value(&done.trace, label).to_vec(),
                hex_field(cap, label),
                "{label}"
            );
        }
        for label in [
            "h_after_client_static",
            "chaining_key_after_mix_se",
            "split_write_key",
            "split_read_key",
        ] {
            assert_eq!(
                trace_value(&done.trace, label).to_vec(),
                hex_field(der, label),
                "{label}"
            );
        }
        assert_eq!(
            done.message,
            hex_field(der, "client_finish_handshake_message")
        );
        let finish = HandshakeMessage::decode(done.message.as_slice()).unwrap();
        let finish = finish.client_finish.unwrap();
        assert_eq!(
            finish.r#static.unwrap(),
            hex_field(der, "client_static_ciphertext")
        );
        assert_eq!(
            finish.payload.unwrap(),
            hex_field(der, "client_payload_ciphertext")
        );

        let node = hex_field(der, "first_transport_plaintext_node");
        let ciphertext = done.transport.encrypt(&node).unwrap();
        assert_eq!(ciphertext, hex_field(der, "first_transport_ciphertext"));
        assert_eq!(frame(&ciphertext), hex_field(der, "first_transport_frame"));

        // The same frame read back with the keys swapped, as the server holds them.
        let mut server = Transport::from_keys(
            arr(&hex_field(der, "split_read_key")),
            arr(&hex_field(der, "split_write_key")),
        );
        assert_eq!(server.decrypt(&ciphertext).unwrap(), node);
    }
}

#[test]
fn captured_cert_chain_verifies_only_inside_its_window() {
    let kat = vectors("noise/handshake_kat.json");
    let cap = &kat["captured"];
    let chain = hex_field(cap, "cert_plaintext_certchain");
    let root: [u8; 32] = arr(&hex_field(cap, "whatsapp_root_public_key"));
    assert_eq!(root, cert::WHATSAPP_ROOT_KEY);
    let server_static: [u8; 32] = arr(&hex_field(cap, "server_static_public"));
    let (lo, hi) = (1_742_850_000, 1_753_736_400);

    let verified = verify_cert_chain(&chain, &root, &server_static, lo).unwrap();
    assert_eq!(
        verified.intermediate,
        CertDetails {
            serial: 3,
            issuer_serial: 0,
            key: arr(&hex::decode(
                "1c51a9ac303994c6c8d0b92ea1878a533476599cc599fbea35997d9aa90cce62"
            )
            .unwrap()),
            not_before: 1_741_392_000,
            not_after: 1_804_463_999,
        }
    );
    assert_eq!(
        verified.leaf,
        CertDetails {
            serial: 329,
            issuer_serial: 3,
            key: server_static,
            not_before: lo,
            not_after: hi,
        }
    );
    assert!(verify_cert_chain(&chain, &root, &server_static, hi).is_ok());
    assert_eq!(
        verify_cert_chain(&chain, &root, &server_static, hi + 1),
        Err(CertError::Expired {
            cert: CertRole::Leaf,
            not_after: hi,
            now: hi + 1
        })
    );
    assert_eq!(
        verify_cert_chain(&chain, &root, &server_static, lo - 1),
        Err(CertError::NotYetValid {
            cert: CertRole::Leaf,
            not_before: lo,
            now: lo - 1
        })
    );
    // A different root key refuses the real chain.
    assert_eq!(
        verify_cert_chain(&chain, &[9; 32], &server_static, lo),
        Err(CertError::IntermediateSignature)
    );
}

#[test]
fn initiator_refuses_the_captured_hello_out_of_window() {
    let kat = vectors("noise/handshake_kat.json");
    let cap = &kat["captured"];
    let ephemeral = KeyPair::from_private(arr(&hex_field(cap, "client_ephemeral_private")));
    let (client, _) = noise::initiate(
        &HandshakeConfig::default(),
        KeyPair::from_private([1; 32]),
        ephemeral,
    );
    let server_hello = HandshakeMessage {
        server_hello: Some(ServerHello {
            ephemeral: Some(hex_field(cap, "server_ephemeral_public")),
            r#static: Some(hex_field(cap, "server_static_ciphertext")),
            payload: Some(hex_field(cap, "cert_ciphertext")),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let err = client
        .read_server_hello(&server_hello, 1_800_000_000)
        .unwrap_err();
    assert!(matches!(
        err,
        HandshakeError::Certificate(CertError::Expired {
            cert: CertRole::Leaf,
            ..
        })
    ));
}

// ------------------------------------------------------------------ own peers

struct Pki {
    root: KeyPair,
    chain: Vec<u8>,
    server_key: KeyPair,
}

const NOW: u64 = 1_800_000_000;

fn pki(rng: &mut ChaCha20Rng) -> Pki {
    let root = KeyPair::generate(rng);
    let inter = KeyPair::generate(rng);
    let server_key = KeyPair::generate(rng);
    let i = CertDetails {
        serial: 17,
        issuer_serial: cert::ROOT_SERIAL,
        key: *inter.public(),
        not_before: NOW - 1000,
        not_after: NOW + 1000,
    };
    let l = CertDetails {
        serial: 4242,
        issuer_serial: 17,
        key: *server_key.public(),
        not_before: NOW - 10,
        not_after: NOW + 10,
    };
    let chain = build_cert_chain(&root, &i, &inter, &l, rng);
    Pki {
        root,
        chain,
        server_key,
    }
}

fn exchange(client: &mut Transport, server: &mut Transport, rng: &mut ChaCha20Rng, n: usize) {
    for i in 0..n {
        let len = rng.gen_range(0..300);
        let mut msg = vec![0u8; len];
        rng.fill_bytes(&mut msg);
        let ct = client.encrypt(&msg).unwrap();
        assert_eq!(ct.len(), len + 16);
        assert_eq!(server.decrypt(&ct).unwrap(), msg, "client->server {i}");
        let ct = server.encrypt(&msg).unwrap();
        assert_eq!(client.decrypt(&ct).unwrap(), msg, "server->client {i}");
    }
}

#[test]
fn own_initiator_against_own_responder() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for standard_noise in [false, true] {
        let pki = pki(&mut rng);
        let config = HandshakeConfig::default()
            .with_root_key(*pki.root.public())
            .with_standard_noise(standard_noise)
            .with_trace(true);
        let noise_key = KeyPair::generate(&mut rng);
        let (client, hello) =
            noise::initiate(&config, noise_key.clone(), KeyPair::generate(&mut rng));
        let server = noise::respond(&config, pki.server_key.clone(), KeyPair::generate(&mut rng));
        let (server, server_hello) = server
            .read_client_hello(&hello)
            .unwrap()
            .write_server_hello(&pki.chain);
        let client = client.read_server_hello(&server_hello, NOW).unwrap();
        assert_eq!(client.server_static(), pki.server_key.public());
        let mut client = client.finish(b"\x18\x01payload");
        let mut server = server.read_client_finish(&client.message).unwrap();
        assert_eq!(server.payload, b"\x18\x01payload");
        assert_eq!(&server.client_static, noise_key.public());
        assert_eq!(client.handshake_hash, server.handshake_hash);
        assert_eq!(client.trace, server.trace);
        assert_eq!(client.trace.len(), 11);
        exchange(&mut client.transport, &mut server.transport, &mut rng, 200);
    }
}

#[test]
fn modes_do_not_mix() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let pki = pki(&mut rng);
    let wa = HandshakeConfig::default().with_root_key(*pki.root.public());
    let std = wa.clone().with_standard_noise(true);
    let (client, hello) = noise::initiate(
        &wa,
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
    );
    let (_, server_hello) =
        noise::respond(&std, pki.server_key.clone(), KeyPair::generate(&mut rng))
            .read_client_hello(&hello)
            .unwrap()
            .write_server_hello(&pki.chain);
    assert_eq!(
        client.read_server_hello(&server_hello, NOW).unwrap_err(),
        HandshakeError::Decrypt {
            field: "server_hello.static"
        }
    );
}

#[test]
fn responder_refuses_forged_client_finish() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let pki = pki(&mut rng);
    let config = HandshakeConfig::default().with_root_key(*pki.root.public());
    let (client, hello) = noise::initiate(
        &config,
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
    );
    let (server, server_hello) =
        noise::respond(&config, pki.server_key.clone(), KeyPair::generate(&mut rng))
            .read_client_hello(&hello)
            .unwrap()
            .write_server_hello(&pki.chain);
    let done = client
        .read_server_hello(&server_hello, NOW)
        .unwrap()
        .finish(b"x");
    let mut msg = HandshakeMessage::decode(done.message.as_slice()).unwrap();
    let fin = msg.client_finish.as_mut().unwrap();
    fin.payload.as_mut().unwrap()[0] ^= 1;
    assert_eq!(
        server.read_client_finish(&msg.encode_to_vec()).unwrap_err(),
        HandshakeError::Decrypt {
            field: "client_finish.payload"
        }
    );
}

// ------------------------------------------------------------------ snow interop

mod snow_peer {
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use snow::params::{CipherChoice, DHChoice, HashChoice};
    use snow::resolvers::{CryptoResolver, DefaultResolver};
    use snow::types::{Cipher, Dh, Hash, Random};

    /// snow's default primitives with a seeded RNG (no OS entropy in tests).
    pub struct SeededResolver(pub u64);

    struct SeededRandom(ChaCha20Rng);

    impl Random for SeededRandom {
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
            self.0.fill_bytes(dest);
            Ok(())
        }
    }

    impl CryptoResolver for SeededResolver {
        fn resolve_rng(&self) -> Option<Box<dyn Random>> {
            Some(Box::new(SeededRandom(ChaCha20Rng::seed_from_u64(self.0))))
        }
        fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
            DefaultResolver.resolve_dh(choice)
        }
        fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
            DefaultResolver.resolve_hash(choice)
        }
        fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
            DefaultResolver.resolve_cipher(choice)
        }
    }

    pub fn builder(seed: u64) -> snow::Builder<'static> {
        snow::Builder::with_resolver(
            "Noise_XX_25519_AESGCM_SHA256".parse().unwrap(),
            Box::new(SeededResolver(seed)),
        )
    }
}

fn snow_write(hs: &mut snow::HandshakeState, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 65535];
    let n = hs.write_message(payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn snow_read(hs: &mut snow::HandshakeState, msg: &[u8]) -> Result<Vec<u8>, snow::Error> {
    let mut buf = vec![0u8; 65535];
    let n = hs.read_message(msg, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn snow_exchange(ours: &mut Transport, theirs: &mut snow::TransportState, rng: &mut ChaCha20Rng) {
    let mut buf = vec![0u8; 65535];
    for i in 0..1000 {
        let len = rng.gen_range(0..512);
        let mut msg = vec![0u8; len];
        rng.fill_bytes(&mut msg);
        // ours -> snow
        let ct = ours.encrypt(&msg).unwrap();
        let n = theirs.read_message(&ct, &mut buf).unwrap();
        assert_eq!(&buf[..n], msg.as_slice(), "ours->snow {i}");
        // snow -> ours
        let n = theirs.write_message(&msg, &mut buf).unwrap();
        assert_eq!(ours.decrypt(&buf[..n]).unwrap(), msg, "snow->ours {i}");
    }
}

/// Runs our initiator against snow's responder; `Err` when the handshake fails.
fn ours_initiator_vs_snow(standard_noise: bool, seed: u64) -> Result<(), String> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let pki = pki(&mut rng);
    let config = HandshakeConfig::default()
        .with_root_key(*pki.root.public())
        .with_standard_noise(standard_noise);
    let noise_key = KeyPair::generate(&mut rng);
    let (client, hello) = noise::initiate(&config, noise_key.clone(), KeyPair::generate(&mut rng));
    let mut snow = snow_peer::builder(seed)
        .prologue(&PROLOGUE)
        .unwrap()
        .local_private_key(pki.server_key.private())
        .unwrap()
        .build_responder()
        .unwrap();

    let hello = HandshakeMessage::decode(hello.as_slice()).unwrap();
    let e = hello.client_hello.unwrap().ephemeral.unwrap();
    assert!(snow_read(&mut snow, &e).unwrap().is_empty());
    let msg2 = snow_write(&mut snow, &pki.chain);
    let server_hello = HandshakeMessage {
        server_hello: Some(ServerHello {
            ephemeral: Some(msg2[..32].to_vec()),
            r#static: Some(msg2[32..80].to_vec()),
            payload: Some(msg2[80..].to_vec()),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let client = client
        .read_server_hello(&server_hello, NOW)
        .map_err(|e| e.to_string())?;
    let mut done = client.finish(b"client payload");
    let finish = HandshakeMessage::decode(done.message.as_slice()).unwrap();
    let finish = finish.client_finish.unwrap();
    let mut msg3 = finish.r#static.unwrap();
    msg3.extend(finish.payload.unwrap());
    assert_eq!(snow_read(&mut snow, &msg3).unwrap(), b"client payload");
    assert_eq!(snow.get_remote_static().unwrap(), noise_key.public());
    assert_eq!(snow.get_handshake_hash(), done.handshake_hash);
    let mut snow = snow.into_transport_mode().unwrap();
    snow_exchange(&mut done.transport, &mut snow, &mut rng);
    Ok(())
}

/// Runs snow's initiator against our responder; `Err` when the handshake fails.
fn snow_initiator_vs_ours(standard_noise: bool, seed: u64) -> Result<(), String> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let pki = pki(&mut rng);
    let config = HandshakeConfig::default()
        .with_root_key(*pki.root.public())
        .with_standard_noise(standard_noise);
    let client_key = KeyPair::generate(&mut rng);
    let mut snow = snow_peer::builder(seed)
        .prologue(&PROLOGUE)
        .unwrap()
        .local_private_key(client_key.private())
        .unwrap()
        .build_initiator()
        .unwrap();
    let server = noise::respond(&config, pki.server_key.clone(), KeyPair::generate(&mut rng));

    let msg1 = snow_write(&mut snow, &[]);
    assert_eq!(msg1.len(), 32);
    let hello = HandshakeMessage {
        client_hello: Some(
            whatsapp_proto::pb::handshake::handshake_message::ClientHello {
                ephemeral: Some(msg1),
                ..Default::default()
            },
        ),
        ..Default::default()
    }
    .encode_to_vec();
    let (server, server_hello) = server
        .read_client_hello(&hello)
        .map_err(|e| e.to_string())?
        .write_server_hello(&pki.chain);
    let sh = HandshakeMessage::decode(server_hello.as_slice())
        .unwrap()
        .server_hello
        .unwrap();
    let mut msg2 = sh.ephemeral.unwrap();
    msg2.extend(sh.r#static.unwrap());
    msg2.extend(sh.payload.unwrap());
    let chain = snow_read(&mut snow, &msg2).map_err(|e| e.to_string())?;
    assert_eq!(chain, pki.chain);
    let server_static: [u8; 32] = arr(snow.get_remote_static().unwrap());
    verify_cert_chain(&chain, pki.root.public(), &server_static, NOW).unwrap();

    let msg3 = snow_write(&mut snow, b"payload from snow");
    let finish = HandshakeMessage {
        client_finish: Some(
            whatsapp_proto::pb::handshake::handshake_message::ClientFinish {
                r#static: Some(msg3[..48].to_vec()),
                payload: Some(msg3[48..].to_vec()),
            },
        ),
        ..Default::default()
    }
    .encode_to_vec();
    let mut done = server
        .read_client_finish(&finish)
        .map_err(|e| e.to_string())?;
    assert_eq!(done.payload, b"payload from snow");
    assert_eq!(&done.client_static, client_key.public());
    assert_eq!(snow.get_handshake_hash(), done.handshake_hash);
    let mut snow = snow.into_transport_mode().unwrap();
    snow_exchange(&mut done.transport, &mut snow, &mut rng);
    Ok(())
}

#[test]
fn snow_interop_with_standard_noise_switch() {
    ours_initiator_vs_snow(true, 10).unwrap();
    snow_initiator_vs_ours(true, 11).unwrap();
}

#[test]
fn snow_fails_without_the_switch() {
    let err = ours_initiator_vs_snow(false, 12).unwrap_err();
    assert!(
        err.contains("server_hello.static failed to decrypt"),
        "{err}"
    );
    let err = snow_initiator_vs_ours(false, 13).unwrap_err();
    assert!(err.to_lowercase().contains("decrypt"), "{err}");
}

// ------------------------------------------------------------------ certificate chain

use whatsapp_proto::pb::cert::CertChain;

struct ChainParts {
    root: KeyPair,
    inter: KeyPair,
    server: KeyPair,
    i: CertDetails,
    l: CertDetails,
}

fn chain_parts(rng: &mut ChaCha20Rng) -> ChainParts {
    let root = KeyPair::generate(rng);
    let inter = KeyPair::generate(rng);
    let server = KeyPair::generate(rng);
    let i = CertDetails {
        serial: 3,
        issuer_serial: 0,
        key: *inter.public(),
        not_before: NOW - 100,
        not_after: NOW + 100,
    };
    let l = CertDetails {
        serial: 329,
        issuer_serial: 3,
        key: *server.public(),
        not_before: NOW - 50,
        not_after: NOW + 50,
    };
    ChainParts {
        root,
        inter,
        server,
        i,
        l,
    }
}

impl ChainParts {
    fn build(&self, rng: &mut ChaCha20Rng) -> Vec<u8> {
        build_cert_chain(&self.root, &self.i, &self.inter, &self.l, rng)
    }
    fn verify(&self, chain: &[u8], now: u64) -> Result<(), CertError> {
        verify_cert_chain(chain, self.root.public(), self.server.public(), now).map(|_| ())
    }
    /// Edits the serialized chain's protobuf (leaving signatures as they are).
    fn edit(chain: &[u8], f: impl FnOnce(&mut CertChain)) -> Vec<u8> {
        let mut c = CertChain::decode(chain).unwrap();
        f(&mut c);
        c.encode_to_vec()
    }
}

#[test]
fn cert_chain_accepts_valid_and_refuses_each_tampering_distinctly() {
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let p = chain_parts(&mut rng);
    let good = p.build(&mut rng);
    let verified = verify_cert_chain(&good, p.root.public(), p.server.public(), NOW).unwrap();
    assert_eq!(
        (verified.intermediate, verified.leaf),
        (p.i.clone(), p.l.clone())
    );
    // Both ends of both windows are inclusive.
    assert_eq!(p.verify(&good, NOW - 50), Ok(()));
    assert_eq!(p.verify(&good, NOW + 50), Ok(()));

    let mut errors = Vec::new();

    // Root signature (on the intermediate) tampered.
    let bad = ChainParts::edit(&good, |c| {
        c.intermediate.as_mut().unwrap().signature.as_mut().unwrap()[5] ^= 1
    });
    errors.push(p.verify(&bad, NOW).unwrap_err());
    assert_eq!(errors.last(), Some(&CertError::IntermediateSignature));

    // Intermediate signed by another key than the root.
    let other = KeyPair::generate(&mut rng);
    let bad = build_cert_chain(&other, &p.i, &p.inter, &p.l, &mut rng);
    assert_eq!(p.verify(&bad, NOW), Err(CertError::IntermediateSignature));

    // Leaf signature tampered.
    let bad = ChainParts::edit(&good, |c| {
        c.leaf.as_mut().unwrap().signature.as_mut().unwrap()[40] ^= 0x10
    });
    errors.push(p.verify(&bad, NOW).unwrap_err());
    assert_eq!(errors.last(), Some(&CertError::LeafSignature));

    // Leaf details altered after signing.
    let bad = ChainParts::edit(&good, |c| {
        let d = c.leaf.as_mut().unwrap().details.as_mut().unwrap();
        let last = d.len() - 1;
        d[last] ^= 1;
    });
    assert_eq!(p.verify(&bad, NOW), Err(CertError::LeafSignature));

    // Leaf issued by a serial other than the intermediate's (properly signed).
    let wrong_issuer = CertDetails {
        issuer_serial: 4,
        ..p.l.clone()
    };
    let bad = build_cert_chain(&p.root, &p.i, &p.inter, &wrong_issuer, &mut rng);
    errors.push(p.verify(&bad, NOW).unwrap_err());
    assert_eq!(
        errors.last(),
        Some(&CertError::LeafIssuerSerial {
            expected: 3,
            actual: 4
        })
    );

    // Intermediate not issued by the root serial.
    let wrong_root_serial = CertDetails {
        issuer_serial: 1,
        ..p.i.clone()
    };
    let bad = build_cert_chain(&p.root, &wrong_root_serial, &p.inter, &p.l, &mut rng);
    errors.push(p.verify(&bad, NOW).unwrap_err());
    assert_eq!(
        errors.last(),
        Some(&CertError::IntermediateIssuerSerial {
            expected: 0,
            actual: 1
        })
    );

    // Leaf key differs from the static key of the handshake.
    errors.push(
        verify_cert_chain(&good, p.root.public(), p.inter.public(), NOW)
            .map(|_| ())
            .unwrap_err(),
    );
    assert_eq!(errors.last(), Some(&CertError::LeafKeyMismatch));

    // Expired / not yet valid: leaf, then intermediate.
    errors.push(p.verify(&good, NOW + 51).unwrap_err());
    assert!(matches!(
        errors.last(),
        Some(CertError::Expired {
            cert: CertRole::Leaf,
            ..
        })
    ));
    errors.push(p.verify(&good, NOW - 51).unwrap_err());
    assert!(matches!(
        errors.last(),
        Some(CertError::NotYetValid {
            cert: CertRole::Leaf,
            ..
        })
    ));
    errors.push(p.verify(&good, NOW + 101).unwrap_err());
    assert!(matches!(
        errors.last(),
        Some(CertError::Expired {
            cert: CertRole::Intermediate,
            ..
        })
    ));
    errors.push(p.verify(&good, NOW - 101).unwrap_err());
    assert!(matches!(
        errors.last(),
        Some(CertError::NotYetValid {
            cert: CertRole::Intermediate,
            ..
        })
    ));

    // Structural failures.
    let bad = ChainParts::edit(&good, |c| c.leaf = None);
    errors.push(p.verify(&bad, NOW).unwrap_err());
    assert_eq!(
        errors.last(),
        Some(&CertError::Missing {
            cert: CertRole::Leaf,
            field: "certificate"
        })
    );
    let bad = ChainParts::edit(&good, |c| c.intermediate.as_mut().unwrap().signature = None);
    assert_eq!(
        p.verify(&bad, NOW),
        Err(CertError::Missing {
            cert: CertRole::Intermediate,
            field: "signature"
        })
    );
    let bad = ChainParts::edit(&good, |c| {
        c.leaf.as_mut().unwrap().signature.as_mut().unwrap().pop();
    });
    errors.push(p.verify(&bad, NOW).unwrap_err());
    assert_eq!(
        errors.last(),
        Some(&CertError::SignatureLength {
            cert: CertRole::Leaf,
            len: 63
        })
    );
    errors.push(p.verify(&[0xff, 0xff], NOW).unwrap_err());
    assert!(matches!(errors.last(), Some(CertError::Malformed { .. })));

    // A certified key of the wrong length (properly signed details).
    let details = whatsapp_proto::pb::cert::cert_chain::noise_certificate::Details {
        serial: Some(3),
        issuer_serial: Some(0),
        key: Some(vec![7; 31]),
        not_before: Some(0),
        not_after: Some(u64::MAX),
    }
    .encode_to_vec();
    let sig = p.root.sign(&details, &mut rng);
    let bad = ChainParts::edit(&good, |c| {
        let i = c.intermediate.as_mut().unwrap();
        i.details = Some(details);
        i.signature = Some(sig.to_vec());
    });
    errors.push(p.verify(&bad, NOW).unwrap_err());
    assert_eq!(
        errors.last(),
        Some(&CertError::KeyLength {
            cert: CertRole::Intermediate,
            len: 31
        })
    );

    // Every tampering above produced a different error.
    for (a, x) in errors.iter().enumerate() {
        for y in &errors[a + 1..] {
            assert_ne!(x, y);
        }
    }
}

#[test]
fn handshake_refuses_chain_for_another_server_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let p = chain_parts(&mut rng);
    let chain = p.build(&mut rng);
    let config = HandshakeConfig::default().with_root_key(*p.root.public());
    // The server proves a static key the chain does not certify.
    let impostor = KeyPair::generate(&mut rng);
    let (client, hello) = noise::initiate(
        &config,
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
    );
    let (_, server_hello) = noise::respond(&config, impostor, KeyPair::generate(&mut rng))
        .read_client_hello(&hello)
        .unwrap()
        .write_server_hello(&chain);
    assert_eq!(
        client.read_server_hello(&server_hello, NOW).unwrap_err(),
        HandshakeError::Certificate(CertError::LeafKeyMismatch)
    );
    // The default (WhatsApp) root refuses a self-made chain.
    let (client, hello) = noise::initiate(
        &HandshakeConfig::default(),
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
    );
    let (_, server_hello) = noise::respond(&config, p.server.clone(), KeyPair::generate(&mut rng))
        .read_client_hello(&hello)
        .unwrap()
        .write_server_hello(&chain);
    assert_eq!(
        client.read_server_hello(&server_hello, NOW).unwrap_err(),
        HandshakeError::Certificate(CertError::IntermediateSignature)
    );
}

// ------------------------------------------------------------------ ClientPayload through the handshake

#[test]
fn registration_and_login_payloads_reach_the_responder() {
    use whatsapp_proto::payload::{self, AppVersion, PayloadConfig, RegistrationData};
    let mut rng = ChaCha20Rng::seed_from_u64(30);
    let p = pki(&mut rng);
    let config = HandshakeConfig::default().with_root_key(*p.root.public());
    let identity = KeyPair::generate(&mut rng);
    let spk = KeyPair::generate(&mut rng);
    let mut signed = vec![payload::KEY_TYPE_DJB];
    signed.extend_from_slice(spk.public());
    let keys = RegistrationData {
        registration_id: rng.r#gen(),
        identity_key: *identity.public(),
        signed_pre_key_id: 1,
        signed_pre_key: *spk.public(),
        signed_pre_key_signature: identity.sign(&signed, &mut rng),
    };
    let payload_config =
        PayloadConfig::default().with_app_version(AppVersion::parse("2.3000.1035194821").unwrap());
    let registration = payload::registration_payload(&payload_config, &keys).encode_to_vec();
    let login = payload::login_payload(&payload_config, 15_551_234_567, 3, true).encode_to_vec();

    for bytes in [registration, login] {
        let (client, hello) = noise::initiate(
            &config,
            KeyPair::generate(&mut rng),
            KeyPair::generate(&mut rng),
        );
        let (server, sh) =
            noise::respond(&config, p.server_key.clone(), KeyPair::generate(&mut rng))
                .read_client_hello(&hello)
                .unwrap()
                .write_server_hello(&p.chain);
        let done = client.read_server_hello(&sh, NOW).unwrap().finish(&bytes);
        let got = server.read_client_finish(&done.message).unwrap();
        let decoded = payload::decode_client_payload(&got.payload).unwrap();
        let ua = decoded.user_agent.clone().unwrap();
        assert_eq!(ua.app_version.unwrap().tertiary, Some(1_035_194_821));
        assert_eq!(ua.platform, Some(14));
        assert_eq!(decoded.connect_type, Some(1));
        assert_eq!(decoded.connect_reason, Some(1));
        if let Some(data) = decoded.device_pairing_data.clone() {
            let back = payload::registration_data(&decoded).unwrap();
            assert_eq!(back, keys);
            assert!(whatsapp_proto::xeddsa::verify(
                &back.identity_key,
                &signed,
                &back.signed_pre_key_signature
            ));
            assert_eq!(decoded.passive, Some(false));
            assert_eq!(decoded.pull, Some(false));
            assert_eq!(
                hex::encode(data.build_hash.unwrap()),
                "a2c9471eff910a9e1ae659890a28872d"
            );
            let props = whatsapp_proto::pb::companion::DeviceProps::decode(
                data.device_props.unwrap().as_slice(),
            )
            .unwrap();
            assert_eq!(props.platform_type, Some(0));
            assert_eq!(
                props.history_sync_config.unwrap().storage_quota_mb,
                Some(10240)
            );
        } else {
            assert_eq!(decoded.username, Some(15_551_234_567));
            assert_eq!(decoded.device, Some(3));
            assert_eq!(decoded.passive, Some(true));
            assert_eq!(decoded.pull, Some(true));
            assert_eq!(decoded.lid_db_migrated, Some(true));
            assert_eq!(decoded.lc, Some(1));
        }
    }
}

// ------------------------------------------------------------------ robustness

fn mutate(rng: &mut ChaCha20Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = corpus[rng.gen_range(0..corpus.len())].clone();
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..8) {
            0 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] = rng.r#gen();
            }
            2 => {
                let n = rng.gen_range(0..=v.len());
                v.truncate(n);
            }
            3 => {
                let i = rng.gen_range(0..=v.len());
                let n = rng.gen_range(1..40);
                let extra: Vec<u8> = (0..n).map(|_| rng.r#gen()).collect();
                v.splice(i..i, extra);
            }
            4 if !v.is_empty() => {
                let a = rng.gen_range(0..v.len());
                let b = rng.gen_range(a..=v.len());
                let chunk = v[a..b].to_vec();
                let at = rng.gen_range(0..=v.len());
                v.splice(at..at, chunk);
            }
            5 if !v.is_empty() => {
                // Varint-ish lengths are where parsers break: make one huge.
                let i = rng.gen_range(0..v.len());
                v[i] = 0xff;
            }
            6 => {
                let n = rng.gen_range(0..120);
                v = (0..n).map(|_| rng.r#gen()).collect();
            }
            _ => {
                let other = &corpus[rng.gen_range(0..corpus.len())];
                let cut = rng.gen_range(0..=v.len());
                v.truncate(cut);
                v.extend_from_slice(other);
            }
        }
    }
    v
}

#[test]
fn no_panic_on_random_and_mutated_input() {
    let mut rng = ChaCha20Rng::seed_from_u64(0xBAD_F00D);
    let p = pki(&mut rng);
    let config = HandshakeConfig::default().with_root_key(*p.root.public());
    let client_key = KeyPair::generate(&mut rng);
    let client_eph = KeyPair::generate(&mut rng);
    let server_eph = KeyPair::generate(&mut rng);

    // A real exchange to mutate.
    let (client, hello) = noise::initiate(&config, client_key.clone(), client_eph.clone());
    let (server, server_hello) = noise::respond(&config, p.server_key.clone(), server_eph.clone())
        .read_client_hello(&hello)
        .unwrap()
        .write_server_hello(&p.chain);
    let mut done = client
        .read_server_hello(&server_hello, NOW)
        .unwrap()
        .finish(b"\x18\x01");
    let client_finish = done.message.clone();
    let mut server_done = server.read_client_finish(&client_finish).unwrap();
    let frames: Vec<Vec<u8>> = (0..8)
        .map(|i| done.transport.encrypt(&vec![i as u8; i * 7]).unwrap())
        .collect();
    let kat = vectors("noise/handshake_kat.json");
    let message_corpus = vec![
        hello.clone(),
        server_hello.clone(),
        client_finish.clone(),
        hex_field(&kat["derived"], "client_finish_handshake_message"),
        hex_field(&kat["captured"], "cert_plaintext_certchain"),
        p.chain.clone(),
    ];

    let mut fed = 0usize;
    // 1. HandshakeMessage parsing.
    for _ in 0..50_000 {
        let input = mutate(&mut rng, &message_corpus);
        let _ = noise::parse_handshake_message(&input);
        fed += 1;
    }
    // 2. Transport decrypt, against a receiver at the right counter. Only an
    // unaltered frame for the current counter may open (mutation can give one back).
    for _ in 0..50_000 {
        let input = mutate(&mut rng, &frames);
        let counter = server_done.transport.read_counter().unwrap() as usize;
        if server_done.transport.decrypt(&input).is_ok() {
            assert_eq!(Some(&input), frames.get(counter));
        }
        fed += 1;
    }
    // Failures never advanced the counter, so the remaining genuine frames still open.
    let next = server_done.transport.read_counter().unwrap() as usize;
    for (i, f) in frames.iter().enumerate().skip(next) {
        assert_eq!(
            server_done.transport.decrypt(f).unwrap(),
            vec![i as u8; i * 7]
        );
    }
    // 3. Certificate chains.
    for _ in 0..3_000 {
        let input = mutate(&mut rng, &message_corpus);
        let _ = verify_cert_chain(&input, p.root.public(), p.server_key.public(), NOW);
        fed += 1;
    }
    // 4. Each handshake step of each role.
    for _ in 0..1_500 {
        let (client, _) = noise::initiate(&config, client_key.clone(), client_eph.clone());
        let _ = client.read_server_hello(&mutate(&mut rng, &message_corpus), NOW);
        let server = noise::respond(&config, p.server_key.clone(), server_eph.clone());
        let _ = server.read_client_hello(&mutate(&mut rng, &message_corpus));
        let (server, _) = noise::respond(&config, p.server_key.clone(), server_eph.clone())
            .read_client_hello(&hello)
            .unwrap()
            .write_server_hello(&p.chain);
        let _ = server.read_client_finish(&mutate(&mut rng, &message_corpus));
        let _ = whatsapp_proto::payload::decode_client_payload(&mutate(&mut rng, &message_corpus))
            .map(|p| whatsapp_proto::payload::registration_data(&p));
        fed += 4;
    }
    assert!(fed >= 100_000, "{fed}");
}
