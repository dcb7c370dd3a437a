//! Messages in: the client's messages, receipts and poll votes as [`InboundEvent`]s, stored
//! through the app and acknowledged only after the commit; a store failure reported at once
//! and, once the database takes writes again, as an admin alert.

use super::WhatsappBridge;
use crate::app::{
    ContactCardIn, EditInto, EditedInto, InboundContent, InboundEvent, InboundMessage, LinkDetail,
    LiveEvent, MediaFetch, ReceiptStatus, Sender,
};
use crate::domain::message::MessageKind;
use crate::domain::time::Timestamp;
use crate::whatsapp::media_worker::pending_download;
use serde_json::json;
use whatsapp_client::content::{Content, MediaKind as ContentMediaKind, ReplyKind};
use whatsapp_client::{IncomingMessage, Jid, MediaRef, ReceiptEvent};

impl WhatsappBridge {
    /// Stores messages in one service transaction (each on its own when that fails) and
    /// acknowledges each only after its commit, in order.
    pub(super) async fn on_messages(&self, batch: Vec<IncomingMessage>) {
        let received = std::time::Instant::now();
        let mut events = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for mut m in batch {
            match self.inbound_event(&m).await {
                Some(event) => {
                    events.push(event);
                    waiting.push(m);
                }
                // Groups, status posts, protocol messages with nothing to apply: nothing an
                // agent would see, counted in /metrics.
                None => {
                    count_unstored(&m.info.chat);
                    m.ack()
                }
            }
        }
        if events.is_empty() {
            return;
        }
        let results = self.app.handle_inbound_batch(&events).await;
        let downloads = events.iter().zip(&results).any(|(e, r)| {
            r.is_ok()
                && matches!(
                    e,
                    InboundEvent::Message(InboundMessage {
                        content: InboundContent::PendingMedia {
                            fetch: MediaFetch::Download(_),
                            ..
                        },
                        ..
                    }) | InboundEvent::SentFromPhone(InboundMessage {
                        content: InboundContent::PendingMedia {
                            fetch: MediaFetch::Download(_),
                            ..
                        },
                        ..
                    })
                )
        });
        if downloads {
            self.app.wake_media_worker();
        }
        for (mut m, result) in waiting.into_iter().zip(results) {
            match result {
                Ok(outcome) => {
                    tracing::debug!(id = %m.info.id, ?outcome, "inbound stored");
                    if matches!(outcome, crate::app::InboundOutcome::Stored { .. }) {
                        crate::ops::metrics::global().inbound_stored(received.elapsed());
                    }
                    m.ack();
                    self.store_recovered().await;
                }
                // Not acknowledged: the server delivers it again after the next reconnect.
                Err(e) => {
                    tracing::error!(id = %m.info.id, error = %e, "inbound message not stored");
                    self.store_failed(&e.to_string());
                }
            }
        }
    }

    /// Stores `content` as the message `wa_id` of the chat `info` names, then runs `ack`; a
    /// store failure leaves it unacknowledged.
    async fn store_content(
        &self,
        info: &whatsapp_client::MessageInfo,
        wa_id: String,
        content: InboundContent,
        ack: impl FnOnce(),
    ) {
        let chat = &info.chat;
        if chat.is_group() || chat.is_broadcast() || chat.user.is_empty() {
            count_unstored(chat);
            ack();
            return;
        }
        let inbound = InboundMessage {
            wa_id,
            from: self.sender_of(info).await,
            at: unix_seconds(info.timestamp, self.app.now()),
            content,
            quoted_wa_id: None,
        };
        let event = if info.from_me {
            InboundEvent::SentFromPhone(inbound)
        } else {
            InboundEvent::Message(inbound)
        };
        self.store_event(event, &info.id, ack).await;
    }

    /// Applies one event, then runs `ack`; a store failure leaves it unacknowledged.
    async fn store_event(&self, event: InboundEvent, id: &str, ack: impl FnOnce()) {
        match self.app.handle_inbound(event).await {
            Ok(_) => {
                ack();
                self.store_recovered().await;
            }
            Err(e) => {
                tracing::error!(id = %id, error = %e, "inbound message not stored");
                self.store_failed(&e.to_string());
            }
        }
    }

