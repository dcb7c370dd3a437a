//! Media re-upload requests waiting for their `mediaretry` notification (see
//! `media::retry`): shared state, so it lives with the rest of it.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;
use whatsapp_proto::binary::Node;

/// Requests waiting for their `mediaretry` notification, by message id.
#[derive(Default)]
pub(crate) struct RetryWaiters(Mutex<HashMap<String, oneshot::Sender<Node>>>);

impl RetryWaiters {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Node>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
