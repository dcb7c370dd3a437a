//! What a message carries, typed: the wrappers phones put around a message are looked
//! through ([`unwrap`]), and the inner message is read into one [`Content`] with its
//! [`Context`] (quote, forwarding, disappearing timer, view-once).
//!
//! The wrappers are the union of whatsmeow's `events.Message.UnwrapRaw`
//! (types/events/events.go) and Baileys' `normalizeMessageContent` (src/Utils/messages.ts):
//! deviceSent, botInvoke, ephemeral, viewOnce, viewOnceV2, viewOnceV2Extension, lottieSticker,
//! documentWithCaption, edited, associatedChild, groupStatus and groupStatusV2. As in Baileys,
//! at most [`MAX_UNWRAP_DEPTH`] levels are looked through; what is left wrapped after that
//! reads as [`Content::Unsupported`].
//!
//! Everything here is pure: the client and the simulator read messages the same way.

mod fields;

pub use fields::{
    FIELD_NAMES, MESSAGE_CONTEXT_INFO, carries_content, field_name, field_numbers, present_fields,
};

use crate::media::MediaType;
use crate::pb::e2e;

/// How many wrappers are looked through at most (Baileys' bound).
pub const MAX_UNWRAP_DEPTH: usize = 5;

/// Which wrappers a message came in: one flag per wrapper kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[allow(clippy::struct_excessive_bools)] // One flag per wrapper is the point.
pub struct Wrappers {
    /// `deviceSentMessage`: our own message, sent from another of our devices.
    pub device_sent: bool,
    /// `botInvokeMessage`.
    pub bot_invoke: bool,
    /// `ephemeralMessage`: sent in a chat with disappearing messages on.
    pub ephemeral: bool,
    /// `viewOnceMessage`.
    pub view_once: bool,
    /// `viewOnceMessageV2`.
    pub view_once_v2: bool,
    /// `viewOnceMessageV2Extension` (view-once voice notes).
    pub view_once_v2_extension: bool,
    /// `lottieStickerMessage`.
    pub lottie_sticker: bool,
    /// `documentWithCaptionMessage`: a document sent with a caption.
    pub document_with_caption: bool,
    /// `editedMessage`: an edit (the inner message is the `MESSAGE_EDIT` protocol message).
    pub edited: bool,
    /// `associatedChildMessage` (Baileys).
    pub associated_child: bool,
    /// `groupStatusMessage` (Baileys).
    pub group_status: bool,
    /// `groupStatusMessageV2` (Baileys).
    pub group_status_v2: bool,
}

impl Wrappers {
    /// Whether any view-once wrapper was present.
    pub fn any_view_once(&self) -> bool {
        self.view_once || self.view_once_v2 || self.view_once_v2_extension
    }
}

/// A message with its wrappers looked through.
#[derive(Debug, Clone, Copy)]
pub struct Unwrapped<'a> {
    /// The innermost message (the input itself when it had no wrapper).
    pub message: &'a e2e::Message,
    /// The wrappers that were removed.
    pub wrappers: Wrappers,
    /// The `deviceSentMessage`'s destination (the chat our other device wrote to).
    pub destination: Option<&'a str>,
    /// `messageContextInfo` of the innermost level that has one (whatsmeow copies the outer
    /// one inward when the inner message has none): it carries the `messageSecret`.
    pub message_context_info: Option<&'a e2e::MessageContextInfo>,
}

type Inner = Option<Box<e2e::FutureProofMessage>>;
/// A wrapper field of `Message` and the flag it sets.
type Wrapper = (fn(&e2e::Message) -> &Inner, fn(&mut Wrappers));

/// The wrapper fields in the order they are tried at each level, with their flag.
const FUTURE_PROOF: [Wrapper; 11] = [
    (|m| &m.bot_invoke_message, |w| w.bot_invoke = true),
    (|m| &m.ephemeral_message, |w| w.ephemeral = true),
    (|m| &m.view_once_message, |w| w.view_once = true),
    (|m| &m.view_once_message_v2, |w| w.view_once_v2 = true),
    (
        |m| &m.view_once_message_v2_extension,
        |w| w.view_once_v2_extension = true,
    ),
    (|m| &m.lottie_sticker_message, |w| w.lottie_sticker = true),
    (
        |m| &m.document_with_caption_message,
        |w| w.document_with_caption = true,
    ),
    (|m| &m.edited_message, |w| w.edited = true),
    (
        |m| &m.associated_child_message,
        |w| w.associated_child = true,
    ),
    (|m| &m.group_status_message, |w| w.group_status = true),
    (|m| &m.group_status_message_v2, |w| w.group_status_v2 = true),
];

