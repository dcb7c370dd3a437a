//! WhatsApp addresses: `user[.agent][:device]@server`.
//!
//! Servers and string forms follow whatsmeow `types/jid.go` (../shared/protocol part 1 §6):
//! the agent is written after a dot and the device after a colon, device 0 (the primary
//! phone) is the bare user, and a JID with no user is just its server. Interop JIDs carry
//! an integrator id, written `integrator-user:device@interop` as Baileys prints them.
//!
//! ```
//! use whatsapp_proto::jid::{Jid, Server};
//!
//! let jid: Jid = "201001234567:3@s.whatsapp.net".parse().unwrap();
//! assert_eq!(jid.server, Server::User);
//! assert_eq!(jid.device, 3);
//! assert_eq!(jid.to_non_ad().to_string(), "201001234567@s.whatsapp.net");
//! ```

use std::fmt;
use std::str::FromStr;

/// The part of a JID after the `@`: which namespace the user lives in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Server {
    /// `s.whatsapp.net`: phone-number (PN) users; with no user, the server itself.
    User,
    /// `lid`: LID ("hidden user") identities.
    Lid,
    /// `g.us`: groups.
    Group,
    /// `broadcast`: broadcast lists and `status@broadcast`.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `hosted`: hosted (Cloud API) business accounts by phone number.
    Hosted,
    /// `hosted.lid`: hosted business accounts by LID.
    HostedLid,
    /// `bot`: bots.
    Bot,
    /// `interop`: users of interoperating networks.
    Interop,
    /// `msgr`: Messenger users.
    Messenger,
    /// `call`: call links.
    Call,
    /// `c.us`: the legacy user server (PSA, official business account).
    LegacyUser,
    /// Any other server string, kept verbatim so nothing read off the wire is lost.
    Other(String),
}

impl Server {
    /// The server's wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Server::User => "s.whatsapp.net",
            Server::Lid => "lid",
            Server::Group => "g.us",
            Server::Broadcast => "broadcast",
            Server::Newsletter => "newsletter",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Bot => "bot",
            Server::Interop => "interop",
            Server::Messenger => "msgr",
            Server::Call => "call",
            Server::LegacyUser => "c.us",
            Server::Other(s) => s,
        }
    }

    /// The server named by a wire string (unknown strings become [`Server::Other`]).
    pub fn from_wire(s: &str) -> Server {
        match s {
            "s.whatsapp.net" => Server::User,
            "lid" => Server::Lid,
            "g.us" => Server::Group,
            "broadcast" => Server::Broadcast,
            "newsletter" => Server::Newsletter,
            "hosted" => Server::Hosted,
            "hosted.lid" => Server::HostedLid,
            "bot" => Server::Bot,
            "interop" => Server::Interop,
            "msgr" => Server::Messenger,
            "call" => Server::Call,
            "c.us" => Server::LegacyUser,
            other => Server::Other(other.to_owned()),
        }
    }

    /// The AD_JID domain type byte of this server, if it has one
    /// (whatsmeow `types/jid.go` `ActualAgent`: 0, 1, 128, 129).
    pub fn domain_type(&self) -> Option<u8> {
        match self {
            Server::User => Some(DOMAIN_WHATSAPP),
            Server::Lid => Some(DOMAIN_LID),
            Server::Hosted => Some(DOMAIN_HOSTED),
            Server::HostedLid => Some(DOMAIN_HOSTED_LID),
            _ => None,
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// AD_JID domain type of `s.whatsapp.net`.
pub const DOMAIN_WHATSAPP: u8 = 0;
/// AD_JID domain type of `lid`.
pub const DOMAIN_LID: u8 = 1;
/// AD_JID domain type of `hosted`.
pub const DOMAIN_HOSTED: u8 = 128;
/// AD_JID domain type of `hosted.lid`.
pub const DOMAIN_HOSTED_LID: u8 = 129;

/// A WhatsApp address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    /// The user part: a phone number, LID, group id, … Empty for a server-only JID.
    pub user: String,
    /// The raw agent (rare; 0 for ordinary users).
    pub agent: u8,
    /// The device: 0 is the primary phone, companions are 1 and up.
    pub device: u16,
    /// The integrator id of an interop JID (0 otherwise).
    pub integrator: u16,
    /// The namespace.
    pub server: Server,
}

/// Why a string is not a JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JidError {
    /// The string is empty.
    #[error("empty JID")]
    Empty,
    /// The server part after `@` is empty.
    #[error("JID {jid:?} has an empty server")]
    EmptyServer {
        /// The text that was parsed.
        jid: String,
    },
    /// More than one `@`, `.` or `:` separator where one is allowed.
    #[error("JID {jid:?} has more than one {separator:?}")]
    Separator {
        /// The text that was parsed.
        jid: String,
        /// The repeated separator.
        separator: char,
    },
    /// The agent, device or integrator is not a number in range.
    #[error("JID {jid:?}: {part} {value:?} is not a number in range")]
    Number {
        /// The text that was parsed.
        jid: String,
        /// Which part: "agent", "device" or "integrator".
        part: &'static str,
        /// The offending text.
        value: String,
    },
}

