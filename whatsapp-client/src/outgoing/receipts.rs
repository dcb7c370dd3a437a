//! Played receipts (whatsmeow receipt.go `MarkRead` with `ReceiptTypePlayed`).

use whatsapp_proto::jid::Jid;

use crate::read_receipt::receipt;
use crate::{Client, ClientError};

impl Client {
    /// Marks voice notes (or other audio and video) of one sender as played: a receipt of
    /// type `played`, which also counts as read (whatsmeow `MarkRead` with
    /// `ReceiptTypePlayed`). `sender` only in groups; `ids` non-empty.
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, msg: whatsapp_client::IncomingMessage)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// let group = msg.info.chat.is_group();
    /// let sender = group.then_some(&msg.info.sender);
    /// client.mark_played(&msg.info.chat, sender, &[msg.info.id.clone()]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn mark_played(
        &self,
        chat: &Jid,
        sender: Option<&Jid>,
        ids: &[String],
    ) -> Result<(), ClientError> {
        let now = self.shared().server_now_ms() / 1000;
        self.send_node(receipt("played", chat, sender, ids, now)?)
            .await
    }
}
