//! Sending: message ids, prekey bundles and sessions, 1:1 and group fan-out
//! (whatsmeow `send.go`).

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use tokio::sync::oneshot;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::signal::{
    self, CiphertextMessage, PreKeyBundle, PublicKey, SenderKeyRecord, SessionRecord, SignalError,
};
use whatsapp_proto::stanza::keys;
// The stanza `type` and `mediatype` rules live in the core (retry.rs resends with them too).
use whatsapp_proto::stanza::message_type::{
    edit_attribute, hides_decrypt_failure, media_type, stanza_type as message_type,
};
use whatsapp_proto::stanza::phash::participant_hash;

use crate::ClientError;
use crate::clock::UnixMillis;
use crate::context::{Command, GroupInfo, SessionGuard, Shared};
use crate::devices::{Fanout, device_lists, forget_devices};
use crate::event::Event;
use crate::lid::{encryption_jid, lid_of, other_form};
use crate::message_id::{generate_message_id, validate_message_id};

pub(crate) fn dsm_bytes(chat: &Jid, message: &e2e::Message) -> Vec<u8> {
    e2e::Message {
        device_sent_message: Some(Box::new(e2e::DeviceSentMessage {
            destination_jid: Some(chat.to_string()),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        message_context_info: message.message_context_info.clone(),
        ..Default::default()
    }
    .encode_to_vec()
}

// ------------------------------------------------------------------ sending

/// Fetches prekey bundles for devices without a session (part 2 §2.3).
pub(crate) async fn fetch_bundles(
    shared: &Shared,
    devices: &[Jid],
) -> Result<Vec<(Jid, PreKeyBundle)>, ClientError> {
    let answer = shared.iq(keys::fetch_query(devices)).await?;
    let users = keys::parse_fetch_answer(&answer)
        .map_err(|_| ClientError::unexpected("no bundle list", &answer))?;
    let mut out = Vec::new();
    for (jid, bundle) in users {
        match bundle {
            Ok(bundle) => out.push((jid, bundle.to_signal())),
            Err(error) => tracing::warn!(%jid, %error, "unusable prekey bundle"),
        }
    }
    Ok(out)
}

/// The session of one device a message is encrypted for.
pub(crate) struct DeviceSession {
    /// The device as the stanza names it.
    pub(crate) jid: Jid,
    /// The Signal address its records are kept under (its LID device once known, see
    /// [`crate::lid::encryption_jid`]).
    pub(crate) address: String,
    pub(crate) record: SessionRecord,
}

/// Sessions for `devices`: loaded, or built from fetched prekey bundles.
pub(crate) async fn sessions_for(
    shared: &Shared,
    guard: &SessionGuard<'_>,
    devices: &[Jid],
) -> Result<Vec<DeviceSession>, ClientError> {
    let device = shared.device();
    let mut sessions = Vec::new();
    let mut missing = Vec::new();
    let mut addresses = std::collections::HashMap::new();
    for d in devices {
        let enc_jid = encryption_jid(shared, guard, d).await?;
        let address = enc_jid.signal_address();
        match guard.store().load_session(&address).await? {
            Some(bytes) => sessions.push(DeviceSession {
                jid: d.clone(),
                address,
                record: SessionRecord::from_bytes(&bytes)?,
            }),
            None => {
                missing.push(d.clone());
                addresses.insert(d.clone(), (enc_jid, address));
            }
        }
    }
    if missing.is_empty() {
        return Ok(sessions);
    }
    let identity = shared.signal_identity()?;
    for (jid, bundle) in fetch_bundles(shared, &missing).await? {
        let Some((enc_jid, address)) = addresses.remove(&jid) else {
            tracing::warn!(%jid, "a prekey bundle for a device not asked for");
            continue;
        };
        let stored = guard
            .store()
            .load_identity(&address)
            .await?
            .map(PublicKey::from_raw);
        let mut record = SessionRecord::new();
        let mut status = record.process_bundle(
            &identity,
            device.registration_id,
            &bundle,
            stored.as_ref(),
            &mut rand::thread_rng(),
        );
        if let Err(SignalError::IdentityChanged { .. }) = status {
            // The peer reinstalled: trust the new identity, as whatsmeow does. Reported
            // under the address its records are kept at (the LID device once known).
            tracing::warn!(%enc_jid, "identity changed; trusting the new one");
            shared.emit_now(Event::IdentityChanged { jid: enc_jid });
            status = record.process_bundle(
                &identity,
                device.registration_id,
                &bundle,
                None,
                &mut rand::thread_rng(),
            );
        }
        match status {
            Ok(_) => {
                guard
                    .store()
                    .store_identity(&address, bundle.identity_key.as_bytes())
                    .await?;
                sessions.push(DeviceSession {
                    jid,
                    address,
                    record,
                });
            }
            Err(e) => tracing::warn!(%jid, error = %e, "cannot start a session"),
        }
    }
    Ok(sessions)
}

/// The attributes of each `<enc>` beside its version and type (whatsmeow `send.go` `encAttrs`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EncAttrs {
    /// `mediatype`: 1:1 sends only (whatsmeow: groups have no device-sent plaintext).
    pub(crate) mediatype: Option<&'static str>,
    /// `decrypt-fail="hide"`: edits, revokes, reactions and poll votes.
    pub(crate) hide_failure: bool,
}

impl EncAttrs {
    /// The attributes for `message`'s `<enc>`s, with its media type when `with_media`.
    pub(crate) fn of(message: &e2e::Message, with_media: bool) -> EncAttrs {
        EncAttrs {
            mediatype: if with_media {
                media_type(message)
            } else {
                None
            },
            hide_failure: hides_decrypt_failure(message),
        }
    }

    /// Sets the attributes on `enc`.
    pub(crate) fn apply(self, enc: Node) -> Node {
        enc.attr_opt("mediatype", self.mediatype)
            .attr_opt("decrypt-fail", self.hide_failure.then_some("hide"))
    }
}

/// Encrypts a padded plaintext per device (`plaintext_for` picks it) into `<to>` nodes and
/// stores the advanced sessions in one transaction. The flag says whether any is a pkmsg.
pub(crate) async fn encrypt_for(
    _shared: &Shared,
    guard: &SessionGuard<'_>,
    sessions: Vec<DeviceSession>,
    enc_attrs: EncAttrs,
    plaintext_for: impl Fn(&Jid) -> Vec<u8>,
) -> Result<(Vec<Node>, bool), ClientError> {
    let mut participants = Vec::new();
    let mut any_prekey = false;
    let mut updated = Vec::new();
    {
        let mut rng = rand::thread_rng();
        for DeviceSession {
            jid,
            address,
            mut record,
        } in sessions
        {
            let padded = signal::pad(&plaintext_for(&jid), &mut rng);
            let ciphertext: CiphertextMessage = match record.encrypt(&padded) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%jid, error = %e, "encrypt failed");
                    continue;
                }
            };
            any_prekey |= ciphertext.enc_type() == "pkmsg";
            updated.push((address, record.to_bytes()));
            participants.push(
                Node::new("to").attr("jid", jid).children([enc_attrs
                    .apply(
                        Node::new("enc")
                            .attr("v", "2")
                            .attr("type", ciphertext.enc_type()),
                    )
                    .bytes(ciphertext.serialized().to_vec())]),
            );
        }
    }
    guard.store().store_sessions(&updated).await?;
    Ok((participants, any_prekey))
}

