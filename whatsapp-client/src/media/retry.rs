//! Media re-upload (whatsmeow `mediaretry.go`): the server deletes blobs after a while, and a
//! download then answers 404 or 410. The phone that sent the message still has the file: a
//! `<receipt type="server-error">` to our own JID carries the message id sealed under the
//! media key (`<encrypt><enc_p/><enc_iv/></encrypt>`) and names the chat (`<rmr>`); the phone
//! uploads the file again and the server hands us a `<notification type="mediaretry">` whose
//! sealed `MediaRetryNotification` holds the new direct path.

use std::time::Duration;

use tokio::sync::oneshot;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::media;
use whatsapp_proto::pb::e2e::media_retry_notification::ResultType;

use super::{MediaRef, validate_direct_path};
use crate::ClientError;
use crate::context::Shared;
use crate::http::{ReuploadError, TransferError};

/// Which message an attachment came in: what a re-upload request names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaOrigin {
    /// The message id.
    pub message_id: String,
    /// The chat (a user or a group).
    pub chat: Jid,
    /// Who sent it in a group (`None` in a 1:1 chat).
    pub sender: Option<Jid>,
    /// Whether we (another of our devices) sent it.
    pub from_me: bool,
}

impl MediaOrigin {
    /// The origin of a received message.
    pub fn of(info: &whatsapp_proto::receive::MessageInfo) -> MediaOrigin {
        MediaOrigin {
            message_id: info.id.clone(),
            chat: info.chat.clone(),
            sender: info.chat.is_group().then(|| info.sender.clone()),
            from_me: info.from_me,
        }
    }

    /// An origin from its parts (e.g. a message kept in a database).
    pub fn new(
        message_id: impl Into<String>,
        chat: Jid,
        sender: Option<Jid>,
        from_me: bool,
    ) -> Self {
        MediaOrigin {
            message_id: message_id.into(),
            chat,
            sender,
            from_me,
        }
    }
}

/// `<notification type="mediaretry">`: handed to the request waiting for it (its ack went out
/// on arrival, as for every notification); one nobody waits for is dropped.
pub(crate) fn on_notification(shared: &Shared, node: &Node) {
    let Some(id) = node.attrs().optional_string("id") else {
        return;
    };
    match shared.media_retries.lock().remove(&id) {
        Some(waiter) => {
            let _ = waiter.send(node.clone());
        }
        None => tracing::debug!(id, "a mediaretry notification nobody waits for"),
    }
}

/// Asks the sender's phone to upload `media` again and waits up to `wait` for the new direct
/// path; returns the attachment with it (whatsmeow `SendMediaRetryReceipt` then
/// `DecryptMediaRetryNotification`).
pub(crate) async fn request(
    shared: &Shared,
    media: &MediaRef,
    wait: Duration,
) -> Result<MediaRef, ClientError> {
    let refused = |e: ReuploadError| ClientError::from(TransferError::Reupload(e));
    let origin = media
        .origin
        .as_ref()
        .ok_or(refused(ReuploadError::NoOrigin))?;
    let id = origin.message_id.clone();
    if id.is_empty() {
        return Err(refused(ReuploadError::NoOrigin));
    }
    let own = shared
        .device()
        .jid
        .clone()
        .ok_or(ClientError::NotConnected)?
        .to_non_ad();
    let mut iv = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut iv);
    let sealed = media::encrypt_media_retry_receipt(&media.media_key, &id, &iv);
    let mut rmr = Node::new("rmr")
        .attr("jid", origin.chat.clone())
        .attr("from_me", if origin.from_me { "true" } else { "false" });
    if origin.chat.is_group()
        && let Some(sender) = &origin.sender
    {
        rmr = rmr.attr("participant", sender.clone());
    }
    let receipt = Node::new("receipt")
        .attr("id", id.clone())
        .attr("to", own)
        .attr("type", "server-error")
        .children([
            Node::new("encrypt").children([
                Node::new("enc_p").bytes(sealed),
                Node::new("enc_iv").bytes(iv.to_vec()),
            ]),
            rmr,
        ]);
    let (tx, rx) = oneshot::channel();
    shared.media_retries.lock().insert(id.clone(), tx);
    if let Err(e) = shared.send(receipt).await {
        shared.media_retries.lock().remove(&id);
        return Err(e);
    }
    let answer = match tokio::time::timeout(wait, rx).await {
        Ok(Ok(node)) => node,
        // A second request for the same message took the slot: this one gives up.
        Ok(Err(_)) => return Err(refused(ReuploadError::Malformed("superseded"))),
        Err(_) => {
            shared.media_retries.lock().remove(&id);
            return Err(refused(ReuploadError::Timeout(wait)));
        }
    };
    let direct_path = open_answer(&answer, &media.media_key, &id).map_err(refused)?;
    validate_direct_path(&direct_path)?;
    Ok(MediaRef {
        direct_path: Some(direct_path),
        url: None,
        ..media.clone()
    })
}

