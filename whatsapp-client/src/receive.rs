//! Receiving: the stanza worker, `<message>` handling (decrypt, commit, hand over, then
//! receipt) and what a message teaches us (push names, sender keys; LID mappings through
//! [`crate::learned`]).
//!
//! Architecture Invariant: the delivery receipt that lets the server forget a message goes
//! out only when the application acknowledges it ([`crate::IncomingMessage::ack`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use whatsapp_proto::binary::Node;
use whatsapp_proto::receive::{Delivery, Output, Received, Receiver};

use crate::clock::UnixMillis;
use crate::context::Shared;
use crate::decrypt::{Pending, Visible, local_device, watch_store};
use crate::devices::{forget_devices, unknown_device};
use crate::event::PollVote;
use crate::event::UnavailableMessage;
use crate::event::{AckHandle, Event, IncomingMessage, MessageInfo};
use crate::learned::first_time;
use crate::notification::handle_notification;
use crate::receipt::handle_receipt;
use crate::recent::{RECENT_MESSAGES, RecentCounts};
use crate::retry::handle_retry_receipt;

fn is_offline_message(node: &Node) -> bool {
    node.tag == "message" && node.attrs().optional_str("offline").is_some()
}

/// How long a group of the offline queue waits for its next message (the end of the queue is
/// a stanza of its own, so this only bounds a stall of the socket).
const GROUP_WAIT: Duration = Duration::from_millis(20);

/// Processes the stanzas of one connection in order.
///
/// A live message is committed on its own. Messages of the offline queue, which the server
/// flushes all at once after login, are taken in groups (up to
/// [`crate::Config::catch_up_group`], waiting at most [`GROUP_WAIT`] for the next one): decrypted one after the other against the group's
/// uncommitted state, committed in one transaction, and only then handed to the application (whose
/// acknowledgements send the receipts). A crash before the commit loses nothing: the server
/// still has every message of the group, and none was decrypted for good.
pub(crate) async fn stanza_worker(shared: Arc<Shared>, mut rx: mpsc::Receiver<Node>) {
    let max_group = shared.config.catch_up_group.max(1);
    let mut next = None;
    // The receive core, made at the first message; its retry bookkeeping outlives the
    // connection in `Shared`.
    let mut core: Option<Receiver> = None;
    loop {
        let node = match next.take() {
            Some(node) => node,
            None => match rx.recv().await {
                Some(node) => node,
                None => break,
            },
        };
        match node.tag.as_str() {
            "message" | "appdata" => {
                // The group holds the session lock from its first load to its commit (see
                // `SessionLock`).
                let grouped = is_offline_message(&node);
                let local = match local_device(&shared) {
                    Ok(local) => local,
                    Err(error) => {
                        // Our own keys do not read: nothing can be decrypted; the message
                        // stays unacknowledged until the store answers.
                        tracing::error!(%error, "our device keys do not load; message left unacknowledged");
                        watch_store(&shared);
                        continue;
                    }
                };
                let receiver = match core.as_mut() {
                    Some(receiver) => {
                        receiver.set_local(local);
                        receiver
                    }
                    None => {
                        let counts = std::mem::replace(
                            &mut *shared
                                .retries_sent
                                .lock()
                                .unwrap_or_else(|e| e.into_inner()),
                            RecentCounts::new(RECENT_MESSAGES),
                        );
                        core.insert(Receiver::with_retry_counts(local, counts))
                    }
                };
                receiver.set_active_receipts(shared.active_receipts.load(Ordering::Acquire));
                let mut pending = Pending::new(shared.sessions.lock().await, receiver);
                handle_message(&shared, &mut pending, node).await;
                let mut taken = 1;
                // The queue arrives faster than it is read off the socket: wait a moment for
                // the rest of a group rather than commit each message alone.
                let deadline = tokio::time::Instant::now() + GROUP_WAIT;
                while grouped && taken < max_group {
                    let node = match rx.try_recv() {
                        Ok(node) => node,
                        Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Some(node)) => node,
                            _ => break,
                        },
                    };
                    if !is_offline_message(&node) {
                        next = Some(node);
                        break;
                    }
                    handle_message(&shared, &mut pending, node).await;
                    taken += 1;
                }
                pending.finish(&shared).await;
            }
            "receipt" => {
                if node.attrs().optional_str("type") == Some("retry") {
                    if let Err(e) = handle_retry_receipt(&shared, &node).await {
                        tracing::warn!(error = %e, "answering a retry receipt failed");
                    }
                } else {
                    handle_receipt(&shared, &node).await;
                }
            }
            "notification" => handle_notification(&shared, &node).await,
            "call" => crate::call::on_call(&shared, &node).await,
            // whatsmeow `handleUnencryptedMessage`: a status not from a newsletter is acked.
            "status" => {
                if let Some(ack) = whatsapp_proto::connection::ack_for(&node, None) {
                    shared.send_later(ack).await;
                }
            }
            "offline-complete" => {
                shared
                    .emit(Event::OfflineSyncCompleted {
                        count: node.attrs().optional_u64("count").ok().flatten(),
                    })
                    .await
            }
            // Read in order with the messages, so that they wait for a slow application too.
            "presence" | "chatstate" => {
                if let Some(event) = crate::presence::event_of(&node) {
                    shared.emit(event).await;
                }
            }
            _ => {}
        }
    }
    if let Some(core) = core {
        *shared
            .retries_sent
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = core.into_retry_counts();
    }
}

