//! A simulated primary phone (device 0 of a paired account): its Signal keys, the prekeys it
//! published, its sessions, and the plaintext `Message` protobufs it reads and writes.
//! Customers are whatsapp-client `Client`s instead (`crate::customer`).

use std::collections::{HashMap, VecDeque};

use prost::Message as _;

use crate::records::MediaDetails;
use rand::{CryptoRng, RngCore};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::signal::{
    self, IdentityKey, KeyPair, PreKeyRecord, PreKeyWhisperMessage, ResponderKeys, SessionRecord,
    SignalError, SignedPreKeyRecord, WhisperMessage,
};
/// A public prekey bundle as the server hands it out (part 2 §2.3).
pub use whatsapp_proto::stanza::keys::KeyBundle as Bundle;
use whatsapp_proto::stanza::keys::{PreKey, SignedPreKey};

/// How many one-time prekeys a simulated device publishes at a time.
const PREKEY_BATCH: u32 = 50;

/// The Signal side of a simulated device.
pub(crate) struct SimDevice {
    pub identity: KeyPair,
    pub registration_id: u32,
    pub spk: SignedPreKeyRecord,
    prekeys: HashMap<u32, PreKeyRecord>,
    /// IDs the server may still hand out, oldest first.
    pub published: VecDeque<u32>,
    next_prekey_id: u32,
    sessions: HashMap<String, SessionRecord>,
    identities: HashMap<String, IdentityKey>,
    /// Sender keys by `group|sender address` (`group|` for our own).
    sender_keys: HashMap<String, signal::SenderKeyRecord>,
}

impl SimDevice {
    pub fn new(identity: KeyPair, rng: &mut (impl RngCore + CryptoRng)) -> SimDevice {
        let spk = SignedPreKeyRecord::generate(1, &identity, 0, rng);
        let mut device = SimDevice {
            registration_id: signal::generate_registration_id(rng),
            identity,
            spk,
            prekeys: HashMap::new(),
            published: VecDeque::new(),
            next_prekey_id: 1,
            sessions: HashMap::new(),
            identities: HashMap::new(),
            sender_keys: HashMap::new(),
        };
        device.publish_prekeys(rng);
        device
    }

    /// Generates and publishes a fresh batch (what a phone does when its count runs low).
    pub fn publish_prekeys(&mut self, rng: &mut (impl RngCore + CryptoRng)) {
        for record in PreKeyRecord::generate_batch(self.next_prekey_id, PREKEY_BATCH, rng) {
            self.next_prekey_id = if record.id >= signal::MAX_PREKEY_ID {
                1
            } else {
                record.id + 1
            };
            self.published.push_back(record.id);
            self.prekeys.insert(record.id, record);
        }
    }

    /// The server's bundle for this device, consuming one published prekey.
    pub fn take_bundle(&mut self, rng: &mut (impl RngCore + CryptoRng)) -> Bundle {
        if self.published.len() < 5 {
            self.publish_prekeys(rng);
        }
        let prekey = self.published.pop_front().and_then(|id| {
            self.prekeys.get(&id).map(|r| PreKey {
                id,
                public: *r.key_pair.public.as_bytes(),
            })
        });
        Bundle {
            registration_id: self.registration_id,
            identity: *self.identity.public.as_bytes(),
            signed_prekey: SignedPreKey {
                id: self.spk.id,
                public: *self.spk.key_pair.public.as_bytes(),
                signature: self.spk.signature,
            },
            prekey,
            // A phone (device 0) is the account key itself: no ADV identity.
            device_identity: None,
        }
    }

    pub fn has_session(&self, address: &str) -> bool {
        self.sessions
            .get(address)
            .is_some_and(SessionRecord::has_current_state)
    }

    pub fn start_session(
        &mut self,
        address: &str,
        bundle: &Bundle,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), SignalError> {
        let bundle = bundle.to_signal();
        // Simulated phones trust a changed identity, as WhatsApp apps do (with a notice).
        self.identities
            .insert(address.to_owned(), bundle.identity_key);
        let record = self.sessions.entry(address.to_owned()).or_default();
        record.process_bundle(&self.identity, self.registration_id, &bundle, None, rng)?;
        Ok(())
    }