    /// `<unavailable>`: a view-once message (never given to linked devices) is stored as a
    /// placeholder; for the others our phone was asked to resend, and the resent message comes
    /// as an ordinary message.
    pub(super) async fn on_unavailable(&self, mut m: whatsapp_client::UnavailableMessage) {
        if !m.resend_requested {
            let info = m.info.clone();
            self.store_content(&info, info.id.clone(), InboundContent::ViewOnce, || m.ack())
                .await;
        }
    }

    /// A decrypted poll vote: the customer's choice on the poll of their chat (the options
    /// are named by their hashes; the service matches them to the poll's options).
    pub(super) async fn on_poll_vote(&self, mut v: whatsapp_client::PollVote) {
        let info = v.info.clone();
        let chat = &info.chat;
        // Our own phone's votes, groups, status: nothing an agent acts on.
        if info.from_me || chat.is_group() || chat.is_broadcast() || chat.user.is_empty() {
            count_unstored(chat);
            v.ack();
            return;
        }
        let event = InboundEvent::PollVote {
            from: self.sender_of(&info).await,
            wa_id: info.id.clone(),
            poll_wa_id: v.poll_id.clone(),
            selected: v.selected_hashes.iter().map(hex::encode).collect(),
            at: unix_seconds(info.timestamp, self.app.now()),
        };
        self.store_event(event, &info.id, || v.ack()).await;
    }

    /// The database refused an inbound message (full disk, locked): the admins see it at once
    /// as `whatsappStatus` `store_failed` (nothing can be written to the database now).
    pub(in crate::whatsapp) fn store_failed(&self, error: &str) {
        let failures = {
            let mut f = self
                .store_failures
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let n = f.as_ref().map_or(0, |(n, _)| *n) + 1;
            *f = Some((n, error.to_owned()));
            n
        };
        self.app.events().publish(
            self.app.now(),
            LiveEvent::WhatsappStatus {
                state: "store_failed".into(),
                detail: Some(LinkDetail {
                    error: Some(error.to_owned()),
                    failures: Some(failures),
                    ..LinkDetail::default()
                }),
            },
        );
    }

    /// The first message stored after failures: the episode becomes a lasting admin alert.
    pub(in crate::whatsapp) async fn store_recovered(&self) {
        let Some((failures, error)) = self
            .store_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let now = self.app.now();
        // Clears the agents' "messages cannot be stored" banner.
        self.app.events().publish(
            now,
            LiveEvent::WhatsappStatus {
                state: "store_recovered".into(),
                detail: Some(LinkDetail {
                    failures: Some(failures),
                    ..LinkDetail::default()
                }),
            },
        );
        let detail = json!({ "failures": failures, "last_error": error });
        if let Err(e) = self
            .app
            .raise_alert(
                "inbound_store_failed",
                "Incoming WhatsApp messages could not be stored (database full or locked); they were delivered again once it recovered",
                &detail,
            )
            .await
        {
            tracing::warn!(error = %e, "could not record the storage alert; kept for later");
            *self
                .store_failures
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some((failures, error));
        }
    }

    pub(super) async fn on_receipt(&self, r: ReceiptEvent) {
        let status = match r.kind.as_str() {
            // `inactive`: delivered to a device whose app is in the background (whatsmeow
            // `types.ReceiptTypeInactive`).
            "" | "delivery" | "inactive" => ReceiptStatus::Delivered,
            "read" | "played" => ReceiptStatus::Read,
            _ => return,
        };
        let at = unix_seconds(r.timestamp, self.app.now());
        // The customer whose chat it is: only our messages to them are marked.
        let (phone, lid) = self.identity(&r.chat.to_non_ad(), None).await;
        let event = InboundEvent::Receipt {
            from: Sender {
                phone,
                lid,
                push_name: None,
            },
            wa_ids: r.ids,
            status,
            at,
        };
        // The message row carries its WhatsApp id from the moment it was queued, so even a
        // receipt that overtakes the outbox's "sent" commit finds it.
        if let Err(e) = self.app.handle_inbound(event).await {
            tracing::warn!(error = %e, "receipt not applied");
        }
    }

