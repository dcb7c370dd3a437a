//! The test API for groups: a simulated account makes any group request as its phone's
//! `w:g2` IQ would (the same checks, answers and notifications), and tests read what the
//! server holds.

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::GroupInfo;
use whatsapp_proto::stanza::groups::request::GroupIq;

use crate::{SimError, SimHandle, phone_digits};

impl SimHandle {
    /// The account `by` makes a group request: the answer's content, or the server's refusal
    /// as [`SimError::BadRequest`] naming the code (`"403 forbidden"`).
    ///
    /// ```no_run
    /// # fn demo(sim: &whatsapp_sim::SimHandle, group: whatsapp_proto::jid::Jid) -> Result<(), whatsapp_sim::SimError> {
    /// use whatsapp_proto::stanza::groups::request::{GroupIq, GroupRequest, GroupSetting};
    /// sim.group_request("201112223334", GroupIq::new(group, GroupRequest::Setting(GroupSetting::Locked(true))))?;
    /// # Ok(()) }
    /// ```
    pub fn group_request(&self, by: &str, request: GroupIq) -> Result<Vec<Node>, SimError> {
        let by = phone_digits(by);
        let mut state = self.shared.lock();
        if !state.has_account(&by) {
            return Err(SimError::UnknownAccount(by));
        }
        state
            .group_request(&by, request)
            .map_err(|(code, text)| SimError::BadRequest(format!("{code} {text}")))
    }

    /// The group as the server holds it (every participant, with roles and settings).
    pub fn group(&self, group: &Jid) -> Option<GroupInfo> {
        self.shared.lock().group_snapshot(&group.user)
    }

    /// The group's picture as stored (its id and the JPEG).
    pub fn group_picture(&self, group: &Jid) -> Option<(String, Vec<u8>)> {
        self.shared.lock().group_picture(&group.user)
    }
}
