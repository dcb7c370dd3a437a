//! Typed forms of the server's `<success>`, `<failure>` and `<stream:error>`
//! nodes (fact sheet part 1 §9.1-9.3; whatsmeow `connectionevents.go`,
//! `types/events/events.go`).

use crate::binary::Node;
use crate::jid::Jid;

/// `<success>`: the login was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    /// Server time (`t`), unix seconds, when present.
    pub server_time: Option<u64>,
    /// Our LID (`lid`), when present.
    pub lid: Option<Jid>,
    /// The whole node, for attributes without a typed field.
    pub node: Node,
}

impl Success {
    /// Reads a `<success>` node; unparsable optional attributes read as absent.
    pub fn from_node(node: &Node) -> Success {
        let attrs = node.attrs();
        Success {
            server_time: attrs.optional_u64("t").ok().flatten(),
            lid: attrs.optional_jid("lid").ok().flatten(),
            node: node.clone(),
        }
    }
}

/// Why a `<failure>` refused the login: one variant per row of part 1 §9.2.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// 400: generic failure; stop.
    Generic,
    /// 401: the device was logged out; delete the session.
    LoggedOut,
    /// 402: temporary ban.
    TempBanned {
        /// `code`: 101 sent to too many people, 102 blocked by users, 103 created
        /// too many groups, 104 sent too many same message, 106 broadcast list.
        code: Option<u64>,
        /// `expire`: seconds until the ban ends.
        expire: Option<u64>,
    },
    /// 403: the main (phone) device is gone (WA Web: LOCKED); delete the session.
    MainDeviceGone {
        /// `logout_message_header`.
        header: Option<String>,
        /// `logout_message_subtext`.
        subtext: Option<String>,
    },
    /// 405: the app version is outdated; update `AppVersion`.
    ClientOutdated,
    /// 406: unknown logout (WA Web: BANNED); delete the session.
    Banned,
    /// 409: the user agent was refused; stop.
    BadUserAgent,
    /// 413: CAT expired (Messenger mode).
    CatExpired,
    /// 414: CAT invalid (Messenger mode).
    CatInvalid,
    /// 415: not found; stop.
    NotFound,
    /// 418: client unknown; stop.
    ClientUnknown,
    /// 500: internal server error; reconnect.
    InternalServerError,
    /// 501: experimental; stop.
    Experimental,
    /// 503: service unavailable; reconnect.
    ServiceUnavailable,
    /// Any other (or missing, as 0) reason code.
    Other(u64),
}

/// `<failure reason=N …>`: the login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The typed reason.
    pub reason: FailureReason,
    /// The numeric `reason` attribute (0 when absent or malformed).
    pub code: u64,
    /// Optional `message` text.
    pub message: Option<String>,
}

impl Failure {
    /// Reads a `<failure>` node.
    pub fn from_node(node: &Node) -> Failure {
        let attrs = node.attrs();
        let code = attrs.optional_u64("reason").ok().flatten().unwrap_or(0);
        let reason = match code {
            400 => FailureReason::Generic,
            401 => FailureReason::LoggedOut,
            402 => FailureReason::TempBanned {
                code: attrs.optional_u64("code").ok().flatten(),
                expire: attrs.optional_u64("expire").ok().flatten(),
            },
            403 => FailureReason::MainDeviceGone {
                header: attrs.optional_string("logout_message_header"),
                subtext: attrs.optional_string("logout_message_subtext"),
            },
            405 => FailureReason::ClientOutdated,
            406 => FailureReason::Banned,
            409 => FailureReason::BadUserAgent,
            413 => FailureReason::CatExpired,
            414 => FailureReason::CatInvalid,
            415 => FailureReason::NotFound,
            418 => FailureReason::ClientUnknown,
            500 => FailureReason::InternalServerError,
            501 => FailureReason::Experimental,
            503 => FailureReason::ServiceUnavailable,
            other => FailureReason::Other(other),
        };
        Failure {
            reason,
            code,
            message: attrs.optional_string("message"),
        }
    }

    /// Whether the stored session is dead (401, 403, 406): delete it.
    pub fn is_logged_out(&self) -> bool {
        matches!(
            self.reason,
            FailureReason::LoggedOut | FailureReason::MainDeviceGone { .. } | FailureReason::Banned
        )
    }

    /// Whether reconnecting (with backoff) may succeed (500, 503).
    pub fn should_reconnect(&self) -> bool {
        matches!(
            self.reason,
            FailureReason::InternalServerError | FailureReason::ServiceUnavailable
        )
    }
}

/// `<stream:error>`: the server ends the stream (part 1 §9.3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// `code="515"`: restart required (after pairing); reconnect at once.
    RestartRequired,
    /// `code="503"`: server restart; reconnect with backoff.
    ServiceUnavailable,
    /// `code="429"`: rate limited; reconnect after a long backoff (whatsapp-rust
    /// `src/client/node_io.rs` adds five steps to its reconnect backoff).
    RateLimited,
    /// `<conflict type="device_removed"/>` (with code 401), or code 516: the
    /// device was unlinked; delete the session.
    DeviceRemoved,
    /// `<conflict type="replaced"/>`: another connection took over; do not reconnect.
    Replaced,
    /// Anything else.
    Other {
        /// The `code` attribute, if any.
        code: Option<String>,
        /// The whole node.
        node: Node,
    },
}

impl StreamError {
    /// Reads a `<stream:error>` node.
    pub fn from_node(node: &Node) -> StreamError {
        let code = node.attrs().optional_string("code");
        let conflict = node
            .child("conflict")
            .and_then(|c| c.attrs().optional_string("type"));
        match (code.as_deref(), conflict.as_deref()) {
            (_, Some("device_removed")) | (Some("516"), _) => StreamError::DeviceRemoved,
            (_, Some("replaced")) => StreamError::Replaced,
            (Some("515"), _) => StreamError::RestartRequired,
            (Some("503"), _) => StreamError::ServiceUnavailable,
            (Some("429"), _) => StreamError::RateLimited,
            _ => StreamError::Other {
                code,
                node: node.clone(),
            },
        }
    }

    /// Whether the client should reconnect on its own.
    pub fn should_reconnect(&self) -> bool {
        matches!(
            self,
            StreamError::RestartRequired
                | StreamError::ServiceUnavailable
                | StreamError::RateLimited
                | StreamError::Other { .. }
        )
    }
}
