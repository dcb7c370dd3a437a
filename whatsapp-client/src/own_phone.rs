//! Protocol messages from our own phone: app-state key shares and history-sync
//! notifications, accepted only from our phone (device 0 of our own account). The requests
//! we send it are in `peer`.

use std::sync::Arc;

use whatsapp_proto::pb::e2e;

use crate::context::Shared;
use crate::{ConsumedProtocol, MessageInfo};

/// Takes over a decrypted message carrying an app-state key share or a history-sync
/// notification (whatsmeow `handleProtocolMessage`); `false` leaves it to the application.
/// From anyone but our own phone such a message is dropped: keys and history are only ever
/// taken from the primary device. Shared keys and history notifications are stored before
/// this returns (so before the receipt goes out); the syncs they allow and the history
/// download run in the background.
pub(crate) async fn consume(
    shared: &Arc<Shared>,
    info: &MessageInfo,
    message: &e2e::Message,
) -> Option<ConsumedProtocol> {
    let protocol = message.protocol_message.as_deref()?;
    let share = protocol.app_state_sync_key_share.as_ref();
    let history = protocol.history_sync_notification.as_ref();
    if share.is_none() && history.is_none() {
        return None;
    }
    if !is_own_phone(info) {
        tracing::warn!(sender = %info.sender, id = %info.id, "key share or history notification not from our phone refused");
        return Some(ConsumedProtocol::Refused);
    }
    if let Some(share) = share {
        crate::appstate::on_key_share(shared, share).await;
    }
    if let Some(history) = history {
        crate::history::on_notification(shared, info.id.clone(), history.clone()).await;
        return Some(ConsumedProtocol::HistoryNotification);
    }
    Some(ConsumedProtocol::AppStateKeyShare)
}

/// Our primary phone: our own account, device 0.
fn is_own_phone(info: &MessageInfo) -> bool {
    info.from_me && info.sender.device == 0
}
