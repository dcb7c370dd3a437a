//! The usync query (part 2 §3.1–3.2; whatsmeow `usync.go`): which devices, LID and
//! registration state a list of users has, and the server's answer.

use crate::binary::{Content, Node};
use crate::jid::Jid;

use super::{StanzaError, required};

/// What a usync query asks about each user (the children of its `<query>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsyncProtocol {
    /// `<devices version="2"/>`: the device list and the signed key-index list.
    Devices,
    /// `<lid/>`: the user's LID.
    Lid,
    /// `<contact/>`: whether a phone number is on WhatsApp.
    Contact,
}

impl UsyncProtocol {
    fn node(self) -> Node {
        match self {
            UsyncProtocol::Devices => Node::new("devices").attr("version", "2"),
            UsyncProtocol::Lid => Node::new("lid"),
            UsyncProtocol::Contact => Node::new("contact"),
        }
    }

    fn of(tag: &str) -> Option<UsyncProtocol> {
        match tag {
            "devices" => Some(UsyncProtocol::Devices),
            "lid" => Some(UsyncProtocol::Lid),
            "contact" => Some(UsyncProtocol::Contact),
            _ => None,
        }
    }
}

/// One user a query names: by JID, or by a phone number to look up (`<contact>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsyncUser {
    /// `<user jid="…"/>`.
    Jid(Jid),
    /// `<user><contact>+15551234567</contact></user>`.
    Contact(String),
}

/// A usync query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsyncQuery {
    /// The session id the answer echoes (whatsmeow makes it like a message id).
    pub sid: String,
    /// `mode`: `query` for a lookup, `full`/`delta` for contact syncs.
    pub mode: String,
    /// `context`: `message` before a send, `interactive` for a user's lookup.
    pub context: String,
    /// What is asked about each user.
    pub protocols: Vec<UsyncProtocol>,
    /// Whom it is asked about.
    pub users: Vec<UsyncUser>,
}

impl UsyncQuery {
    /// The device-list query a sender makes before fanning out (mode `query`, context
    /// `message`); the users' device parts are dropped.
    ///
    /// ```
    /// use whatsapp_proto::stanza::usync::{UsyncProtocol, UsyncQuery};
    /// let user: whatsapp_proto::jid::Jid = "15551234567:3@s.whatsapp.net".parse().unwrap();
    /// let query = UsyncQuery::devices("S1", &[user]);
    /// assert_eq!(query.protocols, [UsyncProtocol::Devices]);
    /// assert_eq!(UsyncQuery::parse(&query.iq()), Ok(query));
    /// ```
    pub fn devices(sid: impl Into<String>, users: &[Jid]) -> UsyncQuery {
        UsyncQuery {
            sid: sid.into(),
            mode: "query".into(),
            context: "message".into(),
            protocols: vec![UsyncProtocol::Devices],
            users: users
                .iter()
                .map(|u| UsyncUser::Jid(u.to_non_ad()))
                .collect(),
        }
    }

    /// Whether the query asks for `protocol`.
    ///
    /// ```
    /// use whatsapp_proto::stanza::usync::{UsyncProtocol, UsyncQuery};
    /// let query = UsyncQuery::devices("S1", &[]);
    /// assert!(query.wants(UsyncProtocol::Devices) && !query.wants(UsyncProtocol::Lid));
    /// ```
    pub fn wants(&self, protocol: UsyncProtocol) -> bool {
        self.protocols.contains(&protocol)
    }

    /// The `<iq xmlns="usync" type="get">` (the caller sets its id).
    ///
    /// ```
    /// let iq = whatsapp_proto::stanza::usync::UsyncQuery::devices("S1", &[]).iq();
    /// assert_eq!(iq.path(&["usync"]).unwrap().attrs().optional_str("sid"), Some("S1"));
    /// ```
    pub fn iq(&self) -> Node {
        let users = self.users.iter().map(|u| match u {
            UsyncUser::Jid(jid) => Node::new("user").attr("jid", jid.clone()),
            UsyncUser::Contact(phone) => {
                Node::new("user").children([Node::new("contact").text(phone.clone())])
            }
        });
        Node::new("iq")
            .attr("xmlns", "usync")
            .attr("type", "get")
            .attr("to", Jid::server_jid())
            .children([Node::new("usync")
                .attr("sid", self.sid.clone())
                .attr("mode", self.mode.clone())
                .attr("last", "true")
                .attr("index", "0")
                .attr("context", self.context.clone())
                .children([
                    Node::new("query").children(self.protocols.iter().map(|p| p.node())),
                    Node::new("list").children(users),
                ])])
    }

