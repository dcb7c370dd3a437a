//! Helpers for tests that drive the sim: what happens in it (simulated customers are clients
//! with their own tasks) happens asynchronously, so a test polls until it sees it.

use std::time::Duration;

/// How long [`poll_until`] waits before failing the test.
pub const POLL_LIMIT: Duration = Duration::from_secs(60);

/// How often [`poll_until`] asks.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Calls `probe` until it answers `Some`, every 50 ms for at most [`POLL_LIMIT`]; panics
/// naming `what` when it never does (a coarse bound: a test fails, it never measures time).
/// The probe is async so that it can read a store as well as the sim.
pub async fn poll_until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + POLL_LIMIT;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}