/// Feeds one stanza to the receive core and answers it: loads from the store, sends and
/// deliveries kept for after the group's commit.
async fn handle_message(shared: &Arc<Shared>, pending: &mut Pending<'_>, node: Node) {
    let now = UnixMillis::now().as_millis();
    if let Err(busy) = pending
        .core
        .handle_message(node, now, &mut rand::thread_rng())
    {
        // The core is driven to the end of each message below; never reached.
        tracing::error!(%busy, "receive core busy; message dropped unacknowledged");
        return;
    }
    while let Some(output) = pending.core.poll_output() {
        match output {
            Output::Load(key) => {
                let input = pending.load(shared, key).await;
                pending.core.handle_input(input, &mut rand::thread_rng());
            }
            Output::Send(node) => pending.send(node),
            Output::Deliver(delivery) => deliver(shared, pending, delivery).await,
            Output::Unacknowledged { id, key } => {
                // A deliberate difference from whatsmeow, which acks after any decrypt
                // error: a store that could not be read says nothing about the message, so
                // it is left unacknowledged and the client reconnects once the store
                // answers, for the server to deliver it again.
                tracing::warn!(%id, ?key, "store failed while decrypting; the message stays unacknowledged");
                pending.store_failed = true;
            }
            // Only `finish` commits.
            _ => {}
        }
    }
    pending.end_message();
}

/// What the sender taught us whatever the message held: a device we did not list, its
/// push name.
async fn learn_from(shared: &Shared, info: &MessageInfo) {
    if unknown_device(shared, &info.sender) {
        forget_devices(shared, &info.sender);
    }
    if let (Some(name), false) = (&info.push_name, info.from_me) {
        let jid = info.sender.to_non_ad().to_string();
        if first_time(shared, format!("name {jid}"), name) {
            let _ = shared.store.store_push_name(&jid, name).await;
        }
    }
}

/// Hands a delivery of the core to the application (after the group's commit).
async fn deliver(shared: &Arc<Shared>, pending: &mut Pending<'_>, delivery: Delivery) {
    match delivery {
        Delivery::Message(received) => {
            let Received {
                info,
                message,
                content,
                raw,
                receipt,
            } = *received;
            learn_from(shared, &info).await;
            on_message(
                shared,
                pending,
                info,
                Visible {
                    message,
                    content,
                    raw,
                },
                receipt,
            )
            .await;
        }
        Delivery::Consumed(info) => {
            learn_from(shared, &info).await;
            pending.emit(Event::ProtocolConsumed(
                crate::ConsumedProtocol::SenderKeyDistribution,
            ));
        }
        Delivery::Undecryptable { info, reason } => {
            learn_from(shared, &info).await;
            tracing::warn!(id = %info.id, %reason, "undecryptable message");
            pending.emit(Event::UndecryptableMessage { info, reason });
        }
        Delivery::Unavailable {
            info,
            unavailable,
            deferred_ack,
        } => {
            if unknown_device(shared, &info.sender) {
                forget_devices(shared, &info.sender);
            }
            on_unavailable(shared, pending, info, &unavailable, deferred_ack);
        }
        Delivery::IdentityChanged(jid) => {
            tracing::warn!(%jid, "identity changed; trusting the new one");
            pending.emit(Event::IdentityChanged { jid });
        }
        _ => {}
    }
}

/// A decrypted message: our phone's resends, its protocol messages, poll votes, or a message
/// for the application, whose acknowledgement sends `receipt`.
async fn on_message(
    shared: &Arc<Shared>,
    pending: &mut Pending<'_>,
    info: MessageInfo,
    visible: Visible,
    receipt: Node,
) {
    if let Some(mut resent) = crate::placeholder::resent_messages(shared, &info, &visible.message) {
        // Our phone's answer to resend requests: the messages it carries, as if received.
        match resent.last_mut() {
            Some(last) => {
                last.ack = Some(AckHandle {
                    node: receipt,
                    to: shared.acks.clone(),
                })
            }
            None => pending.send(receipt),
        }
        for message in resent {
            pending
                .message_secrets
                .extend(crate::poll::secret_of(&message.info, &message.message));
            pending.emit(Event::Message(Box::new(message)));
        }
        return;
    }
    if let Some(kind) = crate::own_phone::consume(shared, &info, &visible.message).await {
        // A key share or history notification of our phone: handled, not for the application.
        pending.send(receipt);
        pending.emit(Event::ProtocolConsumed(kind));
        return;
    }
    let Visible {
        message,
        content,
        raw,
    } = visible;
    pending
        .message_secrets
        .extend(crate::poll::secret_of(&info, &message));
    if let Some(update) = &message.poll_update_message {
        match crate::poll::open_vote(shared, &pending.message_secrets, &info, update).await {
            Ok(Some((poll_id, poll_creator, selected_hashes))) => {
                pending.emit(Event::PollVote(Box::new(PollVote {
                    info,
                    poll_id,
                    poll_creator,
                    selected_hashes,
                    message,
                    ack: Some(AckHandle {
                        node: receipt,
                        to: shared.acks.clone(),
                    }),
                })));
                return;
            }
            // Not opened: handed over as it is.
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(id = %info.id, %error, "store failed reading a poll's secret; no ack");
                pending.store_failed = true;
                return;
            }
        }
    }
    pending.emit(Event::Message(Box::new(IncomingMessage {
        info,
        message,
        content,
        raw,
        ack: Some(AckHandle {
            node: receipt,
            to: shared.acks.clone(),
        }),
    })));
}