    /// Reads a query IQ (the server's side). Unknown protocols are ignored; a user with a
    /// malformed `jid`, or with neither a `jid` nor a `<contact>`, is refused.
    ///
    /// ```
    /// use whatsapp_proto::binary::Node;
    /// use whatsapp_proto::stanza::{StanzaError, usync::UsyncQuery};
    /// let iq = Node::new("iq").children([Node::new("usync").children([
    ///     Node::new("list").children([Node::new("user")]),
    /// ])]);
    /// assert!(matches!(UsyncQuery::parse(&iq), Err(StanzaError::Missing { part: "usync/list/user@jid" })));
    /// ```
    pub fn parse(iq: &Node) -> Result<UsyncQuery, StanzaError> {
        let usync = required(iq, "usync", "usync")?;
        let attrs = usync.attrs();
        let protocols = usync
            .child("query")
            .map(|q| {
                q.child_nodes()
                    .iter()
                    .filter_map(|p| UsyncProtocol::of(p.tag.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let mut users = Vec::new();
        for user in usync
            .child("list")
            .into_iter()
            .flat_map(|l| l.children_by_tag("user"))
        {
            let jid = user
                .attrs()
                .optional_jid("jid")
                .map_err(|_| StanzaError::Invalid {
                    part: "usync/list/user@jid",
                    reason: "not a JID",
                })?;
            let contact = user.child("contact").and_then(|c| match &c.content {
                Content::Text(t) => Some(t.clone()),
                Content::Bytes(b) => String::from_utf8(b.clone()).ok(),
                _ => None,
            });
            users.push(match (jid, contact) {
                (Some(jid), _) => UsyncUser::Jid(jid),
                (None, Some(phone)) => UsyncUser::Contact(phone),
                (None, None) => {
                    return Err(StanzaError::Missing {
                        part: "usync/list/user@jid",
                    });
                }
            });
        }
        Ok(UsyncQuery {
            sid: attrs.optional_string("sid").unwrap_or_default(),
            mode: attrs.optional_string("mode").unwrap_or_default(),
            context: attrs.optional_string("context").unwrap_or_default(),
            protocols,
            users,
        })
    }
}

/// One device of a `<device-list>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedDevice {
    /// The device number (0 is the phone).
    pub id: u16,
    /// Its ADV key index (companions only).
    pub key_index: Option<u32>,
    /// `is_hosted`: a device hosted by Meta for a business (Cloud API), addressed on the
    /// `hosted`/`hosted.lid` servers and left out of group fan-out (whatsmeow `user.go
    /// parseDeviceList`, `send.go prepareMessageNode`).
    pub hosted: bool,
}

/// The account's signed key-index list (`<key-index-list ts>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIndexList {
    /// When it was signed (unix seconds).
    pub ts: u64,
    /// The serialized ADVSignedKeyIndexList.
    pub signed: Vec<u8>,
}

/// A user's `<devices>` in a usync answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceList {
    /// The server's participant hash of the list (`device-list@hash`).
    pub hash: Option<String>,
    /// The devices.
    pub devices: Vec<ListedDevice>,
    /// The signed key-index list, when the account has companions' indexes to vouch for.
    pub key_index_list: Option<KeyIndexList>,
}

/// One `<user>` of a usync answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsyncUserResult {
    /// The user (as asked, or the number a contact lookup resolved to).
    pub jid: Jid,
    /// For a LID user, its phone-number JID (`pn_jid`).
    pub pn_jid: Option<Jid>,
    /// For a contact query: whether the number is on WhatsApp (`<contact type="in">`).
    pub contact: Option<bool>,
    /// For a device query: the devices.
    pub devices: Option<DeviceList>,
    /// For a LID query: the user's LID (`<lid val>`).
    pub lid: Option<Jid>,
}