/// The new direct path a `mediaretry` notification carries for message `id`.
fn open_answer(node: &Node, media_key: &[u8], id: &str) -> Result<String, ReuploadError> {
    if node.child("rmr").is_none() {
        return Err(ReuploadError::Malformed("no <rmr>"));
    }
    if let Some(error) = node.child("error") {
        let code = error
            .attrs()
            .optional_u64("code")
            .ok()
            .flatten()
            .unwrap_or(0);
        return Err(match code {
            2 => ReuploadError::NotOnPhone,
            code => ReuploadError::Code(code),
        });
    }
    let part = |name: &'static str| {
        node.path(&["encrypt", name])
            .and_then(Node::content_bytes)
            .ok_or(ReuploadError::Malformed(name))
    };
    let (enc_p, enc_iv) = (part("enc_p")?, part("enc_iv")?);
    let answer = media::decrypt_media_retry_notification(media_key, id, enc_p, enc_iv)
        .map_err(ReuploadError::Sealed)?;
    if answer.stanza_id.as_deref() != Some(id) {
        return Err(ReuploadError::Malformed("the answer names another message"));
    }
    match answer.result.and_then(|r| ResultType::try_from(r).ok()) {
        Some(ResultType::Success) => {}
        Some(ResultType::NotFound) => return Err(ReuploadError::NotOnPhone),
        Some(other) => return Err(ReuploadError::Result(other)),
        None => return Err(ReuploadError::Malformed("no result")),
    }
    answer
        .direct_path
        .ok_or(ReuploadError::Malformed("no direct path"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use prost::Message as _;
    use whatsapp_proto::pb::e2e::MediaRetryNotification;

    const ID: &str = "3EB0AABBCCDDEEFF0011";

    /// A notification as the server relays the phone's answer.
    fn answer(key: &[u8], sealed_for: &str, notification: MediaRetryNotification) -> Node {
        let iv = [5u8; 12];
        let cipher = aes_gcm::Aes256Gcm::new(&media::media_retry_key(key).into());
        let sealed = cipher
            .encrypt(
                (&iv).into(),
                Payload {
                    msg: &notification.encode_to_vec(),
                    aad: sealed_for.as_bytes(),
                },
            )
            .expect("seal");
        Node::new("notification")
            .attr("id", ID)
            .attr("type", "mediaretry")
            .children([
                Node::new("rmr").attr("jid", "1@s.whatsapp.net"),
                Node::new("encrypt").children([
                    Node::new("enc_p").bytes(sealed),
                    Node::new("enc_iv").bytes(iv.to_vec()),
                ]),
            ])
    }

    fn notification(result: ResultType) -> MediaRetryNotification {
        MediaRetryNotification {
            stanza_id: Some(ID.into()),
            direct_path: Some("/v/t62/new.enc?a=1".into()),
            result: Some(result as i32),
            message_secret: None,
        }
    }

    #[test]
    fn a_sealed_answer_opens_only_under_its_key_and_id() {
        let key = [8u8; 32];
        let ok = answer(&key, ID, notification(ResultType::Success));
        assert_eq!(
            open_answer(&ok, &key, ID).as_deref(),
            Ok("/v/t62/new.enc?a=1")
        );
        assert!(matches!(
            open_answer(&ok, &[9u8; 32], ID),
            Err(ReuploadError::Sealed(media::MediaError::RetryAuthFailed))
        ));
        let elsewhere = answer(&key, "OTHER", notification(ResultType::Success));
        assert!(open_answer(&elsewhere, &key, ID).is_err());
        let gone = answer(&key, ID, notification(ResultType::NotFound));
        assert_eq!(open_answer(&gone, &key, ID), Err(ReuploadError::NotOnPhone));
        let failed = answer(&key, ID, notification(ResultType::GeneralError));
        assert!(matches!(
            open_answer(&failed, &key, ID),
            Err(ReuploadError::Result(_))
        ));
        let refused = Node::new("notification")
            .children([Node::new("rmr"), Node::new("error").attr("code", "2")]);
        assert_eq!(
            open_answer(&refused, &key, ID),
            Err(ReuploadError::NotOnPhone)
        );
        let bare = Node::new("notification").children([Node::new("encrypt")]);
        assert!(matches!(
            open_answer(&bare, &key, ID),
            Err(ReuploadError::Malformed(_))
        ));
    }
}
