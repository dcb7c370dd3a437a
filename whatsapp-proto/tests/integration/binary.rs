//! Binary codec: Baileys vectors both ways, round-trip properties, and no panic on any input.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value as Json;
use whatsapp_proto::binary::json::{from_hex, node_from_json, node_to_json, to_hex};
use whatsapp_proto::binary::{
    Content, Encoder, Node, Value, decode_frame_plaintext, decode_node, encode_frame_plaintext,
};
use whatsapp_proto::frame::FrameDecoder;
use whatsapp_proto::jid::{Jid, Server};

struct Vector {
    name: String,
    node: Json,
    hex: String,
    decoded: Json,
}

fn vectors() -> Vec<Vector> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/binary/baileys-6.7.24-seed1.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("vectors present beside the project");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Json = serde_json::from_str(line).unwrap();
            Vector {
                name: v["name"].as_str().unwrap().to_owned(),
                node: v["node"].clone(),
                hex: v["hex"].as_str().unwrap().to_owned(),
                decoded: v["decoded"].clone(),
            }
        })
        .collect()
}

/// Text content and bytes content of the same UTF-8 count as equal (vectors/README.md).
fn normalise(json: &Json) -> Json {
    let mut json = json.clone();
    if let Some(obj) = json.as_object_mut() {
        match obj.get("content").cloned() {
            Some(Json::String(s)) => {
                obj.insert(
                    "content".into(),
                    serde_json::json!({ "hex": to_hex(s.as_bytes()) }),
                );
            }
            Some(Json::Array(children)) => {
                obj.insert(
                    "content".into(),
                    Json::Array(children.iter().map(normalise).collect()),
                );
            }
            _ => {}
        }
    }
    json
}

#[test]
fn baileys_vectors_encode_byte_for_byte() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 300);
    for v in &vectors {
        let node = node_from_json(&v.node).unwrap();
        let bytes = Encoder::new()
            .jids_from_text(true)
            .frame_plaintext(&node)
            .unwrap();
        assert_eq!(to_hex(&bytes), v.hex, "{}", v.name);
    }
}

#[test]
fn baileys_vectors_decode_to_decoded() {
    for v in vectors() {
        let node = decode_frame_plaintext(&from_hex(&v.hex).unwrap()).unwrap();
        assert_eq!(
            normalise(&node_to_json(&node)),
            normalise(&v.decoded),
            "{}",
            v.name
        );
    }
}

#[test]
fn decoded_vectors_reencode_to_the_same_bytes() {
    // Where Baileys' decoder did not normalise (no device-0 AD JID), decode -> JSON ->
    // encode reproduces the wire bytes exactly.
    let mut checked = 0;
    for v in vectors().into_iter().filter(|v| v.node == v.decoded) {
        let node = decode_frame_plaintext(&from_hex(&v.hex).unwrap()).unwrap();
        let again = node_from_json(&node_to_json(&node)).unwrap();
        let bytes = Encoder::new()
            .jids_from_text(true)
            .frame_plaintext(&again)
            .unwrap();
        assert_eq!(to_hex(&bytes), v.hex, "{}", v.name);
        checked += 1;
    }
    assert!(checked > 250, "{checked}");
}

fn jid_strategy() -> impl Strategy<Value = Jid> {
    let server = prop_oneof![
        Just(Server::User),
        Just(Server::Lid),
        Just(Server::Group),
        Just(Server::Broadcast),
        Just(Server::Newsletter),
        Just(Server::Hosted),
        Just(Server::HostedLid),
        Just(Server::Messenger),
        Just(Server::Interop),
        Just(Server::LegacyUser),
    ];
    (server, "[0-9]{1,20}", 0u16..=255, 0u16..1000).prop_map(
        |(server, user, device, integrator)| {
            let mut jid = Jid::new(user, server.clone());
            match server {
                Server::User | Server::Lid | Server::Hosted | Server::HostedLid => {
                    jid.device = device
                }
                Server::Messenger => jid.device = device * 3,
                Server::Interop => {
                    jid.device = device;
                    jid.integrator = integrator;
                }
                _ => {}
            }
            jid
        },
    )
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("s.whatsapp.net".to_owned()),
        Just("pair-device".to_owned()),
        "[0-9.-]{1,130}",
        "[0-9A-F]{1,130}",
        "[a-zA-Z0-9 @:._-]{0,40}",
        "\\PC{0,30}",
        "[\u{600}-\u{6ff} ]{1,20}",
    ]
}

fn node_strategy() -> impl Strategy<Value = Node> {
    let value = prop_oneof![
        text_strategy().prop_map(|s| Value::Text(s.into())),
        jid_strategy().prop_map(Value::Jid)
    ];
    let attrs = proptest::collection::vec(("[a-z_-]{1,12}", value), 0..6);
    let leaf_content = prop_oneof![
        Just(Content::None),
        proptest::collection::vec(any::<u8>(), 0..400).prop_map(Content::Bytes),
        "[a-z0-9]{1,20}".prop_map(Content::Text),
    ];
    let leaf = ("[a-z:-]{1,16}", attrs.clone(), leaf_content).prop_map(|(tag, attrs, content)| {
        let mut node = Node::new(tag);
        for (k, v) in attrs {
            node.set_attr(k, v);
        }
        node.content = content;
        node
    });
    leaf.prop_recursive(4, 64, 8, move |inner| {
        (
            "[a-z]{1,10}",
            attrs.clone(),
            proptest::collection::vec(inner, 0..8),
        )
            .prop_map(|(tag, attrs, children)| {
                let mut node = Node::new(tag);
                for (k, v) in attrs {
                    node.set_attr(k, v);
                }
                node.children(children)
            })
    })
}