    /// Pads and encrypts a plaintext for `address`: `(enc type, bytes)`.
    pub fn encrypt(
        &mut self,
        address: &str,
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(&'static str, Vec<u8>), SignalError> {
        let padded = signal::pad(plaintext, rng);
        let record = self
            .sessions
            .get_mut(address)
            .ok_or(SignalError::NoSession)?;
        let message = record.encrypt(&padded)?;
        Ok((message.enc_type(), message.serialized().to_vec()))
    }

    /// Decrypts an `<enc>` payload from `address` and removes the padding.
    pub fn decrypt(
        &mut self,
        address: &str,
        enc_type: &str,
        bytes: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, SignalError> {
        let padded = match enc_type {
            "pkmsg" => {
                let message = PreKeyWhisperMessage::decode(bytes)?;
                let one_time = message.pre_key_id().and_then(|id| self.prekeys.get(&id));
                let keys = ResponderKeys {
                    identity: &self.identity,
                    registration_id: self.registration_id,
                    signed_prekey: Some(&self.spk),
                    one_time_prekey: one_time,
                    stored_identity: None,
                };
                let record = self.sessions.entry(address.to_owned()).or_default();
                let out = record.decrypt_prekey(&message, &keys, rng)?;
                self.identities.insert(address.to_owned(), out.identity);
                if let Some(id) = out.used_pre_key_id {
                    self.prekeys.remove(&id);
                }
                out.plaintext
            }
            "msg" => {
                let message = WhisperMessage::decode(bytes)?;
                let record = self
                    .sessions
                    .get_mut(address)
                    .ok_or(SignalError::NoSession)?;
                record.decrypt(&message, rng)?
            }
            other => {
                return Err(SignalError::Malformed {
                    kind: signal::MessageKind::Whisper,
                    reason: format!("unsupported enc type {other}"),
                });
            }
        };
        Ok(signal::unpad(&padded)?.to_vec())
    }

    /// Our sender key for `group`: its distribution message and the padded plaintext
    /// encrypted as a `skmsg`.
    pub fn group_encrypt(
        &mut self,
        group: &str,
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Vec<u8>, Vec<u8>), SignalError> {
        let record = self.sender_keys.entry(format!("{group}|")).or_default();
        let skdm = record.create_distribution_message(rng);
        let padded = signal::pad(plaintext, rng);
        let message = record.encrypt(&padded, rng)?;
        Ok((skdm.serialized().to_vec(), message.serialized().to_vec()))
    }

    /// Stores a sender's distribution message for `group`.
    pub fn process_skdm(
        &mut self,
        group: &str,
        sender: &str,
        bytes: &[u8],
    ) -> Result<(), SignalError> {
        let message = signal::SenderKeyDistributionMessage::decode(bytes)?;
        self.sender_keys
            .entry(format!("{group}|{sender}"))
            .or_default()
            .process_distribution_message(&message);
        Ok(())
    }

    /// Decrypts a `skmsg` from `sender` in `group` and removes the padding.
    pub fn group_decrypt(
        &mut self,
        group: &str,
        sender: &str,
        bytes: &[u8],
    ) -> Result<Vec<u8>, SignalError> {
        let message = signal::SenderKeyMessage::decode(bytes)?;
        let record = self
            .sender_keys
            .get_mut(&format!("{group}|{sender}"))
            .ok_or(SignalError::NoSession)?;
        let padded = record.decrypt(&message)?;
        Ok(signal::unpad(&padded)?.to_vec())
    }

    /// Forgets the session with `address` (after a retry receipt brings new keys).
    pub fn drop_session(&mut self, address: &str) {
        self.sessions.remove(address);
    }
}

/// What a simulated phone understood of a received `Message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Understood {
    /// `text`, `image`, `audio`, `voice_note`, `video`, `ptv`, `document`, `sticker`,
    /// `location`, `contact`, `reaction`, `protocol`, `sender_key`, or `unknown`.
    pub kind: String,
    /// Text, caption, or the reaction emoji.
    pub text: Option<String>,
    /// Hex SHA-256 of the media plaintext, as the message states it.
    pub media_sha256: Option<String>,
    /// The quoted (or reacted-to) message id.
    pub reply_to: Option<String>,
    /// For a DeviceSentMessage, the chat it was sent to.
    pub destination: Option<String>,
    /// For media: where the blob is and how to check it.
    pub media: Option<MediaRef>,
    /// For media: what the message says about it.
    pub details: Option<MediaDetails>,
}

/// The fields needed to download and verify a media blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// Direct path (or URL when there is none).
    pub direct_path: String,
    /// The media key.
    pub media_key: Vec<u8>,
    /// SHA-256 of the plaintext.
    pub file_sha256: Vec<u8>,
    /// SHA-256 of the blob.
    pub file_enc_sha256: Vec<u8>,
    /// Key type.
    pub media_type: whatsapp_proto::media::MediaType,
}

