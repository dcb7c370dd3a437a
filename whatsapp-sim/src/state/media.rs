//! The media server: uploads, downloads, and the phone's answer to a media-retry request
//! (part 2 §7).

use prost::Message as _;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use tracing::info;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::stanza::server::ServerAck;

use super::{DeviceKey, Queued, State, now_unix};
use crate::SimError;

impl State {
    /// The `host:port` media_conn announces.
    pub fn set_media_host(&mut self, host: String) {
        self.media_host = host;
    }

    /// Stores an uploaded blob (part 2 §7.4): the auth must come from a media_conn answer and
    /// the token must be base64url of the blob's SHA-256 (padded or not).
    pub fn media_upload(
        &mut self,
        mms_type: &str,
        token: &str,
        auth: Option<&str>,
        body: Vec<u8>,
    ) -> Result<serde_json::Value, SimError> {
        if !auth.is_some_and(|a| self.media_auth.contains(a)) {
            return Err(SimError::Unauthorized(
                "media auth unknown or missing".into(),
            ));
        }
        const TYPES: [&str; 8] = [
            "image",
            "video",
            "audio",
            "document",
            "md-msg-hist",
            "md-app-state",
            "thumbnail-link",
            "sticker-pack",
        ];
        if !TYPES.contains(&mms_type) {
            return Err(SimError::BadRequest(format!(
                "unknown mms type {mms_type:?}"
            )));
        }
        let hash = Sha256::digest(&body);
        let padded = whatsapp_proto::media::upload_token(&hash);
        if token != padded && token != padded.trim_end_matches('=') {
            return Err(SimError::BadRequest(
                "upload token is not the blob's hash".into(),
            ));
        }
        Ok(self.store_media(body))
    }

    /// Deletes an uploaded blob (whatsmeow `upload.go` `DeleteMedia`: `DELETE
    /// /mms/<type>/<token>?auth&d_md&token`): the auth must come from a media_conn answer,
    /// `d_md` name the blob's direct path (unpadded base64url) and the token be the blob's
    /// hash, as for its upload. `false`: no such blob (guess: the real server's answer to a
    /// blob already gone is a 404).
    pub fn media_delete(
        &mut self,
        token: &str,
        auth: Option<&str>,
        d_md: Option<&str>,
    ) -> Result<bool, SimError> {
        use base64::Engine as _;
        if !auth.is_some_and(|a| self.media_auth.contains(a)) {
            return Err(SimError::Unauthorized(
                "media auth unknown or missing".into(),
            ));
        }
        let path = d_md
            .and_then(|d| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(d.trim_end_matches('='))
                    .ok()
            })
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| SimError::BadRequest("d_md is not a base64url direct path".into()))?;
        let path = blob_path(&path).to_owned();
        let Some(blob) = self.media.get(&path) else {
            return Ok(false);
        };
        let padded = whatsapp_proto::media::upload_token(&Sha256::digest(blob));
        if token != padded && token != padded.trim_end_matches('=') {
            return Err(SimError::BadRequest(
                "delete token is not the blob's hash".into(),
            ));
        }
        self.media.remove(&path);
        info!(path, "media blob deleted");
        self.media_deleted.push(path);
        Ok(true)
    }

    /// The paths of the blobs clients deleted, in order.
    pub fn media_deleted(&self) -> Vec<String> {
        self.media_deleted.clone()
    }

    pub(super) fn store_media(&mut self, body: Vec<u8>) -> serde_json::Value {
        let mut raw = [0u8; 12];
        OsRng.fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let path = format!("/v/t62.7118-24/{id}.enc");
        let direct_path = format!("{path}?ccb=11-4&oh=01_{id}&oe=68000000&_nc_sid=5e03e0");
        self.media.insert(path, body);
        serde_json::json!({
            "url": format!("https://{}{direct_path}&mms3=true", self.media_host),
            "direct_path": direct_path,
            "handle": id,
            "object_id": id,
        })
    }

    /// A stored blob by path (the query string is ignored).
    pub fn media_download(&self, path: &str) -> Option<Vec<u8>> {
        self.media.get(blob_path(path)).cloned()
    }

    /// Whether the download starting now is to be cut short, and after how many bytes
    /// ([`crate::fault::Fault::CutMediaDownloads`]).
    pub fn media_cut(&mut self) -> Option<u64> {
        let (count, after) = self.media_cuts.as_mut()?;
        let after = *after;
        *count -= 1;
        if *count == 0 {
            self.media_cuts = None;
        }
        Some(after)
    }

    /// `<receipt type="server-error">` (part 2 §7.6): sent to the requester's own JID, it goes
    /// to the phone that sent the media (the chat in `<rmr>`, or the requester's own phone when
    /// `from_me`), which re-uploads and answers with a `mediaretry` notification.
    pub(super) fn media_retry_request(&mut self, key: &DeviceKey, node: &Node, id: &str, to: &Jid) {
        self.ack_to(
            key,
            ServerAck::new("receipt", id)
                .from(to.clone())
                .kind("server-error")
                .build(),
        );
        let Some(rmr) = node.child("rmr") else {
            return;
        };
        let from_me = rmr.attrs().bool("from_me").unwrap_or(false);
        let sender_phone = if from_me {
            Some(key.0.clone())
        } else {
            rmr.attrs()
                .optional_jid("participant")
                .ok()
                .flatten()
                .or_else(|| rmr.attrs().optional_jid("jid").ok().flatten())
                .and_then(|j| self.resolve(&j))
                .map(|k| k.0)
        };
        let enc_p = node
            .path(&["encrypt", "enc_p"])
            .and_then(Node::content_bytes);
        let enc_iv = node
            .path(&["encrypt", "enc_iv"])
            .and_then(Node::content_bytes);
        let record = sender_phone.as_ref().and_then(|p| {
            self.accounts
                .get(p)?
                .sent
                .find(id)
                .and_then(|s| s.media.clone())
        });
        let mut result: Result<(String, Vec<u8>, [u8; 12]), u16> = Err(2);
        if let (Some((media_type, media_key, data)), Some(enc_p), Some(enc_iv)) =
            (record, enc_p, enc_iv)
        {
            use aes_gcm::aead::{Aead, KeyInit, Payload};
            let retry_key = whatsapp_proto::media::media_retry_key(&media_key);
            let cipher = aes_gcm::Aes256Gcm::new(&retry_key.into());
            let asked = <[u8; 12]>::try_from(enc_iv).ok().and_then(|iv| {
                cipher
                    .decrypt(
                        &iv.into(),
                        Payload {
                            msg: enc_p,
                            aad: id.as_bytes(),
                        },
                    )
                    .ok()
            });
            let stanza = asked.and_then(|p| e2e::ServerErrorReceipt::decode(p.as_slice()).ok());
            if stanza.and_then(|r| r.stanza_id).as_deref() == Some(id) {
                let enc = whatsapp_proto::media::encrypt(&media_key, media_type, &data);
                let stored = self.store_media(enc.blob);
                let direct_path = stored["direct_path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let notification = e2e::MediaRetryNotification {
                    stanza_id: Some(id.to_owned()),
                    direct_path: Some(direct_path.clone()),
                    result: Some(e2e::media_retry_notification::ResultType::Success as i32),
                    message_secret: None,
                };
                let mut iv = [0u8; 12];
                OsRng.fill_bytes(&mut iv);
                if let Ok(sealed) = cipher.encrypt(
                    &iv.into(),
                    Payload {
                        msg: &notification.encode_to_vec(),
                        aad: id.as_bytes(),
                    },
                ) {
                    result = Ok((direct_path, sealed, iv));
                }
            } else {
                result = Err(3);
            }
        }
        let mut rmr_out = Node::new("rmr");
        for a in ["jid", "from_me", "participant"] {
            if let Some(v) = rmr.attr_value(a) {
                rmr_out = rmr_out.attr(a, v.clone());
            }
        }
        let body = match &result {
            Ok((_, sealed, iv)) => Node::new("encrypt").children([
                Node::new("enc_p").bytes(sealed.clone()),
                Node::new("enc_iv").bytes(iv.to_vec()),
            ]),
            Err(code) => Node::new("error").attr("code", *code),
        };
        if let Err(code) = result {
            info!(id, code, "media retry refused");
        }
        let out = Node::new("notification")
            .attr("from", Jid::user(key.0.clone()))
            .attr("id", id.to_owned())
            .attr("t", now_unix())
            .attr("type", "mediaretry")
            .children([rmr_out, body]);
        self.work.push_back((
            key.clone(),
            Queued {
                class: "notification",
                id: id.to_owned(),
                peer: None,
                node: out,
                sent: false,
            },
        ));
    }
}

