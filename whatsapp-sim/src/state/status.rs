//! Status posts: a `<message to="status@broadcast">` as whatsmeow sends it (send.go
//! `sendGroup` for a broadcast JID): the sender key distribution per recipient device in
//! `<participants>`, one `skmsg` for all. The server has no member list for it: the devices
//! named are the recipients.

use tracing::{debug, warn};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::server::ServerAck;

use super::{DeviceKey, Queued, State, now_unix};

impl State {
    /// Relays a status post to every device its `<participants>` name.
    pub(super) fn handle_status_message(
        &mut self,
        sender: &DeviceKey,
        node: &Node,
        id: String,
        to: Jid,
    ) {
        let nack = |state: &State, code: u16| {
            state.ack_to(
                sender,
                ServerAck::new("message", id.clone())
                    .from(to.clone())
                    .at(now_unix())
                    .error(code)
                    .build(),
            );
        };
        let skmsg = node
            .children_by_tag("enc")
            .find(|e| e.attrs().optional_str("type") == Some("skmsg"))
            .cloned();
        let (Some(skmsg), Some(participants)) = (skmsg, node.child("participants")) else {
            // guess: without recipients or a sender-key message there is nothing to
            // deliver; refused as a malformed stanza.
            nack(self, 479);
            return;
        };
        let mut deliveries: Vec<(DeviceKey, Node)> = Vec::new();
        for to_node in participants.children_by_tag("to") {
            let (Ok(jid), Some(enc)) = (to_node.attrs().jid("jid"), to_node.child("enc")) else {
                nack(self, 479);
                return;
            };
            match self.resolve(&jid) {
                Some(k) if self.device_exists(&k) && k != *sender => {
                    deliveries.push((k, enc.clone()));
                }
                _ => debug!(%jid, "status recipient device unknown"),
            }
        }
        let t = now_unix();
        self.ack_to(
            sender,
            ServerAck::new("message", id.clone())
                .from(to.clone())
                .at(t)
                .build(),
        );
        self.note_server_ack(sender, &id, t);
        let Some(account) = self.accounts.get(&sender.0) else {
            warn!(id, "status from an unknown account");
            return;
        };
        let participant = account.device_jid(sender.1, false);
        let notify = account.push_name.clone();
        let typ = node
            .attrs()
            .optional_string("type")
            .unwrap_or_else(|| "text".into());
        let device_identity = node.child("device-identity").cloned();
        for (target, carrier) in deliveries {
            let mut encs = vec![carrier, skmsg.clone()];
            encs.extend(device_identity.clone());
            let mut out = Node::new("message")
                .attr("from", to.clone())
                .attr("participant", participant.clone())
                .attr("id", id.clone())
                .attr("type", typ.clone())
                .attr("t", t);
            if let Some(name) = &notify {
                out = out.attr("notify", name.clone());
            }
            self.work.push_back((
                target,
                Queued {
                    class: "message",
                    id: id.clone(),
                    peer: Some(sender.0.clone()),
                    node: out.children(encs),
                    sent: false,
                },
            ));
        }
    }
}
