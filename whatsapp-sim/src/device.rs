//! A simulated device (a primary phone or a customer's device): its Signal keys, the prekeys it
//! published, its sessions, and the plaintext `Message` protobufs it reads and writes.

use std::collections::{HashMap, VecDeque};

use prost::Message as _;
use rand::{CryptoRng, RngCore};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::signal::{
    self, IdentityKey, KeyPair, PreKeyBundle, PreKeyRecord, PreKeyWhisperMessage, ResponderKeys,
    SessionRecord, SignalError, SignedPreKeyRecord, WhisperMessage,
};

/// How many one-time prekeys a simulated device publishes at a time.
const PREKEY_BATCH: u32 = 50;

/// A public prekey bundle as the server hands it out (part 2 §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Registration ID.
    pub registration_id: u32,
    /// Identity public key.
    pub identity: [u8; 32],
    /// Signed prekey ID.
    pub spk_id: u32,
    /// Signed prekey.
    pub spk: [u8; 32],
    /// Its signature by the identity key.
    pub spk_signature: [u8; 64],
    /// A one-time prekey, if any were left.
    pub prekey: Option<(u32, [u8; 32])>,
    /// The device's ADVSignedDeviceIdentity (companions only).
    pub device_identity: Option<Vec<u8>>,
}

impl Bundle {
    /// As whatsapp-proto's bundle type.
    pub fn to_signal(&self) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: self.registration_id,
            identity_key: IdentityKey::from_raw(self.identity),
            signed_prekey_id: self.spk_id,
            signed_prekey: signal::PublicKey::from_raw(self.spk),
            signed_prekey_signature: self.spk_signature,
            prekey: self
                .prekey
                .map(|(id, key)| (id, signal::PublicKey::from_raw(key))),
        }
    }
}

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
            self.prekeys
                .get(&id)
                .map(|r| (id, *r.key_pair.public.as_bytes()))
        });
        Bundle {
            registration_id: self.registration_id,
            identity: *self.identity.public.as_bytes(),
            spk_id: self.spk.id,
            spk: *self.spk.key_pair.public.as_bytes(),
            spk_signature: self.spk.signature,
            prekey,
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

    /// Forgets the session with `address` (after a retry receipt brings new keys).
    pub fn drop_session(&mut self, address: &str) {
        self.sessions.remove(address);
    }
}

/// What a simulated phone understood of a received `Message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Understood {
    /// `text`, `image`, `audio`, `video`, `document`, `sticker`, `location`, `contact`,
    /// `reaction`, `protocol`, `sender_key`, or `unknown`.
    pub kind: String,
    /// Text, caption, or the reaction emoji.
    pub text: Option<String>,
    /// Hex SHA-256 of the media plaintext, as the message states it.
    pub media_sha256: Option<String>,
    /// The quoted (or reacted-to) message id.
    pub reply_to: Option<String>,
    /// For a DeviceSentMessage, the chat it was sent to.
    pub destination: Option<String>,
}

/// Reads the parts of a `Message` an inbox test looks at; wrappers are looked through.
pub fn understand(bytes: &[u8]) -> Option<Understood> {
    let message = e2e::Message::decode(bytes).ok()?;
    Some(understand_message(&message))
}

fn understand_message(m: &e2e::Message) -> Understood {
    let ctx_id = |c: &Option<Box<e2e::ContextInfo>>| c.as_ref().and_then(|c| c.stanza_id.clone());
    let sha = |h: &Option<Vec<u8>>| h.as_ref().map(hex::encode);
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
        out.kind = "image".into();
        out.text = img.caption.clone();
        out.media_sha256 = sha(&img.file_sha256);
        out.reply_to = ctx_id(&img.context_info);
    } else if let Some(a) = &m.audio_message {
        out.kind = "audio".into();
        out.media_sha256 = sha(&a.file_sha256);
        out.reply_to = ctx_id(&a.context_info);
    } else if let Some(v) = &m.video_message {
        out.kind = "video".into();
        out.text = v.caption.clone();
        out.media_sha256 = sha(&v.file_sha256);
        out.reply_to = ctx_id(&v.context_info);
    } else if let Some(d) = &m.document_message {
        out.kind = "document".into();
        out.text = d.caption.clone().or_else(|| d.file_name.clone());
        out.media_sha256 = sha(&d.file_sha256);
        out.reply_to = ctx_id(&d.context_info);
    } else if let Some(s) = &m.sticker_message {
        out.kind = "sticker".into();
        out.media_sha256 = sha(&s.file_sha256);
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
}

/// Builds the `Message` protobuf a phone sends; `reply_to` becomes a quote.
pub fn build_message(content: &Outgoing, reply_to: Option<(&str, &str)>) -> e2e::Message {
    let context = reply_to.map(|(id, participant)| e2e::ContextInfo {
        stanza_id: Some(id.to_owned()),
        participant: Some(participant.to_owned()),
        quoted_message: Some(Box::new(e2e::Message {
            conversation: Some(String::new()),
            ..Default::default()
        })),
        ..Default::default()
    });
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
    }
}

/// The stanza `type` of a message (whatsmeow `send.go` `getTypeFromMessage`).
pub fn stanza_type(content: &Outgoing) -> &'static str {
    match content {
        Outgoing::Reaction { .. } => "reaction",
        _ => "text",
    }
}
