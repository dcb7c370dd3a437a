//! `<message>` stanzas that carry `<unavailable>` instead of `<enc>`: the server could not
//! give this device the message (whatsmeow `message.go` `decryptMessages`). A view-once
//! message is never sent to linked devices, so it becomes a placeholder event only; for any
//! other kind our phone is asked to send the message again (whatsmeow `send.go`
//! `BuildUnavailableMessageRequest`, a PEER_DATA_OPERATION_REQUEST of type
//! PLACEHOLDER_MESSAGE_RESEND), and its answer (a PEER_DATA_OPERATION_REQUEST_RESPONSE,
//! handled as whatsmeow `handlePlaceholderResendResponse` does) is handed over as the
//! message.

use std::sync::Arc;

use prost::Message as _;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::{e2e, history};

use crate::context::Shared;
use crate::event::UnavailableKind;
use crate::event::{IncomingMessage, MessageInfo};

/// The kind named by `<unavailable type>`.
pub(crate) fn kind_of(unavailable: &Node) -> UnavailableKind {
    match unavailable.attrs().optional_string("type") {
        Some(t) if t == "view_once" => UnavailableKind::ViewOnce,
        other => UnavailableKind::Other(other.unwrap_or_default()),
    }
}

/// The key of a message as our phone knows it (whatsmeow `BuildMessageKey`): `fromMe`
/// unless someone else sent it, the participant only in a group.
pub(crate) fn message_key(own: &[Jid], chat: &Jid, sender: &Jid, id: &str) -> e2e::MessageKey {
    let from_me = own.iter().any(|o| o.user == sender.user);
    let group = !(chat.is_user() || chat.is_lid());
    e2e::MessageKey {
        remote_jid: Some(chat.to_string()),
        from_me: Some(from_me),
        id: Some(id.to_owned()),
        participant: (!from_me && group).then(|| sender.to_non_ad().to_string()),
    }
}

