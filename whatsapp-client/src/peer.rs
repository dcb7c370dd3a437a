//! Peer messages sent to our own phone: app-state key requests and on-demand history
//! requests, as whatsmeow `SendPeerMessage` / `preparePeerMessageNode` build them. What our
//! phone sends us is taken over in `own_phone`.

use std::sync::Arc;

use prost::Message as _;
use whatsapp_proto::binary::Node;
use whatsapp_proto::pb::e2e;

use crate::ClientError;
use crate::clock::UnixMillis;
use crate::context::Shared;
use crate::message_id::generate_message_id;
use crate::send::{EncAttrs, encrypt_for, send_and_wait, sessions_for};

/// The stanza attributes of a peer message: `category="peer"`, plus the push priority
/// whatsmeow gives key requests (`high`) and on-demand history requests (`high_force`,
/// `privacy_sensitive`).
fn peer_attrs(message: &e2e::Message) -> (Option<&'static str>, bool) {
    let protocol = message.protocol_message.as_deref();
    let key_request = protocol.and_then(|p| p.r#type)
        == Some(e2e::protocol_message::Type::AppStateSyncKeyRequest as i32);
    let on_demand = protocol
        .and_then(|p| p.peer_data_operation_request_message.as_ref())
        .and_then(|r| r.peer_data_operation_request_type)
        == Some(e2e::PeerDataOperationRequestType::HistorySyncOnDemand as i32);
    if key_request {
        (Some("high"), false)
    } else if on_demand {
        (Some("high_force"), true)
    } else {
        (None, false)
    }
}

/// Encrypts `message` for our phone (device 0) and sends it to our own user JID as a peer
/// message; returns its id.
///
/// As whatsmeow, the session is the one kept under our phone's LID once our LID is known
/// (its phone-number records moved there, see [`crate::lid`]).
pub(crate) async fn send_peer_message(
    shared: &Arc<Shared>,
    message: e2e::Message,
) -> Result<String, ClientError> {
    let guard = shared.sessions.lock().await;
    let device = shared.device();
    let own = device.jid.clone().ok_or(ClientError::NotConnected)?;
    let to = own.to_non_ad();
    let phone = to.clone();
    let id = generate_message_id(&own.user, UnixMillis::now().as_secs());
    let sessions = sessions_for(shared, &guard, std::slice::from_ref(&phone)).await?;
    let plaintext = message.encode_to_vec();
    let (nodes, any_prekey) = encrypt_for(shared, &guard, sessions, EncAttrs::default(), |_| {
        plaintext.clone()
    })
    .await?;
    let enc = nodes
        .into_iter()
        .find_map(|to| to.child("enc").cloned())
        .ok_or_else(|| ClientError::InvalidArgument(format!("no session with {phone}")))?;
    let (priority, privacy_sensitive) = peer_attrs(&message);
    let mut children = vec![Node::new("meta").attr("appdata", "default"), enc];
    if any_prekey && let Some(account) = &device.account {
        children.push(Node::new("device-identity").bytes(account.clone()));
    }
    let stanza = Node::new("message")
        .attr("id", id.clone())
        .attr("type", "text")
        .attr("category", "peer")
        .attr("to", to)
        .attr_opt("push_priority", priority)
        .attr_opt("privacy_sensitive", privacy_sensitive.then_some("1"))
        .children(children);
    send_and_wait(shared, stanza).await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_requests_and_history_requests_get_their_priority() {
        let request = crate::appstate::key_request_message(&[vec![1, 2]]);
        assert_eq!(peer_attrs(&request), (Some("high"), false));
        let info = crate::MessageInfo {
            id: "ID".into(),
            chat: "15550001111@s.whatsapp.net".parse().unwrap(),
            sender: "15550001111@s.whatsapp.net".parse().unwrap(),
            sender_alt: None,
            from_me: false,
            push_name: None,
            timestamp: 1_700_000_000,
            offline: false,
        };
        let history = crate::history::history_request_message(&info, 50);
        assert_eq!(peer_attrs(&history), (Some("high_force"), true));
        assert_eq!(peer_attrs(&e2e::Message::default()), (None, false));
    }
}
