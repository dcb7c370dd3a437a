//! Delivery, read and played receipts for what we sent, as [`crate::Event::Receipt`].

use whatsapp_proto::binary::Node;

use crate::context::Shared;
use crate::event::{Event, ReceiptEvent};

pub(crate) async fn handle_receipt(shared: &Shared, node: &Node) {
    let attrs = node.attrs();
    let (Ok(from), Some(id)) = (attrs.jid("from"), attrs.optional_string("id")) else {
        return;
    };
    let mut ids = vec![id];
    if let Some(list) = node.child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attrs().optional_string("id")),
        );
    }
    let sender = attrs
        .optional_jid("participant")
        .ok()
        .flatten()
        .unwrap_or(from.clone());
    shared
        .emit(Event::Receipt(ReceiptEvent {
            ids,
            chat: from.to_non_ad(),
            sender,
            kind: attrs.optional_string("type").unwrap_or_default(),
            timestamp: attrs.optional_u64("t").ok().flatten().unwrap_or(0),
        }))
        .await;
}
