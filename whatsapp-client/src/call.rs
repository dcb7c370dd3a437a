//! Calls: the `<call>` stanzas the server relays (whatsmeow `call.go` `handleCallEvent`) as
//! typed events, a missed call derived from an offer that ends unanswered, and the reject we
//! send (whatsmeow `RejectCall`).
//!
//! The `<ack class="call">` of every `<call>` goes out on arrival from the connection core
//! (`whatsapp_proto::connection::ack_for`: `class`, `id`, `to` = the stanza's `from`, plus its
//! `participant`, `recipient` and `type`), as whatsmeow's `maybeDeferredAck` sends it.

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;

use crate::context::{CallTracker, Shared};
use crate::event::{CallAction, CallEvent, CallMedia, Event};

fn media_of(child: &Node) -> CallMedia {
    match child.attrs().optional_str("media") {
        Some("video") => CallMedia::Video,
        Some("audio") => CallMedia::Audio,
        _ if child.child("video").is_some() => CallMedia::Video,
        _ if child.tag == "offer" => CallMedia::Audio,
        _ => CallMedia::Unknown,
    }
}

/// Reads a `<call>` stanza; `None` when it has no single child with a call id and creator.
fn parse(node: &Node) -> Option<(CallEvent, &Node)> {
    let attrs = node.attrs();
    let from = attrs.jid("from").ok()?;
    let [child] = node.child_nodes() else {
        return None;
    };
    let cattrs = child.attrs();
    let call_id = cattrs.optional_string("call-id")?;
    let caller = cattrs.jid("call-creator").ok()?;
    let named = |key| cattrs.optional_jid(key).ok().flatten();
    let (caller_pn, caller_lid) = if caller.is_lid() {
        (named("caller_pn"), Some(caller.to_non_ad()))
    } else {
        (Some(caller.to_non_ad()), named("caller_lid"))
    };
    let action = match child.tag.as_str() {
        "offer" => CallAction::Offer,
        "offer_notice" => CallAction::OfferNotice,
        "accept" => CallAction::Accept,
        "reject" => CallAction::Reject,
        "terminate" => CallAction::Terminate {
            reason: cattrs.optional_string("reason"),
        },
        other => CallAction::Other(other.to_owned()),
    };
    Some((
        CallEvent {
            action,
            call_id,
            from,
            caller,
            caller_pn,
            caller_lid,
            media: media_of(child),
            group: named("group-jid"),
            timestamp: attrs.optional_u64("t").ok().flatten().unwrap_or(0),
        },
        child,
    ))
}

/// The stanza's media, else the media of the call's offer.
fn known_media(calls: &CallTracker, event: &CallEvent) -> CallMedia {
    match event.media {
        CallMedia::Unknown => calls.media(&event.call_id),
        known => known,
    }
}

/// Emits the events of a `<call>` stanza (already acked by the core).
pub(crate) async fn on_call(shared: &Shared, node: &Node) {
    let Some((mut event, _)) = parse(node) else {
        tracing::debug!("call stanza not understood");
        return;
    };
    let missed = {
        let mut calls = shared.calls.lock().unwrap_or_else(|e| e.into_inner());
        if !matches!(event.action, CallAction::Terminate { .. }) {
            event.media = known_media(&calls, &event);
        }
        match &event.action {
            CallAction::Offer | CallAction::OfferNotice => {
                calls.offered(&event.call_id, event.media);
                false
            }
            CallAction::Accept | CallAction::Reject => {
                calls.answered(&event.call_id);
                false
            }
            CallAction::Terminate { .. } => {
                event.media = known_media(&calls, &event);
                calls.ended(&event.call_id)
            }
            _ => false,
        }
    };
    let missed = missed.then(|| CallEvent {
        action: CallAction::Missed,
        ..event.clone()
    });
    shared.emit(Event::Call(Box::new(event))).await;
    if let Some(missed) = missed {
        shared.emit(Event::Call(Box::new(missed))).await;
    }
}