/// Reads the parts of a `Message` an inbox test looks at; wrappers are looked through.
pub fn understand(bytes: &[u8]) -> Option<Understood> {
    let message = e2e::Message::decode(bytes).ok()?;
    Some(understand_message(&message))
}

pub(crate) fn understand_message(m: &e2e::Message) -> Understood {
    let ctx_id = |c: &Option<Box<e2e::ContextInfo>>| c.as_ref().and_then(|c| c.stanza_id.clone());
    let sha = |h: &Option<Vec<u8>>| h.as_ref().map(hex::encode);
    use whatsapp_proto::media::MediaType;
    let media = |path: &Option<String>,
                 url: &Option<String>,
                 key: &Option<Vec<u8>>,
                 sha: &Option<Vec<u8>>,
                 enc: &Option<Vec<u8>>,
                 media_type: MediaType| {
        Some(MediaRef {
            direct_path: path.clone().or_else(|| url.clone())?,
            media_key: key.clone()?,
            file_sha256: sha.clone()?,
            file_enc_sha256: enc.clone()?,
            media_type,
        })
    };
    let mut out = Understood::default();
    if let Some(dsm) = &m.device_sent_message {
        if let Some(inner) = &dsm.message {
            out = understand_message(inner);
        }
        out.destination = dsm.destination_jid.clone();
        return out;
    }
    for wrapper in [
        &m.ephemeral_message,
        &m.view_once_message,
        &m.view_once_message_v2,
        &m.document_with_caption_message,
        &m.edited_message,
    ] {
        if let Some(inner) = wrapper.as_ref().and_then(|w| w.message.as_ref()) {
            return understand_message(inner);
        }
    }
    if let Some(text) = &m.conversation {
        out.kind = "text".into();
        out.text = Some(text.clone());
    } else if let Some(ext) = &m.extended_text_message {
        out.kind = "text".into();
        out.text = ext.text.clone();
        out.reply_to = ctx_id(&ext.context_info);
    } else if let Some(img) = &m.image_message {
        out.details = Some(MediaDetails {
            mimetype: img.mimetype.clone(),
            file_length: img.file_length,
            width: img.width,
            height: img.height,
            jpeg_thumbnail: img.jpeg_thumbnail.clone(),
            ..Default::default()
        });
        out.kind = "image".into();
        out.text = img.caption.clone();
        out.media_sha256 = sha(&img.file_sha256);
        out.reply_to = ctx_id(&img.context_info);
        out.media = media(
            &img.direct_path,
            &img.url,
            &img.media_key,
            &img.file_sha256,
            &img.file_enc_sha256,
            MediaType::Image,
        );
    } else if let Some(a) = &m.audio_message {
        out.details = Some(MediaDetails {
            mimetype: a.mimetype.clone(),
            file_length: a.file_length,
            seconds: a.seconds,
            waveform: a.waveform.clone(),
            ..Default::default()
        });
        out.kind = if a.ptt == Some(true) {
            "voice_note"
        } else {
            "audio"
        }
        .into();
        out.media_sha256 = sha(&a.file_sha256);
        out.reply_to = ctx_id(&a.context_info);
        out.media = media(
            &a.direct_path,
            &a.url,
            &a.media_key,
            &a.file_sha256,
            &a.file_enc_sha256,
            if a.ptt == Some(true) {
                MediaType::Ptt
            } else {
                MediaType::Audio
            },
        );
    } else if let Some((v, kind)) = m
        .video_message
        .as_ref()
        .map(|v| (v, "video"))
        .or_else(|| m.ptv_message.as_ref().map(|v| (v, "ptv")))
    {
        out.details = Some(MediaDetails {
            mimetype: v.mimetype.clone(),
            file_length: v.file_length,
            seconds: v.seconds,
            width: v.width,
            height: v.height,
            jpeg_thumbnail: v.jpeg_thumbnail.clone(),
            ..Default::default()
        });
        out.kind = kind.into();
        out.text = v.caption.clone();
        out.media_sha256 = sha(&v.file_sha256);
        out.reply_to = ctx_id(&v.context_info);
        out.media = media(
            &v.direct_path,
            &v.url,
            &v.media_key,
            &v.file_sha256,
            &v.file_enc_sha256,
            MediaType::Video,
        );
    } else if let Some(d) = &m.document_message {
        out.details = Some(MediaDetails {
            mimetype: d.mimetype.clone(),
            file_length: d.file_length,
            jpeg_thumbnail: d.jpeg_thumbnail.clone(),
            page_count: d.page_count,
            file_name: d.file_name.clone(),
            ..Default::default()
        });
        out.kind = "document".into();
        out.text = d.caption.clone().or_else(|| d.file_name.clone());
        out.media_sha256 = sha(&d.file_sha256);
        out.reply_to = ctx_id(&d.context_info);
        out.media = media(
            &d.direct_path,
            &d.url,
            &d.media_key,
            &d.file_sha256,
            &d.file_enc_sha256,
            MediaType::Document,
        );
    } else if let Some(s) = &m.sticker_message {
        out.details = Some(MediaDetails {
            mimetype: s.mimetype.clone(),
            file_length: s.file_length,
            width: s.width,
            height: s.height,
            animated: s.is_animated,
            ..Default::default()
        });
        out.kind = "sticker".into();
        out.media_sha256 = sha(&s.file_sha256);
        out.media = media(
            &s.direct_path,
            &s.url,
            &s.media_key,
            &s.file_sha256,
            &s.file_enc_sha256,
            MediaType::Sticker,
        );
    } else if let Some(l) = &m.location_message {
        out.kind = "location".into();
        out.text = l.name.clone();
        out.reply_to = ctx_id(&l.context_info);
    } else if let Some(c) = &m.contact_message {
        out.kind = "contact".into();
        out.text = c.display_name.clone();
    } else if let Some(r) = &m.reaction_message {
        out.kind = "reaction".into();
        out.text = r.text.clone();
        out.reply_to = r.key.as_ref().and_then(|k| k.id.clone());
    } else if m.protocol_message.is_some() {
        out.kind = "protocol".into();
    } else if m.sender_key_distribution_message.is_some() {
        out.kind = "sender_key".into();
    } else {
        out.kind = "unknown".into();
    }
    out
}

