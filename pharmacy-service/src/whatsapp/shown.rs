//! How the bridge shows what the service has no message kind for yet: a line an agent can read
//! instead of nothing. Every customer message is stored as something visible before it is
//! acknowledged to WhatsApp, so a kind without its own rendering becomes one of these lines
//! (until the service stores it as a kind of its own).

use crate::app::InboundContent;
use whatsapp_client::content::{Content, ReplyKind};

/// The placeholder of a view-once message (WhatsApp never gives those to linked devices).
pub const VIEW_ONCE: &str = "[View-once message: WhatsApp shows it only on the pharmacy's phone]";

/// What stands for `content` when the bridge's own reading found nothing to store; `None` for
/// what is no message at all (a protocol message the client did not consume, a reaction or an
/// edit with nothing to apply).
pub fn as_text(content: &Content) -> Option<InboundContent> {
    let text = match content {
        Content::LiveLocation {
            latitude,
            longitude,
            caption,
            ..
        } => {
            return Some(InboundContent::Location {
                latitude: *latitude,
                longitude: *longitude,
                name: Some(caption.clone().unwrap_or_else(|| "Live location".into())),
            });
        }
        Content::PollCreation { name, options, .. } => {
            let mut text = format!("[Poll] {name}");
            for option in options {
                text.push_str("\n- ");
                text.push_str(option);
            }
            text
        }
        Content::PollVote { .. } => poll_vote(0),
        Content::Reply { kind, text, id, .. } => {
            let label = match kind {
                ReplyKind::Button => "Button",
                ReplyKind::List => "List choice",
                ReplyKind::Template => "Template button",
                _ => "Reply",
            };
            let chosen = text.clone().or_else(|| id.clone()).unwrap_or_default();
            format!("[{label}] {chosen}")
        }
        Content::Reaction { .. } | Content::Edit { .. } | Content::Revoke { .. } => return None,
        Content::Unsupported { fields } => unsupported(&fields.join(", ")),
        // Text, media, locations and contacts are read by the bridge itself; reaching here
        // means their fields were unusable (an attachment without its keys, say).
        other => unsupported(kind_name(other)),
    };
    Some(InboundContent::Text { text })
}

/// The line of a poll vote.
pub fn poll_vote(selected: usize) -> String {
    format!(
        "[Poll vote: {selected} option(s) selected; open WhatsApp on the pharmacy's phone to see which]"
    )
}

fn unsupported(kind: &str) -> String {
    format!(
        "[A message of a kind this system cannot show yet ({kind}): open WhatsApp on the pharmacy's phone]"
    )
}

fn kind_name(content: &Content) -> &'static str {
    match content {
        Content::Text { .. } => "text",
        Content::Media(_) => "media",
        Content::Location { .. } => "location",
        Content::Contact(_) | Content::Contacts { .. } => "contact",
        _ => "message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_client::content::PollVersion;

    fn text(c: Option<InboundContent>) -> String {
        match c {
            Some(InboundContent::Text { text }) => text,
            other => panic!("not a text: {other:?}"),
        }
    }

    #[test]
    fn what_has_no_kind_yet_is_a_visible_line() {
        let poll = Content::PollCreation {
            version: PollVersion::V3,
            name: "Delivery time?".into(),
            options: vec!["Morning".into(), "Evening".into()],
            selectable_count: 1,
        };
        assert_eq!(
            text(as_text(&poll)),
            "[Poll] Delivery time?\n- Morning\n- Evening"
        );
        let odd = Content::Unsupported {
            fields: vec!["eventMessage".into(), "#999".into()],
        };
        assert!(text(as_text(&odd)).contains("eventMessage, #999"));
        let live = Content::LiveLocation {
            latitude: 31.04,
            longitude: 31.38,
            caption: None,
            accuracy_in_meters: None,
            sequence_number: None,
        };
        assert!(matches!(
            as_text(&live),
            Some(InboundContent::Location { .. })
        ));
        let revoke = Content::Revoke {
            target: Default::default(),
        };
        assert_eq!(as_text(&revoke), None);
    }
}
