//! The WhatsApp adapter: the paced outbox worker (one per number) that drains the durable
//! outbox through the [`crate::app::Messenger`] port, and the fakes of the ports
//! ([`fake`]) for tests.
//! Inbound traffic enters through [`crate::app::App::handle_inbound`]; attachments are fetched
//! afterwards by the [`media_worker`].

pub mod bridge;
pub mod calls;
pub mod fake;
pub mod media_worker;
pub mod outbox;

pub use fake::{FakeCall, FakeMessenger, FakeOp, FakeWhatsapp};
pub use outbox::{OutboxWorker, Step};