/// What a simulated customer can send.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// Plain text.
    Text(String),
    /// An image, voice note / audio file, or document: encrypted and uploaded by the phone.
    Media {
        /// Which kind.
        kind: MediaKind,
        /// The plaintext file.
        data: Vec<u8>,
        /// Its MIME type.
        mimetype: String,
        /// Caption (images, documents).
        caption: Option<String>,
        /// File name (documents).
        file_name: Option<String>,
    },
    /// A location pin.
    Location {
        /// Latitude.
        lat: f64,
        /// Longitude.
        lng: f64,
        /// Place name.
        name: Option<String>,
    },
    /// A reaction to a message.
    Reaction {
        /// The message reacted to.
        message_id: String,
        /// The emoji ("" removes it).
        emoji: String,
        /// The chat of that message (the remote JID from the customer's view).
        remote_jid: String,
        /// Whether the customer sent the target message.
        from_me: bool,
    },
    /// Any message, sent as it is (wrappers and all).
    Raw(Box<e2e::Message>),
    /// `content` wrapped as a phone wraps it (see [`crate::shapes`]).
    Wrapped {
        /// What is wrapped (an attachment is uploaded first).
        content: Box<Outgoing>,
        /// How.
        wrapping: crate::shapes::Wrapping,
    },
}

