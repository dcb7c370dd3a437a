//! Building outgoing messages: the reverse of [`super::Content`]. Pure: the caller brings
//! the clock (`now_ms`) and the randomness (a poll's secret), the client sends the result.
//!
//! The shapes follow whatsmeow (send.go `BuildMessageKey`, `BuildReaction`, `BuildEdit`,
//! `BuildRevoke`; msgsecret.go `BuildPollCreation`) and, where whatsmeow has no builder,
//! Baileys (src/Utils/messages.ts `generateWAMessageContent`, `generateWAMessageFromContent`,
//! `generateForwardMessageContent`).

use crate::pb::e2e;

use super::{Target, context_info_mut};

/// Why a message could not be built from what the caller gave.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// A poll needs a question.
    #[error("a poll needs a question")]
    EmptyPollName,
    /// A poll has 2 to [`MAX_POLL_OPTIONS`] options.
    #[error("a poll has 2 to {MAX_POLL_OPTIONS} options, not {0}")]
    PollOptionCount(usize),
    /// Two options share a name: votes carry hashes of the names, so they could not be told
    /// apart.
    #[error("poll option {0:?} is given twice")]
    DuplicatePollOption(String),
    /// An option has no name.
    #[error("a poll option is empty")]
    EmptyPollOption,
    /// A contact list needs at least one card.
    #[error("no contact card")]
    NoContacts,
    /// A latitude outside -90..=90 or a longitude outside -180..=180 (or not a number).
    #[error("coordinates out of range: {0}, {1}")]
    Coordinates(f64, f64),
    /// This kind of message has no `contextInfo` to carry a quote, mention or forward.
    #[error("a {0} cannot carry a quote, mention or forward")]
    NoContext(&'static str),
}

/// The most options a poll may have.
// guess: WhatsApp's apps stop at 12 options; neither whatsmeow nor Baileys checks.
pub const MAX_POLL_OPTIONS: usize = 12;

impl Target {
    /// The `MessageKey` that names this message in a reaction, revoke, vote or quote.
    pub fn key(&self) -> e2e::MessageKey {
        e2e::MessageKey {
            remote_jid: self.chat.clone(),
            from_me: Some(self.from_me),
            id: Some(self.id.clone()),
            participant: self.participant.clone(),
        }
    }
}