/// Looks through up to [`MAX_UNWRAP_DEPTH`] wrappers. A wrapper without an inner message is
/// not looked through (whatsmeow: `GetMessage() != nil`).
pub fn unwrap(message: &e2e::Message) -> Unwrapped<'_> {
    let mut out = Unwrapped {
        message,
        wrappers: Wrappers::default(),
        destination: None,
        message_context_info: message.message_context_info.as_ref(),
    };
    for _ in 0..MAX_UNWRAP_DEPTH {
        let current = out.message;
        let next = if let Some(dsm) = &current.device_sent_message
            && let Some(inner) = dsm.message.as_deref()
        {
            out.wrappers.device_sent = true;
            out.destination = dsm.destination_jid.as_deref();
            Some(inner)
        } else {
            FUTURE_PROOF.iter().find_map(|(field, flag)| {
                let inner = field(current).as_ref()?.message.as_deref()?;
                flag(&mut out.wrappers);
                Some(inner)
            })
        };
        let Some(inner) = next else {
            break;
        };
        out.message = inner;
        if let Some(info) = &inner.message_context_info {
            out.message_context_info = Some(info);
        }
    }
    out
}

/// Which message a reaction, edit, revoke or vote points at (a `MessageKey`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The target's message id.
    pub id: String,
    /// The chat, as the sender wrote it.
    pub chat: Option<String>,
    /// Whether the sender of this message also sent the target.
    pub from_me: bool,
    /// The target's sender in a group.
    pub participant: Option<String>,
}

impl Target {
    fn from_key(key: Option<&e2e::MessageKey>) -> Option<Target> {
        let key = key?;
        Some(Target {
            id: key.id.clone()?,
            chat: key.remote_jid.clone(),
            from_me: key.from_me.unwrap_or(false),
            participant: key.participant.clone(),
        })
    }
}

/// A link preview attached to a text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkPreview {
    /// The URL the preview is for (`matchedText`).
    pub url: String,
    /// The page title.
    pub title: Option<String>,
    /// The page description.
    pub description: Option<String>,
}

/// The kind of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// `imageMessage`.
    Image,
    /// `videoMessage` (also GIFs).
    Video,
    /// `ptvMessage`: a round video note.
    Ptv,
    /// `audioMessage` without `ptt`.
    Audio,
    /// `audioMessage` with `ptt`: a voice note.
    VoiceNote,
    /// `documentMessage`.
    Document,
    /// `stickerMessage`.
    Sticker,
}

impl MediaKind {
    /// The media-key type used to decrypt it.
    pub fn media_type(self) -> MediaType {
        match self {
            MediaKind::Image => MediaType::Image,
            MediaKind::Video => MediaType::Video,
            MediaKind::Ptv => MediaType::Ptv,
            MediaKind::Audio => MediaType::Audio,
            MediaKind::VoiceNote => MediaType::Ptt,
            MediaKind::Document => MediaType::Document,
            MediaKind::Sticker => MediaType::Sticker,
        }
    }
}

/// An attachment: what it is and where to fetch it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Media {
    /// Image, video, …; `None` only in `Default`.
    pub kind: Option<MediaKind>,
    /// The caption (images, videos, documents).
    pub caption: Option<String>,
    /// The file name (documents).
    pub file_name: Option<String>,
    /// The MIME type the sender claims.
    pub mimetype: Option<String>,
    /// The plaintext size the sender claims.
    pub file_length: Option<u64>,
    /// Duration in seconds (audio, video).
    pub seconds: Option<u32>,
    /// Whether the media itself is marked view-once.
    pub view_once: bool,
    /// The server path.
    pub direct_path: Option<String>,
    /// The full URL.
    pub url: Option<String>,
    /// The media key.
    pub media_key: Option<Vec<u8>>,
    /// SHA-256 of the plaintext.
    pub file_sha256: Option<Vec<u8>>,
    /// SHA-256 of the encrypted blob.
    pub file_enc_sha256: Option<Vec<u8>>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The media key stays out of logs.
        f.debug_struct("Media")
            .field("kind", &self.kind)
            .field("caption", &self.caption)
            .field("file_name", &self.file_name)
            .field("mimetype", &self.mimetype)
            .field("file_length", &self.file_length)
            .field("seconds", &self.seconds)
            .field("direct_path", &self.direct_path)
            .finish_non_exhaustive()
    }
}

