//! What a simulated customer's phone shows for the kinds the stanza-level reading
//! (`device::understand_message`) lumps together as `protocol` or `unknown`: edits, revokes,
//! polls, live locations and contact lists, read from the client's typed content. The
//! decrypted messages are kept too, for tests that check what exactly arrived
//! ([`crate::SimHandle::customer_message`]).

use std::collections::HashMap;
use std::sync::Mutex;

use whatsapp_proto::content::{Content, MessageContent};
use whatsapp_proto::pb::e2e;

use crate::SimHandle;
use crate::device::Understood;
use crate::phone_digits;

/// Refines `understood` (kind, text, the message referred to) from the typed content.
pub(crate) fn refine(understood: &mut Understood, content: &MessageContent) {
    match &content.content {
        Content::Edit { target, new } => {
            understood.kind = "edit".into();
            understood.reply_to = Some(target.id.clone());
            understood.text = match new.as_ref() {
                Content::Text { text, .. } => Some(text.clone()),
                Content::Media(m) => m.caption.clone(),
                _ => None,
            };
        }
        Content::Revoke { target } => {
            understood.kind = "revoke".into();
            understood.reply_to = Some(target.id.clone());
        }
        Content::PollCreation { name, .. } => {
            understood.kind = "poll".into();
            understood.text = Some(name.clone());
        }
        Content::PollVote { poll, .. } => {
            understood.kind = "poll_vote".into();
            understood.reply_to = Some(poll.id.clone());
        }
        Content::LiveLocation { caption, .. } => {
            understood.kind = "live_location".into();
            understood.text.clone_from(caption);
        }
        Content::Contacts { display_name, .. } => {
            understood.kind = "contacts".into();
            understood.text.clone_from(display_name);
        }
        _ => {}
    }
    if understood.reply_to.is_none() {
        understood.reply_to.clone_from(&content.context.quoted_id);
    }
}

/// The decrypted messages customers received: (phone, message id) → the message as
/// decrypted, wrappers included.
#[derive(Default)]
pub(crate) struct Received {
    messages: Mutex<HashMap<(String, String), e2e::Message>>,
}

impl Received {
    pub(crate) fn keep(&self, pn: &str, id: &str, message: e2e::Message) {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((pn.to_owned(), id.to_owned()), message);
    }

    fn get(&self, pn: &str, id: &str) -> Option<e2e::Message> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(pn.to_owned(), id.to_owned()))
            .cloned()
    }
}

impl SimHandle {
    /// The message `id` as a simulated customer's device decrypted it (wrappers included),
    /// or `None` before it arrived. Read it with
    /// [`MessageContent::read`](whatsapp_proto::content::MessageContent::read).
    pub fn customer_message(&self, phone: &str, id: &str) -> Option<e2e::Message> {
        self.shared.customers.received.get(&phone_digits(phone), id)
    }
}