/// A reaction to `target` (whatsmeow `BuildReaction`); an empty `emoji` removes ours.
pub fn reaction(target: &Target, emoji: &str, now_ms: i64) -> e2e::Message {
    e2e::Message {
        reaction_message: Some(e2e::ReactionMessage {
            key: Some(target.key()),
            text: Some(emoji.to_owned()),
            sender_timestamp_ms: Some(now_ms),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An edit of our own message `id` in `chat` (whatsmeow `BuildEdit`: a `MESSAGE_EDIT`
/// protocol message inside `editedMessage`).
pub fn edit(chat: &str, id: &str, new: e2e::Message, now_ms: i64) -> e2e::Message {
    let protocol = e2e::ProtocolMessage {
        key: Some(e2e::MessageKey {
            remote_jid: Some(chat.to_owned()),
            from_me: Some(true),
            id: Some(id.to_owned()),
            participant: None,
        }),
        r#type: Some(e2e::protocol_message::Type::MessageEdit as i32),
        edited_message: Some(Box::new(new)),
        timestamp_ms: Some(now_ms),
        ..Default::default()
    };
    e2e::Message {
        edited_message: Some(Box::new(e2e::FutureProofMessage {
            message: Some(Box::new(e2e::Message {
                protocol_message: Some(Box::new(protocol)),
                ..Default::default()
            })),
        })),
        ..Default::default()
    }
}

/// "Delete for everyone" of `target` (whatsmeow `BuildRevoke`): ours when `from_me`, or, as
/// a group admin, a participant's.
pub fn revoke(target: &Target) -> e2e::Message {
    e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            key: Some(target.key()),
            r#type: Some(e2e::protocol_message::Type::Revoke as i32),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A poll (whatsmeow `BuildPollCreation`) under `secret`, the message secret its votes are
/// sealed with: 32 random bytes the caller keeps. `selectable` is how many options a voter
/// may pick; 0, or more than there are options, means any number.
///
/// ```
/// use whatsapp_proto::content::compose::poll;
/// let message = poll("Pick-up time?", &["9:00", "17:00"], 1, [7; 32]).unwrap();
/// assert!(message.poll_creation_message.is_some());
/// assert!(poll("Empty?", &["only one"], 1, [7; 32]).is_err());
/// ```
pub fn poll(
    name: &str,
    options: &[&str],
    selectable: u32,
    secret: [u8; 32],
) -> Result<e2e::Message, ComposeError> {
    if name.trim().is_empty() {
        return Err(ComposeError::EmptyPollName);
    }
    if !(2..=MAX_POLL_OPTIONS).contains(&options.len()) {
        return Err(ComposeError::PollOptionCount(options.len()));
    }
    for (i, option) in options.iter().enumerate() {
        if option.trim().is_empty() {
            return Err(ComposeError::EmptyPollOption);
        }
        if options[..i].contains(option) {
            return Err(ComposeError::DuplicatePollOption((*option).to_owned()));
        }
    }
    let selectable = if selectable as usize > options.len() {
        0
    } else {
        selectable
    };
    Ok(e2e::Message {
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
            message_secret: Some(secret.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn check_coordinates(latitude: f64, longitude: f64) -> Result<(), ComposeError> {
    if (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude) {
        Ok(())
    } else {
        Err(ComposeError::Coordinates(latitude, longitude))
    }
}

/// A place pinned on the map (`locationMessage`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Location {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The place's name.
    pub name: Option<String>,
    /// The place's address.
    pub address: Option<String>,
}

impl Location {
    /// A pin at these coordinates.
    pub fn new(latitude: f64, longitude: f64) -> Location {
        Location {
            latitude,
            longitude,
            ..Location::default()
        }
    }

    /// With the place's name and address.
    pub fn named(mut self, name: impl Into<String>, address: Option<String>) -> Location {
        self.name = Some(name.into());
        self.address = address;
        self
    }

    /// The message; coordinates are checked.
    pub fn message(&self) -> Result<e2e::Message, ComposeError> {
        check_coordinates(self.latitude, self.longitude)?;
        Ok(e2e::Message {
            location_message: Some(Box::new(e2e::LocationMessage {
                degrees_latitude: Some(self.latitude),
                degrees_longitude: Some(self.longitude),
                name: self.name.clone(),
                address: self.address.clone(),
                ..Default::default()
            })),
            ..Default::default()
        })
    }
}

/// A live location: the first share and each update after it (`liveLocationMessage` with a
/// growing `sequenceNumber`).
// guess: updates go as further liveLocationMessages in the chat with a higher sequence
// number and `timeOffset`; whatsmeow and Baileys build none, and the official apps' update
// channel (`location@broadcast`) is not documented by either.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LiveLocation {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Accuracy in metres.
    pub accuracy_in_meters: Option<u32>,
    /// Speed in metres per second.
    pub speed_in_mps: Option<f32>,
    /// Heading, degrees clockwise from magnetic north.
    pub heading: Option<u32>,
    /// The sender's note.
    pub caption: Option<String>,
    /// 0 for the first share, then counting up with each update.
    pub sequence_number: i64,
    /// Seconds since the share began.
    pub time_offset: u32,
}

impl LiveLocation {
    /// The first share at these coordinates.
    pub fn new(latitude: f64, longitude: f64) -> LiveLocation {
        LiveLocation {
            latitude,
            longitude,
            ..LiveLocation::default()
        }
    }

    /// The next update: moved to new coordinates `seconds_later` after the share began.
    pub fn update(&self, latitude: f64, longitude: f64, seconds_later: u32) -> LiveLocation {
        LiveLocation {
            latitude,
            longitude,
            sequence_number: self.sequence_number + 1,
            time_offset: seconds_later,
            ..self.clone()
        }
    }

    /// The message; coordinates are checked.
    pub fn message(&self) -> Result<e2e::Message, ComposeError> {
        check_coordinates(self.latitude, self.longitude)?;
        Ok(e2e::Message {
            live_location_message: Some(Box::new(e2e::LiveLocationMessage {
                degrees_latitude: Some(self.latitude),
                degrees_longitude: Some(self.longitude),
                accuracy_in_meters: self.accuracy_in_meters,
                speed_in_mps: self.speed_in_mps,
                degrees_clockwise_from_magnetic_north: self.heading,
                caption: self.caption.clone(),
                sequence_number: Some(self.sequence_number),
                time_offset: Some(self.time_offset),
                ..Default::default()
            })),
            ..Default::default()
        })
    }
}

/// One contact card: a name and its vCard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCard {
    /// The name shown.
    pub display_name: String,
    /// The vCard text.
    pub vcard: String,
}

impl ContactCard {
    /// A card for a WhatsApp user: a vCard 3.0 with the name and the number, its `waid`
    /// naming the account as WhatsApp's apps write it. Line breaks and vCard separators in
    /// the name are replaced, so a name cannot add fields; the phone keeps only digits.
    ///
    /// ```
    /// use whatsapp_proto::content::compose::ContactCard;
    /// let card = ContactCard::phone("Dr. Amal", "+20 100 123 4567");
    /// assert!(card.vcard.contains("TEL;type=CELL;waid=201001234567:+201001234567"));
    /// let sneaky = ContactCard::phone("A\nTEL:+1999", "2010");
    /// assert_eq!(sneaky.vcard.lines().filter(|l| l.starts_with("TEL")).count(), 1);
    /// ```
    pub fn phone(name: &str, phone: &str) -> ContactCard {
        let clean: String = name
            .chars()
            .map(|c| match c {
                '\r' | '\n' | ';' | ':' | ',' | '\\' => ' ',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        let clean = clean.trim().to_owned();
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let vcard = format!(
            "BEGIN:VCARD\nVERSION:3.0\nFN:{clean}\nTEL;type=CELL;waid={digits}:+{digits}\nEND:VCARD"
        );
        ContactCard {
            display_name: clean,
            vcard,
        }
    }

    fn message(&self) -> e2e::ContactMessage {
        e2e::ContactMessage {
            display_name: Some(self.display_name.clone()),
            vcard: Some(self.vcard.clone()),
            ..Default::default()
        }
    }
}

/// One card as a `contactMessage`, several as a `contactsArrayMessage` named
/// `display_name` (Baileys `generateWAMessageContent`).
pub fn contacts(display_name: &str, cards: &[ContactCard]) -> Result<e2e::Message, ComposeError> {
    match cards {
        [] => Err(ComposeError::NoContacts),
        [one] => Ok(e2e::Message {
            contact_message: Some(Box::new(one.message())),
            ..Default::default()
        }),
        many => Ok(e2e::Message {
            contacts_array_message: Some(Box::new(e2e::ContactsArrayMessage {
                display_name: Some(display_name.to_owned()),
                contacts: many.iter().map(ContactCard::message).collect(),
                ..Default::default()
            })),
            ..Default::default()
        }),
    }
}

/// A link preview the caller made (the library fetches nothing): shown above the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutgoingPreview {
    /// The URL as it appears in the text (`matchedText`).
    pub url: String,
    /// The page's title.
    pub title: Option<String>,
    /// The page's description.
    pub description: Option<String>,
    /// A small JPEG (`jpegThumbnail`).
    pub thumbnail: Option<Vec<u8>>,
}

impl OutgoingPreview {
    /// A preview of `url` with a title.
    pub fn new(url: impl Into<String>, title: impl Into<String>) -> OutgoingPreview {
        OutgoingPreview {
            url: url.into(),
            title: Some(title.into()),
            ..OutgoingPreview::default()
        }
    }

    /// With a description.
    pub fn description(mut self, description: impl Into<String>) -> OutgoingPreview {
        self.description = Some(description.into());
        self
    }

    /// With a JPEG thumbnail.
    pub fn thumbnail(mut self, jpeg: Vec<u8>) -> OutgoingPreview {
        self.thumbnail = Some(jpeg);
        self
    }
}

/// A text with its mentions and link preview.
///
/// ```
/// use whatsapp_proto::content::compose::{OutgoingPreview, Text};
/// let text = Text::new("@201112223334 see https://example.com")
///     .mention("201112223334@s.whatsapp.net")
///     .link_preview(OutgoingPreview::new("https://example.com", "Example"));
/// let message = text.message();
/// let ext = message.extended_text_message.unwrap();
/// assert_eq!(ext.matched_text.as_deref(), Some("https://example.com"));
/// assert_eq!(ext.context_info.unwrap().mentioned_jid, ["201112223334@s.whatsapp.net"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Text {
    /// The text.
    pub text: String,
    /// The users mentioned (JIDs; the text shows them as `@digits`).
    pub mentions: Vec<String>,
    /// The link preview.
    pub link_preview: Option<OutgoingPreview>,
}

impl Text {
    /// A plain text.
    pub fn new(text: impl Into<String>) -> Text {
        Text {
            text: text.into(),
            ..Text::default()
        }
    }

    /// Mentions a user.
    pub fn mention(mut self, jid: impl Into<String>) -> Text {
        self.mentions.push(jid.into());
        self
    }

    /// Attaches a link preview.
    pub fn link_preview(mut self, preview: OutgoingPreview) -> Text {
        self.link_preview = Some(preview);
        self
    }

    /// The message: a bare `conversation` when there is nothing else, else an
    /// `extendedTextMessage` (Baileys also sets `previewType` to its default, NONE, which
    /// this schema leaves out).
    pub fn message(&self) -> e2e::Message {
        if self.mentions.is_empty() && self.link_preview.is_none() {
            return e2e::Message {
                conversation: Some(self.text.clone()),
                ..Default::default()
            };
        }
        let mut ext = e2e::ExtendedTextMessage {
            text: Some(self.text.clone()),
            ..Default::default()
        };
        if let Some(p) = &self.link_preview {
            ext.matched_text = Some(p.url.clone());
            ext.title.clone_from(&p.title);
            ext.description.clone_from(&p.description);
            ext.jpeg_thumbnail.clone_from(&p.thumbnail);
        }
        if !self.mentions.is_empty() {
            ext.context_info = Some(Box::new(e2e::ContextInfo {
                mentioned_jid: self.mentions.clone(),
                ..Default::default()
            }));
        }
        e2e::Message {
            extended_text_message: Some(Box::new(ext)),
            ..Default::default()
        }
    }
}

/// A bare `conversation` becomes an `extendedTextMessage`, which has a `contextInfo`.
fn with_context(message: &mut e2e::Message, what: &'static str) -> Result<(), ComposeError> {
    if let Some(text) = message.conversation.take() {
        message.extended_text_message = Some(Box::new(e2e::ExtendedTextMessage {
            text: Some(text),
            ..Default::default()
        }));
    }
    context_info_mut(message)
        .map(|_| ())
        .ok_or(ComposeError::NoContext(what))
}

/// The message being answered: its id, sender and content go into the reply's
/// `contextInfo` (Baileys `generateWAMessageFromContent` with `quoted`).
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The quoted message's id (`stanzaId`).
    pub id: String,
    /// Who sent it, without device (`participant`): us for our own.
    pub sender: String,
    /// Its chat, only when the reply goes elsewhere (`remoteJid`).
    pub chat: Option<String>,
    /// Its content, unwrapped (`quotedMessage`).
    pub message: e2e::Message,
}

/// Puts `quote` on `message` (any kind with a `contextInfo`; a bare text is made an
/// extended one). The quoted content goes without its own `contextInfo` and
/// `messageContextInfo`, as Baileys strips them.
pub fn quote(message: &mut e2e::Message, quote: &Quote) -> Result<(), ComposeError> {
    with_context(message, "message of this kind")?;
    let mut quoted = super::unwrap(&quote.message).message.clone();
    quoted.message_context_info = None;
    if let Some(info) = context_info_mut(&mut quoted) {
        *info = e2e::ContextInfo::default();
    }
    strip_empty_context(&mut quoted);
    let info = context_info_mut(message).ok_or(ComposeError::NoContext("reply"))?;
    info.stanza_id = Some(quote.id.clone());
    info.participant = Some(quote.sender.clone());
    info.remote_jid.clone_from(&quote.chat);
    info.quoted_message = Some(Box::new(quoted));
    Ok(())
}

/// Drops the empty `contextInfo` that [`context_info_mut`] leaves on a quoted content.
fn strip_empty_context(message: &mut e2e::Message) {
    macro_rules! strip {
        ($($field:ident),* $(,)?) => {
            $(if let Some(x) = message.$field.as_mut()
                && x.context_info.as_deref() == Some(&e2e::ContextInfo::default())
            {
                x.context_info = None;
            })*
        };
    }
    with_context_kinds!(strip);
}

/// Adds mentions to any kind with a `contextInfo` (captions too).
pub fn mention(message: &mut e2e::Message, jids: &[String]) -> Result<(), ComposeError> {
    with_context(message, "message of this kind")?;
    let info = context_info_mut(message).ok_or(ComposeError::NoContext("mention"))?;
    info.mentioned_jid.extend(jids.iter().cloned());
    Ok(())
}

/// A received or sent message, ready to forward (Baileys `generateForwardMessageContent`):
/// unwrapped, its `contextInfo` replaced by the forwarding marks. Forwarding someone else's
/// message adds one to its `forwardingScore` (4 and more shows "forwarded many times");
/// forwarding our own keeps it, and a score of 0 is no forward mark at all.
///
/// ```
/// use whatsapp_proto::content::compose::forward;
/// use whatsapp_proto::pb::e2e;
/// let got = e2e::Message { conversation: Some("Offer: 10% off".into()), ..Default::default() };
/// let out = forward(&got, false).unwrap();
/// let info = out.extended_text_message.unwrap().context_info.unwrap();
/// assert_eq!((info.is_forwarded, info.forwarding_score), (Some(true), Some(1)));
/// ```
pub fn forward(message: &e2e::Message, from_me: bool) -> Result<e2e::Message, ComposeError> {
    let mut out = super::unwrap(message).message.clone();
    out.message_context_info = None;
    let score = super::context_info(&out)
        .and_then(|c| c.forwarding_score)
        .unwrap_or(0)
        + u32::from(!from_me);
    with_context(&mut out, "message of this kind")?;
    let info = context_info_mut(&mut out).ok_or(ComposeError::NoContext("forward"))?;
    *info = if score > 0 {
        e2e::ContextInfo {
            forwarding_score: Some(score),
            is_forwarded: Some(true),
            ..Default::default()
        }
    } else {
        e2e::ContextInfo::default()
    };
    strip_empty_context(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Content, MessageContent};

    fn target(from_me: bool) -> Target {
        Target {
            id: "3EB0AA".into(),
            chat: Some("1203@g.us".into()),
            from_me,
            participant: (!from_me).then(|| "2011@s.whatsapp.net".into()),
        }
    }

    #[test]
    fn built_messages_read_back_as_their_content() {
        let read = |m: &e2e::Message| MessageContent::read(m).content;
        assert_eq!(
            read(&reaction(&target(false), "👍", 5)),
            Content::Reaction {
                target: target(false),
                emoji: "👍".into()
            }
        );
        assert_eq!(
            read(&revoke(&target(true))),
            Content::Revoke {
                target: target(true)
            }
        );
        let edited = edit(
            "2011@s.whatsapp.net",
            "3EB0BB",
            Text::new("6pm").message(),
            9,
        );
        let Content::Edit { target, new } = read(&edited) else {
            panic!("{edited:?}")
        };
        assert_eq!((target.id.as_str(), target.from_me), ("3EB0BB", true));
        assert!(matches!(*new, Content::Text { ref text, .. } if text == "6pm"));
        let Content::Contacts {
            contacts: cards, ..
        } = read(
            &contacts(
                "Two",
                &[ContactCard::phone("A", "1"), ContactCard::phone("B", "2")],
            )
            .unwrap(),
        )
        else {
            panic!()
        };
        assert_eq!(cards.len(), 2);
        assert!(matches!(
            read(&contacts("One", &[ContactCard::phone("A", "1")]).unwrap()),
            Content::Contact(_)
        ));
    }

    #[test]
    fn polls_are_checked() {
        assert_eq!(
            poll(" ", &["a", "b"], 1, [0; 32]),
            Err(ComposeError::EmptyPollName)
        );
        assert_eq!(
            poll("q", &["a", "a"], 1, [0; 32]),
            Err(ComposeError::DuplicatePollOption("a".into()))
        );
        assert_eq!(
            poll("q", &["a"; 13], 1, [0; 32]),
            Err(ComposeError::PollOptionCount(13))
        );
        let multi = poll("q", &["a", "b", "c"], 9, [3; 32]).unwrap();
        let p = multi.poll_creation_message.unwrap();
        assert_eq!(
            p.selectable_options_count,
            Some(0),
            "more than there are: any"
        );
        assert_eq!(
            multi.message_context_info.unwrap().message_secret,
            Some(vec![3; 32])
        );
    }

    #[test]
    fn bad_coordinates_are_refused() {
        assert!(Location::new(91.0, 0.0).message().is_err());
        assert!(LiveLocation::new(0.0, f64::NAN).message().is_err());
        let first = LiveLocation::new(30.0, 31.2);
        let next = first.update(30.1, 31.3, 60);
        assert_eq!((next.sequence_number, next.time_offset), (1, 60));
    }

    #[test]
    fn a_quote_carries_the_quoted_content_without_its_context() {
        let mut quoted = Text::new("hi @2011")
            .mention("2011@s.whatsapp.net")
            .message();
        quoted.message_context_info = Some(e2e::MessageContextInfo::default());
        let mut reply = Text::new("hello").message();
        quote(
            &mut reply,
            &Quote {
                id: "3EB0CC".into(),
                sender: "2011@s.whatsapp.net".into(),
                chat: None,
                message: quoted,
            },
        )
        .unwrap();
        let info = reply.extended_text_message.unwrap().context_info.unwrap();
        assert_eq!(info.stanza_id.as_deref(), Some("3EB0CC"));
        assert_eq!(info.participant.as_deref(), Some("2011@s.whatsapp.net"));
        let q = info.quoted_message.unwrap();
        assert_eq!(q.message_context_info, None);
        assert_eq!(q.extended_text_message.unwrap().context_info, None);
        // A reaction has no contextInfo.
        let mut r = reaction(&target(true), "x", 1);
        assert!(mention(&mut r, &["a".into()]).is_err());
    }

    #[test]
    fn forwarding_counts_as_baileys_does() {
        let mut got = Text::new("x").mention("m").message();
        if let Some(info) = context_info_mut(&mut got) {
            info.forwarding_score = Some(3);
            info.is_forwarded = Some(true);
        }
        let again = forward(&got, false).unwrap();
        let info = super::super::context_info(&again).unwrap();
        assert_eq!(info.forwarding_score, Some(4));
        assert!(info.mentioned_jid.is_empty(), "the old context goes");
        let own = forward(&Text::new("mine").message(), true).unwrap();
        assert_eq!(super::super::context_info(&own), None, "no mark on our own");
    }
}