impl UsyncUserResult {
    /// A result naming only `jid`; the caller fills what was asked.
    ///
    /// ```
    /// let jid = whatsapp_proto::jid::Jid::user("15551234567");
    /// let user = whatsapp_proto::stanza::usync::UsyncUserResult::new(jid.clone());
    /// assert_eq!(user.jid, jid);
    /// assert!(user.devices.is_none());
    /// ```
    pub fn new(jid: Jid) -> UsyncUserResult {
        UsyncUserResult {
            jid,
            pn_jid: None,
            contact: None,
            devices: None,
            lid: None,
        }
    }

    fn node(&self) -> Node {
        let mut children = Vec::new();
        if let Some(known) = self.contact {
            children.push(Node::new("contact").attr("type", if known { "in" } else { "out" }));
        }
        if let Some(list) = &self.devices {
            let devices = list.devices.iter().map(|d| {
                Node::new("device")
                    .attr("id", d.id)
                    .attr_opt("key-index", d.key_index)
                    .attr_opt("is_hosted", d.hosted.then_some("true"))
            });
            let mut inner = vec![
                Node::new("device-list")
                    .attr_opt("hash", list.hash.clone())
                    .children(devices),
            ];
            if let Some(k) = &list.key_index_list {
                inner.push(
                    Node::new("key-index-list")
                        .attr("ts", k.ts)
                        .bytes(k.signed.clone()),
                );
            }
            children.push(Node::new("devices").children(inner));
        }
        if let Some(lid) = &self.lid {
            children.push(Node::new("lid").attr("val", lid.clone()));
        }
        Node::new("user")
            .attr("jid", self.jid.clone())
            .attr_opt("pn_jid", self.pn_jid.clone())
            .children(children)
    }

    fn parse(user: &Node) -> Option<UsyncUserResult> {
        let attrs = user.attrs();
        let devices = user.child("devices").and_then(|d| {
            let list = d.child("device-list")?;
            Some(DeviceList {
                hash: list.attrs().optional_string("hash"),
                devices: list
                    .children_by_tag("device")
                    .filter_map(|device| {
                        let attrs = device.attrs();
                        Some(ListedDevice {
                            id: u16::try_from(attrs.optional_u64("id").ok()??).ok()?,
                            key_index: attrs
                                .optional_u64("key-index")
                                .ok()
                                .flatten()
                                .and_then(|k| u32::try_from(k).ok()),
                            // Go's strconv.ParseBool, as whatsmeow's AttrGetter.Bool reads it.
                            hosted: matches!(
                                attrs.optional_str("is_hosted"),
                                Some("true" | "1" | "t" | "T" | "TRUE" | "True")
                            ),
                        })
                    })
                    .collect(),
                key_index_list: d.child("key-index-list").and_then(|k| {
                    Some(KeyIndexList {
                        ts: k.attrs().optional_u64("ts").ok().flatten().unwrap_or(0),
                        signed: k.content_bytes()?.to_vec(),
                    })
                }),
            })
        });
        Some(UsyncUserResult {
            jid: attrs.jid("jid").ok()?,
            pn_jid: attrs.optional_jid("pn_jid").ok().flatten(),
            contact: user
                .child("contact")
                .and_then(|c| c.attrs().optional_str("type").map(|t| t == "in")),
            devices,
            lid: user
                .child("lid")
                .and_then(|l| l.attrs().optional_jid("val").ok().flatten()),
        })
    }
}

/// A usync answer: the query's `sid`, `mode` and `context` echoed, one result per user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsyncResult {
    /// The query's session id.
    pub sid: String,
    /// The query's mode.
    pub mode: String,
    /// The query's context.
    pub context: String,
    /// The users.
    pub users: Vec<UsyncUserResult>,
}

