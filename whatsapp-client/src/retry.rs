//! Retry receipts: asking a sender to encrypt again, and answering a device that could not
//! decrypt what we sent (whatsmeow `retry.go`).

use prost::Message as _;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::receive::stanza::RetryRequest;
use whatsapp_proto::signal::{self, PreKeyRecord, SenderKeyRecord, SessionRecord, SignalError};
use whatsapp_proto::stanza::keys;
use whatsapp_proto::stanza::message_type::{
    edit_attribute, media_type, stanza_type as message_type,
};

use crate::ClientError;
use crate::context::Shared;
use crate::devices::{forget_devices, unknown_device};
use crate::lid::{encryption_jid, other_form};
use crate::send::{dsm_bytes, fetch_bundles};

/// Resends answered per requesting device and message id (part 2 §6.3); a guess bounding a
/// device that keeps asking.
const RESEND_LIMIT: u32 = 10;

/// Whether `jid` is one of our own users (phone number or LID), on any device.
fn is_own(shared: &Shared, jid: &Jid) -> bool {
    shared.with_device(|device| {
        [&device.jid, &device.lid]
            .into_iter()
            .flatten()
            .any(|own| own.user == jid.user && own.server == jid.server)
    })
}

/// The `<keys>` of a retry receipt we send (the receive core decides when one goes with it):
/// a fresh one-time prekey, stored and marked uploaded, so the sender can build a new session
/// at once.
pub(crate) async fn retry_keys(shared: &Shared) -> Result<Node, ClientError> {
    let device = shared.device();
    let prekey = {
        let id = shared.store.max_prekey_id().await? % signal::MAX_PREKEY_ID + 1;
        PreKeyRecord::generate(id, &mut rand::thread_rng())
    };
    shared
        .store
        .store_prekeys(&[(prekey.id, prekey.to_bytes())])
        .await?;
    shared.store.mark_prekeys_uploaded(&[prekey.id]).await?;
    let bundle = keys::KeyBundle {
        registration_id: device.registration_id,
        identity: *device.identity_pair().public(),
        prekey: Some(crate::login::wire_prekey(&prekey)),
        signed_prekey: crate::login::wire_signed_prekey(&device)?,
        device_identity: device.account.clone(),
    };
    Ok(bundle.keys_node())
}