/// The codec's one normalisation: text content that is neither a token nor packable goes on
/// the wire as raw bytes and comes back as bytes.
fn bytes_for_text(node: &Node) -> Node {
    let mut node = node.clone();
    node.content = match node.content {
        Content::Text(text) => Content::Bytes(text.into_bytes()),
        Content::Nodes(children) => Content::Nodes(children.iter().map(bytes_for_text).collect()),
        other => other,
    };
    node
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_nodes_round_trip(node in node_strategy()) {
        let bytes = encode_frame_plaintext(&node).unwrap();
        let decoded = decode_frame_plaintext(&bytes).unwrap();
        prop_assert_eq!(bytes_for_text(&decoded), bytes_for_text(&node));
    }

    #[test]
    fn jids_round_trip_as_text_and_binary(jid in jid_strategy()) {
        let text = jid.to_string();
        prop_assert_eq!(text.parse::<Jid>().unwrap(), jid.clone());
        let node = Node::new("x").attr("jid", jid.clone());
        let decoded = decode_frame_plaintext(&encode_frame_plaintext(&node).unwrap()).unwrap();
        prop_assert_eq!(decoded.attrs().jid("jid").unwrap(), jid);
    }
}

#[test]
fn jid_binary_forms() {
    let cases: [(&str, &[u8]); 7] = [
        ("s.whatsapp.net", &[0xFA, 0x00, 0x03]),
        ("status@broadcast", &[0xFA, 0x0B, 0x0D]),
        (
            "2010:3@s.whatsapp.net",
            &[0xF7, 0x00, 0x03, 0xFF, 0x02, 0x20, 0x10],
        ),
        ("2010:3@lid", &[0xF7, 0x01, 0x03, 0xFF, 0x02, 0x20, 0x10]),
        ("2010@hosted", &[0xF7, 0x80, 0x00, 0xFF, 0x02, 0x20, 0x10]),
        (
            "2010:1@hosted.lid",
            &[0xF7, 0x81, 0x01, 0xFF, 0x02, 0x20, 0x10],
        ),
        (
            "2010:2@msgr",
            &[0xF6, 0xFF, 0x02, 0x20, 0x10, 0x00, 0x02, 0xCC],
        ),
    ];
    for (text, wire) in cases {
        let jid: Jid = text.parse().unwrap();
        let bytes = Encoder::new()
            .node_bytes(&Node::new("x").attr("j", jid.clone()))
            .unwrap();
        // Node header (F8 03), tag "x" (FC 01 78), key "j" (FC 01 6A), then the JID.
        assert_eq!(&bytes[8..], wire, "{text}");
        assert_eq!(
            decode_node(&bytes).unwrap().attrs().jid("j").unwrap(),
            jid,
            "{text}"
        );
    }
    assert_eq!(
        decode_node(&[0xF8, 0x03, 0x19, 0x11, 0xFA, 0x00, 0x03])
            .unwrap()
            .attrs()
            .jid("to")
            .unwrap(),
        Jid::server_jid()
    );
}

/// Random and mutated inputs never panic the decoder, frame decoder or JID parser.
#[test]
fn no_panic_on_100k_random_and_mutated_inputs() {
    let seeds: Vec<Vec<u8>> = vectors()
        .iter()
        .map(|v| from_hex(&v.hex).unwrap())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut decoded_ok = 0;
    for i in 0..100_000 {
        let input: Vec<u8> = if i % 4 == 0 {
            let len = rng.gen_range(0..64);
            (0..len).map(|_| rng.r#gen()).collect()
        } else {
            let mut bytes = seeds[rng.gen_range(0..seeds.len())].clone();
            for _ in 0..rng.gen_range(1..4) {
                match rng.gen_range(0..4) {
                    0 if !bytes.is_empty() => {
                        let at = rng.gen_range(0..bytes.len());
                        bytes[at] = rng.r#gen();
                    }
                    1 if !bytes.is_empty() => {
                        let at = rng.gen_range(0..bytes.len());
                        bytes.truncate(at);
                    }
                    2 => {
                        let at = rng.gen_range(0..=bytes.len());
                        bytes.insert(at, rng.r#gen());
                    }
                    _ if !bytes.is_empty() => {
                        let at = rng.gen_range(0..bytes.len());
                        bytes[at] = [
                            0x00, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF, 0xF7, 0xEC,
                        ][rng.gen_range(0..11)];
                    }
                    _ => {}
                }
            }
            bytes
        };
        if decode_frame_plaintext(&input).is_ok() {
            decoded_ok += 1;
        }
        let mut frames = FrameDecoder::new();
        frames.push(&input);
        while let Ok(Some(_)) = frames.next_frame() {}
        let mut server = FrameDecoder::server();
        server.push(&input);
        while let Ok(Some(_)) = server.next_frame() {}
        let _ = String::from_utf8_lossy(&input).parse::<Jid>();
    }
    // The mutations must leave some inputs valid, or the test exercises nothing past the header.
    assert!(decoded_ok > 1_000, "{decoded_ok}");
}
