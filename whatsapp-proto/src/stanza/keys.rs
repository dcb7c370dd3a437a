//! Key bundles and prekey uploads (part 2 §2.1–2.3, §6.2; whatsmeow `prekeys.go`).
//!
//! One shape serves three stanzas: the `<user>` of a prekey fetch answer, the `<keys>` of a
//! retry receipt (its `<registration>` beside it) and the prekey upload IQ (with a `<list>`
//! of one-time prekeys instead of one `<key>`). Key ids travel as 3 big-endian bytes
//! ([`encode_key_id`]), public keys as their raw 32 bytes, the key type as one byte `05`.

use crate::binary::Node;
use crate::jid::Jid;
use crate::signal::{DJB_TYPE, PreKeyBundle, PublicKey};

use super::{StanzaError, fixed, required};

/// A key id as the wire carries it: the low 3 bytes, big-endian (ids stay within
/// [`crate::signal::MAX_PREKEY_ID`]; higher bits are dropped).
///
/// ```
/// use whatsapp_proto::stanza::keys::{decode_key_id, encode_key_id};
/// assert_eq!(encode_key_id(0x01_02_03), [1, 2, 3]);
/// assert_eq!(decode_key_id([1, 2, 3]), 0x01_02_03);
/// ```
pub fn encode_key_id(id: u32) -> [u8; 3] {
    let [_, a, b, c] = id.to_be_bytes();
    [a, b, c]
}

/// The id a 3-byte wire id stands for (the inverse of [`encode_key_id`]).
///
/// ```
/// assert_eq!(whatsapp_proto::stanza::keys::decode_key_id([0, 0, 7]), 7);
/// ```
pub fn decode_key_id(bytes: [u8; 3]) -> u32 {
    u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]])
}

/// A one-time prekey: `<key><id/><value/></key>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreKey {
    /// Its id (3 bytes on the wire).
    pub id: u32,
    /// The raw public key.
    pub public: [u8; 32],
}

impl PreKey {
    /// The `<key>` node.
    ///
    /// ```
    /// use whatsapp_proto::stanza::keys::PreKey;
    /// let key = PreKey { id: 3, public: [8; 32] };
    /// assert_eq!(PreKey::parse(&key.node()), Ok(key));
    /// ```
    pub fn node(&self) -> Node {
        Node::new("key").children([
            Node::new("id").bytes(encode_key_id(self.id).to_vec()),
            Node::new("value").bytes(self.public.to_vec()),
        ])
    }

    /// Reads a `<key>` node.
    ///
    /// ```
    /// use whatsapp_proto::binary::Node;
    /// use whatsapp_proto::stanza::{StanzaError, keys::PreKey};
    /// let short = Node::new("key").children([Node::new("id").bytes(vec![1])]);
    /// assert!(matches!(PreKey::parse(&short), Err(StanzaError::BadLength { part: "key/id", .. })));
    /// ```
    pub fn parse(key: &Node) -> Result<PreKey, StanzaError> {
        Ok(PreKey {
            id: decode_key_id(fixed(key, "id", "key/id")?),
            public: fixed(key, "value", "key/value")?,
        })
    }
}

/// The signed prekey: `<skey><id/><value/><signature/></skey>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedPreKey {
    /// Its id (3 bytes on the wire).
    pub id: u32,
    /// The raw public key.
    pub public: [u8; 32],
    /// XEdDSA signature of `05 ‖ public` by the identity key.
    pub signature: [u8; 64],
}

impl SignedPreKey {
    /// The `<skey>` node.
    ///
    /// ```
    /// use whatsapp_proto::stanza::keys::SignedPreKey;
    /// let skey = SignedPreKey { id: 1, public: [7; 32], signature: [6; 64] };
    /// assert_eq!(SignedPreKey::parse(&skey.node()), Ok(skey));
    /// ```
    pub fn node(&self) -> Node {
        Node::new("skey").children([
            Node::new("id").bytes(encode_key_id(self.id).to_vec()),
            Node::new("value").bytes(self.public.to_vec()),
            Node::new("signature").bytes(self.signature.to_vec()),
        ])
    }