/// `<unavailable>` instead of `<enc>` (see [`crate::placeholder`]): a view-once message is a
/// placeholder acknowledged when the application stored it; any other was acknowledged by
/// the core, and our phone is asked to resend it.
fn on_unavailable(
    shared: &Arc<Shared>,
    pending: &mut Pending<'_>,
    info: MessageInfo,
    unavailable: &Node,
    deferred_ack: Option<Node>,
) {
    let kind = crate::placeholder::kind_of(unavailable);
    tracing::info!(id = %info.id, ?kind, "message unavailable to this device");
    let resend_requested = deferred_ack.is_none();
    if resend_requested {
        crate::placeholder::request_resend(shared, &info);
    }
    pending.emit(Event::Unavailable(Box::new(UnavailableMessage {
        info,
        kind,
        resend_requested,
        ack: deferred_ack.map(|node| AckHandle {
            node,
            to: shared.acks.clone(),
        }),
    })));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Malformed and hostile stanzas are answered or ignored, never a panic.
    #[tokio::test]
    async fn hostile_stanzas_do_not_panic() {
        let store = Arc::new(crate::store::MemoryStore::new());
        let (shared, _events, _driver) = crate::receive_tests::test_client(store).await;
        let peer = "201112223334@s.whatsapp.net";
        let garbage = vec![0xffu8; 40];
        let stanzas = vec![
            Node::new("message"),
            Node::new("message").attr("from", peer),
            Node::new("message")
                .attr("from", "not a jid @@")
                .attr("id", "1"),
            Node::new("message")
                .attr("from", peer)
                .attr("id", "2")
                .children([
                    Node::new("enc")
                        .attr("type", "pkmsg")
                        .bytes(garbage.clone()),
                    Node::new("enc").attr("type", "msg").bytes(garbage.clone()),
                    Node::new("enc")
                        .attr("type", "skmsg")
                        .bytes(garbage.clone()),
                    Node::new("enc")
                        .attr("type", "unknown")
                        .bytes(garbage.clone()),
                    Node::new("enc").attr("type", "msg"),
                ]),
            Node::new("message")
                .attr("from", "123@g.us")
                .attr("id", "3")
                .children([Node::new("enc")
                    .attr("type", "skmsg")
                    .bytes(garbage.clone())]),
            Node::new("message")
                .attr("from", "123@g.us")
                .attr("participant", peer)
                .attr("id", "4")
                .children([Node::new("enc")
                    .attr("type", "skmsg")
                    .bytes(garbage.clone())]),
            Node::new("receipt").attr("from", peer),
            Node::new("receipt")
                .attr("from", peer)
                .attr("id", "5")
                .attr("type", "retry")
                .children([Node::new("retry").attr("count", "x")]),
            Node::new("receipt")
                .attr("from", peer)
                .attr("id", "6")
                .attr("type", "retry")
                .children([
                    Node::new("retry").attr("count", "1"),
                    Node::new("keys").children([Node::new("identity").bytes(vec![1])]),
                ]),
            Node::new("notification")
                .attr("type", "encrypt")
                .children([Node::new("count").attr("value", "-1")]),
            Node::new("notification")
                .attr("type", "encrypt")
                .children([Node::new("count").attr("value", "1")]),
            Node::new("notification")
                .attr("type", "privacy_token")
                .attr("from", peer)
                .children([Node::new("tokens").children([Node::new("token")
                    .attr("type", "trusted_contact")
                    .attr("t", "zz")])]),
            Node::new("notification")
                .attr("type", "link_code_companion_reg")
                .children([Node::new("link_code_companion_reg").attr("stage", "primary_hello")]),
        ];
        let (tx, rx) = mpsc::channel(stanzas.len());
        for stanza in stanzas {
            tx.try_send(stanza).unwrap();
        }
        drop(tx);
        stanza_worker(shared, rx).await;
    }
}
