//! The fakes of the WhatsApp ports: [`FakeMessenger`] records every call with its instant, so
//! tests can see the pacing (read -> typing -> send, gaps between sends) and script failures;
//! [`FakeWhatsapp`] is an in-memory link for the HTTP tests and UI work.

use crate::app::{
    LinkError, LinkFuture, LinkState, LinkStatus, Messenger, OutgoingMessage, SendError,
    WhatsappLink,
};
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

/// An in-memory link for tests and UI work: starts unpaired with a fixed QR; `pair_code`
/// returns a deterministic code; `connect()` simulates a scan.
#[derive(Debug)]
pub struct FakeWhatsapp {
    inner: Mutex<FakeState>,
}

#[derive(Debug)]
struct FakeState {
    state: LinkState,
    phone: Option<String>,
    qr: String,
    announced: Vec<String>,
}

impl Default for FakeWhatsapp {
    fn default() -> Self {
        FakeWhatsapp {
            inner: Mutex::new(FakeState {
                state: LinkState::Unpaired,
                phone: None,
                qr: "2@fakeRef,fakeNoiseKey=,fakeIdentityKey=,fakeAdvSecret=".into(),
                announced: Vec::new(),
            }),
        }
    }
}

impl FakeWhatsapp {
    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Simulates a successful pairing with `phone`.
    pub fn connect(&self, phone: &str) {
        let mut s = self.lock();
        s.state = LinkState::Connected;
        s.phone = Some(phone.to_owned());
    }

    /// The names announced so far (`announce_name` while connected), oldest first.
    pub fn announced(&self) -> Vec<String> {
        self.lock().announced.clone()
    }
}

impl WhatsappLink for FakeWhatsapp {
    fn status(&self) -> LinkFuture<'_, LinkStatus> {
        let s = self.lock();
        let st = LinkStatus {
            state: s.state,
            phone: s.phone.clone(),
            name: s.phone.as_ref().map(|_| "Khalifa Pharmacies".to_owned()),
            detail: None,
            recent_disconnects: Vec::new(),
        };
        Box::pin(async move { Ok(st) })
    }

    fn qr_code(&self) -> LinkFuture<'_, Option<String>> {
        let s = self.lock();
        let qr = (s.state == LinkState::Unpaired || s.state == LinkState::LoggedOut)
            .then(|| s.qr.clone());
        Box::pin(async move { Ok(qr) })
    }

    fn pair_code<'a>(&'a self, phone: &'a str) -> LinkFuture<'a, String> {
        let paired = self.lock().state == LinkState::Connected;
        Box::pin(async move {
            if paired {
                return Err(LinkError::AlreadyPaired);
            }
            // Deterministic: the last eight digits, as letters A-J.
            let code: String = phone
                .chars()
                .rev()
                .take(8)
                .map(|c| (b'A' + c.to_digit(10).unwrap_or(0) as u8) as char)
                .collect();
            Ok(code)
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        let mut s = self.lock();
        let was = s.state;
        s.state = LinkState::LoggedOut;
        s.phone = None;
        Box::pin(async move {
            if was == LinkState::Unpaired || was == LinkState::LoggedOut {
                Err(LinkError::NotConnected)
            } else {
                Ok(())
            }
        })
    }

    fn announce_name<'a>(&'a self, name: &'a str) -> LinkFuture<'a, ()> {
        let mut s = self.lock();
        let connected = s.state == LinkState::Connected;
        if connected {
            s.announced.push(name.to_owned());
        }
        Box::pin(async move {
            if connected {
                Ok(())
            } else {
                Err(LinkError::NotConnected)
            }
        })
    }
}