    /// Reads an `<skey>` node.
    ///
    /// ```
    /// use whatsapp_proto::binary::Node;
    /// use whatsapp_proto::stanza::{StanzaError, keys::SignedPreKey};
    /// let unsigned = Node::new("skey").children([
    ///     Node::new("id").bytes(vec![0, 0, 1]),
    ///     Node::new("value").bytes(vec![7; 32]),
    /// ]);
    /// assert_eq!(
    ///     SignedPreKey::parse(&unsigned),
    ///     Err(StanzaError::Missing { part: "skey/signature" })
    /// );
    /// ```
    pub fn parse(skey: &Node) -> Result<SignedPreKey, StanzaError> {
        Ok(SignedPreKey {
            id: decode_key_id(fixed(skey, "id", "skey/id")?),
            public: fixed(skey, "value", "skey/value")?,
            signature: fixed(skey, "signature", "skey/signature")?,
        })
    }
}

/// What a device publishes so that others can start a session with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBundle {
    /// The device's registration id (`<registration>`, 4 bytes).
    pub registration_id: u32,
    /// The raw identity public key.
    pub identity: [u8; 32],
    /// A one-time prekey, when the server (or the retrying device) hands one out.
    pub prekey: Option<PreKey>,
    /// The signed prekey.
    pub signed_prekey: SignedPreKey,
    /// The device's ADVSignedDeviceIdentity (`<device-identity>`), when sent.
    pub device_identity: Option<Vec<u8>>,
}

impl KeyBundle {
    /// The key nodes, in the order whatsmeow writes them: `<type>`, `<identity>`, `<key>`
    /// (if any), `<skey>`, `<device-identity>` (if any). The content of a retry receipt's
    /// `<keys>`; a fetch answer's `<user>` holds them after its `<registration>`.
    ///
    /// ```
    /// # use whatsapp_proto::stanza::keys::{KeyBundle as B, PreKey as P, SignedPreKey as S};
    /// # let bundle = B { registration_id: 7, identity: [9; 32], prekey: Some(P { id: 3, public: [8; 32] }),
    /// #     signed_prekey: S { id: 1, public: [7; 32], signature: [6; 64] }, device_identity: None };
    /// let tags: Vec<String> = bundle.key_nodes().iter().map(|n| n.tag.to_string()).collect();
    /// assert_eq!(tags, ["type", "identity", "key", "skey"]);
    /// ```
    pub fn key_nodes(&self) -> Vec<Node> {
        let mut nodes = vec![
            Node::new("type").bytes(vec![DJB_TYPE]),
            Node::new("identity").bytes(self.identity.to_vec()),
        ];
        nodes.extend(self.prekey.map(|p| p.node()));
        nodes.push(self.signed_prekey.node());
        if let Some(identity) = &self.device_identity {
            nodes.push(Node::new("device-identity").bytes(identity.clone()));
        }
        nodes
    }

    /// `<registration>`: the registration id as 4 big-endian bytes.
    ///
    /// ```
    /// # use whatsapp_proto::stanza::keys::{KeyBundle as B, PreKey as P, SignedPreKey as S};
    /// # let bundle = B { registration_id: 7, identity: [9; 32], prekey: Some(P { id: 3, public: [8; 32] }),
    /// #     signed_prekey: S { id: 1, public: [7; 32], signature: [6; 64] }, device_identity: None };
    /// assert_eq!(bundle.registration_node().content_bytes(), Some(&[0, 0, 0, 7][..]));
    /// ```
    pub fn registration_node(&self) -> Node {
        registration_node(self.registration_id)
    }

