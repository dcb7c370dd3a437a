//! Status posts (`status@broadcast`) and the public placeholder-resend request.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::receive::MessageInfo;

use super::{Outgoing, build};
use crate::context::GroupInfo;
use crate::{Client, ClientError, MessageId};

impl Client {
    /// Posts `content` to our status, seen by `recipients` (phone-number or LID users).
    ///
    /// As whatsmeow sends to `status@broadcast` (send.go `sendGroup` with
    /// broadcast.go `getBroadcastListParticipants`): under our sender key for
    /// `status@broadcast`, its distribution to every device of the recipients and of our own
    /// account in `<participants>`, one `skmsg` for all. Who may see the post is the list
    /// given here (whatsmeow derives it from the status privacy setting and the contacts;
    /// this client has no contact list, so the caller says).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::{Outgoing, Text};
    /// let customers = ["201112223334@s.whatsapp.net".parse().unwrap()];
    /// client.send_status(&customers, Outgoing::Text(Text::new("Open until midnight today"))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_status(
        &self,
        recipients: &[Jid],
        content: Outgoing,
    ) -> Result<MessageId, ClientError> {
        let shared = self.shared();
        let own = shared
            .device()
            .jid
            .as_ref()
            .map(Jid::to_non_ad)
            .ok_or(ClientError::NotConnected)?;
        let mut participants: Vec<Jid> = Vec::with_capacity(recipients.len() + 1);
        for r in recipients {
            if !(r.is_user() || r.is_lid()) {
                return Err(ClientError::InvalidArgument(format!(
                    "a status recipient must be a user, not {r}"
                )));
            }
            let r = r.to_non_ad();
            if r.user != own.user && !participants.contains(&r) {
                participants.push(r);
            }
        }
        if participants.is_empty() {
            return Err(ClientError::InvalidArgument(
                "a status post needs a recipient".into(),
            ));
        }
        // Our other devices see our own post (whatsmeow adds our own JID to the list).
        participants.push(own);
        let to = Jid::status_broadcast();
        let message = build(shared, &to, content).await?;
        let info = GroupInfo {
            participants,
            lid_mode: false,
        };
        crate::send::send_sender_key_message(shared, &to, None, message, info)
            .await
            .map(MessageId::checked)
    }

    /// Asks our phone to send us a message this device could not get or decrypt
    /// (whatsmeow `BuildUnavailableMessageRequest`, sent as a peer message); the answer comes
    /// as an [`Event::Message`](crate::Event::Message). The client already asks on its own
    /// for messages that arrive as `<unavailable>`; this asks again, or for others. Returns
    /// the request's id.
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, mut events: whatsapp_client::EventStream)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::Event;
    /// while let Some(event) = events.recv().await {
    ///     if let Event::UndecryptableMessage { info, .. } = event {
    ///         client.request_placeholder_resend(&info).await?;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn request_placeholder_resend(
        &self,
        message: &MessageInfo,
    ) -> Result<MessageId, ClientError> {
        let shared = self.shared();
        let request = crate::placeholder::resend_request(&super::own_jids(shared), message);
        crate::peer::send_peer_message(shared, request)
            .await
            .map(MessageId::checked)
    }
}