    /// The service's view of a message, or None when it is not for the service.
    async fn inbound_event(&self, m: &IncomingMessage) -> Option<InboundEvent> {
        let info = &m.info;
        if info.chat.is_group() || info.chat.is_broadcast() || info.chat.user.is_empty() {
            return None;
        }
        let at = unix_seconds(info.timestamp, self.app.now());
        let read = &m.content;
        let changes_earlier = matches!(
            read.content,
            Content::Edit { .. } | Content::Revoke { .. } | Content::Reaction { .. }
        );
        // Our own phone's edits, revokes and reactions are not the customer's: they are
        // not applied (the service keeps what it recorded).
        if info.from_me && changes_earlier {
            return None;
        }
        let content = match &read.content {
            Content::Revoke { target } => {
                return Some(InboundEvent::Revoked {
                    from: self.sender(m).await,
                    wa_id: target.id.clone(),
                    at,
                });
            }
            // Both forms (a bare protocol message and one in `editedMessage`) read alike.
            Content::Edit { target, new } => {
                let from = self.sender(m).await;
                let text = match &**new {
                    Content::Text { text, .. } => Some(text.clone()),
                    Content::Media(media) => media.caption.clone(),
                    _ => None,
                };
                return Some(match text {
                    Some(text) => InboundEvent::Edited {
                        from,
                        wa_id: target.id.clone(),
                        text,
                        at,
                    },
                    // Stored too (a new version, or a line naming it): never acked unseen.
                    None => InboundEvent::EditedInto(EditInto {
                        from,
                        wa_id: target.id.clone(),
                        edit_wa_id: info.id.clone(),
                        new: match &**new {
                            Content::Media(_) => EditedInto::NoCaption,
                            Content::Unsupported { fields } => EditedInto::Other(fields.join(", ")),
                            other => EditedInto::Other(variant_name(other)),
                        },
                        at,
                    }),
                });
            }
            Content::Reaction { target, emoji } => {
                return Some(InboundEvent::Reaction {
                    from: self.sender(m).await,
                    target_wa_id: target.id.clone(),
                    emoji: emoji.clone(),
                    at,
                });
            }
            other => self.content(other, read.context.view_once),
        };
        let inbound = InboundMessage {
            wa_id: info.id.clone(),
            from: self.sender(m).await,
            at,
            content,
            quoted_wa_id: read.context.quoted_id.clone(),
        };
        Some(if info.from_me {
            InboundEvent::SentFromPhone(inbound)
        } else {
            InboundEvent::Message(inbound)
        })
    }

    /// The customer: the chat (for our own phone's messages too), with its other address.
    async fn sender(&self, m: &IncomingMessage) -> Sender {
        self.sender_of(&m.info).await
    }

    /// [`Self::sender`] from the stanza details alone.
    async fn sender_of(&self, info: &whatsapp_client::MessageInfo) -> Sender {
        let chat = info.chat.to_non_ad();
        let alt = if info.from_me {
            None
        } else {
            info.sender_alt.as_ref().map(Jid::to_non_ad)
        };
        let (phone, lid) = self.identity(&chat, alt).await;
        Sender {
            phone,
            lid,
            push_name: if info.from_me {
                None
            } else {
                info.push_name.clone()
            },
        }
    }

    /// The phone number and LID of a chat, from its JID and the other address WhatsApp gave
    /// (or the client's LID mapping).
    async fn identity(&self, chat: &Jid, alt: Option<Jid>) -> (Option<String>, Option<String>) {
        let client = self.client();
        if chat.is_lid() {
            let phone = match alt.filter(|a| !a.is_lid()) {
                Some(a) => Some(a.user),
                None => match &client {
                    Some(c) => c.pn_for_lid(chat).await.ok().flatten().map(|j| j.user),
                    None => None,
                },
            };
            (phone, Some(chat.user.clone()))
        } else {
            (
                Some(chat.user.clone()),
                alt.filter(Jid::is_lid).map(|a| a.user),
            )
        }
    }

