//! Signal addresses: which device a session or sender key belongs to (part 2 §1.12).

use std::fmt;
use std::str::FromStr;

use super::error::SignalError;

/// A peer device as Signal names it: a user part and a device number.
///
/// The user part is the JID user, suffixed `_1` for a LID, `_128` for `hosted`, `_129` for
/// `hosted.lid` (whatsmeow `SignalAddressUser`); a phone-number and a LID address are different
/// sessions. Displayed as `user.device` (libsignal-node form).
///
/// ```
/// use whatsapp_proto::signal::ProtocolAddress;
/// let pn: ProtocolAddress = "15551234567:2@s.whatsapp.net".parse().unwrap();
/// assert_eq!(pn.to_string(), "15551234567.2");
/// let lid: ProtocolAddress = "123:2@lid".parse().unwrap();
/// assert_eq!(lid.to_string(), "123_1.2");
/// assert_eq!("15551234567.0".parse::<ProtocolAddress>().unwrap().device_id, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolAddress {
    /// User part (`15551234567`, `123_1`).
    pub name: String,
    /// Device number (0 = the phone).
    pub device_id: u32,
}

impl ProtocolAddress {
    /// An address from its parts.
    pub fn new(name: impl Into<String>, device_id: u32) -> Self {
        Self {
            name: name.into(),
            device_id,
        }
    }

    /// From JID parts: `user`, `server` and device (the raw agent is used for unknown servers,
    /// as whatsmeow does).
    pub fn from_jid_parts(user: &str, raw_agent: u8, device: u16, server: &str) -> Self {
        let domain = match server {
            "s.whatsapp.net" => 0,
            "lid" => 1,
            "hosted" => 128,
            "hosted.lid" => 129,
            _ => raw_agent,
        };
        let name = if domain == 0 {
            user.to_owned()
        } else {
            format!("{user}_{domain}")
        };
        Self {
            name,
            device_id: u32::from(device),
        }
    }
}

impl fmt::Display for ProtocolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.device_id)
    }
}

impl FromStr for ProtocolAddress {
    type Err = SignalError;

    /// Accepts `name.device` or a JID `user[.agent][:device]@server`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = || SignalError::InvalidAddress {
            input: input.to_owned(),
        };
        if let Some((local, server)) = input.split_once('@') {
            let (user_agent, device) = match local.split_once(':') {
                Some((ua, d)) => (ua, d.parse::<u16>().map_err(|_| bad())?),
                None => (local, 0),
            };
            let (user, agent) = match user_agent.split_once('.') {
                Some((u, a)) => (u, a.parse::<u8>().map_err(|_| bad())?),
                None => (user_agent, 0),
            };
            if user.is_empty() || server.is_empty() {
                return Err(bad());
            }
            return Ok(Self::from_jid_parts(user, agent, device, server));
        }
        let (name, device) = input.rsplit_once('.').ok_or_else(bad)?;
        if name.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            name: name.to_owned(),
            device_id: device.parse().map_err(|_| bad())?,
        })
    }
}

/// Names a sender-key record: the group (or `status@broadcast`) and the sending device.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SenderKeyName {
    /// The group JID as text.
    pub group_id: String,
    /// The sender's address.
    pub sender: ProtocolAddress,
}

impl fmt::Display for SenderKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.group_id, self.sender)
    }
}