/// The path a blob is stored under, from a URL or a direct path (host and query dropped).
pub(super) fn blob_path(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or_default();
    path.strip_prefix("https://")
        .and_then(|p| p.find('/').map(|i| &p[i..]))
        .unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, attr, iq, state};
    use super::*;

    #[test]
    fn uploads_need_a_media_conn_auth_and_the_blobs_hash_as_token() {
        let mut state = state();
        state.set_media_host("127.0.0.1:9".into());
        let mut conn = state.online_companion(ACCOUNT);
        let body = b"an encrypted blob".to_vec();
        let token = whatsapp_proto::media::upload_token(&Sha256::digest(&body));
        let refused = state.media_upload("image", &token, Some("made-up"), body.clone());
        assert!(matches!(refused, Err(SimError::Unauthorized(_))));

        state.handle(
            &conn.key.clone(),
            iq("MC", "w:m", "set", vec![Node::new("media_conn")]),
        );
        let answer = conn.one("iq");
        let media_conn = answer.child("media_conn").expect("media_conn");
        let auth = attr(media_conn, "auth");
        assert_eq!(
            attr(media_conn.child("host").expect("host"), "hostname"),
            "127.0.0.1:9"
        );

        let wrong = state.media_upload("image", "AAAA", Some(&auth), body.clone());
        assert!(matches!(wrong, Err(SimError::BadRequest(_))));
        let unknown_type = state.media_upload("spreadsheet", &token, Some(&auth), body.clone());
        assert!(matches!(unknown_type, Err(SimError::BadRequest(_))));
        let stored = state
            .media_upload(
                "image",
                token.trim_end_matches('='),
                Some(&auth),
                body.clone(),
            )
            .expect("upload");
        let url = stored["url"].as_str().expect("url");
        assert!(url.starts_with("https://127.0.0.1:9/"));
        assert_eq!(state.media_download(url), Some(body));
    }
}