/// A contact card.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// The name shown.
    pub display_name: Option<String>,
    /// The vCard text.
    pub vcard: Option<String>,
}

/// Which poll-creation field a poll came in (they differ in what the client may do with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PollVersion {
    /// `pollCreationMessage` (field 49).
    V1,
    /// `pollCreationMessageV2` (60).
    V2,
    /// `pollCreationMessageV3` (64).
    V3,
}

/// The kind of answer to a business's interactive message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplyKind {
    /// `buttonsResponseMessage`.
    Button,
    /// `listResponseMessage`.
    List,
    /// `templateButtonReplyMessage`.
    Template,
    /// `interactiveResponseMessage` (native flow).
    Interactive,
}

/// What a message carries.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Content {
    /// `conversation` or `extendedTextMessage`. Mentions are in [`Context::mentions`].
    Text {
        /// The text.
        text: String,
        /// The link preview, when the sender attached one.
        link_preview: Option<LinkPreview>,
    },
    /// An image, video, round video, audio, voice note, document or sticker.
    Media(Media),
    /// `locationMessage`.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// Place name.
        name: Option<String>,
        /// Place address.
        address: Option<String>,
    },
    /// `liveLocationMessage`: the start of (or an update to) a shared live location.
    LiveLocation {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// The sender's note.
        caption: Option<String>,
        /// Accuracy in metres.
        accuracy_in_meters: Option<u32>,
        /// The update's sequence number.
        sequence_number: Option<i64>,
    },
    /// `contactMessage`.
    Contact(Contact),
    /// `contactsArrayMessage`.
    Contacts {
        /// The name shown for the whole list.
        display_name: Option<String>,
        /// The cards.
        contacts: Vec<Contact>,
    },
    /// A poll (`pollCreationMessage`, `V2`, `V3`). Votes on it are encrypted with the
    /// `messageSecret` of this message ([`MessageContent::message_secret`]).
    PollCreation {
        /// Which field it came in.
        version: PollVersion,
        /// The question.
        name: String,
        /// The options' names.
        options: Vec<String>,
        /// How many options a voter may pick (0: any number).
        selectable_count: u32,
    },
    /// `pollUpdateMessage`: an encrypted vote on a poll (decrypted by the poll module with
    /// the poll's secret).
    PollVote {
        /// The poll voted on.
        poll: Target,
        /// The encrypted `PollVoteMessage`.
        enc_payload: Vec<u8>,
        /// Its IV.
        enc_iv: Vec<u8>,
        /// When the voter voted, unix milliseconds.
        sender_timestamp_ms: Option<i64>,
    },
    /// `reactionMessage`; an empty emoji removes the reaction.
    Reaction {
        /// The message reacted to.
        target: Target,
        /// The emoji.
        emoji: String,
    },
    /// An edit (`protocolMessage` of type `MESSAGE_EDIT`, bare or in `editedMessage`).
    Edit {
        /// The message edited.
        target: Target,
        /// Its new content.
        new: Box<Content>,
    },
    /// `protocolMessage` of type `REVOKE`: deleted for everyone.
    Revoke {
        /// The message deleted.
        target: Target,
    },
    /// A button, list, template or interactive answer.
    Reply {
        /// Which kind of answer.
        kind: ReplyKind,
        /// The id of what was picked (button id, row id, template id, flow name).
        id: Option<String>,
        /// The text shown to the customer for it.
        text: Option<String>,
        /// More: the list row's description, the flow's JSON parameters.
        detail: Option<String>,
    },
    /// Something this model does not read: the fields present (see [`present_fields`]).
    Unsupported {
        /// The `e2e.Message` fields set, by protobuf name (`#N` for a number the schema
        /// does not know), `messageContextInfo` left out.
        fields: Vec<String>,
    },
}

