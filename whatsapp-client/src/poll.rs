//! Polls: the message secret of every poll received or sent is kept (whatsmeow
//! `storeMessageSecret`), and a received vote is opened with it (whatsmeow
//! `DecryptPollVote`) into an [`Event::PollVote`](crate::Event::PollVote); our own votes are
//! sealed with it ([`Client::poll_vote`]).

use rand::RngCore;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::poll::{self, VoteContext};

use crate::ClientError;
use crate::clock::UnixMillis;
use crate::context::Shared;
use crate::event::MessageInfo;
use crate::store::{MessageSecret, StoreResult};

/// The secret a message carries, keyed as the store keeps it: chat and sender without device.
pub(crate) fn secret_of(info: &MessageInfo, message: &e2e::Message) -> Option<MessageSecret> {
    let secret = message
        .message_context_info
        .as_ref()?
        .message_secret
        .as_ref()
        .filter(|s| !s.is_empty())?;
    Some(MessageSecret {
        chat: info.chat.to_non_ad().to_string(),
        sender: info.sender.to_non_ad().to_string(),
        message_id: info.id.clone(),
        secret: secret.clone(),
    })
}

/// Keeps the secret of a message we send (a poll) before it goes out: votes on it are
/// sealed under it. We are its sender under the address the chat knows us by.
pub(crate) async fn remember_sent(
    shared: &Shared,
    to: &Jid,
    id: &str,
    message: &e2e::Message,
) -> StoreResult<()> {
    let device = shared.device();
    let own = if to.is_lid() {
        device.lid.clone().or(device.jid.clone())
    } else {
        device.jid.clone().or(device.lid.clone())
    };
    let Some(own) = own else {
        return Ok(());
    };
    let info = MessageInfo {
        id: id.to_owned(),
        chat: to.to_non_ad(),
        sender: own,
        sender_alt: None,
        from_me: true,
        push_name: None,
        timestamp: 0,
        offline: false,
    };
    match secret_of(&info, message) {
        Some(secret) => shared.store.store_message_secrets(&[secret]).await,
        None => Ok(()),
    }
}

/// A JID and its other address (phone number <-> LID), ours from the device, others' from
/// the store's map; without device.
async fn with_alternate(shared: &Shared, jid: &Jid) -> StoreResult<Vec<Jid>> {
    let jid = jid.to_non_ad();
    let device = shared.device();
    let own: Vec<Jid> = [device.jid.clone(), device.lid.clone()]
        .into_iter()
        .flatten()
        .map(|j| j.to_non_ad())
        .collect();
    let mut out = vec![jid.clone()];
    if own.contains(&jid) {
        out.extend(own.into_iter().filter(|j| *j != jid));
        return Ok(out);
    }
    let other = if jid.is_lid() {
        shared.store.pn_for_lid(&jid.user).await?.map(Jid::user)
    } else if jid.is_user() {
        shared
            .store
            .lid_for_pn(&jid.user)
            .await?
            .and_then(|lid| format!("{lid}@lid").parse().ok())
    } else {
        None
    };
    out.extend(other);
    Ok(out)
}

/// Who created the poll a vote names (whatsmeow `getOrigSenderFromKey`): the voter when
/// the key is `fromMe` (from the voter's side), else the key's chat in a 1:1 chat and its
/// participant in a group.
fn poll_creator(info: &MessageInfo, key: &e2e::MessageKey) -> Option<Jid> {
    if key.from_me == Some(true) {
        return Some(info.sender.to_non_ad());
    }
    let named = if info.chat.is_group() || info.chat.is_broadcast() {
        key.participant.as_deref()
    } else {
        key.remote_jid.as_deref()
    };
    named
        .and_then(|j| j.parse::<Jid>().ok())
        .map(|j| j.to_non_ad())
}

/// Opens a received vote. `Ok(None)` when it cannot be read (no secret for its poll, or
/// the seal does not open): the caller hands the message over as it is. `batch` holds the
/// secrets of messages decrypted before it in the same uncommitted group.
pub(crate) async fn open_vote(
    shared: &Shared,
    batch: &[MessageSecret],
    info: &MessageInfo,
    update: &e2e::PollUpdateMessage,
) -> StoreResult<Option<(String, Jid, Vec<Vec<u8>>)>> {
    let (Some(key), Some(vote)) = (&update.poll_creation_message_key, &update.vote) else {
        return Ok(None);
    };
    let (Some(poll_id), Some(creator)) = (key.id.clone(), poll_creator(info, key)) else {
        return Ok(None);
    };
    let chats = with_alternate(shared, &info.chat).await?;
    let creators = with_alternate(shared, &creator).await?;
    let mut voters = vec![info.sender.to_non_ad()];
    voters.extend(info.sender_alt.as_ref().map(Jid::to_non_ad));
    for chat in &chats {
        for stored_creator in &creators {
            let (chat_text, creator_text) = (chat.to_string(), stored_creator.to_string());
            let secret = match batch.iter().find(|s| {
                s.chat == chat_text && s.sender == creator_text && s.message_id == poll_id
            }) {
                Some(s) => Some(s.secret.clone()),
                None => {
                    shared
                        .store
                        .load_message_secret(&chat_text, &creator_text, &poll_id)
                        .await?
                }
            };
            let Some(secret) = secret else {
                continue;
            };
            // The vote was sealed naming the creator and voter as the voter's phone knows
            // them (phone number or LID): try each (whatsmeow tries the key's creator, then
            // the stored one).
            for creator in &creators {
                for voter in &voters {
                    let context = VoteContext {
                        poll_id: &poll_id,
                        poll_creator: creator,
                        voter,
                    };
                    if let Ok(opened) = poll::decrypt_vote(&secret, &context, vote) {
                        return Ok(Some((poll_id, creator.clone(), opened.selected_options)));
                    }
                }
            }
        }
    }
    tracing::debug!(id = %info.id, %poll_id, "poll vote not opened: no matching secret");
    Ok(None)
}

