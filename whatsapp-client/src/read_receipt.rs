//! The `<receipt>` stanzas we send for messages read or played (whatsmeow receipt.go
//! `MarkRead`).

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;

use crate::ClientError;

/// A `<receipt>` of `kind` (`read`, `played`) for `ids` of one sender: the first id on the
/// stanza, the rest in a `<list>` (whatsmeow `MarkRead`).
pub(crate) fn receipt(
    kind: &'static str,
    chat: &Jid,
    sender: Option<&Jid>,
    ids: &[String],
    now_secs: i64,
) -> Result<Node, ClientError> {
    let (first, rest) = ids
        .split_first()
        .ok_or_else(|| ClientError::InvalidArgument("no message ids".into()))?;
    let mut receipt = Node::new("receipt")
        .attr("id", first.clone())
        .attr("to", chat.clone())
        .attr("type", kind)
        .attr("t", now_secs.to_string())
        .attr_opt("participant", sender.map(Jid::to_non_ad));
    if !rest.is_empty() {
        receipt = receipt.children([Node::new("list").children(
            rest.iter()
                .map(|id| Node::new("item").attr("id", id.clone())),
        )]);
    }
    Ok(receipt)
}