    /// `<keys>` of a retry receipt (part 2 §6.2); its `<registration>` goes beside it.
    ///
    /// ```
    /// use whatsapp_proto::binary::Node;
    /// use whatsapp_proto::stanza::keys::KeyBundle;
    /// # use whatsapp_proto::stanza::keys::{KeyBundle as B, PreKey as P, SignedPreKey as S};
    /// # let bundle = B { registration_id: 7, identity: [9; 32], prekey: Some(P { id: 3, public: [8; 32] }),
    /// #     signed_prekey: S { id: 1, public: [7; 32], signature: [6; 64] }, device_identity: None };
    /// let receipt = Node::new("receipt").children([bundle.registration_node(), bundle.keys_node()]);
    /// assert_eq!(KeyBundle::parse(&receipt), Ok(bundle));
    /// ```
    pub fn keys_node(&self) -> Node {
        Node::new("keys").children(self.key_nodes())
    }

    /// A `<user>` of a prekey fetch answer (part 2 §2.3): registration, then the keys.
    ///
    /// ```
    /// use whatsapp_proto::stanza::keys::KeyBundle;
    /// # use whatsapp_proto::stanza::keys::{KeyBundle as B, PreKey as P, SignedPreKey as S};
    /// # let bundle = B { registration_id: 7, identity: [9; 32], prekey: Some(P { id: 3, public: [8; 32] }),
    /// #     signed_prekey: S { id: 1, public: [7; 32], signature: [6; 64] }, device_identity: None };
    /// let jid: whatsapp_proto::jid::Jid = "15551234567:2@s.whatsapp.net".parse().unwrap();
    /// assert_eq!(KeyBundle::parse(&bundle.user_node(jid)), Ok(bundle));
    /// ```
    pub fn user_node(&self, jid: Jid) -> Node {
        Node::new("user")
            .attr("jid", jid)
            .children(std::iter::once(self.registration_node()).chain(self.key_nodes()))
    }

    /// Reads a bundle: `<registration>` from `node`, the keys from its `<keys>` child when it
    /// has one (a retry receipt, some fetch answers; whatsmeow `nodeToPreKeyBundle`) or from
    /// `node` itself. A `<type>`, when present, must be `05`; a `<user>` carrying an
    /// `<error>` (no bundle on the server) is refused as such.
    ///
    /// ```
    /// use whatsapp_proto::binary::Node;
    /// use whatsapp_proto::stanza::{StanzaError, keys::KeyBundle};
    /// let broken = Node::new("user").children([Node::new("registration").bytes(vec![1])]);
    /// assert_eq!(
    ///     KeyBundle::parse(&broken),
    ///     Err(StanzaError::BadLength { part: "registration", expected: 4, got: 1 })
    /// );
    /// ```
    pub fn parse(node: &Node) -> Result<KeyBundle, StanzaError> {
        if node.child("error").is_some() {
            return Err(StanzaError::Invalid {
                part: "error",
                reason: "the server has no bundle for this device",
            });
        }
        let registration: [u8; 4] = fixed(node, "registration", "registration")?;
        let keys = node.child("keys").unwrap_or(node);
        if keys.child("type").is_some() {
            check_key_type(keys)?;
        }
        let device_identity = keys
            .child("device-identity")
            .or_else(|| node.child("device-identity"))
            .and_then(Node::content_bytes)
            .map(<[u8]>::to_vec);
        Ok(KeyBundle {
            registration_id: u32::from_be_bytes(registration),
            identity: fixed(keys, "identity", "identity")?,
            prekey: keys.child("key").map(PreKey::parse).transpose()?,
            signed_prekey: SignedPreKey::parse(required(keys, "skey", "skey")?)?,
            device_identity,
        })
    }

