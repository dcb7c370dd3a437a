//! What a message is: its kind, which way it went, who wrote it and where its delivery
//! stands. The database and the JSON API spell each value as [`as_str`](MessageKind::as_str)
//! gives it (`db` maps the columns with these spellings).

use serde::{Deserialize, Serialize};

/// Declares a fieldless enum with its one spelling per value (database, JSON, UI).
macro_rules! spelled {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:tt,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The one spelling (database, JSON, UI).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// Parses [`Self::as_str`]'s spelling.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        /// The first value (what a new row starts as until it is set).
        impl Default for $name {
            fn default() -> Self {
                $name::ALL[0]
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled! {
    /// What a message carries.
    MessageKind {
        /// Text.
        Text = "text",
        /// A photo.
        Image = "image",
        /// An audio file or a voice note.
        Audio = "audio",
        /// A video.
        Video = "video",
        /// A round video note (WhatsApp's `ptvMessage`).
        Ptv = "ptv",
        /// A document (file name in `media_name`, caption in `body`).
        Document = "document",
        /// A sticker.
        Sticker = "sticker",
        /// A location pin.
        Location = "location",
        /// A shared live location: its last position, `location_updated_at` when it moved.
        LiveLocation = "live_location",
        /// One contact card or several (each in `contacts`).
        Contact = "contact",
        /// A poll: the question in `body`, options and their votes in `poll`.
        Poll = "poll",
        /// A vote on a poll this service does not hold (votes on held polls update them).
        PollVote = "poll_vote",
        /// The answer to a button message (`reply_id`: the button's id).
        ButtonReply = "button_reply",
        /// The answer to a list message (`reply_id`: the row's id).
        ListReply = "list_reply",
        /// The answer to a template button (`reply_id`: its id).
        TemplateReply = "template_reply",
        /// The answer to an interactive (native flow) message (`reply_id`: the flow's name).
        InteractiveReply = "interactive_reply",
        /// A view-once message, which WhatsApp shows only on the pharmacy's phone.
        ViewOnce = "view_once",
        /// A kind this system cannot show yet (the kind is named in `body`).
        Unsupported = "unsupported",
        /// A satisfaction rating (1-5).
        Rating = "rating",
        /// A customer's call WhatsApp Web could not answer: `body` is its outcome and medium,
        /// `"<outcome> <voice|video>"` ([`CallOutcome`], [`call_body`]).
        Call = "call",
    }
}

spelled! {
    /// How a customer's call ended, as its line in the ticket says.
    CallOutcome {
        /// The offer ended unanswered.
        Missed = "missed",
        /// Declined on the pharmacy's phone.
        Rejected = "rejected",
        /// Rejected by the service at once (the admins' automatic reject).
        AutoRejected = "auto_rejected",
    }
}

/// The body of a call's line: its outcome and medium as two words (`"missed video"`), which
/// the UI turns into a sentence in its own language and search finds.
pub fn call_body(outcome: CallOutcome, video: bool) -> String {
    format!("{} {}", outcome, if video { "video" } else { "voice" })
}

impl MessageKind {
    /// Whether the message carries an attachment.
    pub fn is_media(self) -> bool {
        matches!(
            self,
            MessageKind::Image
                | MessageKind::Audio
                | MessageKind::Video
                | MessageKind::Ptv
                | MessageKind::Document
                | MessageKind::Sticker
        )
    }

    /// The kind of an attachment of this media type (what the pharmacy sends).
    pub fn of_mime(mime: &str) -> MessageKind {
        match mime.split('/').next().unwrap_or("") {
            "image" => MessageKind::Image,
            "audio" => MessageKind::Audio,
            "video" => MessageKind::Video,
            _ => MessageKind::Document,
        }
    }
}

spelled! {
    /// Which way a message went.
    Direction {
        /// From the customer.
        In = "in",
        /// To the customer.
        Out = "out",
    }
}

spelled! {
    /// Who wrote a message.
    SenderKind {
        /// The customer.
        Customer = "customer",
        /// An agent, an admin or the pharmacy's phone.
        Agent = "agent",
        /// The service itself (automatic replies).
        System = "system",
    }
}

spelled! {
    /// Where a message stands: `received` for the customer's, the delivery steps for ours.
    MessageStatus {
        /// A customer's message, stored.
        Received = "received",
        /// Ours, held for an admin's decision (pacing).
        Held = "held",
        /// Ours, waiting in the outbox.
        Queued = "queued",
        /// Ours, accepted by WhatsApp.
        Sent = "sent",
        /// Ours, on the customer's phone.
        Delivered = "delivered",
        /// Ours, read.
        Read = "read",
        /// Ours, could not be sent.
        Failed = "failed",
        /// Ours, withdrawn before it went out.
        Cancelled = "cancelled",
    }
}

impl MessageStatus {
    /// Whether a message at `self` may move to `next`: receipts only move forward (a late
    /// `delivered` never undoes `read`); a receipt for a message thought failed wins (it
    /// arrived); nothing leaves `cancelled`.
    pub fn may_advance_to(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        match next {
            Failed | Cancelled => !matches!(self, Delivered | Read | Failed | Cancelled),
            _ if self == Failed => next.rank() >= Sent.rank(),
            _ => self != Cancelled && next.rank() > self.rank(),
        }
    }

    fn rank(self) -> u8 {
        match self {
            MessageStatus::Held => 0,
            MessageStatus::Queued => 1,
            MessageStatus::Sent => 2,
            MessageStatus::Delivered => 3,
            MessageStatus::Read => 4,
            _ => 5,
        }
    }
}

/// The line stored for a view-once message (WhatsApp never gives those to linked devices).
pub const VIEW_ONCE_TEXT: &str =
    "A view-once message: WhatsApp shows it only on the pharmacy's phone";

/// The line stored for a kind this system cannot show, naming it.
pub fn unsupported_text(kind: &str) -> String {
    format!(
        "A message of a kind this system cannot show yet ({kind}): open WhatsApp on the pharmacy's phone"
    )
}

/// SHA-256 (lowercase hex) of a poll option's name: what a vote names it by (whatsmeow
/// `HashPollOptions`).
pub fn poll_option_hash(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(name.as_bytes()))
}

/// Whether a live-location message may be the one an update from the same chat continues:
/// WhatsApp's longest share lasts 8 hours, and a share's updates count up. A guess from how
/// phones number their updates (`sequenceNumber`); WhatsApp documents no rule.
pub fn continues_live_location(
    started_ms: i64,
    last_sequence: Option<i64>,
    update_ms: i64,
    sequence: Option<i64>,
) -> bool {
    const LONGEST_SHARE_MS: i64 = 8 * 3600 * 1000;
    let in_time = update_ms >= started_ms && update_ms - started_ms <= LONGEST_SHARE_MS;
    in_time
        && match (last_sequence, sequence) {
            (Some(last), Some(next)) => next > last,
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_schema_spells_each_value_as_the_json_does() {
        // A `literal` macro fragment reached utoipa as an opaque group and its rename was lost.
        let schema = serde_json::to_value(<Direction as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(["in", "out"]));
        let kinds = serde_json::to_value(<MessageKind as utoipa::PartialSchema>::schema()).unwrap();
        assert!(
            kinds["enum"]
                .as_array()
                .unwrap()
                .contains(&"live_location".into())
        );
    }

    use super::*;

    #[test]
    fn every_spelling_parses_back() {
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::parse(k.as_str()), Some(*k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(Direction::parse("in"), Some(Direction::In));
        assert_eq!(SenderKind::parse("bot"), None);
    }

    #[test]
    fn statuses_only_move_forward() {
        use MessageStatus::*;
        assert!(Sent.may_advance_to(Delivered));
        assert!(!Read.may_advance_to(Delivered));
        assert!(Failed.may_advance_to(Read));
        assert!(!Failed.may_advance_to(Queued));
        assert!(!Cancelled.may_advance_to(Sent));
        assert!(!Delivered.may_advance_to(Failed));
        assert!(Queued.may_advance_to(Cancelled));
    }

    #[test]
    fn a_live_location_update_continues_a_recent_share_only() {
        let h = 3600 * 1000;
        assert!(continues_live_location(0, Some(1), h, Some(2)));
        assert!(!continues_live_location(0, Some(3), h, Some(2)));
        assert!(!continues_live_location(0, Some(1), 9 * h, Some(2)));
        assert!(!continues_live_location(0, None, h, Some(2)));
    }
}
