//! Bounded bookkeeping of recent message ids: the ring lives with the receive core.

pub(crate) use whatsapp_proto::receive::recent::{RECENT_MESSAGES, RecentCounts};
