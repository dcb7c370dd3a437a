//! What a message teaches that is stored once per process: LID mappings (and, through
//! [`first_time`], push names).

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;

use crate::context::Shared;

/// Whether this process has not stored `value` under `key` from a message yet (and now counts
/// it as stored).
pub(crate) fn first_time(shared: &Shared, key: String, value: &str) -> bool {
    shared
        .stored_from_messages
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((key, value.to_owned()))
}

/// The other address of a 1:1 sender (part 2 §3.5): `sender_pn` when `from` is a LID, else
/// `sender_lid`; a mapping seen is stored, and a missing one is looked up in the store.
pub(crate) async fn learn_alternate(shared: &Shared, from: &Jid, node: &Node) -> Option<Jid> {
    let key = if from.is_lid() {
        "sender_pn"
    } else {
        "sender_lid"
    };
    let seen = node.attrs().optional_jid(key).ok().flatten();
    if let Some(alt) = &seen {
        let pair = if from.is_lid() {
            (from.user.clone(), alt.user.clone())
        } else {
            (alt.user.clone(), from.user.clone())
        };
        if first_time(shared, format!("lid {}", pair.0), &pair.1)
            && let Err(e) = shared.store.store_lid_mappings(&[pair]).await
        {
            tracing::warn!(error = %e, "storing a LID mapping failed");
        }
        return Some(alt.to_non_ad());
    }
    if from.is_lid() {
        shared
            .store
            .pn_for_lid(&from.user)
            .await
            .ok()
            .flatten()
            .map(Jid::user)
    } else {
        shared
            .store
            .lid_for_pn(&from.user)
            .await
            .ok()
            .flatten()
            .map(|lid| Jid::new(lid, whatsapp_proto::jid::Server::Lid))
    }
}