/// What travels with the content: quote, forwarding, disappearing timer, view-once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The id of the message quoted (`contextInfo.stanzaId`).
    pub quoted_id: Option<String>,
    /// Who sent the quoted message (`contextInfo.participant`).
    pub quoted_sender: Option<String>,
    /// Whether it was forwarded.
    pub forwarded: bool,
    /// How many times it was forwarded (4 or more: "forwarded many times").
    pub forwarding_score: u32,
    /// The chat's disappearing timer in seconds, when set.
    pub expiration: Option<u32>,
    /// The users mentioned.
    pub mentions: Vec<String>,
    /// Whether the message is view-once (a wrapper or the media's own flag).
    pub view_once: bool,
}

/// Everything the model reads from one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageContent {
    /// What it carries.
    pub content: Content,
    /// Quote, forwarding, timer, view-once.
    pub context: Context,
    /// The wrappers it came in.
    pub wrappers: Wrappers,
    /// `messageContextInfo.messageSecret` (polls, reactions to them, bot messages).
    pub message_secret: Option<Vec<u8>>,
}

impl MessageContent {
    /// Unwraps `message` and reads its content and context.
    pub fn read(message: &e2e::Message) -> MessageContent {
        let unwrapped = unwrap(message);
        let content = Content::of(unwrapped.message);
        let mut context = Context::of(unwrapped.message);
        context.view_once |= unwrapped.wrappers.any_view_once()
            || matches!(&content, Content::Media(m) if m.view_once);
        MessageContent {
            content,
            context,
            wrappers: unwrapped.wrappers,
            message_secret: unwrapped
                .message_context_info
                .and_then(|i| i.message_secret.clone()),
        }
    }

    /// As [`MessageContent::read`], for a message decoded from `plaintext`: top-level
    /// fields prost dropped as unknown are named in [`Content::Unsupported`] too.
    pub fn read_plaintext(message: &e2e::Message, plaintext: &[u8]) -> MessageContent {
        let mut read = MessageContent::read(message);
        if let Content::Unsupported { fields } = &mut read.content {
            for number in field_numbers(plaintext) {
                if field_name(number).is_none() {
                    fields::push_unique(fields, format!("#{number}"));
                }
            }
        }
        read
    }
}

/// The text of a `conversation` or `extendedTextMessage` (not captions), of the message
/// as given (unwrap it first).
pub fn text(message: &e2e::Message) -> Option<&str> {
    message.conversation.as_deref().or_else(|| {
        message
            .extended_text_message
            .as_ref()
            .and_then(|m| m.text.as_deref())
    })
}

impl Content {
    /// Reads what an (unwrapped) message carries. The first field found wins, in the order
    /// of this function (a well-formed message sets one).
    pub fn of(m: &e2e::Message) -> Content {
        Content::read_at(m, 0)
    }