impl UsyncResult {
    /// An answer to `query` with `users`.
    ///
    /// ```
    /// use whatsapp_proto::stanza::usync::{UsyncQuery, UsyncResult};
    /// let answer = UsyncResult::answering(&UsyncQuery::devices("S1", &[]), Vec::new());
    /// assert_eq!(answer.sid, "S1");
    /// ```
    pub fn answering(query: &UsyncQuery, users: Vec<UsyncUserResult>) -> UsyncResult {
        UsyncResult {
            sid: query.sid.clone(),
            mode: query.mode.clone(),
            context: query.context.clone(),
            users,
        }
    }

    /// The `<usync>` child of the result IQ (the server's side). Empty echoed attributes
    /// are left out.
    ///
    /// ```
    /// use whatsapp_proto::binary::Node;
    /// use whatsapp_proto::jid::Jid;
    /// use whatsapp_proto::stanza::usync::*;
    /// let mut user = UsyncUserResult::new(Jid::user("15551234567"));
    /// user.devices = Some(DeviceList {
    ///     devices: vec![ListedDevice { id: 0, key_index: None, hosted: false }],
    ///     ..Default::default()
    /// });
    /// let answer = UsyncResult::answering(&UsyncQuery::devices("S1", &[]), vec![user]);
    /// let iq = Node::new("iq").children([answer.usync_node()]);
    /// assert_eq!(UsyncResult::parse(&iq), Ok(answer));
    /// ```
    pub fn usync_node(&self) -> Node {
        let nonempty = |s: &String| (!s.is_empty()).then(|| s.clone());
        Node::new("usync")
            .attr_opt("sid", nonempty(&self.sid))
            .attr_opt("mode", nonempty(&self.mode))
            .attr_opt("context", nonempty(&self.context))
            .attr("index", "0")
            .attr("last", "true")
            .children([Node::new("list").children(self.users.iter().map(|u| u.node()))])
    }