    /// The bundle as the Signal session builder takes it.
    ///
    /// ```
    /// # use whatsapp_proto::stanza::keys::{KeyBundle as B, PreKey as P, SignedPreKey as S};
    /// # let bundle = B { registration_id: 7, identity: [9; 32], prekey: Some(P { id: 3, public: [8; 32] }),
    /// #     signed_prekey: S { id: 1, public: [7; 32], signature: [6; 64] }, device_identity: None };
    /// let signal = bundle.to_signal();
    /// assert_eq!(signal.registration_id, 7);
    /// assert_eq!(signal.prekey.map(|(id, _)| id), Some(3));
    /// ```
    pub fn to_signal(&self) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            identity_key: PublicKey::from_raw(self.identity),
            signed_prekey_id: self.signed_prekey.id,
            signed_prekey: PublicKey::from_raw(self.signed_prekey.public),
            signed_prekey_signature: self.signed_prekey.signature,
            prekey: self.prekey.map(|p| (p.id, PublicKey::from_raw(p.public))),
        }
    }
}

/// `<registration>`: a registration id as 4 big-endian bytes (prekey uploads, fetch
/// answers, retry receipts).
///
/// ```
/// let node = whatsapp_proto::stanza::keys::registration_node(0x0102);
/// assert_eq!(node.content_bytes(), Some(&[0, 0, 1, 2][..]));
/// ```
pub fn registration_node(registration_id: u32) -> Node {
    Node::new("registration").bytes(registration_id.to_be_bytes().to_vec())
}

fn check_key_type(node: &Node) -> Result<(), StanzaError> {
    let [key_type] = fixed::<1>(node, "type", "type")?;
    if key_type != DJB_TYPE {
        return Err(StanzaError::Invalid {
            part: "type",
            reason: "key type is not 05 (Curve25519)",
        });
    }
    Ok(())
}

/// The prekey fetch IQ for `devices` (part 2 §2.3; whatsmeow `fetchPreKeys` asks with
/// `reason="identity"`). The caller sets the IQ id.
///
/// ```
/// let jid: whatsapp_proto::jid::Jid = "15551234567:2@s.whatsapp.net".parse().unwrap();
/// let iq = whatsapp_proto::stanza::keys::fetch_query(&[jid.clone()]);
/// assert_eq!(whatsapp_proto::stanza::keys::parse_fetch_query(&iq), Ok(vec![jid]));
/// ```
pub fn fetch_query(devices: &[Jid]) -> Node {
    let users = devices.iter().map(|d| {
        Node::new("user")
            .attr("jid", d.clone())
            .attr("reason", "identity")
    });
    Node::new("iq")
        .attr("xmlns", "encrypt")
        .attr("type", "get")
        .attr("to", Jid::server_jid())
        .children([Node::new("key").children(users)])
}

/// The devices a prekey fetch IQ asks for (the server's side of [`fetch_query`]).
///
/// ```
/// use whatsapp_proto::binary::Node;
/// use whatsapp_proto::stanza::{StanzaError, keys::parse_fetch_query};
/// assert_eq!(parse_fetch_query(&Node::new("iq")), Err(StanzaError::Missing { part: "key" }));
/// ```
pub fn parse_fetch_query(iq: &Node) -> Result<Vec<Jid>, StanzaError> {
    required(iq, "key", "key")?
        .children_by_tag("user")
        .map(|user| {
            user.attrs().jid("jid").map_err(|_| StanzaError::Invalid {
                part: "key/user@jid",
                reason: "not a JID",
            })
        })
        .collect()
}

/// A fetch answer's `<user>` for a device the server has no bundle for (404).
///
/// ```
/// use whatsapp_proto::stanza::keys::{KeyBundle, missing_bundle_user};
/// let jid: whatsapp_proto::jid::Jid = "15551234567:2@s.whatsapp.net".parse().unwrap();
/// assert!(KeyBundle::parse(&missing_bundle_user(jid)).is_err());
/// ```
pub fn missing_bundle_user(jid: Jid) -> Node {
    Node::new("user")
        .attr("jid", jid)
        .children([Node::new("error")
            .attr("code", 404u16)
            .attr("text", "item-not-found")])
}