/// Sends a stanza and waits for the server's `<ack>`; an `error` attribute is a typed refusal.
pub(crate) async fn send_and_wait(shared: &Shared, stanza: Node) -> Result<Node, ClientError> {
    let (tx, rx) = oneshot::channel();
    shared.command(Command::Message(stanza, tx)).await?;
    let ack = tokio::time::timeout(Duration::from_secs(75), rx)
        .await
        .map_err(|_| ClientError::Timeout)?
        .map_err(|_| ClientError::Stopped)??;
    match ack.attrs().optional_u64("error") {
        Ok(Some(463)) => {
            return Err(ClientError::NewChatRefused {
                id: ack.attrs().optional_string("id").unwrap_or_default(),
            });
        }
        Ok(Some(code)) => return Err(ClientError::MessageRefused { code }),
        _ => {}
    }
    Ok(ack)
}

/// Sends a message to every device of `to` and to our other devices (part 2 §4.3), or to a
/// group (§4.9).
pub(crate) async fn send_message(
    shared: &Arc<Shared>,
    to: &Jid,
    id: Option<&str>,
    message: e2e::Message,
) -> Result<String, ClientError> {
    if let Some(id) = id {
        validate_message_id(id)?;
    }
    if to.is_group() {
        return send_group_message(shared, to, id, message).await;
    }
    if to.is_broadcast() {
        return Err(ClientError::InvalidArgument(
            "broadcast sends are not supported yet".into(),
        ));
    }
    let guard = shared.sessions.lock().await;
    let device = shared.device();
    let own_pn = device.jid.clone().ok_or(ClientError::NotConnected)?;
    // whatsmeow send.go `SendMessage`: a phone number whose LID is known is written to at
    // the LID, naming the number in `peer_recipient_pn`; in a LID chat we are our LID.
    let mut to = to.to_non_ad();
    let mut recipient_pn = None;
    if to.server == Server::User
        && to.user != own_pn.user
        && let Some(lid) = lid_of(shared, &to.user).await?
    {
        recipient_pn = Some(to);
        to = Jid::new(lid, Server::Lid);
    } else if to.is_lid() {
        recipient_pn = other_form(shared, &to).await?;
    }
    let own = match &device.lid {
        Some(lid) if to.is_lid() => lid.clone(),
        _ => own_pn.clone(),
    };
    let id = id.map_or_else(
        || generate_message_id(&own_pn.user, UnixMillis::now().as_secs()),
        str::to_owned,
    );
    let fanout = device_lists(shared, &[to.clone(), own.to_non_ad()]).await?;
    let is_self = |d: &Jid| d.user == own.user && d.device == own.device && d.server == own.server;
    // Not sent in a 1:1 stanza: compared with the one the server's ack may name (whatsmeow
    // send.go sendDM).
    let phash = Hashes::of(&fanout, &own);
    let devices: Vec<Jid> = fanout.devices.into_iter().filter(|d| !is_self(d)).collect();
    if devices.is_empty() {
        return Err(ClientError::InvalidArgument(format!("{to} has no devices")));
    }
    let sessions = sessions_for(shared, &guard, &devices).await?;
    let plain = message.encode_to_vec();
    let dsm = dsm_bytes(&to, &message);
    let (participants, any_prekey) = encrypt_for(
        shared,
        &guard,
        sessions,
        EncAttrs::of(&message, true),
        |jid| {
            if jid.user == own.user {
                dsm.clone()
            } else {
                plain.clone()
            }
        },
    )
    .await?;
    if participants.is_empty() {
        return Err(ClientError::InvalidArgument(format!(
            "no device of {to} could be encrypted to"
        )));
    }
    shared
        .store
        .store_sent(
            &to.to_string(),
            &id,
            &plain,
            UnixMillis::now().as_secs() as i64,
        )
        .await?;
    crate::poll::remember_sent(shared, &to, &id, &message).await?;

    let mut children = vec![Node::new("participants").children(participants)];
    if any_prekey && let Some(account) = &device.account {
        children.push(Node::new("device-identity").bytes(account.clone()));
    }
    let to_other = to.user != own.user;
    if to_other && let Some(token) = crate::privacy_token::message_token(shared, &to).await? {
        children.push(token);
    }
    let stanza = Node::new("message")
        .attr("to", to.clone())
        .attr("id", id.clone())
        .attr("type", message_type(&message))
        .attr_opt("peer_recipient_pn", recipient_pn)
        .attr_opt("edit", edit_attribute(&message))
        .children(children);
    let ack = send_and_wait(shared, stanza).await?;
    check_ack_phash(shared, &ack, &phash, &[to.clone(), own.to_non_ad()]);
    drop(guard);
    if to_other {
        crate::privacy_token::issue_after_send(shared, &to).await;
    }
    Ok(id)
}

