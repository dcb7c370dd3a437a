//! Process-wide counters for `/metrics`, written in the Prometheus text format by hand (a few
//! atomics; no metrics crate).
//!
//! The WhatsApp bridge calls [`Metrics::inbound_stored`] when a received message is committed
//! and published to the agents' sockets (with the time since the client handed it over), the
//! outbox worker calls [`Metrics::outbound_sent`] after a send succeeded. The outbox depth and
//! the link state are read when scraped.
//!
//! ```
//! use pharmacy_service::ops::metrics::Metrics;
//! let m = Metrics::default();
//! m.inbound_stored(std::time::Duration::from_millis(3));
//! let text = m.render(0, None);
//! assert!(text.contains("pharmacy_messages_in_total 1\n"));
//! assert!(text.contains("pharmacy_receive_to_agent_seconds_bucket{le=\"0.005\"} 1\n"));
//! ```

use crate::app::LinkState;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    /// Per bucket (not cumulative), then the overflow bucket.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    /// Acknowledged without a stored row, by [`Unstored`] reason.
    unstored: [AtomicU64; 4],
}

/// Why a received WhatsApp message was acknowledged without a row an agent sees: the only
/// such cases (everything else is stored, at least as a visible line, before its ack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unstored {
    /// A group chat (the service serves 1:1 customers).
    Group,
    /// A `status@broadcast` post.
    Status,
    /// A protocol message with nothing to apply (our own phone's edits, a setting change).
    Protocol,
    /// A protocol message the WhatsApp client consumed itself (key shares, history
    /// notifications, sender key distributions).
    Consumed,
}

impl Unstored {
    const ALL: [(Unstored, &'static str); 4] = [
        (Unstored::Group, "group"),
        (Unstored::Status, "status"),
        (Unstored::Protocol, "protocol"),
        (Unstored::Consumed, "consumed"),
    ];
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static GLOBAL: std::sync::OnceLock<Metrics> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(Metrics::default)
}

const LINK_STATES: [(LinkState, &str); 7] = [
    (LinkState::Unpaired, "unpaired"),
    (LinkState::Connecting, "connecting"),
    (LinkState::Connected, "connected"),
    (LinkState::Disconnected, "disconnected"),
    (LinkState::LoggedOut, "logged_out"),
    (LinkState::TemporaryBan, "temporary_ban"),
    (LinkState::Outdated, "outdated"),
];

/// The `snake_case` name of a link state (as the status API shows it).
pub fn link_state_name(s: LinkState) -> &'static str {
    LINK_STATES
        .iter()
        .find(|(state, _)| *state == s)
        .map_or("unknown", |(_, n)| n)
}

impl Metrics {
    /// A received message was stored and published; `latency` since the client handed it in.
    pub fn inbound_stored(&self, latency: Duration) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        let secs = latency.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A received message was acknowledged without a row, for `why`.
    pub fn acked_unstored(&self, why: Unstored) {
        self.unstored[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages acknowledged without a row so far, for `why`.
    pub fn unstored(&self, why: Unstored) -> u64 {
        self.unstored[why as usize].load(Ordering::Relaxed)
    }

    /// An outgoing message left for WhatsApp.
    pub fn outbound_sent(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages counted in so far.
    pub fn messages_in(&self) -> u64 {
        self.messages_in.load(Ordering::Relaxed)
    }

    /// Messages counted out so far.
    pub fn messages_out(&self) -> u64 {
        self.messages_out.load(Ordering::Relaxed)
    }

    /// The exposition: counters, the outbox depth, the link state, the latency histogram.
    pub fn render(&self, outbox_depth: u64, link: Option<LinkState>) -> String {
        let mut out = String::with_capacity(2048);
        let metric = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        metric(
            &mut out,
            "pharmacy_messages_in_total",
            "counter",
            "Messages received from WhatsApp and stored.",
        );
        let _ = writeln!(out, "pharmacy_messages_in_total {}", self.messages_in());
        metric(
            &mut out,
            "pharmacy_messages_acked_without_row_total",
            "counter",
            "Messages from WhatsApp acknowledged without a stored row (group chats, status posts, protocol messages: consumed by the client or with nothing to apply).",
        );
        for (why, name) in Unstored::ALL {
            let _ = writeln!(
                out,
                "pharmacy_messages_acked_without_row_total{{reason=\"{name}\"}} {}",
                self.unstored(why)
            );
        }
        metric(
            &mut out,
            "pharmacy_messages_out_total",
            "counter",
            "Messages sent to WhatsApp by the outbox.",
        );
        let _ = writeln!(out, "pharmacy_messages_out_total {}", self.messages_out());
        metric(
            &mut out,
            "pharmacy_outbox_depth",
            "gauge",
            "Outgoing messages waiting in the outbox.",
        );
        let _ = writeln!(out, "pharmacy_outbox_depth {outbox_depth}");
        // Tokio's own count (stable runtime metrics): a leak of tasks per connection or per
        // reconnect shows here first. Absent outside a runtime.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            metric(
                &mut out,
                "pharmacy_tokio_alive_tasks",
                "gauge",
                "Tasks alive in the service's async runtime.",
            );
            let _ = writeln!(
                out,
                "pharmacy_tokio_alive_tasks {}",
                rt.metrics().num_alive_tasks()
            );
        }
        metric(
            &mut out,
            "pharmacy_whatsapp_connected",
            "gauge",
            "1 when the WhatsApp link is connected.",
        );
        let _ = writeln!(
            out,
            "pharmacy_whatsapp_connected {}",
            u8::from(link == Some(LinkState::Connected))
        );
        metric(
            &mut out,
            "pharmacy_whatsapp_state",
            "gauge",
            "The WhatsApp link's state (1 for the current one).",
        );
        for (state, name) in LINK_STATES {
            let _ = writeln!(
                out,
                "pharmacy_whatsapp_state{{state=\"{name}\"}} {}",
                u8::from(link == Some(state))
            );
        }
        metric(
            &mut out,
            "pharmacy_receive_to_agent_seconds",
            "histogram",
            "From the WhatsApp client handing a message in to its live event for the agents.",
        );
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.latency[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "pharmacy_receive_to_agent_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.latency[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "pharmacy_receive_to_agent_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "pharmacy_receive_to_agent_seconds_sum {sum}");
        let _ = writeln!(out, "pharmacy_receive_to_agent_seconds_count {cumulative}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_acked_without_a_row_are_counted_by_reason() {
        let m = Metrics::default();
        m.acked_unstored(Unstored::Group);
        m.acked_unstored(Unstored::Group);
        m.acked_unstored(Unstored::Status);
        let text = m.render(0, None);
        assert!(text.contains("pharmacy_messages_acked_without_row_total{reason=\"group\"} 2\n"));
        assert!(text.contains("pharmacy_messages_acked_without_row_total{reason=\"status\"} 1\n"));
        assert!(
            text.contains("pharmacy_messages_acked_without_row_total{reason=\"protocol\"} 0\n")
        );
        m.acked_unstored(Unstored::Consumed);
        assert!(
            m.render(0, None)
                .contains("pharmacy_messages_acked_without_row_total{reason=\"consumed\"} 1\n")
        );
    }
}