    /// The service's kind for what a message carries (edits, revokes and reactions are
    /// events of their own). Every content is something an agent sees.
    fn content(&self, content: &Content, view_once: bool) -> InboundContent {
        match content {
            Content::Text { text, .. } => InboundContent::Text { text: text.clone() },
            Content::Media(media) => self.media(media, view_once),
            Content::Location {
                latitude,
                longitude,
                name,
                address,
            } => InboundContent::Location {
                latitude: *latitude,
                longitude: *longitude,
                name: name.clone().or_else(|| address.clone()),
            },
            Content::LiveLocation {
                latitude,
                longitude,
                caption,
                sequence_number,
                ..
            } => InboundContent::LiveLocation {
                latitude: *latitude,
                longitude: *longitude,
                caption: caption.clone(),
                sequence: *sequence_number,
            },
            Content::Contact(c) => InboundContent::Contacts {
                cards: vec![card(c)],
            },
            Content::Contacts { contacts, .. } => InboundContent::Contacts {
                cards: contacts.iter().map(card).collect(),
            },
            Content::PollCreation {
                name,
                options,
                selectable_count,
                ..
            } => InboundContent::Poll {
                question: name.clone(),
                options: options.clone(),
                selectable: *selectable_count,
            },
            // A vote the client could not open (it holds no secret for the poll).
            Content::PollVote { .. } => InboundContent::PollVote { selected: 0 },
            Content::Reply {
                kind,
                id,
                text,
                detail,
            } => InboundContent::Reply {
                reply_kind: match kind {
                    ReplyKind::Button => MessageKind::ButtonReply,
                    ReplyKind::List => MessageKind::ListReply,
                    ReplyKind::Template => MessageKind::TemplateReply,
                    _ => MessageKind::InteractiveReply,
                },
                id: id.clone(),
                text: text.clone(),
                detail: detail.clone(),
            },
            Content::Unsupported { fields } => InboundContent::Unsupported {
                what: fields.join(", "),
            },
            // A kind newer than this service: named by its variant.
            other => InboundContent::Unsupported {
                what: variant_name(other),
            },
        }
    }

    /// An attachment: stored at once and acknowledged; the media worker downloads the file
    /// afterwards (unless it is too large, or the message lacks what a download needs).
    fn media(&self, media: &whatsapp_client::content::Media, view_once: bool) -> InboundContent {
        let media_kind = match media.kind {
            Some(ContentMediaKind::Image) => MessageKind::Image,
            Some(ContentMediaKind::Video) => MessageKind::Video,
            Some(ContentMediaKind::Ptv) => MessageKind::Ptv,
            Some(ContentMediaKind::Audio | ContentMediaKind::VoiceNote) => MessageKind::Audio,
            Some(ContentMediaKind::Sticker) => MessageKind::Sticker,
            _ => MessageKind::Document,
        };
        let mime = crate::domain::mime::normalise(media.mimetype.as_deref().unwrap_or_default())
            .to_owned();
        let fetch = match MediaRef::from_media(media) {
            Some(r) => match pending_download(&r, &mime, self.config.media_max_bytes) {
                Some(d) => MediaFetch::Download(d),
                None => MediaFetch::TooLarge,
            },
            None => MediaFetch::Missing,
        };
        InboundContent::PendingMedia {
            media_kind,
            mime,
            file_name: media.file_name.clone(),
            caption: media.caption.clone(),
            view_once,
            fetch,
        }
    }
}

/// Counts a message acknowledged without a row, by why (see [`crate::ops::metrics::Unstored`]).
fn count_unstored(chat: &Jid) {
    use crate::ops::metrics::Unstored;
    crate::ops::metrics::global().acked_unstored(if chat.is_broadcast() {
        Unstored::Status
    } else if chat.is_group() {
        Unstored::Group
    } else {
        Unstored::Protocol
    });
}

/// The name of a content's variant (`Location`, `PollCreation`, ...), for what the service
/// cannot show.
fn variant_name(content: &Content) -> String {
    format!("{content:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or("message")
        .to_owned()
}

/// WhatsApp's unix seconds as a timestamp (`fallback` when absent).
pub(in crate::whatsapp) fn unix_seconds(secs: u64, fallback: Timestamp) -> Timestamp {
    if secs == 0 {
        return fallback;
    }
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX / 1000) * 1000)
}

fn card(c: &whatsapp_client::content::Contact) -> ContactCardIn {
    ContactCardIn {
        display_name: c.display_name.clone(),
        vcard: c.vcard.clone(),
    }
}
