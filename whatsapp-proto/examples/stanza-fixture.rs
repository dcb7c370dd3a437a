//! Writes the codec benchmark's node fixture: 512 stanzas of the shapes whatsapp-sim and
//! the real server send and our client writes, generated (not recorded) from a fixed seed.
//!
//! `cargo run -p whatsapp-proto --example stanza-fixture -- whatsapp-proto/tests/fixtures/stanzas.bin`
//!
//! The shapes follow whatsapp-sim's builders (`whatsapp-sim/src/state/`: usync answers,
//! group info, receipts, acks, notifications) and the client's outgoing `<message>`. The
//! file is a sequence of records, each a 4-byte big-endian length and the frame plaintext
//! (flags byte `00` + node) that [`encode_frame_plaintext`] writes.
//!
//! Every JID is typed and every text value is free of `@`, so the bytes are the same
//! under whatsmeow's typed rule and whatsapp-rust's text-sniffing one.

// A tool, not the sans-IO library: it writes its output file.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use whatsapp_proto::binary::{Node, encode_frame_plaintext};
use whatsapp_proto::jid::{Jid, Server};

const COUNT: usize = 512;

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    /// A WA Web message id: `3EB0` and 18 upper-case hex digits (hex-packed on the wire).
    fn msg_id(&mut self) -> String {
        let tail: String = (0..18)
            .map(|_| char::from(b"0123456789ABCDEF"[self.rng.gen_range(0..16)]))
            .collect();
        format!("3EB0{tail}")
    }

    /// A server-side stanza id (decimal, nibble-packed).
    fn iq_id(&mut self) -> String {
        format!(
            "{}.{}-{}",
            self.rng.gen_range(10_000..99_999),
            self.rng.gen_range(1..9),
            self.rng.gen_range(1..400)
        )
    }

    fn ts(&mut self) -> u64 {
        1_765_000_000 + self.rng.gen_range(0..2_000_000)
    }

    fn phone(&mut self) -> String {
        format!("20100{:07}", self.rng.gen_range(0..10_000_000))
    }

    fn lid(&mut self) -> String {
        format!(
            "{}",
            self.rng
                .gen_range(100_000_000_000_000u64..300_000_000_000_000)
        )
    }

    fn pn(&mut self) -> Jid {
        Jid::user(self.phone())
    }

    fn lid_jid(&mut self) -> Jid {
        Jid::new(self.lid(), Server::Lid)
    }

    fn device_jid(&mut self, lid: bool) -> Jid {
        let base = if lid { self.lid_jid() } else { self.pn() };
        let device = if self.rng.gen_bool(0.5) {
            0
        } else {
            self.rng.gen_range(1..30)
        };
        base.with_device(device)
    }

    fn bytes(&mut self, lo: usize, hi: usize) -> Vec<u8> {
        let len = self.rng.gen_range(lo..hi);
        (0..len).map(|_| self.rng.r#gen()).collect()
    }

    fn name(&mut self) -> &'static str {
        const NAMES: [&str; 6] = [
            "Amal",
            "صيدلية النور",
            "Omar K.",
            "Dr. Hany",
            "نادية",
            "Sara",
        ];
        NAMES[self.rng.gen_range(0..NAMES.len())]
    }

    fn enc(&mut self, kind: &'static str, lo: usize, hi: usize) -> Node {
        Node::new("enc")
            .attr("v", "2")
            .attr("type", kind)
            .bytes(self.bytes(lo, hi))
    }

    /// An incoming 1:1 message, PN or LID addressed.
    fn incoming_message(&mut self) -> Node {
        let lid = self.rng.gen_bool(0.5);
        let from = self.device_jid(lid);
        let kind = if self.rng.gen_bool(0.3) {
            "pkmsg"
        } else {
            "msg"
        };
        let mut node = Node::new("message")
            .attr("from", from)
            .attr(
                "type",
                if self.rng.gen_bool(0.8) {
                    "text"
                } else {
                    "media"
                },
            )
            .attr("id", self.msg_id())
            .attr("notify", self.name())
            .attr("t", self.ts());
        if lid {
            node = node
                .attr("sender_pn", self.pn())
                .attr("addressing_mode", "lid");
        }
        let mut children = vec![self.enc(kind, 60, 400)];
        if kind == "pkmsg" && self.rng.gen_bool(0.5) {
            children.push(Node::new("device-identity").bytes(self.bytes(140, 170)));
        }
        node.children(children)
    }

    /// An incoming group message: a sender-key message and sometimes a pairwise one.
    fn group_message(&mut self) -> Node {
        let group = Jid::new(
            format!("1203630{:11}", self.rng.gen_range(0..99_999_999_999u64)),
            Server::Group,
        );
        let participant = self.device_jid(true);
        let mut children = Vec::new();
        if self.rng.gen_bool(0.3) {
            children.push(self.enc("pkmsg", 200, 500));
        }
        children.push(self.enc("skmsg", 60, 300));
        Node::new("message")
            .attr("from", group)
            .attr("type", "text")
            .attr("id", self.msg_id())
            .attr("participant", participant)
            .attr("addressing_mode", "lid")
            .attr("notify", self.name())
            .attr("t", self.ts())
            .children(children)
    }

    /// The client's outgoing message to several devices.
    fn outgoing_message(&mut self) -> Node {
        let user = self.phone();
        let devices = self.rng.gen_range(2..9);
        let to: Vec<Node> = (0..devices)
            .map(|d| {
                let kind = if self.rng.gen_bool(0.4) {
                    "pkmsg"
                } else {
                    "msg"
                };
                Node::new("to")
                    .attr("jid", Jid::user(user.clone()).with_device(d * 3))
                    .children([self.enc(kind, 120, 320)])
            })
            .collect();
        Node::new("message")
            .attr("id", self.msg_id())
            .attr("to", Jid::user(user))
            .attr("type", "text")
            .attr("phash", format!("2:{:08x}", self.rng.r#gen::<u32>()))
            .children([
                Node::new("participants").children(to),
                Node::new("device-identity").bytes(self.bytes(140, 170)),
            ])
    }

    fn receipt(&mut self) -> Node {
        let lid = self.rng.gen_bool(0.5);
        let mut node = Node::new("receipt")
            .attr("from", self.device_jid(lid))
            .attr("id", self.msg_id())
            .attr("t", self.ts());
        match self.rng.gen_range(0..4) {
            0 => node = node.attr("type", "read"),
            1 => node = node.attr("type", "retry"),
            2 => {
                let items: Vec<Node> = (0..self.rng.gen_range(1..6))
                    .map(|_| Node::new("item").attr("id", self.msg_id()))
                    .collect();
                node = node
                    .attr("type", "read")
                    .children([Node::new("list").children(items)]);
            }
            _ => {}
        }
        node
    }

    fn ack(&mut self) -> Node {
        let class = ["message", "receipt", "notification"][self.rng.gen_range(0..3)];
        let mut node = Node::new("ack")
            .attr("class", class)
            .attr("id", self.msg_id())
            .attr("from", self.device_jid(false));
        if class == "message" {
            node = node.attr("t", self.ts());
        } else if class == "receipt" {
            node = node.attr("type", "read");
        }
        node
    }

    fn iq_result(&mut self) -> Node {
        let node = Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("type", "result")
            .attr("id", self.iq_id());
        match self.rng.gen_range(0..3) {
            0 => node,
            1 => node.children([Node::new("count").attr("value", self.rng.gen_range(0..800u32))]),
            _ => node.children([Node::new("ping")]),
        }
    }

    fn notification(&mut self) -> Node {
        let id = self.iq_id();
        let t = self.ts();
        match self.rng.gen_range(0..3) {
            0 => Node::new("notification")
                .attr("from", Jid::server_jid())
                .attr("type", "encrypt")
                .attr("id", id)
                .attr("t", t)
                .children([Node::new("count").attr("value", self.rng.gen_range(0..50u32))]),
            1 => {
                let user = self.pn();
                let device = self.rng.gen_range(1..20);
                Node::new("notification")
                    .attr("from", user.clone())
                    .attr("type", "devices")
                    .attr("id", id)
                    .attr("t", t)
                    .children([Node::new("add")
                        .attr("device_hash", format!("2:{:08x}", self.rng.r#gen::<u32>()))
                        .children([
                            Node::new("device")
                                .attr("jid", user.with_device(device))
                                .attr("key-index", device),
                            Node::new("key-index-list")
                                .attr("ts", t)
                                .bytes(self.bytes(90, 130)),
                        ])])
            }
            _ => Node::new("notification")
                .attr(
                    "from",
                    Jid::new(
                        format!("1203630{:11}", self.rng.gen_range(0..99_999_999_999u64)),
                        Server::Group,
                    ),
                )
                .attr("type", "w:gp2")
                .attr("id", id)
                .attr("participant", self.lid_jid())
                .attr("addressing_mode", "lid")
                .attr("t", t)
                .children([Node::new("add").children([Node::new("participant")
                    .attr("jid", self.lid_jid())
                    .attr("phone_number", self.pn())])]),
        }
    }

    /// A usync answer for `users` accounts; `devices` spread over them (50+ in the big ones).
    fn usync(&mut self, users: usize, devices: usize) -> Node {
        let list: Vec<Node> = (0..users)
            .map(|u| {
                let lid = self.lid_jid();
                let per_user = devices / users + usize::from(u < devices % users);
                let device_nodes: Vec<Node> = (0..per_user)
                    .map(|d| {
                        let node = Node::new("device").attr("id", d);
                        if d == 0 {
                            node
                        } else {
                            node.attr("key-index", d + 1)
                        }
                    })
                    .collect();
                let ts = self.ts();
                Node::new("user")
                    .attr("jid", lid)
                    .attr("pn_jid", self.pn())
                    .children([
                        Node::new("contact").attr("type", "in"),
                        Node::new("devices").children([
                            Node::new("device-list")
                                .attr("hash", format!("2:{:08x}", self.rng.r#gen::<u32>()))
                                .children(device_nodes),
                            Node::new("key-index-list")
                                .attr("ts", ts)
                                .bytes(self.bytes(90, 140)),
                        ]),
                        Node::new("lid").attr("val", self.lid_jid()),
                    ])
            })
            .collect();
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("type", "result")
            .attr("id", self.iq_id())
            .children([Node::new("usync")
                .attr("sid", self.iq_id())
                .attr("mode", "query")
                .attr("context", "message")
                .attr("index", "0")
                .attr("last", "true")
                .children([Node::new("list").children(list)])])
    }

    fn group_info(&mut self) -> Node {
        let size = self.rng.gen_range(3..60);
        let creator = self.lid_jid();
        let participants: Vec<Node> = (0..size)
            .map(|i| {
                let node = Node::new("participant")
                    .attr(
                        "jid",
                        if i == 0 {
                            creator.clone()
                        } else {
                            self.lid_jid()
                        },
                    )
                    .attr("phone_number", self.pn());
                if i == 0 {
                    node.attr("type", "superadmin")
                } else {
                    node
                }
            })
            .collect();
        let created = self.ts();
        Node::new("iq")
            .attr(
                "from",
                Jid::new(
                    format!("1203630{:11}", self.rng.gen_range(0..99_999_999_999u64)),
                    Server::Group,
                ),
            )
            .attr("type", "result")
            .attr("id", self.iq_id())
            .children([Node::new("group")
                .attr(
                    "id",
                    format!("1203630{:11}", self.rng.gen_range(0..99_999_999_999u64)),
                )
                .attr("subject", "فرع مدينة نصر - الصيادلة")
                .attr("s_t", created)
                .attr("creation", created)
                .attr("creator", creator)
                .attr("addressing_mode", "lid")
                .attr("size", size)
                .children(participants)])
    }

    fn chatstate(&mut self) -> Node {
        let lid = self.rng.gen_bool(0.5);
        let from = self.device_jid(lid);
        if self.rng.gen_bool(0.5) {
            Node::new("chatstate")
                .attr("from", from)
                .children([Node::new("composing")])
        } else {
            Node::new("presence")
                .attr("from", from)
                .attr("type", "available")
        }
    }
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "stanzas.bin".to_owned());
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(33),
    };
    let mut out = Vec::new();
    for i in 0..COUNT {
        // Weights roughly as a busy helpdesk account sees them: messages, receipts and acks
        // dominate; a few large usync and group answers.
        let node = match i % 32 {
            0..=6 => g.incoming_message(),
            7..=9 => g.group_message(),
            10..=12 => g.outgoing_message(),
            13..=17 => g.receipt(),
            18..=21 => g.ack(),
            22..=24 => g.iq_result(),
            25..=26 => g.notification(),
            27 => {
                let devices = g.rng.gen_range(2..6);
                g.usync(1, devices)
            }
            28 => {
                let users = g.rng.gen_range(5..15);
                let devices = g.rng.gen_range(50..90);
                g.usync(users, devices)
            }
            29 => g.group_info(),
            _ => g.chatstate(),
        };
        let frame = encode_frame_plaintext(&node).expect("fixture nodes encode");
        out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(&path, &out).expect("fixture written");
    eprintln!("{COUNT} stanzas, {} bytes -> {path}", out.len());
}