/// Media kinds a simulated customer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// A photo.
    Image,
    /// An audio file.
    Audio,
    /// A voice note (PTT).
    VoiceNote,
    /// A document.
    Document,
    /// A video.
    Video,
    /// A round video note (`ptvMessage`; uploaded with video keys).
    Ptv,
    /// A sticker (`stickerMessage`; uploaded with image keys).
    Sticker,
}

impl MediaKind {
    /// The key type of its media key.
    pub fn media_type(self) -> whatsapp_proto::media::MediaType {
        use whatsapp_proto::media::MediaType;
        match self {
            MediaKind::Image => MediaType::Image,
            MediaKind::Audio => MediaType::Audio,
            MediaKind::VoiceNote => MediaType::Ptt,
            MediaKind::Document => MediaType::Document,
            MediaKind::Video => MediaType::Video,
            MediaKind::Ptv => MediaType::Ptv,
            MediaKind::Sticker => MediaType::Sticker,
        }
    }
}

/// Where an uploaded blob lives and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Full URL.
    pub url: String,
    /// Direct path.
    pub direct_path: String,
    /// The media key.
    pub media_key: [u8; 32],
    /// SHA-256 of the plaintext.
    pub file_sha256: [u8; 32],
    /// SHA-256 of the blob.
    pub file_enc_sha256: [u8; 32],
    /// Plaintext length.
    pub file_length: u64,
}