/// Each `<user>` of a prekey fetch answer with its bundle, or why it has none. An error
/// when the answer has no `<list>`; users without a readable `jid` are skipped.
///
/// ```
/// use whatsapp_proto::binary::Node;
/// # use whatsapp_proto::stanza::keys::{KeyBundle as B, PreKey as P, SignedPreKey as S};
/// # let bundle = B { registration_id: 7, identity: [9; 32], prekey: Some(P { id: 3, public: [8; 32] }),
/// #     signed_prekey: S { id: 1, public: [7; 32], signature: [6; 64] }, device_identity: None };
/// let jid: whatsapp_proto::jid::Jid = "15551234567:2@s.whatsapp.net".parse().unwrap();
/// let answer = Node::new("iq").children([Node::new("list").children([bundle.user_node(jid.clone())])]);
/// let users = whatsapp_proto::stanza::keys::parse_fetch_answer(&answer).unwrap();
/// assert_eq!(users, vec![(jid, Ok(bundle))]);
/// ```
#[allow(clippy::type_complexity)]
pub fn parse_fetch_answer(
    answer: &Node,
) -> Result<Vec<(Jid, Result<KeyBundle, StanzaError>)>, StanzaError> {
    Ok(required(answer, "list", "list")?
        .children_by_tag("user")
        .filter_map(|user| {
            let jid = user.attrs().jid("jid").ok()?;
            Some((jid, KeyBundle::parse(user)))
        })
        .collect())
}

/// The prekey upload IQ (part 2 §2.1): registration, key type, identity, a `<list>` of
/// one-time prekeys and the signed prekey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyUpload {
    /// The uploading device's registration id.
    pub registration_id: u32,
    /// Its raw identity public key.
    pub identity: [u8; 32],
    /// The one-time prekeys.
    pub prekeys: Vec<PreKey>,
    /// Its signed prekey.
    pub signed_prekey: SignedPreKey,
}

impl PreKeyUpload {
    /// The `<iq xmlns="encrypt" type="set">` (the caller sets its id).
    ///
    /// ```
    /// use whatsapp_proto::stanza::keys::{PreKey, PreKeyUpload, SignedPreKey};
    /// let upload = PreKeyUpload {
    ///     registration_id: 7,
    ///     identity: [9; 32],
    ///     prekeys: vec![PreKey { id: 1, public: [1; 32] }, PreKey { id: 2, public: [2; 32] }],
    ///     signed_prekey: SignedPreKey { id: 1, public: [7; 32], signature: [6; 64] },
    /// };
    /// assert_eq!(PreKeyUpload::parse(&upload.iq()), Ok(upload));
    /// ```
    pub fn iq(&self) -> Node {
        Node::new("iq")
            .attr("xmlns", "encrypt")
            .attr("type", "set")
            .attr("to", Jid::server_jid())
            .children([
                registration_node(self.registration_id),
                Node::new("type").bytes(vec![DJB_TYPE]),
                Node::new("identity").bytes(self.identity.to_vec()),
                Node::new("list").children(self.prekeys.iter().map(PreKey::node)),
                self.signed_prekey.node(),
            ])
    }

