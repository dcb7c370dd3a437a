//! A call offered, answered, rejected, ended or missed.

use whatsapp_proto::jid::Jid;

/// What a `<call>` stanza says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallAction {
    /// `<offer>`: the caller rings this device.
    Offer,
    /// `<offer_notice>`: a call offered where this device cannot answer (a notice only).
    OfferNotice,
    /// `<accept>`: answered (on another of our devices).
    Accept,
    /// `<reject>`: declined (by us elsewhere, or by the callee of our call).
    Reject,
    /// `<terminate>`: the call ended.
    Terminate {
        /// The `reason` attribute, when given.
        reason: Option<String>,
    },
    /// Derived, not a stanza: an offer ended (`<terminate>`) with no accept or reject in
    /// between, as whatsmeow's users derive it. Follows the [`CallAction::Terminate`] event.
    Missed,
    /// Another child (`preaccept`, `transport`, `relaylatency`, …): not interpreted.
    Other(String),
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallMedia {
    /// A voice call.
    Audio,
    /// A video call.
    Video,
    /// Not stated by this stanza (and no offer of the call was seen).
    Unknown,
}

/// A call event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// What happened.
    pub action: CallAction,
    /// The call id (`call-id`).
    pub call_id: String,
    /// The device the stanza came from (`from`).
    pub from: Jid,
    /// Who placed the call (`call-creator`), as the server names them (phone number or LID).
    pub caller: Jid,
    /// The caller's phone number, when the stanza or `caller` says it.
    pub caller_pn: Option<Jid>,
    /// The caller's LID, when the stanza or `caller` says it.
    pub caller_lid: Option<Jid>,
    /// Audio or video (from the offer: a `<video>` child or `media="video"`).
    pub media: CallMedia,
    /// The group of a group call.
    pub group: Option<Jid>,
    /// Server timestamp, unix seconds.
    pub timestamp: u64,
}