impl Jid {
    /// A JID with a user and a server, device 0.
    pub fn new(user: impl Into<String>, server: Server) -> Jid {
        Jid {
            user: user.into(),
            agent: 0,
            device: 0,
            integrator: 0,
            server,
        }
    }

    /// A phone-number user, `user@s.whatsapp.net`.
    pub fn user(phone: impl Into<String>) -> Jid {
        Jid::new(phone, Server::User)
    }

    /// A device of a user: `user:device@server`.
    pub fn with_device(mut self, device: u16) -> Jid {
        self.device = device;
        self
    }

    /// The server-only JID `s.whatsapp.net`, the address of WhatsApp's server.
    pub fn server_jid() -> Jid {
        Jid::new("", Server::User)
    }

    /// `status@broadcast`, the status feed.
    pub fn status_broadcast() -> Jid {
        Jid::new("status", Server::Broadcast)
    }

    /// The same user without agent and device: the account rather than one of its devices.
    pub fn to_non_ad(&self) -> Jid {
        Jid {
            user: self.user.clone(),
            agent: 0,
            device: 0,
            integrator: 0,
            server: self.server.clone(),
        }
    }

    /// Whether this names a group.
    pub fn is_group(&self) -> bool {
        self.server == Server::Group
    }

    /// Whether this names a broadcast list or the status feed.
    pub fn is_broadcast(&self) -> bool {
        self.server == Server::Broadcast
    }