    /// Reads an upload IQ (the server's side); every part is required and the key type
    /// must be `05`. A missing `<list>` is an empty one.
    ///
    /// ```
    /// use whatsapp_proto::binary::Node;
    /// use whatsapp_proto::stanza::{StanzaError, keys::PreKeyUpload};
    /// let iq = Node::new("iq").children([Node::new("registration").bytes(vec![0, 0, 0, 1])]);
    /// assert_eq!(PreKeyUpload::parse(&iq), Err(StanzaError::Missing { part: "type" }));
    /// ```
    pub fn parse(iq: &Node) -> Result<PreKeyUpload, StanzaError> {
        let registration: [u8; 4] = fixed(iq, "registration", "registration")?;
        check_key_type(iq)?;
        let identity = fixed(iq, "identity", "identity")?;
        let prekeys = match iq.child("list") {
            Some(list) => list
                .children_by_tag("key")
                .map(PreKey::parse)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(PreKeyUpload {
            registration_id: u32::from_be_bytes(registration),
            identity,
            prekeys,
            signed_prekey: SignedPreKey::parse(required(iq, "skey", "skey")?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> KeyBundle {
        KeyBundle {
            registration_id: 7,
            identity: [9; 32],
            prekey: Some(PreKey {
                id: 3,
                public: [8; 32],
            }),
            signed_prekey: SignedPreKey {
                id: 1,
                public: [7; 32],
                signature: [6; 64],
            },
            device_identity: Some(vec![1, 2, 3]),
        }
    }

    fn jid() -> Jid {
        "15551234567:2@s.whatsapp.net".parse().unwrap()
    }

    #[test]
    fn key_ids_take_three_bytes_big_endian() {
        assert_eq!(encode_key_id(0x00ab_cdef), [0xab, 0xcd, 0xef]);
        assert_eq!(encode_key_id(1), [0, 0, 1]);
        for id in [1, 255, 256, 0x00ff_ffff] {
            assert_eq!(decode_key_id(encode_key_id(id)), id);
        }
    }

    #[test]
    fn a_bundle_round_trips_as_a_fetch_answer_and_as_a_retry_receipt() {
        let b = bundle();
        assert_eq!(KeyBundle::parse(&b.user_node(jid())), Ok(b.clone()));
        let receipt = Node::new("receipt").children([
            Node::new("retry"),
            b.registration_node(),
            b.keys_node(),
        ]);
        assert_eq!(KeyBundle::parse(&receipt), Ok(b.clone()));
        let without_prekey = KeyBundle {
            prekey: None,
            device_identity: None,
            ..b
        };
        assert_eq!(
            KeyBundle::parse(&without_prekey.user_node(jid())),
            Ok(without_prekey)
        );
    }

    #[test]
    fn the_fetch_answer_layout_is_whatsmeows() {
        let user = bundle().user_node(jid());
        let tags: Vec<&str> = user.child_nodes().iter().map(|n| n.tag.as_str()).collect();
        assert_eq!(
            tags,
            [
                "registration",
                "type",
                "identity",
                "key",
                "skey",
                "device-identity"
            ]
        );
        assert_eq!(
            user.child("type").unwrap().content_bytes(),
            Some(&[5u8][..])
        );
        assert_eq!(
            user.path(&["key", "id"]).unwrap().content_bytes(),
            Some(&[0, 0, 3][..])
        );
    }

    #[test]
    fn each_missing_part_is_named() {
        let full = bundle().user_node(jid());
        for (tag, part) in [
            ("registration", "registration"),
            ("identity", "identity"),
            ("skey", "skey"),
        ] {
            let children: Vec<Node> = full
                .child_nodes()
                .iter()
                .filter(|n| n.tag.as_str() != tag)
                .cloned()
                .collect();
            let user = Node::new("user").children(children);
            assert_eq!(
                KeyBundle::parse(&user),
                Err(StanzaError::Missing { part }),
                "{tag}"
            );
        }
    }

    #[test]
    fn wrong_lengths_and_types_are_refused() {
        let mut b = bundle().user_node(jid());
        let replace = |node: &Node, tag: &str, with: Node| {
            Node::new("user").children(node.child_nodes().iter().map(|n| {
                if n.tag.as_str() == tag {
                    with.clone()
                } else {
                    n.clone()
                }
            }))
        };
        let short_identity = replace(&b, "identity", Node::new("identity").bytes(vec![9; 33]));
        assert_eq!(
            KeyBundle::parse(&short_identity),
            Err(StanzaError::BadLength {
                part: "identity",
                expected: 32,
                got: 33
            })
        );
        let bad_type = replace(&b, "type", Node::new("type").bytes(vec![6]));
        assert!(matches!(
            KeyBundle::parse(&bad_type),
            Err(StanzaError::Invalid { part: "type", .. })
        ));
        let short_signature = replace(
            &b,
            "skey",
            Node::new("skey").children([
                Node::new("id").bytes(vec![0, 0, 1]),
                Node::new("value").bytes(vec![7; 32]),
                Node::new("signature").bytes(vec![6; 63]),
            ]),
        );
        assert_eq!(
            KeyBundle::parse(&short_signature),
            Err(StanzaError::BadLength {
                part: "skey/signature",
                expected: 64,
                got: 63
            })
        );
        let long_id = replace(
            &b,
            "key",
            Node::new("key").children([
                Node::new("id").bytes(vec![0, 0, 0, 3]),
                Node::new("value").bytes(vec![8; 32]),
            ]),
        );
        assert!(matches!(
            KeyBundle::parse(&long_id),
            Err(StanzaError::BadLength { part: "key/id", .. })
        ));
        b = missing_bundle_user(jid());
        assert!(matches!(
            KeyBundle::parse(&b),
            Err(StanzaError::Invalid { part: "error", .. })
        ));
    }

    #[test]
    fn fetch_query_and_answer() {
        let iq = fetch_query(&[jid()]);
        assert_eq!(iq.attrs().optional_str("xmlns"), Some("encrypt"));
        assert_eq!(
            iq.path(&["key", "user"])
                .and_then(|u| u.attrs().optional_str("reason")),
            Some("identity")
        );
        assert_eq!(parse_fetch_query(&iq), Ok(vec![jid()]));
        let other: Jid = "15550000000:1@s.whatsapp.net".parse().unwrap();
        let answer = Node::new("iq").children([Node::new("list").children([
            bundle().user_node(jid()),
            missing_bundle_user(other.clone()),
        ])]);
        let users = parse_fetch_answer(&answer).unwrap();
        assert_eq!(users[0], (jid(), Ok(bundle())));
        assert_eq!(users[1].0, other);
        assert!(users[1].1.is_err());
        assert_eq!(
            parse_fetch_answer(&Node::new("iq")),
            Err(StanzaError::Missing { part: "list" })
        );
    }

    #[test]
    fn uploads_round_trip_and_need_every_part() {
        let upload = PreKeyUpload {
            registration_id: 0x3fff,
            identity: [9; 32],
            prekeys: (1..=3)
                .map(|id| PreKey {
                    id,
                    public: [id as u8; 32],
                })
                .collect(),
            signed_prekey: bundle().signed_prekey,
        };
        let iq = upload.iq();
        assert_eq!(PreKeyUpload::parse(&iq), Ok(upload.clone()));
        let without_skey = Node::new("iq").children(
            iq.child_nodes()
                .iter()
                .filter(|n| n.tag.as_str() != "skey")
                .cloned(),
        );
        assert_eq!(
            PreKeyUpload::parse(&without_skey),
            Err(StanzaError::Missing { part: "skey" })
        );
        let bad_key = Node::new("iq").children(iq.child_nodes().iter().map(|n| {
            if n.tag.as_str() == "list" {
                Node::new("list").children([Node::new("key").children([
                    Node::new("id").bytes(vec![0, 1]),
                    Node::new("value").bytes(vec![1; 32]),
                ])])
            } else {
                n.clone()
            }
        }));
        assert_eq!(
            PreKeyUpload::parse(&bad_key),
            Err(StanzaError::BadLength {
                part: "key/id",
                expected: 3,
                got: 2
            })
        );
    }

    #[test]
    fn the_signal_bundle_carries_every_key() {
        let signal = bundle().to_signal();
        assert_eq!(signal.identity_key, PublicKey::from_raw([9; 32]));
        assert_eq!(signal.signed_prekey_id, 1);
        assert_eq!(signal.signed_prekey, PublicKey::from_raw([7; 32]));
        assert_eq!(signal.signed_prekey_signature, [6; 64]);
        assert_eq!(signal.prekey, Some((3, PublicKey::from_raw([8; 32]))));
    }
}
