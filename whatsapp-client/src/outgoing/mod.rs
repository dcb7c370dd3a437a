//! The messaging API: one [`Client::send`] over a typed [`Outgoing`] content, and the named
//! methods developers look for (reactions, edits, revokes, polls, replies, forwards,
//! locations, contact cards, status posts). The messages are built by the pure
//! [`whatsapp_proto::content::compose`]; this module adds what needs the client: our own
//! JIDs for message keys, the clock, fresh poll secrets and the poll secrets kept in the
//! store.

mod methods;
mod receipts;
mod status;

use rand::RngCore;
use whatsapp_proto::content::Target;
use whatsapp_proto::content::compose::{self, ComposeError, ContactCard, Quote};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;

pub use whatsapp_proto::content::compose::{LiveLocation, Location, OutgoingPreview, Text};

use crate::context::Shared;
use crate::event::{IncomingMessage, MessageInfo};
use crate::{Client, ClientError, MessageId};

/// What to send with [`Client::send`].
///
/// ```no_run
/// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
/// use whatsapp_client::{Outgoing, Text, Location};
/// let to = "201112223334@s.whatsapp.net".parse().unwrap();
/// client.send(&to, Outgoing::Text(Text::new("Your order is ready"))).await?;
/// let branch = Location::new(30.0444, 31.2357).named("Downtown branch", None);
/// client.send(&to, Outgoing::Location(branch)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outgoing {
    /// A text, with mentions and a link preview if given.
    Text(Text),
    /// A reaction to a message of the chat; an empty emoji removes ours.
    Reaction {
        /// Who sent the message reacted to (`None`: we did).
        sender: Option<Jid>,
        /// Its id.
        id: String,
        /// The emoji.
        emoji: String,
    },
    /// A new text for our own message `id` (within WhatsApp's edit window).
    Edit {
        /// The message edited.
        id: MessageId,
        /// Its new text.
        new: Text,
    },
    /// "Delete for everyone": our own message, or as a group admin a participant's.
    Revoke {
        /// Who sent it (`None`: we did).
        sender: Option<Jid>,
        /// Its id.
        id: String,
    },
    /// A poll.
    Poll {
        /// The question.
        name: String,
        /// The options (2 to 12, distinct).
        options: Vec<String>,
        /// How many a voter may pick: 1 single select, 0 any number.
        selectable: u32,
    },
    /// A vote on a poll we received or sent; no options withdraws the vote.
    PollVote {
        /// The poll's message.
        poll: Box<MessageInfo>,
        /// The names of the options chosen.
        options: Vec<String>,
    },
    /// A place on the map.
    Location(Location),
    /// A live location share or an update to it ([`LiveLocation::update`]).
    LiveLocation(LiveLocation),
    /// One contact card or several.
    Contacts {
        /// The name shown for a list of several.
        display_name: String,
        /// The cards.
        cards: Vec<ContactCard>,
    },
    /// A message forwarded (see [`Outgoing::forward`]).
    Forward {
        /// Its content.
        message: Box<e2e::Message>,
        /// Whether we sent it (forwarding our own adds no forward mark).
        from_me: bool,
    },
    /// Any message, as built by the caller.
    Message(Box<e2e::Message>),
}

impl Outgoing {
    /// A received (or our own) message to forward.
    pub fn forward(message: &IncomingMessage) -> Outgoing {
        Outgoing::Forward {
            message: Box::new(message.message.clone()),
            from_me: message.info.from_me,
        }
    }
}

/// The message being replied to, quoted in full ([`Client::send_reply`]).
impl From<&IncomingMessage> for Quote {
    fn from(message: &IncomingMessage) -> Quote {
        Quote {
            id: message.info.id.clone(),
            sender: message.info.sender.to_non_ad().to_string(),
            chat: None,
            message: message.message.clone(),
        }
    }
}

fn invalid(e: ComposeError) -> ClientError {
    ClientError::InvalidArgument(e.to_string())
}

/// Our device JIDs (phone number, LID).
fn own_jids(shared: &Shared) -> Vec<Jid> {
    let device = shared.device();
    [device.jid.clone(), device.lid.clone()]
        .into_iter()
        .flatten()
        .collect()
}

