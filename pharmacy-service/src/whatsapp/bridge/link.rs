//! The link's side of the bridge: the client's events as link states (published as
//! `whatsappStatus`), and the [`WhatsappLink`] port (QR, status, pairing code, logout, the
//! announced name).

use super::WhatsappBridge;
use crate::app::{LinkDetail, LinkError, LinkFuture, LinkState, LinkStatus, WhatsappLink};
use std::time::Duration;
use whatsapp_client::{ClientError, Event};

impl WhatsappBridge {
    /// Handles one event; returns the pause before a restart when the client stops for a
    /// reason that a restart may cure.
    pub(super) async fn on_event(&self, event: Event) -> Option<Duration> {
        match event {
            Event::Qr(qr) => self.set_link("qr", |l| {
                l.state = LinkState::Unpaired;
                l.qr = Some(qr.data);
                l.phone = None;
                l.detail = None;
            }),
            Event::QrTimeout => {
                tracing::info!("no QR scan in time; new codes follow");
                return Some(Duration::from_secs(1));
            }
            Event::PairSuccess {
                jid, business_name, ..
            } => {
                tracing::info!(%jid, "paired");
                self.set_link("paired", |l| {
                    l.state = LinkState::Connecting;
                    l.qr = None;
                    l.phone = Some(jid.user);
                    l.name = business_name;
                })
            }
            Event::Connected => {
                let phone = self.client().and_then(|c| c.jid()).map(|j| j.user);
                tracing::info!(?phone, "WhatsApp connected");
                self.set_link("connected", |l| {
                    l.state = LinkState::Connected;
                    l.qr = None;
                    l.detail = None;
                    if phone.is_some() {
                        l.phone = phone;
                    }
                });
                self.app.wake_outbox();
                // Available, with our push name: the server learns the name customers see,
                // and delivery receipts stop being `inactive` (whatsmeow `SendPresence`).
                if let Some(c) = self.client() {
                    let name = self.app.config().whatsapp_name.clone();
                    if let Err(e) = c.send_presence(true, Some(&name)).await {
                        tracing::warn!(error = %e, "sending our presence failed");
                    }
                }
            }
            Event::Disconnected {
                reason,
                reconnect_in,
            } => {
                tracing::info!(%reason, ?reconnect_in, "WhatsApp disconnected");
                let gives_up = reconnect_in.is_none();
                if self.state() != LinkState::Unpaired {
                    self.set_link("disconnected", |l| {
                        l.state = LinkState::Disconnected;
                        l.detail = Some(because(reason));
                    });
                }
                if gives_up {
                    return Some(Duration::from_secs(5));
                }
            }
            Event::LoggedOut { reason } => {
                tracing::warn!(?reason, "WhatsApp logged this device out");
                self.set_link("logged_out", |l| {
                    l.state = LinkState::LoggedOut;
                    l.phone = None;
                    l.qr = None;
                    l.detail = Some(because(format!("{reason:?}")));
                });
                // After our own logout the client stops: start a fresh one for a new pairing.
                return Some(Duration::from_secs(1));
            }
            Event::StreamReplaced => {
                tracing::error!("another connection took over this WhatsApp device");
                self.set_link("disconnected", |l| {
                    l.state = LinkState::Disconnected;
                    l.detail = Some(because("replaced".into()));
                });
            }
            Event::TemporaryBan { code, expires } => {
                let until = expires.map(|d| self.app.now().plus(d));
                tracing::error!(?code, ?expires, "WhatsApp temporarily banned the number");
                self.set_link("temporary_ban", |l| {
                    l.state = LinkState::TemporaryBan;
                    l.detail = Some(LinkDetail {
                        code: code.and_then(|c| i64::try_from(c).ok()),
                        until,
                        ..LinkDetail::default()
                    });
                });
                let reason = code.and_then(|c| u16::try_from(c).ok());
                if let Err(e) = self.app.pause_outbox(reason, until).await {
                    tracing::error!(error = %e, "could not pause the outbox");
                }
                return Some(expires.unwrap_or(Duration::from_secs(3600)));
            }
            // The client fetched the current version once more before giving up: a restart
            // would be refused again, every minute, for ever.
            Event::ConnectFailure { code: 405, message } => self.outdated(message),
            Event::ConnectFailure { code, message } => {
                tracing::error!(code, ?message, "WhatsApp refused the login");
                self.set_link("disconnected", |l| {
                    l.state = LinkState::Disconnected;
                    l.detail = Some(refused(code, message));
                });
                return Some(Duration::from_secs(60));
            }
            Event::Message(m) => self.on_messages(vec![*m]).await,
            Event::Unavailable(m) => self.on_unavailable(*m).await,
            Event::PollVote(v) => self.on_poll_vote(*v).await,
            Event::Call(c) => crate::whatsapp::calls::on_call(self, *c).await,
            Event::ProtocolConsumed(_) => crate::ops::metrics::global()
                .acked_unstored(crate::ops::metrics::Unstored::Consumed),
            Event::Receipt(r) => self.on_receipt(r).await,
            Event::Stopped => {}
            other => tracing::debug!(?other, "WhatsApp event"),
        }
        None
    }

