//! A fake messenger that records every call with its instant, so tests can see the pacing
//! (read -> typing -> send, gaps between sends) and script failures.

use crate::app::{Messenger, OutgoingMessage, SendError};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

/// What the worker asked of WhatsApp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeOp {
    /// Read receipts.
    MarkRead {
        /// Chat JID.
        chat: String,
        /// Message ids.
        ids: Vec<String>,
    },
    /// Typing on/off.
    Typing {
        /// Chat JID.
        chat: String,
        /// On or off.
        on: bool,
    },
    /// A message the server accepted.
    Sent(OutgoingMessage),
    /// A send that failed with a scripted error.
    Refused(OutgoingMessage, SendError),
    /// A delete-for-everyone.
    Revoked {
        /// Chat JID.
        chat: String,
        /// The revoked message's WhatsApp id.
        id: String,
    },
}

/// A recorded call.
#[derive(Debug, Clone)]
pub struct FakeCall {
    /// When it happened.
    pub at: Instant,
    /// What.
    pub op: FakeOp,
}

/// Records calls; `fail_next` scripts the results of the next sends.
#[derive(Debug, Default)]
pub struct FakeMessenger {
    calls: Mutex<Vec<FakeCall>>,
    script: Mutex<VecDeque<SendError>>,
}

impl FakeMessenger {
    /// A fake that accepts everything.
    pub fn new() -> FakeMessenger {
        FakeMessenger::default()
    }

    /// The next send fails with `e` (queued: call several times for several failures).
    pub fn fail_next(&self, e: SendError) {
        self.script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(e);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The accepted messages with their instants.
    pub fn sent(&self) -> Vec<(Instant, OutgoingMessage)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c.op {
                FakeOp::Sent(m) => Some((c.at, m)),
                _ => None,
            })
            .collect()
    }

    fn record(&self, op: FakeOp) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(FakeCall {
                at: Instant::now(),
                op,
            });
    }
}

impl Messenger for FakeMessenger {
    async fn mark_read(&self, chat: &str, message_ids: &[String]) -> Result<(), SendError> {
        self.record(FakeOp::MarkRead {
            chat: chat.to_owned(),
            ids: message_ids.to_vec(),
        });
        Ok(())
    }

    async fn set_typing(&self, chat: &str, typing: bool) -> Result<(), SendError> {
        self.record(FakeOp::Typing {
            chat: chat.to_owned(),
            on: typing,
        });
        Ok(())
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        let scripted = self
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        match scripted {
            Some(e) => {
                self.record(FakeOp::Refused(message.clone(), e.clone()));
                Err(e)
            }
            None => {
                self.record(FakeOp::Sent(message.clone()));
                Ok(())
            }
        }
    }

    async fn revoke(&self, chat: &str, message_id: &str) -> Result<(), SendError> {
        self.record(FakeOp::Revoked {
            chat: chat.to_owned(),
            id: message_id.to_owned(),
        });
        Ok(())
    }
}