/// The placeholder-resend request for one message.
pub(crate) fn resend_request(own: &[Jid], info: &MessageInfo) -> e2e::Message {
    use e2e::peer_data_operation_request_message::PlaceholderMessageResendRequest;
    e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            r#type: Some(e2e::protocol_message::Type::PeerDataOperationRequestMessage as i32),
            peer_data_operation_request_message: Some(e2e::PeerDataOperationRequestMessage {
                peer_data_operation_request_type: Some(
                    e2e::PeerDataOperationRequestType::PlaceholderMessageResend as i32,
                ),
                placeholder_message_resend_request: vec![PlaceholderMessageResendRequest {
                    message_key: Some(message_key(own, &info.chat, &info.sender, &info.id)),
                }],
                ..Default::default()
            }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Sends the resend request to our phone in the background: the stanza worker holds the
/// send lock that a peer message needs.
pub(crate) fn request_resend(shared: &Arc<Shared>, info: &MessageInfo) {
    let device = shared.device();
    let own: Vec<Jid> = [device.jid.clone(), device.lid.clone()]
        .into_iter()
        .flatten()
        .collect();
    let request = resend_request(&own, info);
    let owned = shared.clone();
    let id = info.id.clone();
    shared.spawn(async move {
        let shared = owned;
        match crate::peer::send_peer_message(&shared, request).await {
            Ok(request_id) => tracing::debug!(%id, %request_id, "asked our phone to resend"),
            Err(e) => tracing::warn!(%id, error = %e, "asking our phone to resend failed"),
        }
    });
}

/// The messages of our phone's answer to resend requests, or `None` when `message` is not
/// one (the caller attaches the answer's receipt to the last message: acknowledged in
/// order, the answer is acknowledged once every message in it is stored). Only our phone
/// (device 0 of our account) is listened to.
pub(crate) fn resent_messages(
    shared: &Shared,
    info: &MessageInfo,
    message: &e2e::Message,
) -> Option<Vec<IncomingMessage>> {
    let response = message
        .protocol_message
        .as_deref()?
        .peer_data_operation_request_response_message
        .as_ref()
        .filter(|r| {
            r.peer_data_operation_request_type
                == Some(e2e::PeerDataOperationRequestType::PlaceholderMessageResend as i32)
        })?;
    if !(info.from_me && info.sender.device == 0) {
        tracing::warn!(sender = %info.sender, "placeholder resend answer not from our phone ignored");
        return Some(Vec::new());
    }
    let device = shared.device();
    let own = (
        device.jid.as_ref().map(Jid::to_non_ad),
        device.lid.as_ref().map(Jid::to_non_ad),
    );
    Some(
        response
            .peer_data_operation_result
            .iter()
            .filter_map(|part| {
                let bytes = part
                    .placeholder_message_resend_response
                    .as_ref()?
                    .web_message_info_bytes
                    .as_deref()?;
                let web = history::WebMessageInfo::decode(bytes).ok()?;
                let chat: Jid = web.key.remote_jid.as_deref()?.parse().ok()?;
                let parsed = crate::history::web_message(&chat.to_non_ad(), None, web, &own)?;
                // Read as a received message is: wrappers looked through, typed content.
                let raw = parsed.message?;
                let plaintext = raw.encode_to_vec();
                let opened = crate::decrypt::Visible::open(raw, &plaintext)?;
                Some(IncomingMessage {
                    info: parsed.info,
                    message: opened.message,
                    content: opened.content,
                    raw: opened.raw,
                    ack: None,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_the_message_as_whatsmeow_builds_the_key() {
        let own: Vec<Jid> = vec!["2010:3@s.whatsapp.net".parse().unwrap()];
        let info = MessageInfo {
            id: "3EB0X".into(),
            chat: "2011@s.whatsapp.net".parse().unwrap(),
            sender: "2011:1@s.whatsapp.net".parse().unwrap(),
            sender_alt: None,
            from_me: false,
            push_name: None,
            timestamp: 0,
            offline: false,
        };
        let request = resend_request(&own, &info);
        let protocol = request.protocol_message.unwrap();
        assert_eq!(
            protocol.r#type,
            Some(e2e::protocol_message::Type::PeerDataOperationRequestMessage as i32)
        );
        let op = protocol.peer_data_operation_request_message.unwrap();
        assert_eq!(
            op.peer_data_operation_request_type,
            Some(e2e::PeerDataOperationRequestType::PlaceholderMessageResend as i32)
        );
        let key = op.placeholder_message_resend_request[0]
            .message_key
            .clone()
            .unwrap();
        assert_eq!(key.remote_jid.as_deref(), Some("2011@s.whatsapp.net"));
        assert_eq!(key.from_me, Some(false));
        assert_eq!(key.id.as_deref(), Some("3EB0X"));
        assert_eq!(key.participant, None, "no participant in a 1:1 chat");
        // In a group: the participant; our own message: fromMe.
        let group = MessageInfo {
            chat: "1203@g.us".parse().unwrap(),
            ..info.clone()
        };
        let key = message_key(&own, &group.chat, &group.sender, "I");
        assert_eq!(key.participant.as_deref(), Some("2011@s.whatsapp.net"));
        let mine = message_key(&own, &group.chat, &own[0], "I");
        assert_eq!((mine.from_me, mine.participant), (Some(true), None));
    }

    #[test]
    fn kinds() {
        let node = |t: Option<&str>| Node::new("unavailable").attr_opt("type", t);
        assert_eq!(kind_of(&node(Some("view_once"))), UnavailableKind::ViewOnce);
        assert_eq!(
            kind_of(&node(Some("hosted_unavailable_fanout"))),
            UnavailableKind::Other("hosted_unavailable_fanout".into())
        );
        assert_eq!(kind_of(&node(None)), UnavailableKind::Other(String::new()));
    }
}