    /// WhatsApp refused our version even after a refetch: the link stops (no restart) and
    /// the state change raises the admin alert (`alerts::link`).
    fn outdated(&self, message: Option<String>) {
        tracing::error!(
            ?message,
            "WhatsApp refused this client's version (405) even after fetching the current one"
        );
        self.set_link("outdated", |l| {
            l.state = LinkState::Outdated;
            l.detail = Some(refused(405, message));
        });
    }
}

/// The detail of a link that went down for `reason`.
fn because(reason: String) -> LinkDetail {
    LinkDetail {
        reason: Some(reason),
        ..LinkDetail::default()
    }
}

/// The detail of a login the server refused with `code`.
fn refused(code: u64, message: Option<String>) -> LinkDetail {
    LinkDetail {
        code: i64::try_from(code).ok(),
        message,
        ..LinkDetail::default()
    }
}

impl WhatsappLink for WhatsappBridge {
    fn status(&self) -> LinkFuture<'_, LinkStatus> {
        let s = self.status_now();
        Box::pin(async move { Ok(s) })
    }

    fn qr_code(&self) -> LinkFuture<'_, Option<String>> {
        let l = self.link_snapshot();
        let qr = matches!(l.state, LinkState::Unpaired | LinkState::LoggedOut)
            .then_some(l.qr)
            .flatten();
        Box::pin(async move { Ok(qr) })
    }

    fn pair_code<'a>(&'a self, phone: &'a str) -> LinkFuture<'a, String> {
        Box::pin(async move {
            let l = self.link_snapshot();
            if !matches!(l.state, LinkState::Unpaired | LinkState::LoggedOut) {
                return Err(LinkError::AlreadyPaired);
            }
            let c = self.client().ok_or(LinkError::NotConnected)?;
            c.pair_phone(phone).await.map_err(|e| match e {
                ClientError::InvalidArgument(m) => LinkError::InvalidPhone(m),
                other => LinkError::Other(other.to_string()),
            })
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client().ok_or(LinkError::NotConnected)?;
            if c.jid().is_none() {
                return Err(LinkError::NotConnected);
            }
            c.logout().await.map_err(|e| match e {
                ClientError::NotConnected => LinkError::NotConnected,
                other => LinkError::Other(other.to_string()),
            })
        })
    }

    fn announce_name<'a>(&'a self, name: &'a str) -> LinkFuture<'a, ()> {
        Box::pin(async move {
            if self.state() != LinkState::Connected {
                return Err(LinkError::NotConnected);
            }
            let c = self.client().ok_or(LinkError::NotConnected)?;
            c.send_presence(true, Some(name))
                .await
                .map_err(|e| match e {
                    ClientError::NotConnected => LinkError::NotConnected,
                    other => LinkError::Other(other.to_string()),
                })
        })
    }
}
