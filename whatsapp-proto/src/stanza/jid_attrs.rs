//! The attributes that hold a JID. On the wire a JID attribute is a JID node (binary tags
//! 250/247/246), never a string: whatsmeow reads each of these with `AttrGetter.JID` /
//! `OptionalJID`, which refuses a string (`binary/attrs.go` `GetJID`), and answers a stanza
//! whose `from` is text with `<ack error="487">`. [`crate::binary::AttrReader::jid`] is as strict.

use crate::binary::{Node, Value};

/// Attribute names read as JIDs (whatsmeow's `ag.JID`/`OptionalJID`/`OptionalJIDOrEmpty`
/// call sites, plus `to`).
pub const JID_ATTRIBUTES: &[&str] = &[
    "from",
    "to",
    "participant",
    "recipient",
    "jid",
    "lid",
    "author",
    "creator",
    "creator_pn",
    "sender_pn",
    "sender_lid",
    "participant_pn",
    "participant_lid",
    "peer_recipient_pn",
    "peer_recipient_lid",
    "caller_pn",
    "caller_lid",
    "call-creator",
    "group-jid",
    "pn_jid",
    "s_o",
    "s_o_pn",
    "target_chat_jid",
    "target_sender_jid",
    "thread_msg_sender_jid",
];

/// Every attribute of `node` or its descendants named in [`JID_ATTRIBUTES`] whose value is
/// text rather than a JID, as `path@name=value` (empty: the stanza passes a JID-strict parse).
///
/// ```
/// use whatsapp_proto::binary::Node;
/// use whatsapp_proto::jid::Jid;
/// use whatsapp_proto::stanza::jid_attrs::text_jids;
///
/// let good = Node::new("receipt").attr("from", Jid::user("201112223334"));
/// assert!(text_jids(&good).is_empty());
/// let bad = Node::new("receipt").attr("recipient", "201112223334@s.whatsapp.net");
/// assert_eq!(text_jids(&bad), ["receipt@recipient=201112223334@s.whatsapp.net"]);
/// ```
pub fn text_jids(node: &Node) -> Vec<String> {
    let mut found = Vec::new();
    walk(node, &node.tag, &mut found);
    found
}

fn walk(node: &Node, path: &str, found: &mut Vec<String>) {
    for (name, value) in &node.attrs {
        if let Value::Text(text) = value
            && JID_ATTRIBUTES.contains(&name.as_str())
        {
            found.push(format!("{path}@{name}={text}"));
        }
    }
    for child in node.child_nodes() {
        walk(child, &format!("{path}/{}", child.tag), found);
    }
}