/// The key naming message `id` of `sender` (`None`: ours) in `chat` (whatsmeow
/// `BuildMessageKey`).
fn target(
    shared: &Shared,
    chat: &Jid,
    sender: Option<&Jid>,
    id: &str,
) -> Result<Target, ClientError> {
    let own = own_jids(shared);
    let sender = match sender {
        Some(s) => s.clone(),
        None => own.first().cloned().ok_or(ClientError::NotConnected)?,
    };
    let key = crate::placeholder::message_key(&own, chat, &sender, id);
    Ok(Target {
        id: id.to_owned(),
        chat: key.remote_jid,
        from_me: key.from_me.unwrap_or(false),
        participant: key.participant,
    })
}

/// The message `content` becomes in chat `to`.
async fn build(shared: &Shared, to: &Jid, content: Outgoing) -> Result<e2e::Message, ClientError> {
    let now = shared.server_now_ms();
    Ok(match content {
        Outgoing::Text(text) => text.message(),
        Outgoing::Reaction { sender, id, emoji } => {
            compose::reaction(&target(shared, to, sender.as_ref(), &id)?, &emoji, now)
        }
        Outgoing::Edit { id, new } => {
            compose::edit(&to.to_string(), id.as_str(), new.message(), now)
        }
        Outgoing::Revoke { sender, id } => {
            compose::revoke(&target(shared, to, sender.as_ref(), &id)?)
        }
        Outgoing::Poll {
            name,
            options,
            selectable,
        } => {
            let mut secret = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut secret);
            let options: Vec<&str> = options.iter().map(String::as_str).collect();
            compose::poll(&name, &options, selectable, secret).map_err(invalid)?
        }
        Outgoing::PollVote { poll, options } => {
            let options: Vec<&str> = options.iter().map(String::as_str).collect();
            crate::poll::poll_vote(shared, &poll, &options).await?
        }
        Outgoing::Location(location) => location.message().map_err(invalid)?,
        Outgoing::LiveLocation(live) => live.message().map_err(invalid)?,
        Outgoing::Contacts {
            display_name,
            cards,
        } => compose::contacts(&display_name, &cards).map_err(invalid)?,
        Outgoing::Forward { message, from_me } => {
            compose::forward(&message, from_me).map_err(invalid)?
        }
        Outgoing::Message(message) => *message,
    })
}

impl Client {
    /// Sends `content` to a user, a LID or a group and returns the message's id. Edits,
    /// revokes and reactions go with the `edit` and `decrypt-fail` attributes whatsmeow
    /// gives them; a poll's secret is kept so that its votes can be read.
    ///
    /// Bad content (a poll with one option, coordinates off the map, …) is
    /// [`ClientError::InvalidArgument`] before anything is sent.
    pub async fn send(&self, to: &Jid, content: Outgoing) -> Result<MessageId, ClientError> {
        let message = build(self.shared(), to, content).await?;
        self.send_built(to, message).await
    }

    /// Sends `content` as a reply quoting another message of any kind (its id, sender and
    /// content go into the reply's `contextInfo`, as Baileys does). The content must be of
    /// a kind that can quote (not a reaction, edit, revoke or vote).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, mut events: whatsapp_client::EventStream)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::{Event, Outgoing, Text, content::compose::Quote};
    /// if let Some(Event::Message(mut msg)) = events.recv().await {
    ///     let quote = Quote::from(&*msg);
    ///     client.send_reply(&msg.info.chat, &quote, Outgoing::Text(Text::new("Noted!"))).await?;
    ///     msg.ack();
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send_reply(
        &self,
        to: &Jid,
        quote: &Quote,
        content: Outgoing,
    ) -> Result<MessageId, ClientError> {
        let mut message = build(self.shared(), to, content).await?;
        compose::quote(&mut message, quote).map_err(invalid)?;
        self.send_built(to, message).await
    }

    async fn send_built(&self, to: &Jid, message: e2e::Message) -> Result<MessageId, ClientError> {
        crate::send::send_message(self.shared(), to, None, message)
            .await
            .map(MessageId::checked)
    }
}
