//! Encode + decode of a realistic ~800-byte outgoing `<message>`: three `<to>` participants
//! each with a pkmsg `<enc>`, and a device-identity; decoded both into the owned [`Node`]
//! and into the borrowed tree (`decode_node_ref`). The comparison with whatsapp-rust's codec
//! over 512 stanzas is `bench/codec-compare`.

// Test and tool code, outside the sans-IO rule of clippy.toml.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
// criterion_group! generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use whatsapp_proto::binary::{
    Node, decode_frame_plaintext, decode_node_ref, encode_frame_plaintext, frame_body,
};
use whatsapp_proto::jid::Jid;

fn message() -> Node {
    let to = |device: u16, fill: u8| {
        Node::new("to")
            .attr("jid", Jid::user("201001234567").with_device(device))
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", "pkmsg")
                .bytes(vec![fill; 180])])
    };
    Node::new("message")
        .attr("id", "3EB0A1B2C3D4E5F60718")
        .attr("to", Jid::user("201001234567"))
        .attr("type", "text")
        .attr("phash", "2:abcdEFGH")
        .children([
            Node::new("participants").children([to(0, 1), to(3, 2), to(7, 3)]),
            Node::new("device-identity").bytes(vec![9u8; 150]),
        ])
}

fn codec(c: &mut Criterion) {
    let node = message();
    let bytes = encode_frame_plaintext(&node).unwrap();
    let mut group = c.benchmark_group("binary");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("encode+decode {}-byte message", bytes.len()), |b| {
        b.iter(|| {
            let bytes = encode_frame_plaintext(black_box(&node)).unwrap();
            decode_frame_plaintext(black_box(&bytes)).unwrap()
        })
    });
    group.bench_function("encode", |b| {
        b.iter(|| encode_frame_plaintext(black_box(&node)).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| decode_frame_plaintext(black_box(&bytes)).unwrap())
    });
    group.bench_function("decode borrowed", |b| {
        b.iter(|| {
            let body = frame_body(black_box(&bytes)).unwrap();
            decode_node_ref(&body).unwrap().node_count()
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