/// A poll creation message with a fresh message secret; see [`crate::Client::poll_creation`].
pub(crate) fn poll_creation(name: &str, options: &[&str], selectable: u32) -> e2e::Message {
    let mut secret = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let selectable = if selectable as usize > options.len() {
        0
    } else {
        selectable
    };
    e2e::Message {
        poll_creation_message: Some(Box::new(e2e::PollCreationMessage {
            name: Some(name.to_owned()),
            options: options
                .iter()
                .map(|o| e2e::poll_creation_message::Option {
                    option_name: Some((*o).to_owned()),
                    option_hash: None,
                })
                .collect(),
            selectable_options_count: Some(selectable),
            ..Default::default()
        })),
        message_context_info: Some(e2e::MessageContextInfo {
            message_secret: Some(secret),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A vote on `poll`, sealed under its stored secret; see [`crate::Client::poll_vote`].
pub(crate) async fn poll_vote(
    shared: &Shared,
    poll: &MessageInfo,
    options: &[&str],
) -> Result<e2e::Message, ClientError> {
    let device = shared.device();
    // whatsmeow `EncryptPollVote`: our LID, unless the poll came from a phone number.
    let own = if poll.sender.is_lid() {
        device.lid.clone().or(device.jid.clone())
    } else {
        device.jid.clone().or(device.lid.clone())
    }
    .ok_or(ClientError::NotConnected)?;
    let creator = poll.sender.to_non_ad();
    let mut secret = None;
    'found: for chat in with_alternate(shared, &poll.chat).await? {
        for sender in with_alternate(shared, &creator).await? {
            secret = shared
                .store
                .load_message_secret(&chat.to_string(), &sender.to_string(), &poll.id)
                .await?;
            if secret.is_some() {
                break 'found;
            }
        }
    }
    let secret = secret.ok_or_else(|| {
        ClientError::InvalidArgument(format!("no message secret for poll {}", poll.id))
    })?;
    let vote = e2e::PollVoteMessage {
        selected_options: options
            .iter()
            .map(|o| poll::option_hash(o).to_vec())
            .collect(),
    };
    let mut iv = [0u8; poll::VOTE_IV_LEN];
    rand::thread_rng().fill_bytes(&mut iv);
    let sealed = poll::encrypt_vote(
        &secret,
        &VoteContext {
            poll_id: &poll.id,
            poll_creator: &creator,
            voter: &own,
        },
        &vote,
        iv,
    );
    let group = poll.chat.is_group() || poll.chat.is_broadcast();
    // whatsmeow `getKeyFromInfo`.
    let key = e2e::MessageKey {
        remote_jid: Some(poll.chat.to_string()),
        from_me: Some(poll.from_me),
        id: Some(poll.id.clone()),
        participant: group.then(|| poll.sender.to_string()),
    };
    Ok(e2e::Message {
        poll_update_message: Some(e2e::PollUpdateMessage {
            poll_creation_message_key: Some(key),
            vote: Some(sealed),
            sender_timestamp_ms: Some(UnixMillis::now().as_millis() as i64),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(chat: &str, sender: &str) -> MessageInfo {
        MessageInfo {
            id: "V1".into(),
            chat: chat.parse().unwrap(),
            sender: sender.parse().unwrap(),
            sender_alt: None,
            from_me: false,
            push_name: None,
            timestamp: 0,
            offline: false,
        }
    }

    #[test]
    fn creator_comes_from_the_key_as_whatsmeow_reads_it() {
        let dm = info("2011@s.whatsapp.net", "2011:2@s.whatsapp.net");
        let key = |from_me, remote: &str, participant: Option<&str>| e2e::MessageKey {
            remote_jid: Some(remote.into()),
            from_me: Some(from_me),
            id: Some("P".into()),
            participant: participant.map(Into::into),
        };
        // The voter's own poll.
        assert_eq!(
            poll_creator(&dm, &key(true, "2010@s.whatsapp.net", None)),
            Some("2011@s.whatsapp.net".parse().unwrap())
        );
        // Our poll, as the voter's chat with us names it.
        assert_eq!(
            poll_creator(&dm, &key(false, "2010:4@s.whatsapp.net", None)),
            Some("2010@s.whatsapp.net".parse().unwrap())
        );
        let group = info("1203@g.us", "2011@s.whatsapp.net");
        assert_eq!(
            poll_creator(&group, &key(false, "1203@g.us", Some("2012@lid"))),
            Some("2012@lid".parse().unwrap())
        );
        assert_eq!(poll_creator(&group, &key(false, "1203@g.us", None)), None);
    }

    #[test]
    fn secret_is_keyed_without_device() {
        let mut message = e2e::Message::default();
        assert!(
            secret_of(
                &info("2011@s.whatsapp.net", "2011:2@s.whatsapp.net"),
                &message
            )
            .is_none()
        );
        message.message_context_info = Some(e2e::MessageContextInfo {
            message_secret: Some(vec![5; 32]),
            ..Default::default()
        });
        let secret = secret_of(
            &info("2011@s.whatsapp.net", "2011:2@s.whatsapp.net"),
            &message,
        )
        .unwrap();
        assert_eq!(secret.chat, "2011@s.whatsapp.net");
        assert_eq!(secret.sender, "2011@s.whatsapp.net");
        assert_eq!(secret.message_id, "V1");
    }
}