    /// Reads the answer IQ. Users without a readable `jid`, and devices without a readable
    /// `id`, are left out (whatsmeow skips them too).
    ///
    /// ```
    /// use whatsapp_proto::binary::Node;
    /// use whatsapp_proto::stanza::{StanzaError, usync::UsyncResult};
    /// assert_eq!(
    ///     UsyncResult::parse(&Node::new("iq").children([Node::new("usync")])),
    ///     Err(StanzaError::Missing { part: "usync/list" })
    /// );
    /// ```
    pub fn parse(answer: &Node) -> Result<UsyncResult, StanzaError> {
        let usync = required(answer, "usync", "usync")?;
        let list = required(usync, "list", "usync/list")?;
        let attrs = usync.attrs();
        Ok(UsyncResult {
            sid: attrs.optional_string("sid").unwrap_or_default(),
            mode: attrs.optional_string("mode").unwrap_or_default(),
            context: attrs.optional_string("context").unwrap_or_default(),
            users: list
                .children_by_tag("user")
                .filter_map(UsyncUserResult::parse)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Jid {
        "15551234567@s.whatsapp.net".parse().unwrap()
    }

    #[test]
    fn the_device_query_has_whatsmeows_shape() {
        let device: Jid = "15551234567:7@s.whatsapp.net".parse().unwrap();
        let iq = UsyncQuery::devices("S1", &[device]).iq();
        assert_eq!(iq.attrs().optional_str("xmlns"), Some("usync"));
        let usync = iq.child("usync").unwrap();
        for (key, value) in [
            ("sid", "S1"),
            ("mode", "query"),
            ("context", "message"),
            ("last", "true"),
            ("index", "0"),
        ] {
            assert_eq!(usync.attrs().optional_str(key), Some(value), "{key}");
        }
        assert_eq!(
            usync
                .path(&["query", "devices"])
                .and_then(|d| d.attrs().optional_str("version")),
            Some("2")
        );
        // The device part is dropped: the list is asked per user.
        assert_eq!(
            usync.path(&["list", "user"]).unwrap().attrs().jid("jid"),
            Ok(user())
        );
    }

    #[test]
    fn contact_queries_round_trip_and_bad_users_are_refused() {
        let query = UsyncQuery {
            sid: "S2".into(),
            mode: "query".into(),
            context: "interactive".into(),
            protocols: vec![UsyncProtocol::Contact, UsyncProtocol::Lid],
            users: vec![
                UsyncUser::Contact("+15551234567".into()),
                UsyncUser::Jid(user()),
            ],
        };
        assert_eq!(UsyncQuery::parse(&query.iq()), Ok(query));
        let bad_jid = Node::new("iq").children([Node::new("usync").children([
            Node::new("list").children([Node::new("user").attr("jid", "not@a@jid:x")])
        ])]);
        assert!(matches!(
            UsyncQuery::parse(&bad_jid),
            Err(StanzaError::Invalid {
                part: "usync/list/user@jid",
                ..
            })
        ));
        assert_eq!(
            UsyncQuery::parse(&Node::new("iq")),
            Err(StanzaError::Missing { part: "usync" })
        );
    }

    #[test]
    fn a_full_answer_round_trips() {
        let lid: Jid = "123456789@lid".parse().unwrap();
        let mut known = UsyncUserResult::new(user());
        known.contact = Some(true);
        known.lid = Some(lid.clone());
        known.devices = Some(DeviceList {
            hash: Some("2:abcdefgh".into()),
            devices: vec![
                ListedDevice {
                    id: 0,
                    key_index: None,
                    hosted: false,
                },
                ListedDevice {
                    id: 3,
                    key_index: Some(2),
                    hosted: false,
                },
                ListedDevice {
                    id: 99,
                    key_index: Some(3),
                    hosted: true,
                },
            ],
            key_index_list: Some(KeyIndexList {
                ts: 1_700_000_000,
                signed: vec![1, 2, 3],
            }),
        });
        let mut by_lid = UsyncUserResult::new(lid);
        by_lid.pn_jid = Some(user());
        by_lid.devices = Some(DeviceList::default());
        let answer = UsyncResult {
            sid: "S1".into(),
            mode: "query".into(),
            context: "message".into(),
            users: vec![known, by_lid],
        };
        let iq = Node::new("iq").children([answer.usync_node()]);
        assert_eq!(UsyncResult::parse(&iq), Ok(answer));
        // The phone (device 0) carries no key index on the wire.
        let first = iq
            .path(&["usync", "list", "user", "devices", "device-list", "device"])
            .unwrap();
        assert!(first.attr_value("key-index").is_none());
        assert!(first.attr_value("is_hosted").is_none());
        // whatsmeow reads `is_hosted` with Go's ParseBool.
        let hosted = |value: &str| {
            let iq = Node::new("iq").children([Node::new("usync").children([Node::new("list")
                .children([Node::new("user").attr("jid", user()).children([Node::new(
                    "devices",
                )
                .children([Node::new("device-list").children([Node::new("device")
                    .attr("id", 5u16)
                    .attr("is_hosted", value)])])])])])]);
            UsyncResult::parse(&iq).unwrap().users[0]
                .devices
                .as_ref()
                .unwrap()
                .devices[0]
                .hosted
        };
        assert!(hosted("true") && hosted("1"));
        assert!(!hosted("false") && !hosted("0"));
    }

    #[test]
    fn unreadable_users_and_devices_are_left_out() {
        let iq = Node::new("iq").children([Node::new("usync").children([Node::new("list")
            .children([
                Node::new("user").attr("jid", "@@"),
                Node::new("user")
                    .attr("jid", user())
                    .children([Node::new("devices").children([Node::new("device-list")
                        .children([
                            Node::new("device").attr("id", "x"),
                            Node::new("device").attr("id", 70_000u32),
                            Node::new("device").attr("id", 1u16).attr("key-index", 4u32),
                            Node::new("device").attr("id", 2u16).attr("key-index", "x"),
                        ])])]),
            ])])]);
        let answer = UsyncResult::parse(&iq).unwrap();
        assert_eq!(answer.users.len(), 1);
        assert_eq!(
            answer.users[0].devices.as_ref().unwrap().devices,
            [
                ListedDevice {
                    id: 1,
                    key_index: Some(4),
                    hosted: false,
                },
                // An unreadable key index keeps the device, without an index.
                ListedDevice {
                    id: 2,
                    key_index: None,
                    hosted: false,
                }
            ]
        );
    }
}
