//! Delivery, read and played receipts for what we sent, as [`crate::Event::Receipt`].

use whatsapp_proto::binary::Node;

use crate::context::Shared;
use crate::event::{Event, ReceiptEvent};

pub(crate) async fn handle_receipt(shared: &Shared, node: &Node) {
    for receipt in receipt_events(node) {
        shared.emit(Event::Receipt(receipt)).await;
    }
}

/// The receipts a `<receipt>` stanza carries (whatsmeow `receipt.go` `parseReceipt`): one,
/// for its `id` and the `<list>` items; or, for a group receipt without a `participant`, one
/// per `<participants key=ID>` `<user jid t>` (`handleGroupedReceipt`). A user without a
/// readable `jid` is skipped; a stanza without `from` gives none.
fn receipt_events(node: &Node) -> Vec<ReceiptEvent> {
    let attrs = node.attrs();
    let Ok(from) = attrs.jid("from") else {
        return Vec::new();
    };
    let chat = from.to_non_ad();
    let kind = attrs.optional_string("type").unwrap_or_default();
    let timestamp = attrs.optional_u64("t").ok().flatten().unwrap_or(0);
    let participant = attrs.optional_jid("participant").ok().flatten();
    if from.is_group() && participant.is_none() {
        return node
            .children_by_tag("participants")
            .filter_map(|group| Some((group.attrs().optional_string("key")?, group)))
            .flat_map(|(id, group)| {
                group.children_by_tag("user").filter_map(move |user| {
                    let attrs = user.attrs();
                    Some((
                        id.clone(),
                        attrs.jid("jid").ok()?,
                        attrs.optional_u64("t").ok().flatten(),
                    ))
                })
            })
            .map(|(id, sender, t)| ReceiptEvent {
                ids: vec![id],
                chat: chat.clone(),
                sender,
                kind: kind.clone(),
                timestamp: t.unwrap_or(timestamp),
            })
            .collect();
    }
    let Some(id) = attrs.optional_string("id") else {
        return Vec::new();
    };
    let mut ids = vec![id];
    if let Some(list) = node.child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attrs().optional_string("id")),
        );
    }
    vec![ReceiptEvent {
        ids,
        chat,
        sender: participant.unwrap_or(from),
        kind,
        timestamp,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_proto::jid::Jid;

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }

    #[test]
    fn a_grouped_receipt_gives_one_receipt_per_user() {
        let group = jid("120363000000000001@g.us");
        let node = Node::new("receipt")
            .attr("from", group.clone())
            .attr("id", "3EB0OUTER")
            .attr("type", "read")
            .attr("t", "1700000000")
            .children([
                Node::new("participants")
                    .attr("key", "3EB0FIRST")
                    .children([
                        Node::new("user")
                            .attr("jid", jid("201112223334@s.whatsapp.net"))
                            .attr("t", "1700000005"),
                        Node::new("user")
                            .attr("jid", jid("5550001@lid"))
                            .attr("t", "1700000006"),
                        // No jid: skipped, as whatsmeow logs and skips it.
                        Node::new("user").attr("t", "1700000007"),
                    ]),
                Node::new("participants")
                    .attr("key", "3EB0SECOND")
                    .children([Node::new("user").attr("jid", jid("5550002@lid"))]),
            ]);
        let receipts = receipt_events(&node);
        let seen: Vec<(String, String, u64)> = receipts
            .iter()
            .map(|r| (r.ids.join(","), r.sender.to_string(), r.timestamp))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "3EB0FIRST".into(),
                    "201112223334@s.whatsapp.net".into(),
                    1_700_000_005
                ),
                ("3EB0FIRST".into(), "5550001@lid".into(), 1_700_000_006),
                ("3EB0SECOND".into(), "5550002@lid".into(), 1_700_000_000),
            ]
        );
        assert!(receipts.iter().all(|r| r.chat == group && r.kind == "read"));
    }

    #[test]
    fn a_plain_receipt_names_its_ids_and_sender() {
        let node = Node::new("receipt")
            .attr("from", jid("120363000000000001@g.us"))
            .attr("participant", jid("5550001:2@lid"))
            .attr("id", "A")
            .attr("t", "1700000000")
            .children([Node::new("list").children([Node::new("item").attr("id", "B")])]);
        let receipts = receipt_events(&node);
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].ids, ["A", "B"]);
        assert_eq!(receipts[0].sender.to_string(), "5550001:2@lid");
        assert_eq!(receipts[0].kind, "");
    }
}
