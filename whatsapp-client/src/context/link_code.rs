//! A phone-code pairing in progress, between its two stages (`pair`).

use whatsapp_proto::xeddsa::KeyPair;

/// A phone-code pairing in progress.
#[derive(Clone)]
pub(crate) struct LinkCodeState {
    pub(crate) code: String,
    pub(crate) phone: String,
    pub(crate) ephemeral: KeyPair,
    pub(crate) reference: Vec<u8>,
}