/// The participant hash of a fan-out (with our own device, whatsmeow `participantListHashV2`
/// over all devices), and the one the server computes when it counts the devices we left
/// out on purpose too.
struct Hashes {
    ours: String,
    with_omitted: String,
}

impl Hashes {
    fn of(fanout: &Fanout, own: &Jid) -> Hashes {
        let is_self =
            |d: &Jid| d.user == own.user && d.device == own.device && d.server == own.server;
        let mut hashed = fanout.devices.clone();
        if !hashed.iter().any(is_self) {
            hashed.push(own.clone());
        }
        let ours = participant_hash(&hashed);
        hashed.extend(fanout.omitted.iter().cloned());
        Hashes {
            ours,
            with_omitted: participant_hash(&hashed),
        }
    }
}

/// The server's `<ack>` names its own participant hash when our fan-out missed devices or
/// had extra ones (whatsmeow send.go `SendMessage` warns and drops its device cache): the
/// lists we used were stale, so they are fetched again for the next send. The message itself
/// went out; devices it missed get the next one. Devices we left out on purpose (unlinked
/// companions, hosted devices in groups) are no mismatch: the lists are not stale.
/// False when the hashes differ.
fn check_ack_phash(shared: &Shared, ack: &Node, hashes: &Hashes, users: &[Jid]) -> bool {
    let Some(expected) = ack.attrs().optional_str("phash") else {
        return true;
    };
    if expected == hashes.ours || expected == hashes.with_omitted {
        return true;
    }
    let ours = hashes.ours.as_str();
    tracing::warn!(
        expected,
        ours,
        "the server's participant hash differs: some devices may not have received the message; their device lists will be fetched again"
    );
    for user in users {
        forget_devices(shared, user);
    }
    false
}