    fn read_at(m: &e2e::Message, depth: usize) -> Content {
        if let Some(text) = text(m) {
            let link_preview = m.extended_text_message.as_ref().and_then(|e| {
                Some(LinkPreview {
                    url: e.matched_text.clone()?,
                    title: e.title.clone(),
                    description: e.description.clone(),
                })
            });
            return Content::Text {
                text: text.to_owned(),
                link_preview,
            };
        }
        if let Some(media) = media(m) {
            return Content::Media(media);
        }
        if let Some(l) = &m.location_message {
            return Content::Location {
                latitude: l.degrees_latitude.unwrap_or_default(),
                longitude: l.degrees_longitude.unwrap_or_default(),
                name: l.name.clone(),
                address: l.address.clone(),
            };
        }
        if let Some(l) = &m.live_location_message {
            return Content::LiveLocation {
                latitude: l.degrees_latitude.unwrap_or_default(),
                longitude: l.degrees_longitude.unwrap_or_default(),
                caption: l.caption.clone(),
                accuracy_in_meters: l.accuracy_in_meters,
                sequence_number: l.sequence_number,
            };
        }
        if let Some(c) = &m.contact_message {
            return Content::Contact(contact(c));
        }
        if let Some(a) = &m.contacts_array_message {
            return Content::Contacts {
                display_name: a.display_name.clone(),
                contacts: a.contacts.iter().map(contact).collect(),
            };
        }
        for (poll, version) in [
            (&m.poll_creation_message, PollVersion::V1),
            (&m.poll_creation_message_v2, PollVersion::V2),
            (&m.poll_creation_message_v3, PollVersion::V3),
        ] {
            if let Some(p) = poll {
                return Content::PollCreation {
                    version,
                    name: p.name.clone().unwrap_or_default(),
                    options: p
                        .options
                        .iter()
                        .map(|o| o.option_name.clone().unwrap_or_default())
                        .collect(),
                    selectable_count: p.selectable_options_count.unwrap_or(0),
                };
            }
        }
        if let Some(u) = &m.poll_update_message
            && let Some(poll) = Target::from_key(u.poll_creation_message_key.as_ref())
        {
            let vote = u.vote.as_ref();
            return Content::PollVote {
                poll,
                enc_payload: vote.and_then(|v| v.enc_payload.clone()).unwrap_or_default(),
                enc_iv: vote.and_then(|v| v.enc_iv.clone()).unwrap_or_default(),
                sender_timestamp_ms: u.sender_timestamp_ms,
            };
        }
        if let Some(r) = &m.reaction_message
            && let Some(target) = Target::from_key(r.key.as_ref())
        {
            return Content::Reaction {
                target,
                emoji: r.text.clone().unwrap_or_default(),
            };
        }
        if let Some(p) = &m.protocol_message
            && let Some(content) = protocol(p, depth)
        {
            return content;
        }
        if let Some(reply) = reply(m) {
            return reply;
        }
        Content::Unsupported {
            fields: present_fields(m),
        }
    }
}

fn protocol(p: &e2e::ProtocolMessage, depth: usize) -> Option<Content> {
    use e2e::protocol_message::Type;
    let target = Target::from_key(p.key.as_ref())?;
    // An absent type reads as REVOKE (0), as whatsmeow's GetType() does.
    let kind = p.r#type.unwrap_or(Type::Revoke as i32);
    if kind == Type::Revoke as i32 {
        return Some(Content::Revoke { target });
    }
    if kind == Type::MessageEdit as i32 {
        let edited = p.edited_message.as_deref()?;
        // The new content may be wrapped itself; the depth bound holds across levels.
        let inner = unwrap(edited).message;
        let new = if depth < MAX_UNWRAP_DEPTH {
            Content::read_at(inner, depth + 1)
        } else {
            Content::Unsupported {
                fields: present_fields(inner),
            }
        };
        return Some(Content::Edit {
            target,
            new: Box::new(new),
        });
    }
    None
}

fn reply(m: &e2e::Message) -> Option<Content> {
    let (kind, id, text, detail) = if let Some(b) = &m.buttons_response_message {
        (
            ReplyKind::Button,
            b.selected_button_id.clone(),
            b.selected_display_text.clone(),
            None,
        )
    } else if let Some(l) = &m.list_response_message {
        (
            ReplyKind::List,
            l.single_select_reply
                .as_ref()
                .and_then(|r| r.selected_row_id.clone()),
            l.title.clone(),
            l.description.clone(),
        )
    } else if let Some(t) = &m.template_button_reply_message {
        (
            ReplyKind::Template,
            t.selected_id.clone(),
            t.selected_display_text.clone(),
            None,
        )
    } else if let Some(i) = &m.interactive_response_message {
        let flow = i.native_flow_response_message.as_ref();
        (
            ReplyKind::Interactive,
            flow.and_then(|f| f.name.clone()),
            i.body.as_ref().and_then(|b| b.text.clone()),
            flow.and_then(|f| f.params_json.clone()),
        )
    } else {
        return None;
    };
    Some(Content::Reply {
        kind,
        id,
        text,
        detail,
    })
}

fn contact(c: &e2e::ContactMessage) -> Contact {
    Contact {
        display_name: c.display_name.clone(),
        vcard: c.vcard.clone(),
    }
}

