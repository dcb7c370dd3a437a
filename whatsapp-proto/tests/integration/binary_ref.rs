//! The borrowed decoder agrees with the owned one: same node or same error on the fixture's
//! 512 stanzas, on them mutated and cut short, on random bytes and on random nodes.

use proptest::prelude::*;
use whatsapp_proto::binary::{
    ContentRef, Node, ValueRef, decode_frame_plaintext, decode_node, decode_node_ref,
    encode_frame_plaintext, frame_body,
};
use whatsapp_proto::jid::Jid;

/// The codec fixture (`examples/stanza-fixture.rs` wrote it): length-prefixed frame plaintexts.
fn fixture() -> Vec<Vec<u8>> {
    let bytes = include_bytes!("../fixtures/stanzas.bin");
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        frames.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    frames
}

/// Both decoders on the same node bytes: the same node, or the same error.
fn agree(bytes: &[u8]) -> Result<Node, whatsapp_proto::binary::DecodeError> {
    let owned = decode_node(bytes);
    let borrowed = decode_node_ref(bytes).map(|tree| tree.root().to_node());
    assert_eq!(borrowed, owned, "decoders disagree on {bytes:02x?}");
    owned
}

#[test]
fn fixture_decodes_alike_and_round_trips() {
    let frames = fixture();
    assert_eq!(frames.len(), 512);
    for frame in &frames {
        let body = frame_body(frame).unwrap();
        let node = agree(&body).unwrap();
        assert_eq!(decode_frame_plaintext(frame).unwrap(), node);
        assert_eq!(&encode_frame_plaintext(&node).unwrap(), frame);
        // Every prefix is refused alike (each cut lands inside a different item).
        for cut in (0..body.len()).step_by(7) {
            assert!(agree(&body[..cut]).is_err());
        }
    }
}

#[test]
fn borrowed_accessors_read_the_fixture() {
    let frames = fixture();
    let mut seen_jid = 0;
    for frame in &frames {
        let body = frame_body(frame).unwrap();
        let tree = decode_node_ref(&body).unwrap();
        let owned = decode_node(&body).unwrap();
        let root = tree.root();
        assert_eq!(root.tag(), owned.tag);
        for (key, value) in root.attr_iter() {
            assert_eq!(root.attr(key), Some(value));
            match value {
                ValueRef::Text(s) => assert_eq!(owned.attrs().str(key).unwrap(), s),
                ValueRef::Jid(j) => {
                    seen_jid += 1;
                    let jid: Jid = owned.attrs().jid(key).unwrap();
                    assert_eq!(j.to_jid(), jid);
                    assert_eq!(root.attrs().jid(key).unwrap(), jid);
                    assert_eq!(j.to_string(), jid.to_string());
                }
                other => panic!("an attribute value of no known kind: {other:?}"),
            }
        }
        assert_eq!(root.children().len(), owned.child_nodes().len());
        for (child, owned_child) in root.children().zip(owned.child_nodes()) {
            assert_eq!(child.to_node(), *owned_child);
            assert_eq!(
                root.child(child.tag()).map(|c| c.to_node()).as_ref(),
                owned.child(&owned_child.tag)
            );
        }
        if let Some(t) = owned.attrs().optional_u64("t").unwrap() {
            assert_eq!(root.attrs().u64("t").unwrap(), t);
        }
    }
    assert!(seen_jid > 500);
}

#[test]
fn content_kinds_and_attr_errors() {
    let node = Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("n", "x1")
        .children([
            Node::new("a").bytes(vec![1, 2]),
            Node::new("b").text("12.5"),
            Node::new("c").children([]),
            Node::new("d"),
        ]);
    let bytes = whatsapp_proto::binary::Encoder::new()
        .node_bytes(&node)
        .unwrap();
    let tree = decode_node_ref(&bytes).unwrap();
    let root = tree.root();
    let kinds: Vec<_> = root.children().map(|c| c.content()).collect();
    assert!(matches!(kinds[0], ContentRef::Bytes(&[1, 2])));
    assert!(matches!(kinds[1], ContentRef::Text("12.5")));
    assert!(matches!(&kinds[2], ContentRef::Nodes(c) if c.len() == 0));
    assert!(matches!(kinds[3], ContentRef::None));
    assert_eq!(
        root.path(&["b"]).unwrap().content_bytes(),
        Some(&b"12.5"[..])
    );
    let attrs = root.attrs();
    // The borrowed reader's errors are the owned reader's.
    assert_eq!(attrs.u64("n"), node.attrs().u64("n"));
    assert_eq!(attrs.str("to"), node.attrs().str("to"));
    assert_eq!(attrs.u64("gone"), node.attrs().u64("gone"));
    assert_eq!(attrs.jid_ref("to").unwrap().server(), "s.whatsapp.net");
    assert!(attrs.jid_ref("n").is_err());
    assert_eq!(attrs.bool("gone"), Ok(false));
}

#[test]
fn jid_content_agrees() {
    // <x>JID_PAIR("2010", s.whatsapp.net)</x>, and an AD JID with an unknown domain.
    agree(&[
        0xF8, 0x02, 0xFC, 0x01, b'x', 0xFA, 0xFF, 0x02, 0x20, 0x10, 0x03,
    ])
    .unwrap();
    agree(&[
        0xF8, 0x02, 0xFC, 0x01, b'x', 0xF7, 0x07, 0x02, 0xFF, 0x02, 0x20, 0x10,
    ])
    .unwrap();
    agree(&[
        0xF8, 0x02, 0xFC, 0x01, b'x', 0xF6, 0xFF, 0x02, 0x20, 0x10, 0x00, 0x02, 0xCC,
    ])
    .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_bytes_agree(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = agree(&bytes);
    }

    #[test]
    fn headed_random_bytes_agree(
        size in 1u8..12,
        tail in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        // A plausible header gets random bytes past the first check.
        let mut bytes = vec![0xF8, size];
        bytes.extend(tail);
        let _ = agree(&bytes);
    }

    #[test]
    fn mutated_fixture_agrees(
        index in 0usize..512,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let frames = fixture();
        let mut body = frame_body(&frames[index]).unwrap().into_owned();
        for (at, byte) in edits {
            let i = at.index(body.len());
            body[i] = byte;
        }
        let _ = agree(&body);
    }
}

/// A JID written as a string on the wire is refused by both readers, as whatsmeow's
/// `AttrGetter.JID` refuses it (and answers `ack error="487"`); the same JID as a JID node
/// reads.
#[test]
fn a_jid_sent_as_text_is_refused_like_whatsmeow() {
    let jid = Jid::user("201112223334");
    for (value, ok) in [
        (whatsapp_proto::binary::Value::Jid(jid.clone()), true),
        (
            whatsapp_proto::binary::Value::Text(jid.to_string().into()),
            false,
        ),
    ] {
        let sent = Node::new("receipt").attr("id", "R1").attr("from", value);
        let plaintext = encode_frame_plaintext(&sent).expect("encode");
        let body = frame_body(&plaintext).expect("body");
        let owned = decode_node(&body).expect("decode");
        assert_eq!(owned.attrs().jid("from").is_ok(), ok, "{owned:?}");
        assert_eq!(owned.attrs().optional_jid("from").is_ok(), ok);
        let tree = decode_node_ref(&body).expect("decode ref");
        assert_eq!(tree.root().attrs().jid("from").is_ok(), ok);
        if ok {
            assert_eq!(owned.attrs().jid("from").unwrap(), jid);
        }
    }
}
