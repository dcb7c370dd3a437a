//! How each kind of content is stored: the message row's fields, then its structured parts
//! (poll options, contact cards, live-location positions, the download of an attachment),
//! and the two events that change an earlier message of their kind: a poll vote and a later
//! position of a live location. Both resolve their target only inside the sender's chat.

use super::events::LiveEvent;
use super::inbound::{Effects, InboundContent, InboundOutcome, MediaFetch, Sender};
use super::{App, AppError};
use crate::db::messages::{Message, NewMessage};
use crate::db::{self, Conn, media_downloads};
use crate::domain::ids::{CustomerId, MessageId};
use crate::domain::message::{
    MessageKind, VIEW_ONCE_TEXT, call_body, continues_live_location, unsupported_text,
};
use crate::domain::time::Timestamp;

/// What is stored besides the row.
enum Extra<'a> {
    None,
    Download(&'a MediaFetch),
    PollOptions(&'a [String]),
    Contacts(Vec<(Option<String>, Option<String>)>),
    LivePosition((f64, f64), Option<i64>),
}

/// A content read into a message row, with what goes in the detail tables after it.
pub(super) struct Parts<'a> {
    /// The text automatic replies match on (text and captions).
    pub(super) text_for_triggers: Option<String>,
    extra: Extra<'a>,
}

fn invalid(field: &'static str, message: &str) -> AppError {
    AppError::Invalid {
        field,
        message: message.into(),
    }
}

impl<'a> Parts<'a> {
    /// Fills `msg`'s kind and content fields from `content`.
    pub(super) fn of(content: &'a InboundContent, msg: &mut NewMessage) -> Result<Self, AppError> {
        let mut parts = Parts {
            text_for_triggers: None,
            extra: Extra::None,
        };
        match content {
            InboundContent::Text { text } => {
                msg.kind = MessageKind::Text;
                msg.body = Some(text.clone());
                parts.text_for_triggers = Some(text.clone());
            }
            InboundContent::Media {
                media_kind,
                sha256,
                mime,
                file_name,
                caption,
            } => {
                if !media_kind.is_media() {
                    return Err(invalid("content.media_kind", "not an attachment kind"));
                }
                msg.kind = *media_kind;
                msg.body = caption.clone();
                msg.media_sha256 = Some(sha256.clone());
                msg.media_mime = Some(mime.clone());
                msg.media_name = file_name.clone();
                parts.text_for_triggers = caption.clone();
            }
            InboundContent::PendingMedia {
                media_kind,
                mime,
                file_name,
                caption,
                view_once,
                fetch,
            } => {
                msg.kind = *media_kind;
                msg.body = caption.clone();
                msg.media_mime = Some(mime.clone());
                msg.media_name = file_name.clone();
                msg.view_once = *view_once;
                parts.text_for_triggers = caption.clone();
                parts.extra = Extra::Download(fetch);
            }
            InboundContent::Location {
                latitude,
                longitude,
                name,
            } => {
                msg.kind = MessageKind::Location;
                msg.body = name.clone();
                msg.latitude = Some(*latitude);
                msg.longitude = Some(*longitude);
            }
            InboundContent::LiveLocation {
                latitude,
                longitude,
                caption,
                sequence,
            } => {
                msg.kind = MessageKind::LiveLocation;
                msg.body = caption.clone();
                msg.latitude = Some(*latitude);
                msg.longitude = Some(*longitude);
                parts.extra = Extra::LivePosition((*latitude, *longitude), *sequence);
            }
            InboundContent::Contact { name, vcard } => {
                msg.kind = MessageKind::Contact;
                msg.body = Some(name.clone());
                msg.search_extra = Some(db::message_details::vcard_phones(vcard).join(" "));
                parts.extra = Extra::Contacts(vec![(Some(name.clone()), Some(vcard.clone()))]);
            }
            InboundContent::Contacts { cards } => {
                msg.kind = MessageKind::Contact;
                let names: Vec<&str> = cards
                    .iter()
                    .filter_map(|c| c.display_name.as_deref())
                    .collect();
                msg.body = Some(names.join(", "));
                msg.search_extra = Some(
                    cards
                        .iter()
                        .filter_map(|c| c.vcard.as_deref())
                        .flat_map(db::message_details::vcard_phones)
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                parts.extra = Extra::Contacts(
                    cards
                        .iter()
                        .map(|c| (c.display_name.clone(), c.vcard.clone()))
                        .collect(),
                );
            }
            InboundContent::Poll {
                question,
                options,
                selectable,
            } => {
                msg.kind = MessageKind::Poll;
                msg.body = Some(question.clone());
                msg.poll_selectable = Some(*selectable);
                msg.search_extra = Some(options.join("\n"));
                parts.extra = Extra::PollOptions(options);
            }
            InboundContent::PollVote { selected } => {
                msg.kind = MessageKind::PollVote;
                msg.body = Some(format!(
                    "A vote on a poll this system does not hold ({selected} option(s) selected): open WhatsApp on the pharmacy's phone"
                ));
            }
            InboundContent::Reply {
                reply_kind,
                id,
                text,
                detail,
            } => {
                if !matches!(
                    reply_kind,
                    MessageKind::ButtonReply
                        | MessageKind::ListReply
                        | MessageKind::TemplateReply
                        | MessageKind::InteractiveReply
                ) {
                    return Err(invalid("content.reply_kind", "not a reply kind"));
                }
                msg.kind = *reply_kind;
                msg.body = text.clone().or_else(|| id.clone());
                msg.reply_id = id.clone();
                msg.reply_detail = detail.clone();
                // A menu answer chosen by button reads like the typed choice.
                parts.text_for_triggers = text.clone();
            }
            InboundContent::ViewOnce => {
                msg.kind = MessageKind::ViewOnce;
                msg.body = Some(VIEW_ONCE_TEXT.into());
            }
            InboundContent::Unsupported { what } => {
                msg.kind = MessageKind::Unsupported;
                msg.body = Some(unsupported_text(what));
            }
            // No text for the keyword replies or the menu: a call is no choice.
            InboundContent::Call { outcome, video } => {
                msg.kind = MessageKind::Call;
                msg.body = Some(call_body(*outcome, *video));
            }
        }
        Ok(parts)
    }

    /// Stores the structured parts of the `row` just inserted; returns it as the API shows it.
    pub(super) async fn store(
        self,
        c: &mut Conn,
        mut row: Message,
        wa_id: &str,
        now: Timestamp,
    ) -> Result<Message, AppError> {
        match self.extra {
            Extra::None => return Ok(row),
            Extra::Download(fetch) => {
                // Stored now, fetched by the media worker after the commit (and the ack).
                let state = match fetch {
                    MediaFetch::Download(d) => {
                        media_downloads::insert(c, row.id, d, now).await?;
                        media_downloads::DOWNLOADING
                    }
                    MediaFetch::TooLarge => media_downloads::TOO_LARGE,
                    // Nothing to fetch with: shown as not downloadable (no retry possible).
                    MediaFetch::Missing => media_downloads::FAILED,
                };
                if !matches!(fetch, MediaFetch::Download(_)) {
                    media_downloads::set_state(c, row.id, Some(state)).await?;
                }
                row.media_state = Some(state.to_owned());
                return Ok(row);
            }
            Extra::PollOptions(options) => {
                db::message_details::insert_poll_options(c, row.id, options).await?;
            }
            Extra::Contacts(cards) => {
                db::message_details::insert_contacts(c, row.id, &cards).await?;
            }
            Extra::LivePosition(at, sequence) => {
                db::message_details::add_live_position(
                    c,
                    row.id,
                    wa_id,
                    at,
                    sequence,
                    row.created_at,
                )
                .await?;
            }
        }
        db::messages::fill(c, std::slice::from_mut(&mut row)).await?;
        Ok(row)
    }
}

impl App {
    /// A live location that continues the customer's latest one moves it (`Some` outcome);
    /// `None` when it starts a share of its own.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn continue_live_location(
        &self,
        c: &mut Conn,
        customer: CustomerId,
        wa_id: &str,
        position: (f64, f64),
        sequence: Option<i64>,
        at: Timestamp,
        fx: &mut Effects,
    ) -> Result<Option<InboundOutcome>, AppError> {
        if db::message_details::live_position_known(c, wa_id).await? {
            return Ok(Some(InboundOutcome::Ignored {
                reason: format!("live location update {wa_id} already applied"),
            }));
        }
        let Some((id, started, last)) =
            db::message_details::latest_live_location(c, &[customer]).await?
        else {
            return Ok(None);
        };
        if !continues_live_location(started.0, last, at.0, sequence) {
            return Ok(None);
        }
        db::message_details::add_live_position(c, id, wa_id, position, sequence, at).await?;
        db::message_details::move_live_location(c, id, position, at).await?;
        db::customers::set_location(c, customer, position.0, position.1, at).await?;
        self.updated(c, id, fx).await
    }

