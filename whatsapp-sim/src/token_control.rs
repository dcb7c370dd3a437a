//! [`SimHandle`] calls for privacy tokens beyond [`SimHandle::issue_privacy_token`]: the
//! account's NCT salt (see `state/tokens.rs`).

use crate::{SimError, SimHandle, phone_digits};

impl SimHandle {
    /// Gives the account an NCT salt (32 random bytes), returned: its phone hands it to the
    /// companions linked from now on in their first history-sync chunk, and a companion's
    /// `<cstoken>` derived from it lets a first message through where no `<tctoken>` is held.
    /// Call it before pairing.
    pub fn provision_nct_salt(&self, phone: &str) -> Result<Vec<u8>, SimError> {
        self.shared.lock().provision_nct_salt(&phone_digits(phone))
    }
}
