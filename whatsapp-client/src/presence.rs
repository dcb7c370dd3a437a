//! `<presence>` and `<chatstate>` stanzas read as [`Event::Presence`] and [`Event::ChatState`].

use whatsapp_proto::binary::Node;

use crate::event::Event;

/// The event a `<presence>` or `<chatstate>` stanza carries; `None` for anything else or a
/// stanza without a JID `from`.
pub(crate) fn event_of(node: &Node) -> Option<Event> {
    let attrs = node.attrs();
    let from = attrs.jid("from").ok()?;
    match node.tag.as_str() {
        "presence" => Some(Event::Presence {
            from,
            available: attrs.optional_str("type") != Some("unavailable"),
            last_seen: attrs.optional_u64("last").ok().flatten(),
        }),
        "chatstate" => {
            let state = node.child_nodes().first()?;
            let sender = attrs.optional_jid("participant").ok().flatten();
            Some(Event::ChatState {
                sender: sender.unwrap_or_else(|| from.clone()),
                chat: from,
                composing: state.tag == "composing",
                audio: state.attrs().optional_str("media") == Some("audio"),
            })
        }
        _ => None,
    }
}
