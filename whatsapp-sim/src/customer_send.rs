//! A simulated account's send through the handle: a customer's goes through its client (the
//! message built and recorded here, then handed to the client to encrypt and fan out), a
//! paired account's phone sends with the sim's phone code.

use crate::device::{self, Outgoing};
use crate::{SimError, SimHandle, customer, phone_digits, state};

impl SimHandle {
    /// A simulated account sends to `to` (digits, a JID or a group JID) and returns the
    /// message id at once. A customer sends from its phone's client (device 0), which
    /// encrypts, uploads media and fans out like any client; a paired account's own phone
    /// (device 0) sends with the sim's phone code.
    pub fn customer_send(
        &self,
        phone: &str,
        to: &str,
        content: Outgoing,
        reply_to: Option<&str>,
    ) -> Result<String, SimError> {
        self.send_from(phone, to, content, reply_to, false)
    }

    /// A simulated customer (whose devices are clients) sends `content` to `to` as
    /// [`SimHandle::customer_send`] does, and the server hands it to the other account's
    /// devices under an `<appdata>` tag instead of `<message>` (the same attributes and
    /// encrypted `<enc>`). Returns the message id.
    pub fn customer_send_appdata(
        &self,
        phone: &str,
        to: &str,
        content: Outgoing,
    ) -> Result<String, SimError> {
        self.send_from(phone, to, content, None, true)
    }

    /// The ids of customers' messages the server relayed as `<appdata>`, oldest first.
    pub fn appdata_relayed(&self) -> Vec<String> {
        self.shared.lock().appdata_relayed()
    }

    pub(crate) fn send_from(
        &self,
        phone: &str,
        to: &str,
        content: Outgoing,
        reply_to: Option<&str>,
        appdata: bool,
    ) -> Result<String, SimError> {
        let pn = phone_digits(phone);
        let mut state = self.shared.lock();
        if !state.is_client_customer(&pn) {
            if appdata {
                state.require_client_customer(&pn)?;
            }
            return state.customer_send(&pn, to, &content, reply_to);
        }
        let chat = state.customer_chat(&pn, to)?;
        let quote = reply_to.map(|id| {
            let participant = state
                .customer_quote_participant(&pn, id)
                .unwrap_or_default();
            (id.to_owned(), participant)
        });
        let quote = quote.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        let id = whatsapp_client::generate_message_id(&pn, state::now_unix());
        if appdata {
            state.deliver_as_appdata(&id);
        }
        // An attachment, wrapped or not, is uploaded by the customer's client first.
        let (media_part, wrapping) = match &content {
            device::Outgoing::Wrapped { content, wrapping } => (&**content, Some(wrapping)),
            other => (other, None),
        };
        let (body, sent_as) = match media_part {
            device::Outgoing::Media {
                kind,
                data,
                mimetype,
                caption,
                file_name,
            } => {
                let media = customer::Attachment {
                    kind: match kind {
                        device::MediaKind::Image | device::MediaKind::Sticker => {
                            whatsapp_client::MediaKind::Image
                        }
                        device::MediaKind::Audio => whatsapp_client::MediaKind::Audio,
                        device::MediaKind::VoiceNote => whatsapp_client::MediaKind::VoiceNote,
                        device::MediaKind::Document => whatsapp_client::MediaKind::Document,
                        device::MediaKind::Video | device::MediaKind::Ptv => {
                            whatsapp_client::MediaKind::Video
                        }
                    },
                    data: data.clone(),
                    mimetype: mimetype.clone(),
                    caption: caption.clone(),
                    file_name: file_name.clone(),
                };
                let context = quote.map(|(id, p)| Box::new(device::quote(id, p)));
                // What the sent list shows: the message as it will look, before the upload.
                let placeholder = device::Uploaded {
                    url: String::new(),
                    direct_path: String::new(),
                    media_key: [0; 32],
                    file_sha256: [0; 32],
                    file_enc_sha256: [0; 32],
                    file_length: data.len() as u64,
                };
                let shown = device::build_message(&content, quote, Some(&placeholder));
                let shape = customer::Shape {
                    kind: *kind,
                    wrapping: wrapping.cloned(),
                };
                (customer::Body::Media(media, context, shape), shown)
            }
            _ => {
                let message = device::build_message(&content, quote, None);
                (customer::Body::Message(Box::new(message.clone())), message)
            }
        };
        let understood = device::understand_message(&sent_as);
        let entry = state::sent_entry(
            &id,
            &chat,
            understood,
            whatsapp_proto::stanza::message_type::stanza_type(&sent_as),
        );
        state.customer_will_send(&pn, entry, chat.clone());
        drop(state);
        let command = customer::Command::Send {
            to: chat,
            id: id.clone(),
            body,
        };
        if !self.shared.customers.command(&pn, 0, command) {
            return Err(SimError::UnknownDevice(format!(
                "{pn}:0 has no running client"
            )));
        }
        Ok(id)
    }
}