/// The reject of a call (whatsmeow `call.go` `RejectCall`): `<call id from=us to=caller>`
/// around `<reject call-id call-creator=caller count="0"/>`, both JIDs without device.
pub(crate) fn reject_node(own: &Jid, caller: &Jid, call_id: &str, id: String) -> Node {
    let caller = caller.to_non_ad();
    Node::new("call")
        .attr("id", id)
        .attr("from", own.to_non_ad())
        .attr("to", caller.clone())
        .children([Node::new("reject")
            .attr("call-id", call_id)
            .attr("call-creator", caller)
            .attr("count", "0")])
}

/// Marks a call we reject as answered: its terminate is then no missed call.
pub(crate) fn rejected(shared: &Shared, call_id: &str) {
    shared
        .calls
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .answered(call_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(child: Node) -> Node {
        Node::new("call")
            .attr(
                "from",
                "201000000002:1@s.whatsapp.net".parse::<Jid>().unwrap(),
            )
            .attr("id", "C1")
            .attr("t", "1700000000")
            .children([child])
    }

    fn offer(id: &str, video: bool) -> Node {
        let mut offer = Node::new("offer")
            .attr("call-id", id)
            .attr("call-creator", "99887766:1@lid".parse::<Jid>().unwrap())
            .attr(
                "caller_pn",
                "201000000002@s.whatsapp.net".parse::<Jid>().unwrap(),
            );
        let mut children = vec![Node::new("audio").attr("enc", "opus")];
        if video {
            children.push(Node::new("video").attr("enc", "vp8"));
        }
        offer = offer.children(children);
        call(offer)
    }

    fn child(tag: &str, id: &str) -> Node {
        call(
            Node::new(tag)
                .attr("call-id", id)
                .attr("call-creator", "99887766:1@lid".parse::<Jid>().unwrap()),
        )
    }

    #[test]
    fn offer_is_parsed_with_caller_pn_lid_and_media() {
        let (event, _) = parse(&offer("X", true)).unwrap();
        assert_eq!(event.action, CallAction::Offer);
        assert_eq!(event.call_id, "X");
        assert_eq!(event.media, CallMedia::Video);
        assert_eq!(event.caller_lid, Some("99887766@lid".parse().unwrap()));
        assert_eq!(
            event.caller_pn,
            Some("201000000002@s.whatsapp.net".parse().unwrap())
        );
        assert_eq!(event.timestamp, 1_700_000_000);
        assert_eq!(parse(&offer("Y", false)).unwrap().0.media, CallMedia::Audio);
        assert!(parse(&Node::new("call").attr("from", "1@s.whatsapp.net")).is_none());
    }

    #[test]
    fn terminate_after_unanswered_offer_is_missed_and_after_accept_is_not() {
        let mut calls = CallTracker::default();
        for node in [offer("A", true), offer("B", false), child("accept", "B")] {
            let (event, _) = parse(&node).unwrap();
            match event.action {
                CallAction::Offer => calls.offered(&event.call_id, event.media),
                _ => calls.answered(&event.call_id),
            }
        }
        assert_eq!(calls.media("A"), CallMedia::Video);
        assert!(calls.ended("A"), "unanswered offer: missed");
        assert!(
            !calls.ended("A"),
            "a second terminate is no second missed call"
        );
        assert!(!calls.ended("B"), "accepted: not missed");
        assert!(!calls.ended("never offered"));
    }

    #[test]
    fn reject_has_whatsmeows_shape() {
        let own: Jid = "201000000001:7@s.whatsapp.net".parse().unwrap();
        let caller: Jid = "99887766:1@lid".parse().unwrap();
        let node = reject_node(&own, &caller, "CALL1", "MSGID".into());
        assert_eq!(node.tag, "call");
        let attrs = node.attrs();
        assert_eq!(attrs.optional_str("id"), Some("MSGID"));
        assert_eq!(
            attrs.jid("from").unwrap(),
            "201000000001@s.whatsapp.net".parse().unwrap()
        );
        assert_eq!(attrs.jid("to").unwrap(), "99887766@lid".parse().unwrap());
        let [reject] = node.child_nodes() else {
            panic!("one child");
        };
        assert_eq!(reject.tag, "reject");
        assert_eq!(reject.attrs().optional_str("call-id"), Some("CALL1"));
        assert_eq!(
            reject.attrs().jid("call-creator").unwrap(),
            "99887766@lid".parse().unwrap()
        );
        assert_eq!(reject.attrs().optional_str("count"), Some("0"));
    }
}