/// The quote of message `id` by `participant` a reply carries.
pub(crate) fn quote(id: &str, participant: &str) -> e2e::ContextInfo {
    e2e::ContextInfo {
        stanza_id: Some(id.to_owned()),
        participant: Some(participant.to_owned()),
        quoted_message: Some(Box::new(e2e::Message {
            conversation: Some(String::new()),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Builds the `Message` protobuf a phone sends; `reply_to` becomes a quote; media content
/// needs its upload.
pub fn build_message(
    content: &Outgoing,
    reply_to: Option<(&str, &str)>,
    uploaded: Option<&Uploaded>,
) -> e2e::Message {
    let context = reply_to.map(|(id, participant)| quote(id, participant));
    match content {
        Outgoing::Text(text) if context.is_none() => e2e::Message {
            conversation: Some(text.clone()),
            ..Default::default()
        },
        Outgoing::Text(text) => e2e::Message {
            extended_text_message: Some(Box::new(e2e::ExtendedTextMessage {
                text: Some(text.clone()),
                context_info: context.map(Box::new),
                ..Default::default()
            })),
            ..Default::default()
        },
        Outgoing::Media {
            kind,
            mimetype,
            caption,
            file_name,
            ..
        } => {
            let Some(u) = uploaded else {
                return e2e::Message::default();
            };
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let context = context.map(Box::new);
            match kind {
                MediaKind::Image => e2e::Message {
                    image_message: Some(Box::new(e2e::ImageMessage {
                        url: Some(u.url.clone()),
                        mimetype: Some(mimetype.clone()),
                        caption: caption.clone(),
                        file_sha256: Some(u.file_sha256.to_vec()),
                        file_length: Some(u.file_length),
                        media_key: Some(u.media_key.to_vec()),
                        file_enc_sha256: Some(u.file_enc_sha256.to_vec()),
                        direct_path: Some(u.direct_path.clone()),
                        media_key_timestamp: Some(ts),
                        context_info: context,
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                MediaKind::Audio | MediaKind::VoiceNote => e2e::Message {
                    audio_message: Some(Box::new(e2e::AudioMessage {
                        url: Some(u.url.clone()),
                        mimetype: Some(mimetype.clone()),
                        file_sha256: Some(u.file_sha256.to_vec()),
                        file_length: Some(u.file_length),
                        ptt: Some(*kind == MediaKind::VoiceNote),
                        media_key: Some(u.media_key.to_vec()),
                        file_enc_sha256: Some(u.file_enc_sha256.to_vec()),
                        direct_path: Some(u.direct_path.clone()),
                        media_key_timestamp: Some(ts),
                        context_info: context,
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                MediaKind::Document => e2e::Message {
                    document_message: Some(Box::new(e2e::DocumentMessage {
                        url: Some(u.url.clone()),
                        mimetype: Some(mimetype.clone()),
                        title: file_name.clone(),
                        file_sha256: Some(u.file_sha256.to_vec()),
                        file_length: Some(u.file_length),
                        media_key: Some(u.media_key.to_vec()),
                        file_name: file_name.clone(),
                        file_enc_sha256: Some(u.file_enc_sha256.to_vec()),
                        direct_path: Some(u.direct_path.clone()),
                        media_key_timestamp: Some(ts),
                        caption: caption.clone(),
                        context_info: context,
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                MediaKind::Video | MediaKind::Ptv => {
                    let video = e2e::Message {
                        video_message: Some(Box::new(e2e::VideoMessage {
                            url: Some(u.url.clone()),
                            mimetype: Some(mimetype.clone()),
                            caption: caption.clone(),
                            file_sha256: Some(u.file_sha256.to_vec()),
                            file_length: Some(u.file_length),
                            media_key: Some(u.media_key.to_vec()),
                            file_enc_sha256: Some(u.file_enc_sha256.to_vec()),
                            direct_path: Some(u.direct_path.clone()),
                            media_key_timestamp: Some(ts),
                            context_info: context,
                            ..Default::default()
                        })),
                        ..Default::default()
                    };
                    if *kind == MediaKind::Ptv {
                        crate::shapes::as_ptv(video)
                    } else {
                        video
                    }
                }
                MediaKind::Sticker => {
                    // Stickers travel with image keys: built as an image, then moved.
                    let image = Outgoing::Media {
                        kind: MediaKind::Image,
                        data: Vec::new(),
                        mimetype: mimetype.clone(),
                        caption: None,
                        file_name: None,
                    };
                    crate::shapes::as_sticker(build_message(&image, reply_to, uploaded))
                }
            }
        }
        Outgoing::Raw(message) => (**message).clone(),
        Outgoing::Location { lat, lng, name } => e2e::Message {
            location_message: Some(Box::new(e2e::LocationMessage {
                degrees_latitude: Some(*lat),
                degrees_longitude: Some(*lng),
                name: name.clone(),
                context_info: context.map(Box::new),
                ..Default::default()
            })),
            ..Default::default()
        },
        Outgoing::Reaction {
            message_id,
            emoji,
            remote_jid,
            from_me,
        } => e2e::Message {
            reaction_message: Some(e2e::ReactionMessage {
                key: Some(e2e::MessageKey {
                    remote_jid: Some(remote_jid.clone()),
                    from_me: Some(*from_me),
                    id: Some(message_id.clone()),
                    participant: None,
                }),
                text: Some(emoji.clone()),
                grouping_key: None,
                sender_timestamp_ms: None,
            }),
            ..Default::default()
        },
        Outgoing::Wrapped { content, wrapping } => {
            crate::shapes::wrap(build_message(content, reply_to, uploaded), wrapping)
        }
    }
}