/// Participants of a group (`w:g2` query, part 2 §3.6) and whether it is LID-addressed,
/// asked once and kept until the group changes (the server counts these queries).
async fn group_participants(shared: &Shared, group: &Jid) -> Result<GroupInfo, ClientError> {
    let cached = shared
        .group_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(group);
    if let Some(info) = cached {
        return Ok(info);
    }
    let iq = Node::new("iq")
        .attr("xmlns", "w:g2")
        .attr("type", "get")
        .attr("to", group.clone())
        .children([Node::new("query").attr("request", "interactive")]);
    let answer = shared.iq(iq).await?;
    let info = answer
        .child("group")
        .ok_or_else(|| ClientError::unexpected("no <group>", &answer))?;
    let lid = info.attrs().optional_str("addressing_mode") == Some("lid");
    let participants = info
        .children_by_tag("participant")
        .filter_map(|p| p.attrs().jid("jid").ok())
        .map(|j| j.to_non_ad())
        .collect();
    let info = GroupInfo {
        participants,
        lid_mode: lid,
    };
    shared
        .group_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(group, info.clone());
    Ok(info)
}

/// Sends to a group: the sender key distribution to every device, then one skmsg (§4.9).
async fn send_group_message(
    shared: &Arc<Shared>,
    group: &Jid,
    id: Option<&str>,
    message: e2e::Message,
) -> Result<String, ClientError> {
    let info = group_participants(shared, group).await?;
    send_sender_key_message(shared, group, id, message, info).await
}

/// Sends under our sender key for `group` to the devices of `info.participants`: a group's
/// members, or a status post's recipients (whatsmeow `sendGroup` serves both).
pub(crate) async fn send_sender_key_message(
    shared: &Arc<Shared>,
    group: &Jid,
    id: Option<&str>,
    message: e2e::Message,
    info: GroupInfo,
) -> Result<String, ClientError> {
    let guard = shared.sessions.lock().await;
    let device = shared.device();
    let own_pn = device.jid.clone().ok_or(ClientError::NotConnected)?;
    let GroupInfo {
        participants,
        lid_mode,
    } = info;
    let own = match (&device.lid, lid_mode) {
        (Some(lid), true) => lid.clone(),
        _ => own_pn.clone(),
    };
    let id = id.map_or_else(
        || generate_message_id(&own_pn.user, UnixMillis::now().as_secs()),
        str::to_owned,
    );
    let fanout = device_lists(shared, &participants).await?.without_hosted();
    let is_self = |d: &Jid| d.user == own.user && d.device == own.device && d.server == own.server;
    let phash = Hashes::of(&fanout, &own);
    let devices: Vec<Jid> = fanout.devices.into_iter().filter(|d| !is_self(d)).collect();
    let users = participants.clone();

    let group_text = group.to_string();
    let own_address = own.signal_address();
    let mut record = match guard
        .store()
        .load_sender_key(&group_text, &own_address)
        .await?
    {
        Some(bytes) => SenderKeyRecord::from_bytes(&bytes)?,
        None => SenderKeyRecord::new(),
    };
    let distribution = record.create_distribution_message(&mut rand::thread_rng());
    let skdm = e2e::Message {
        sender_key_distribution_message: Some(e2e::SenderKeyDistributionMessage {
            group_id: Some(group_text.clone()),
            axolotl_sender_key_distribution_message: Some(distribution.serialized().to_vec()),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let sessions = sessions_for(shared, &guard, &devices).await?;
    // The carriers of the distribution message go without `mediatype` (whatsmeow send.go).
    let enc_attrs = EncAttrs::of(&message, false);
    let (to_nodes, any_prekey) =
        encrypt_for(shared, &guard, sessions, enc_attrs, |_| skdm.clone()).await?;
    let plain = message.encode_to_vec();
    let skmsg = {
        let padded = signal::pad(&plain, &mut rand::thread_rng());
        record.encrypt(&padded, &mut rand::thread_rng())?
    };
    guard
        .store()
        .store_sender_key(&group_text, &own_address, &record.to_bytes())
        .await?;
    shared
        .store
        .store_sent(&group_text, &id, &plain, UnixMillis::now().as_secs() as i64)
        .await?;
    crate::poll::remember_sent(shared, group, &id, &message).await?;
    let mut children = Vec::new();
    if !to_nodes.is_empty() {
        children.push(Node::new("participants").children(to_nodes));
    }
    if any_prekey && let Some(account) = &device.account {
        children.push(Node::new("device-identity").bytes(account.clone()));
    }
    // The skmsg has its media type and no `decrypt-fail` (whatsmeow send.go `sendGroup`).
    children.push(
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .attr_opt("mediatype", media_type(&message))
            .bytes(skmsg.serialized().to_vec()),
    );
    let mut stanza = Node::new("message")
        .attr("to", group.clone())
        .attr("id", id.clone())
        .attr("type", message_type(&message))
        .attr_opt("edit", edit_attribute(&message))
        .attr("phash", phash.ours.clone());
    if lid_mode {
        stanza = stanza.attr("addressing_mode", "lid");
    }
    let ack = send_and_wait(shared, stanza.children(children)).await?;
    if !check_ack_phash(shared, &ack, &phash, &users) {
        shared
            .group_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(group);
    }
    Ok(id)
}