    /// A customer's vote on a poll of their chat replaces their earlier choice on it. A vote
    /// on a poll the service does not hold is stored as a visible message instead.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_vote(
        &self,
        c: &mut Conn,
        from: &Sender,
        wa_id: &str,
        poll_wa_id: &str,
        selected: &[String],
        at: Timestamp,
        fx: &mut Effects,
    ) -> Result<InboundOutcome, AppError> {
        let now = self.now();
        let at = if at.0 <= 0 || at > now { now } else { at };
        let chat = self.chat_of(c, from).await?;
        let poll = db::messages::by_wa_id_in_chat(c, poll_wa_id, &chat)
            .await?
            .filter(|m| m.kind == MessageKind::Poll);
        let Some(poll) = poll else {
            let shown = super::InboundMessage {
                wa_id: wa_id.to_owned(),
                from: from.clone(),
                at,
                content: InboundContent::PollVote {
                    selected: selected.len(),
                },
                quoted_wa_id: Some(poll_wa_id.to_owned()),
            };
            return Box::pin(self.apply_inbound(c, &super::InboundEvent::Message(shown), fx)).await;
        };
        let options = db::message_details::poll_options(c, poll.id).await?;
        let positions: Vec<usize> = options
            .iter()
            .enumerate()
            .filter(|(_, name)| {
                let hash = crate::domain::message::poll_option_hash(name);
                selected.iter().any(|s| s.eq_ignore_ascii_case(&hash))
            })
            .map(|(i, _)| i)
            .collect();
        // The voter is the customer whose chat holds the poll.
        db::message_details::set_vote(c, poll.id, poll.customer_id, &positions, at).await?;
        db::activity::log(
            c,
            None,
            "message.poll_vote",
            Some(("message", poll.id.0)),
            Some(&serde_json::json!({ "options": positions })),
            now,
        )
        .await?;
        Ok(self
            .updated(c, poll.id, fx)
            .await?
            .unwrap_or(InboundOutcome::Updated { count: 0 }))
    }

    async fn updated(
        &self,
        c: &mut Conn,
        id: MessageId,
        fx: &mut Effects,
    ) -> Result<Option<InboundOutcome>, AppError> {
        let message = db::messages::by_id(c, id)
            .await?
            .ok_or_else(|| super::not_found("message", id.0))?;
        fx.events.push(LiveEvent::MessageUpdated { message });
        Ok(Some(InboundOutcome::Updated { count: 1 }))
    }
}
