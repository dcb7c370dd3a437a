//! [`SimHandle`] calls for stanzas that are not a decryptable message: `<unavailable>` from
//! the server, raw stanzas, a customer's call and poll vote (see `state/stanzas.rs`).

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;

use crate::state::CallRecord;
use crate::{SimError, SimHandle, customer, phone_digits, state};

impl SimHandle {
    /// The server gives `account`'s companions an `<unavailable type=kind>` for a message
    /// `customer` sent (`view_once`: view-once media; any other kind: the account's phone
    /// keeps `text` as the message and resends it when the companion asks). Returns its id.
    pub fn unavailable_message(
        &self,
        account: &str,
        customer: &str,
        kind: &str,
        text: &str,
    ) -> Result<String, SimError> {
        self.shared.lock().unavailable_message(
            &phone_digits(account),
            &phone_digits(customer),
            kind,
            text,
        )
    }

    /// Delivers `node` (`message`, `appdata` or `call`, with an id) as it is to `account`'s
    /// companions, as if from `customer`. Returns its id.
    pub fn raw_stanza(
        &self,
        account: &str,
        customer: &str,
        node: Node,
    ) -> Result<String, SimError> {
        self.shared
            .lock()
            .raw_stanza(&phone_digits(account), &phone_digits(customer), node)
    }

    /// The message ids `account`'s phone was asked to resend (placeholder-resend requests).
    pub fn resend_requests(&self, account: &str) -> Vec<String> {
        self.shared.lock().resend_requests(&phone_digits(account))
    }

    /// `customer` calls `account` (`<offer>`); returns the call id.
    pub fn customer_call(
        &self,
        customer: &str,
        account: &str,
        video: bool,
    ) -> Result<String, SimError> {
        self.shared
            .lock()
            .customer_call(&phone_digits(customer), &phone_digits(account), video)
    }

    /// `customer` hangs up (`<terminate>`).
    pub fn customer_call_end(
        &self,
        customer: &str,
        account: &str,
        call_id: &str,
    ) -> Result<(), SimError> {
        self.shared.lock().customer_call_end(
            &phone_digits(customer),
            &phone_digits(account),
            call_id,
        )
    }

    /// The `<call>` stanzas (rejects) relayed to `customer`'s devices.
    pub fn customer_calls(&self, customer: &str) -> Vec<CallRecord> {
        self.shared.lock().calls_relayed(&phone_digits(customer))
    }

    /// `customer` votes on the poll `poll_id` in its chat with `to` (digits or a JID),
    /// selecting `options` by name; returns the vote's message id. The poll is `to`'s, or the
    /// customer's own when `own_poll`. The customer's client seals the vote with the poll's
    /// secret, which it kept when the poll arrived or was sent.
    pub fn customer_vote(
        &self,
        customer: &str,
        to: &str,
        poll_id: &str,
        options: &[&str],
        own_poll: bool,
    ) -> Result<String, SimError> {
        let pn = phone_digits(customer);
        let chat = self.shared.lock().customer_chat(&pn, to)?;
        let poll_sender: Option<Jid> = (!own_poll).then(|| chat.to_non_ad());
        self.customer_command(&pn, |id| customer::Command::Vote {
            to: chat,
            id,
            poll_id: poll_id.to_owned(),
            poll_sender,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        })
    }

    /// `customer` sends `to` a single-choice poll (with a fresh message secret); returns its
    /// id.
    pub fn customer_poll(
        &self,
        customer: &str,
        to: &str,
        name: &str,
        options: &[&str],
    ) -> Result<String, SimError> {
        let pn = phone_digits(customer);
        let chat = self.shared.lock().customer_chat(&pn, to)?;
        self.customer_command(&pn, |id| customer::Command::Poll {
            to: chat,
            id,
            name: name.to_owned(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        })
    }

    /// Runs a command carrying a fresh message id on the customer's phone client.
    fn customer_command(
        &self,
        pn: &str,
        command: impl FnOnce(String) -> customer::Command,
    ) -> Result<String, SimError> {
        let id = whatsapp_client::generate_message_id(pn, state::now_unix());
        if !self.shared.customers.command(pn, 0, command(id.clone())) {
            return Err(SimError::UnknownDevice(format!(
                "{pn}:0 has no running client"
            )));
        }
        Ok(id)
    }
}