/// Re-encrypts a message we sent for the one device that could not decrypt it (part 2 §6.3).
pub(crate) async fn handle_retry_receipt(shared: &Shared, node: &Node) -> Result<(), ClientError> {
    let attrs = node.attrs();
    let request =
        RetryRequest::parse(node).map_err(|e| ClientError::unexpected(e.to_string(), node))?;
    let (from, requester) = (request.from.clone(), request.requester.clone());
    let (id, count) = (request.id.clone(), request.count);
    let resends = shared
        .resends
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .bump((requester.to_string(), id.clone()));
    if request.over_limit() || resends > RESEND_LIMIT {
        return Ok(());
    }
    if unknown_device(shared, &requester) {
        forget_devices(shared, &requester);
    }
    let mine = is_own(shared, &requester);
    let group = from.is_group().then(|| from.clone());
    let chat = if let Some(group) = &group {
        group.clone()
    } else if mine {
        attrs
            .optional_jid("recipient")
            .ok()
            .flatten()
            .unwrap_or_else(|| requester.to_non_ad())
    } else {
        requester.to_non_ad()
    };
    // The message may have gone out under the chat's other address form (a phone number
    // written to at its LID): whatsmeow retry.go looks it up under both.
    let mut plain = shared.store.load_sent(&chat.to_string(), &id).await?;
    let mut chat = chat;
    if plain.is_none()
        && group.is_none()
        && let Some(other) = other_form(shared, &chat).await?
    {
        plain = shared.store.load_sent(&other.to_string(), &id).await?;
        if plain.is_some() {
            chat = other;
        }
    }
    let Some(plain) = plain else {
        tracing::warn!(%id, %chat, "retry receipt for a message no longer kept");
        return Ok(());
    };
    let message = e2e::Message::decode(plain.as_slice())
        .map_err(|_| ClientError::unexpected("stored message does not decode", node))?;
    let guard = shared.sessions.lock().await;
    let bytes = if let Some(group) = &group {
        // A group retry carries our sender key again (whatsmeow `handleRetryReceipt`).
        let device = shared.device();
        let own = match (&device.lid, requester.is_lid()) {
            (Some(lid), true) => lid.clone(),
            _ => device.jid.clone().ok_or(ClientError::NotConnected)?,
        };
        let record = guard
            .store()
            .load_sender_key(&group.to_string(), &own.signal_address())
            .await?
            .ok_or(ClientError::Signal(SignalError::NoSession))?;
        let mut record = SenderKeyRecord::from_bytes(&record)?;
        // An empty record: a participant left and our key was dropped (crate::groups); the
        // next send makes a new one, so the resend carries none.
        let distribution = (!record.is_empty())
            .then(|| record.create_distribution_message(&mut rand::thread_rng()));
        e2e::Message {
            sender_key_distribution_message: distribution.map(|d| {
                e2e::SenderKeyDistributionMessage {
                    group_id: Some(group.to_string()),
                    axolotl_sender_key_distribution_message: Some(d.serialized().to_vec()),
                }
            }),
            ..message.clone()
        }
        .encode_to_vec()
    } else if mine {
        dsm_bytes(&chat, &message)
    } else {
        plain.clone()
    };
    let device = shared.device();
    let identity = shared.signal_identity()?;
    let address = encryption_jid(shared, &guard, &requester)
        .await?
        .signal_address();
    let bundle = request.keys.as_ref().and_then(|keys| {
        keys::KeyBundle::parse(keys)
            .inspect_err(
                |error| tracing::warn!(%requester, %error, "unusable keys in a retry receipt"),
            )
            .ok()
            .map(|b| b.to_signal())
    });
    // Read once: the session lock, held from here to the store below, keeps it current.
    let existing = guard.store().load_session(&address).await?;
    let has_session = existing.is_some();
    let recreate = bundle.is_none()
        && shared
            .session_recreations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .should_recreate(
                &address,
                has_session,
                count,
                shared.clock.unix().as_millis(),
            );
    let bundle = match bundle {
        Some(b) => Some(b),
        None if recreate => fetch_bundles(shared, std::slice::from_ref(&requester))
            .await?
            .into_iter()
            .next()
            .map(|(_, b)| b),
        None => None,
    };
    let mut record = match (&bundle, existing) {
        (None, Some(existing)) => SessionRecord::from_bytes(&existing)?,
        _ => SessionRecord::new(),
    };
    if let Some(bundle) = &bundle {
        // The requester lost its session: trust its (possibly new) identity, as whatsmeow does.
        record.process_bundle(
            &identity,
            device.registration_id,
            bundle,
            None,
            &mut rand::thread_rng(),
        )?;
        guard
            .store()
            .store_identity(&address, bundle.identity_key.as_bytes())
            .await?;
    }
    let ciphertext = {
        let padded = signal::pad(&bytes, &mut rand::thread_rng());
        record.encrypt(&padded)?
    };
    guard
        .store()
        .store_session(&address, &record.to_bytes())
        .await?;
    let mut children = vec![
        Node::new("enc")
            .attr("v", "2")
            .attr("type", ciphertext.enc_type())
            .attr("count", count)
            .attr_opt("mediatype", media_type(&message))
            .bytes(ciphertext.serialized().to_vec()),
    ];
    if ciphertext.enc_type() == "pkmsg"
        && let Some(account) = &device.account
    {
        children.push(Node::new("device-identity").bytes(account.clone()));
    }
    let mut stanza = match &group {
        Some(group) => Node::new("message")
            .attr("to", group.clone())
            .attr("participant", requester),
        None => Node::new("message").attr("to", requester),
    }
    .attr("id", id)
    .attr("type", message_type(&message))
    // The original message's time, as the `<retry>` names it (whatsmeow `retry.go`).
    .attr_opt("t", request.t.clone())
    .attr_opt("edit", edit_attribute(&message));
    if group.is_none() {
        stanza = stanza.attr("device_fanout", "false");
    }
    if mine && group.is_none() {
        stanza = stanza.attr("recipient", chat);
    }
    shared.send(stanza.children(children)).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use whatsapp_proto::signal::{KeyPair, PreKeyRecord, SignedPreKeyRecord};
    use whatsapp_proto::stanza::keys::{KeyBundle, PreKey, SignedPreKey};

    use super::*;
    use crate::store::{LidStore as _, MemoryStore, SentMessageStore as _};

    fn raw(key: &signal::PublicKey) -> [u8; 32] {
        let mut out = [0; 32];
        out.copy_from_slice(&key.serialize()[1..]);
        out
    }

    /// A message sent to a customer's LID (we knew it) and a retry receipt from the
    /// customer's phone-number device: whatsmeow retry.go finds the message under either
    /// form, and the resend goes out.
    #[tokio::test]
    async fn a_retry_from_the_other_address_form_is_answered() {
        let store = Arc::new(MemoryStore::new());
        store
            .store_lid_mappings(&[("77".into(), "201112223334".into())])
            .await
            .unwrap();
        let message = e2e::Message {
            conversation: Some("until 10 pm".into()),
            ..Default::default()
        };
        store
            .store_sent("77@lid", "3EB0AA01", &message.encode_to_vec(), 1)
            .await
            .unwrap();
        let (shared, _events, driver) = crate::receive_tests::test_client(store).await;
        let mut rng = rand::thread_rng();
        let identity = KeyPair::generate(&mut rng);
        let spk = SignedPreKeyRecord::generate(1, &identity, 0, &mut rng);
        let opk = PreKeyRecord::generate(9, &mut rng);
        let bundle = KeyBundle {
            registration_id: 4242,
            identity: raw(&identity.public),
            prekey: Some(PreKey {
                id: opk.id,
                public: raw(&opk.key_pair.public),
            }),
            signed_prekey: SignedPreKey {
                id: spk.id,
                public: raw(&spk.key_pair.public),
                signature: spk.signature,
            },
            device_identity: None,
        };
        let receipt = Node::new("receipt")
            .attr(
                "from",
                "201112223334:2@s.whatsapp.net".parse::<Jid>().unwrap(),
            )
            .attr("id", "3EB0AA01")
            .attr("type", "retry")
            .attr("t", "1700000000")
            .children([
                Node::new("retry")
                    .attr("count", "1")
                    .attr("id", "3EB0AA01")
                    .attr("t", "1700000000")
                    .attr("v", "1"),
                Node::new("registration").bytes(4242u32.to_be_bytes().to_vec()),
                bundle.keys_node(),
            ]);
        handle_retry_receipt(&shared, &receipt).await.unwrap();
        drop(shared);
        let sent = driver.await.unwrap();
        let resend = sent
            .iter()
            .find(|n| n.tag == "message")
            .unwrap_or_else(|| panic!("no resend: {sent:?}"));
        assert_eq!(resend.attrs().optional_str("id"), Some("3EB0AA01"));
        assert_eq!(
            resend.attrs().optional_jid("to").unwrap(),
            Some("201112223334:2@s.whatsapp.net".parse().unwrap())
        );
        assert!(resend.child("enc").is_some(), "{resend:?}");
    }
}
