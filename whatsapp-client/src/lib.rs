#![doc = include_str!("../README.md")]

pub mod appstate;
mod backoff;
mod call;
mod client;
mod clock;
mod config;
mod context;
mod decrypt;
mod devices;
mod driver;
mod error;
mod event;
pub mod groups;
pub mod history;
mod http;
mod learned;
mod lid;
mod login;
mod media;
mod message_id;
#[cfg(test)]
mod module_graph_tests;
mod notification;
mod outgoing;
mod own_phone;
mod pair;
mod peer;
mod placeholder;
mod poll;
mod presence;
mod privacy_token;
mod read_receipt;
mod receipt;
mod receive;
#[cfg(test)]
mod receive_tests;
mod recent;
mod retry;
mod send;
#[cfg(test)]
mod stanza_tests;
pub mod store;
mod version;

pub use client::{Backlog, Client};
pub use config::{Config, DEFAULT_MEDIA_MAX_BYTES, DEFAULT_ORIGIN, DEFAULT_URL, ReconnectPolicy};
pub use error::ClientError;
pub use event::{CallAction, CallEvent, CallMedia, GroupChangeEvent};
pub use event::{
    ConsumedProtocol, Event, EventStream, GroupParticipantsEvent, IncomingMessage, LogoutReason,
    MessageInfo, ParticipantAction, ReceiptEvent, message_text,
};
pub use event::{PollVote, option_hash};
pub use event::{QrCode, QrRenderError};
pub use event::{UnavailableKind, UnavailableMessage};
pub use http::{
    BoxFuture, Connect, Connector, HttpTimeouts, MediaStream, TcpConnect, TransferError,
};
#[cfg(feature = "thumbnails")]
pub use media::thumbnail::{
    THUMBNAIL_QUALITY, THUMBNAIL_WIDTH, Thumbnail, ThumbnailError, jpeg_thumbnail,
};
pub use media::{
    DEFAULT_MEDIA_HOST, ENCRYPTION_OVERHEAD, MediaKind, MediaOrigin, MediaRef, MediaSource,
    OutgoingMedia, ReuploadError, WAVEFORM_SAMPLES, validate_direct_path,
};
pub use message_id::{MessageId, generate_message_id, validate_message_id};
pub use outgoing::{LiveLocation, Location, Outgoing, OutgoingPreview, Text};
pub use version::DEFAULT_VERSION_URL;
pub use whatsapp_proto::binary::Node;
pub use whatsapp_proto::content;
pub use whatsapp_proto::content::compose::{ContactCard, Quote};
pub use whatsapp_proto::content::{Content, MessageContent, Wrappers};
pub use whatsapp_proto::jid::Jid;
pub use whatsapp_proto::media::MediaType;
pub use whatsapp_proto::payload::AppVersion;
pub use whatsapp_proto::pb::e2e;
pub use whatsapp_proto::poll_tally::{OptionTally, PollTally};