/// The attachment of a message, if it has one.
fn media(m: &e2e::Message) -> Option<Media> {
    macro_rules! read {
        ($m:expr, $kind:expr, caption: $caption:expr, file_name: $file:expr, seconds: $secs:expr, view_once: $vo:expr) => {
            Media {
                kind: Some($kind),
                caption: $caption,
                file_name: $file,
                mimetype: $m.mimetype.clone(),
                file_length: $m.file_length,
                seconds: $secs,
                view_once: $vo,
                direct_path: $m.direct_path.clone(),
                url: $m.url.clone(),
                media_key: $m.media_key.clone(),
                file_sha256: $m.file_sha256.clone(),
                file_enc_sha256: $m.file_enc_sha256.clone(),
            }
        };
    }
    if let Some(i) = &m.image_message {
        return Some(
            read!(i, MediaKind::Image, caption: i.caption.clone(), file_name: None,
            seconds: None, view_once: i.view_once == Some(true)),
        );
    }
    for (video, kind) in [
        (&m.video_message, MediaKind::Video),
        (&m.ptv_message, MediaKind::Ptv),
    ] {
        if let Some(v) = video {
            return Some(read!(v, kind, caption: v.caption.clone(), file_name: None,
                seconds: v.seconds, view_once: v.view_once == Some(true)));
        }
    }
    if let Some(a) = &m.audio_message {
        let kind = if a.ptt == Some(true) {
            MediaKind::VoiceNote
        } else {
            MediaKind::Audio
        };
        return Some(
            read!(a, kind, caption: None, file_name: None, seconds: a.seconds,
            view_once: a.view_once == Some(true)),
        );
    }
    if let Some(d) = &m.document_message {
        return Some(read!(d, MediaKind::Document, caption: d.caption.clone(),
            file_name: d.file_name.clone().or_else(|| d.title.clone()), seconds: None,
            view_once: false));
    }
    if let Some(s) = &m.sticker_message {
        return Some(read!(s, MediaKind::Sticker, caption: None, file_name: None,
            seconds: None, view_once: false));
    }
    None
}

impl Context {
    /// The context of an (unwrapped) message: its content's `contextInfo`.
    pub fn of(m: &e2e::Message) -> Context {
        let Some(info) = context_info(m) else {
            return Context::default();
        };
        Context {
            quoted_id: info.stanza_id.clone(),
            quoted_sender: info.participant.clone(),
            forwarded: info.is_forwarded == Some(true),
            forwarding_score: info.forwarding_score.unwrap_or(0),
            expiration: info.expiration.filter(|e| *e > 0),
            mentions: info.mentioned_jid.clone(),
            view_once: false,
        }
    }
}

/// Calls `$then!` with every `Message` field whose kind has a `contextInfo`, in the order
/// they are tried.
macro_rules! with_context_kinds {
    ($then:ident) => {
        $then!(
            extended_text_message,
            image_message,
            video_message,
            ptv_message,
            audio_message,
            document_message,
            sticker_message,
            location_message,
            live_location_message,
            contact_message,
            contacts_array_message,
            poll_creation_message,
            poll_creation_message_v2,
            poll_creation_message_v3,
            buttons_response_message,
            list_response_message,
            template_button_reply_message,
            interactive_response_message,
        )
    };
}

/// The `contextInfo` of the message's content, whichever kind it is.
pub fn context_info(m: &e2e::Message) -> Option<&e2e::ContextInfo> {
    macro_rules! first {
        ($($field:ident),* $(,)?) => {
            None $(.or_else(|| m.$field.as_ref().and_then(|x| x.context_info.as_deref())))*
        };
    }
    with_context_kinds!(first)
}

/// The `contextInfo` of the message's content for writing, created if the kind has one
/// and it is absent; `None` for kinds without one (a bare `conversation` among them).
pub fn context_info_mut(m: &mut e2e::Message) -> Option<&mut e2e::ContextInfo> {
    macro_rules! first {
        ($($field:ident),* $(,)?) => {{
            $(if let Some(x) = m.$field.as_mut() {
                return Some(x.context_info.get_or_insert_with(Box::default));
            })*
            None
        }};
    }
    with_context_kinds!(first)
}

// After `with_context_kinds`, which it uses.
pub mod compose;
