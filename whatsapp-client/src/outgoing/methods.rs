//! The named sending methods: each a shorthand for [`Client::send`] with one [`Outgoing`].

use whatsapp_proto::content::compose::ContactCard;
use whatsapp_proto::jid::Jid;

use super::{LiveLocation, Location, Outgoing, Text};
use crate::event::{IncomingMessage, MessageInfo};
use crate::{Client, ClientError, MessageId};

impl Client {
    /// Reacts to message `id` of `sender` (`None`: our own) in `chat` (whatsmeow
    /// `BuildReaction`); an empty `emoji` removes our reaction ([`Client::remove_reaction`]).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, msg: whatsapp_client::IncomingMessage)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// client.send_reaction(&msg.info.chat, Some(&msg.info.sender), &msg.info.id, "👍").await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_reaction(
        &self,
        chat: &Jid,
        sender: Option<&Jid>,
        id: &str,
        emoji: &str,
    ) -> Result<MessageId, ClientError> {
        let content = Outgoing::Reaction {
            sender: sender.cloned(),
            id: id.to_owned(),
            emoji: emoji.to_owned(),
        };
        self.send(chat, content).await
    }

    /// Takes our reaction to a message back (an empty reaction, `edit="7"` on the wire).
    pub async fn remove_reaction(
        &self,
        chat: &Jid,
        sender: Option<&Jid>,
        id: &str,
    ) -> Result<MessageId, ClientError> {
        self.send_reaction(chat, sender, id, "").await
    }

    /// Replaces the text of our message `id` in `chat` (whatsmeow `BuildEdit`; `edit="1"`).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, to: whatsapp_client::Jid)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::Text;
    /// let id = client.send_text_message(&to, Text::new("Ready at 5")).await?;
    /// client.edit_message(&to, &id, Text::new("Ready at 6")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn edit_message(
        &self,
        chat: &Jid,
        id: &MessageId,
        new: Text,
    ) -> Result<MessageId, ClientError> {
        let content = Outgoing::Edit {
            id: id.clone(),
            new,
        };
        self.send(chat, content).await
    }

    /// Deletes message `id` for everyone (whatsmeow `BuildRevoke`): our own with `sender`
    /// `None` (`edit="7"`), or in a group where we are admin a participant's (`edit="8"`;
    /// the server refuses it when we are not).
    pub async fn revoke_message(
        &self,
        chat: &Jid,
        sender: Option<&Jid>,
        id: &str,
    ) -> Result<MessageId, ClientError> {
        let content = Outgoing::Revoke {
            sender: sender.cloned(),
            id: id.to_owned(),
        };
        self.send(chat, content).await
    }

    /// Sends a text with its mentions and link preview.
    pub async fn send_text_message(&self, to: &Jid, text: Text) -> Result<MessageId, ClientError> {
        self.send(to, Outgoing::Text(text)).await
    }

    /// Sends a poll: `selectable` 1 for a single choice, 0 for any number (whatsmeow
    /// `BuildPollCreation`). Its secret is kept, so votes on it arrive as
    /// [`Event::PollVote`](crate::Event::PollVote); count them with
    /// [`PollTally`](crate::PollTally).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, to: whatsapp_client::Jid,
    /// #     mut events: whatsapp_client::EventStream) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::{Event, PollTally};
    /// let options = ["Morning", "Evening"];
    /// let poll = client.send_poll(&to, "Delivery time?", &options, 1).await?;
    /// let mut tally = PollTally::new(options);
    /// while let Some(event) = events.recv().await {
    ///     if let Event::PollVote(mut vote) = event {
    ///         if vote.poll_id == poll.as_str() {
    ///             tally.add(&vote.info.sender, vote.sender_timestamp_ms(), &vote.selected_hashes);
    ///         }
    ///         vote.ack();
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send_poll(
        &self,
        to: &Jid,
        name: &str,
        options: &[&str],
        selectable: u32,
    ) -> Result<MessageId, ClientError> {
        let content = Outgoing::Poll {
            name: name.to_owned(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            selectable,
        };
        self.send(to, content).await
    }

    /// Votes on a poll (whatsmeow `BuildPollVote`) in its chat: `options` by name, none
    /// withdraws the vote. The poll's secret must be known (it arrived or was sent here).
    pub async fn vote_poll(
        &self,
        poll: &MessageInfo,
        options: &[&str],
    ) -> Result<MessageId, ClientError> {
        let content = Outgoing::PollVote {
            poll: Box::new(poll.clone()),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        };
        self.send(&poll.chat, content).await
    }

    /// Sends a place on the map.
    pub async fn send_location(
        &self,
        to: &Jid,
        location: Location,
    ) -> Result<MessageId, ClientError> {
        self.send(to, Outgoing::Location(location)).await
    }

    /// Shares a live location, or updates one ([`LiveLocation::update`]).
    pub async fn send_live_location(
        &self,
        to: &Jid,
        live: LiveLocation,
    ) -> Result<MessageId, ClientError> {
        self.send(to, Outgoing::LiveLocation(live)).await
    }

    /// Sends contact cards: one as a contact, several as a list named `display_name`.
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, to: whatsapp_client::Jid)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::ContactCard;
    /// let card = ContactCard::phone("Downtown branch", "+20 2 2345 6789");
    /// client.send_contacts(&to, "Branch", vec![card]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_contacts(
        &self,
        to: &Jid,
        display_name: &str,
        cards: Vec<ContactCard>,
    ) -> Result<MessageId, ClientError> {
        let content = Outgoing::Contacts {
            display_name: display_name.to_owned(),
            cards,
        };
        self.send(to, content).await
    }

    /// Forwards a message (Baileys `generateForwardMessageContent`: marked forwarded, its
    /// forwarding score counted up unless it is our own).
    pub async fn forward_message(
        &self,
        to: &Jid,
        message: &IncomingMessage,
    ) -> Result<MessageId, ClientError> {
        self.send(to, Outgoing::forward(message)).await
    }
}
