//! WhatsApp's binary XML: the node model, encoder and decoder, and a JSON form for tools.
//!
//! Layout facts: ../shared/protocol part 1 §5 (whatsmeow `binary/`, Baileys `src/WABinary/`).
//!
//! ```
//! use whatsapp_proto::binary::{Node, decode_frame_plaintext, encode_frame_plaintext};
//! use whatsapp_proto::jid::Jid;
//!
//! let node = Node::new("iq")
//!     .attr("id", "1")
//!     .attr("to", Jid::server_jid())
//!     .attr("type", "get")
//!     .children([Node::new("ping")]);
//! let bytes = encode_frame_plaintext(&node).unwrap();
//! assert_eq!(decode_frame_plaintext(&bytes).unwrap(), node);
//! ```

mod cursor;
mod decode;
mod decode_ref;
mod encode;
#[cfg(feature = "json")]
pub mod json;
mod node;
mod node_ref;
mod token;
mod token_table;

pub use decode::{
    DecodeError, MAX_DEPTH, MAX_INFLATED_SIZE, decode_frame_plaintext, decode_node, frame_body,
};
pub use decode_ref::decode_node_ref;
pub use encode::{EncodeError, Encoder, encode_frame_plaintext};
pub use node::{AttrError, AttrReader, Content, Node, NodeStr, Value};
pub use node_ref::{AttrsRef, Children, ContentRef, JidRef, NodeRef, NodeTree, ValueRef};
pub use token::DICT_VERSION;