    /// Whether this is the status feed, `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.server == Server::Broadcast && self.user == "status"
    }

    /// Whether this is a LID identity (`lid` or `hosted.lid`).
    pub fn is_lid(&self) -> bool {
        matches!(self.server, Server::Lid | Server::HostedLid)
    }

    /// Whether this is a person's account or device (PN, LID or hosted) rather than a group,
    /// list or service.
    pub fn is_user(&self) -> bool {
        matches!(
            self.server,
            Server::User | Server::Lid | Server::Hosted | Server::HostedLid
        )
    }

    /// Whether this is a bot: any JID on the `bot` server, or device 0 of a phone number
    /// `1313555` + 4 digits or `131655500` + 2 digits (whatsmeow `types/jid.go` `IsBot`,
    /// Baileys `isJidBot`). A companion device of such a number is no bot, as in whatsmeow.
    ///
    /// ```
    /// use whatsapp_proto::jid::{Jid, Server};
    ///
    /// assert!(Jid::user("13135550002").is_bot());
    /// assert!(Jid::new("867051314767696", Server::Bot).is_bot());
    /// assert!(!Jid::user("13135550002").with_device(1).is_bot());
    /// assert!(!Jid::user("201001234567").is_bot());
    /// ```
    pub fn is_bot(&self) -> bool {
        if self.server == Server::Bot {
            return true;
        }
        let digits =
            |rest: &str, n: usize| rest.len() == n && rest.bytes().all(|b| b.is_ascii_digit());
        self.server == Server::User
            && self.device == 0
            && (self
                .user
                .strip_prefix("1313555")
                .is_some_and(|r| digits(r, 4))
                || self
                    .user
                    .strip_prefix("131655500")
                    .is_some_and(|r| digits(r, 2)))
    }

    /// Whether this JID has no user: a bare server such as `s.whatsapp.net`.
    pub fn is_server(&self) -> bool {
        self.user.is_empty()
    }

    /// Whether the typed encoder writes this JID as AD_JID: a companion device on the PN or
    /// LID server, or any hosted JID (whatsmeow `binary/encoder.go` `writeJID`).
    pub fn is_ad(&self) -> bool {
        (matches!(self.server, Server::User | Server::Lid) && self.device > 0)
            || matches!(self.server, Server::Hosted | Server::HostedLid)
    }

    /// The Signal address of this device: `user.device`, with `_1` after a LID user
    /// and `_128`/`_129` after hosted users (../shared/protocol part 2 §1.12).
    pub fn signal_address(&self) -> String {
        match self.server.domain_type() {
            Some(domain) if domain != DOMAIN_WHATSAPP => {
                format!("{}_{}.{}", self.user, domain, self.device)
            }
            _ => format!("{}.{}", self.user, self.device),
        }
    }

    /// The start of the Signal address of every device of this user, whatever the device:
    /// `user.` for a phone number, `user_1.` for a LID. Store keys of a user's sessions,
    /// identities and sender keys start with it; the dot ends the user part, so `2010.`
    /// never matches the devices of `20101`.
    ///
    /// ```
    /// use whatsapp_proto::jid::Jid;
    ///
    /// assert_eq!(Jid::user("2010").with_device(3).signal_address_prefix(), "2010.");
    /// let lid: Jid = "99:2@lid".parse().unwrap();
    /// assert_eq!(lid.signal_address_prefix(), "99_1.");
    /// assert!(lid.signal_address().starts_with(&lid.signal_address_prefix()));
    /// ```
    pub fn signal_address_prefix(&self) -> String {
        let mut address = self.to_non_ad().signal_address();
        // `signal_address` of device 0 ends in `.0`: keep the dot.
        address.pop();
        address
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.user.is_empty() && self.agent == 0 && self.device == 0 {
            return f.write_str(self.server.as_str());
        }
        if self.server == Server::Interop && self.integrator > 0 {
            write!(f, "{}-", self.integrator)?;
        }
        f.write_str(&self.user)?;
        if self.agent > 0 {
            write!(f, ".{}:{}", self.agent, self.device)?;
        } else if self.device > 0 {
            write!(f, ":{}", self.device)?;
        }
        write!(f, "@{}", self.server)
    }
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        if s.is_empty() {
            return Err(JidError::Empty);
        }
        let Some((user_part, server)) = s.split_once('@') else {
            return Ok(Jid::new("", Server::from_wire(s)));
        };
        if server.is_empty() {
            return Err(JidError::EmptyServer { jid: s.to_owned() });
        }
        if server.contains('@') {
            return Err(JidError::Separator {
                jid: s.to_owned(),
                separator: '@',
            });
        }
        let server = Server::from_wire(server);
        let number = |part: &'static str, value: &str| -> Result<u64, JidError> {
            let bad = || JidError::Number {
                jid: s.to_owned(),
                part,
                value: value.to_owned(),
            };
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            value.parse().map_err(|_| bad())
        };
        let (rest, device) = match user_part.split_once(':') {
            Some((rest, device)) => {
                if device.contains(':') {
                    return Err(JidError::Separator {
                        jid: s.to_owned(),
                        separator: ':',
                    });
                }
                let device =
                    u16::try_from(number("device", device)?).map_err(|_| JidError::Number {
                        jid: s.to_owned(),
                        part: "device",
                        value: device.to_owned(),
                    })?;
                (rest, device)
            }
            None => (user_part, 0),
        };
        // Interop users carry `integrator-` in front of the user; group ids also hold a
        // dash, so the prefix is only read on the interop server.
        let (rest, integrator) = match (&server, rest.split_once('-')) {
            (Server::Interop, Some((integrator, user))) => {
                let value = number("integrator", integrator)?;
                let integrator = u16::try_from(value).map_err(|_| JidError::Number {
                    jid: s.to_owned(),
                    part: "integrator",
                    value: integrator.to_owned(),
                })?;
                (user, integrator)
            }
            _ => (rest, 0),
        };
        let (user, agent) = match rest.split_once('.') {
            Some((user, agent)) => {
                if agent.contains('.') {
                    return Err(JidError::Separator {
                        jid: s.to_owned(),
                        separator: '.',
                    });
                }
                let agent =
                    u8::try_from(number("agent", agent)?).map_err(|_| JidError::Number {
                        jid: s.to_owned(),
                        part: "agent",
                        value: agent.to_owned(),
                    })?;
                (user, agent)
            }
            None => (rest, 0),
        };
        Ok(Jid {
            user: user.to_owned(),
            agent,
            device,
            integrator,
            server,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_server_and_form() {
        let table = [
            (
                "201001234567@s.whatsapp.net",
                "201001234567",
                0,
                0,
                Server::User,
            ),
            (
                "201001234567:12@s.whatsapp.net",
                "201001234567",
                0,
                12,
                Server::User,
            ),
            (
                "100000000000001:42@lid",
                "100000000000001",
                0,
                42,
                Server::Lid,
            ),
            (
                "120363025246125486@g.us",
                "120363025246125486",
                0,
                0,
                Server::Group,
            ),
            (
                "201001234567-1612345678@g.us",
                "201001234567-1612345678",
                0,
                0,
                Server::Group,
            ),
            ("status@broadcast", "status", 0, 0, Server::Broadcast),
            (
                "120363144038483540@newsletter",
                "120363144038483540",
                0,
                0,
                Server::Newsletter,
            ),
            ("201001234567@hosted", "201001234567", 0, 0, Server::Hosted),
            (
                "100000000000001:99@hosted.lid",
                "100000000000001",
                0,
                99,
                Server::HostedLid,
            ),
            ("867051314767696@bot", "867051314767696", 0, 0, Server::Bot),
            (
                "100012345678:2@msgr",
                "100012345678",
                0,
                2,
                Server::Messenger,
            ),
            ("0@c.us", "0", 0, 0, Server::LegacyUser),
            ("abcdef@call", "abcdef", 0, 0, Server::Call),
            (
                "201001234567.7:3@s.whatsapp.net",
                "201001234567",
                7,
                3,
                Server::User,
            ),
            ("s.whatsapp.net", "", 0, 0, Server::User),
            ("g.us", "", 0, 0, Server::Group),
        ];
        for (text, user, agent, device, server) in table {
            let jid: Jid = text.parse().unwrap();
            assert_eq!(jid.user, user, "{text}");
            assert_eq!(jid.agent, agent, "{text}");
            assert_eq!(jid.device, device, "{text}");
            assert_eq!(jid.server, server, "{text}");
            assert_eq!(jid.to_string(), text);
        }
    }

    #[test]
    fn interop_keeps_its_integrator() {
        let jid: Jid = "5-1234:2@interop".parse().unwrap();
        assert_eq!(
            (jid.integrator, jid.user.as_str(), jid.device),
            (5, "1234", 2)
        );
        assert_eq!(jid.to_string(), "5-1234:2@interop");
    }

    #[test]
    fn device_zero_is_the_bare_user() {
        let jid: Jid = "201001234567:0@s.whatsapp.net".parse().unwrap();
        assert_eq!(jid.to_string(), "201001234567@s.whatsapp.net");
        assert_eq!(jid, Jid::user("201001234567"));
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "a@",
            "a:b@s.whatsapp.net",
            "a:1:2@lid",
            "a.1.2@lid",
            "a@b@c",
            "a:70000@lid",
            "a.300@lid",
        ] {
            assert!(bad.parse::<Jid>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn helpers_classify() {
        let group: Jid = "1-2@g.us".parse().unwrap();
        assert!(group.is_group() && !group.is_user());
        assert!(Jid::status_broadcast().is_status_broadcast());
        let lid: Jid = "123:4@lid".parse().unwrap();
        assert!(lid.is_lid() && lid.is_ad());
        assert_eq!(lid.signal_address(), "123_1.4");
        assert_eq!(Jid::user("2010").with_device(2).signal_address(), "2010.2");
        assert!(!Jid::user("2010").is_ad());
        assert!(Jid::new("2010", Server::Hosted).is_ad());
        assert!(Jid::server_jid().is_server());
    }

    #[test]
    fn bots_are_told_as_whatsmeow_tells_them() {
        let bots = [
            "13135550000@s.whatsapp.net",
            "13135559999@s.whatsapp.net",
            "13165550001@s.whatsapp.net",
            "1@bot",
            "2:3@bot",
        ];
        for bot in bots {
            assert!(bot.parse::<Jid>().unwrap().is_bot(), "{bot}");
        }
        let people = [
            "1313555000@s.whatsapp.net",
            "131355500001@s.whatsapp.net",
            "1313555000a@s.whatsapp.net",
            "1316555001@s.whatsapp.net",
            "131655500123@s.whatsapp.net",
            "13135550002:1@s.whatsapp.net",
            "13135550002@lid",
            "13135550002@c.us",
            "201001234567@s.whatsapp.net",
        ];
        for person in people {
            assert!(!person.parse::<Jid>().unwrap().is_bot(), "{person}");
        }
    }

    #[test]
    fn the_address_prefix_covers_every_device_of_the_user_and_no_other() {
        for jid in [
            "2010:7@s.whatsapp.net",
            "99:2@lid",
            "5@hosted.lid",
            "2010.1:3@s.whatsapp.net",
        ] {
            let jid: Jid = jid.parse().unwrap();
            let prefix = jid.signal_address_prefix();
            assert!(prefix.ends_with('.'), "{prefix}");
            for device in [0, 1, 12] {
                let address = jid.to_non_ad().with_device(device).signal_address();
                assert!(address.starts_with(&prefix), "{address} {prefix}");
            }
            let longer = Jid {
                user: format!("{}1", jid.user),
                ..jid.clone()
            };
            assert!(!longer.with_device(1).signal_address().starts_with(&prefix));
        }
        assert_eq!(Jid::user("2010").signal_address_prefix(), "2010.");
        assert_eq!(
            "99:2@lid".parse::<Jid>().unwrap().signal_address_prefix(),
            "99_1."
        );
    }
}
