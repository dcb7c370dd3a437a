//! Nodes as JSON, in the convention of ../shared/vectors/README.md (Baileys' shape):
//! `{"tag", "attrs": {name: string}, "content": string | [node] | {"hex": "..."}}`, with
//! `content` absent when the node has none. Attribute order is kept.
//!
//! ```
//! use whatsapp_proto::binary::json::{node_from_json, node_to_json};
//!
//! let json = serde_json::json!({"tag": "ack", "attrs": {"id": "1"}, "content": {"hex": "ff00"}});
//! let node = node_from_json(&json).unwrap();
//! assert_eq!(node_to_json(&node), json);
//! ```

use serde_json::{Map, Value as Json};

pub use super::node::jid_text;
use super::node::{Content, Node, Value};

/// Why JSON is not a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// Something other than the expected JSON type at a path.
    #[error("{path}: expected {expected}")]
    Shape {
        /// Where, as a JSON-pointer-like path.
        path: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A `{"hex"}` value that is not hex.
    #[error("{path}: invalid hex")]
    Hex {
        /// Where.
        path: String,
    },
}

/// The JSON form of a node. JID values print in their string form.
pub fn node_to_json(node: &Node) -> Json {
    let mut obj = Map::new();
    obj.insert("tag".into(), Json::String(node.tag.to_string()));
    let attrs: Map<String, Json> = node
        .attrs
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Jid(jid) => jid_text(jid),
                Value::Text(text) => text.to_string(),
            };
            (k.to_string(), Json::String(text))
        })
        .collect();
    obj.insert("attrs".into(), Json::Object(attrs));
    match &node.content {
        Content::None => {}
        Content::Text(text) => {
            obj.insert("content".into(), Json::String(text.clone()));
        }
        Content::Bytes(bytes) => {
            let mut hex = Map::new();
            hex.insert("hex".into(), Json::String(to_hex(bytes)));
            obj.insert("content".into(), Json::Object(hex));
        }
        Content::Nodes(children) => {
            obj.insert(
                "content".into(),
                Json::Array(children.iter().map(node_to_json).collect()),
            );
        }
    }
    Json::Object(obj)
}

/// A node from its JSON form. Attribute values become text; encode with
/// [`super::Encoder::jids_from_text`] to write JID-looking text as JIDs, as Baileys does.
pub fn node_from_json(json: &Json) -> Result<Node, JsonError> {
    from_json_at(json, String::new())
}

fn from_json_at(json: &Json, path: String) -> Result<Node, JsonError> {
    let shape = |path: String, expected| JsonError::Shape { path, expected };
    let obj = json
        .as_object()
        .ok_or_else(|| shape(path.clone(), "a node object"))?;
    let tag = obj
        .get("tag")
        .and_then(Json::as_str)
        .ok_or_else(|| shape(format!("{path}/tag"), "a string"))?;
    let mut node = Node::new(tag.to_owned());
    match obj.get("attrs") {
        None | Some(Json::Null) => {}
        Some(Json::Object(attrs)) => {
            for (key, value) in attrs {
                let value = value
                    .as_str()
                    .ok_or_else(|| shape(format!("{path}/attrs/{key}"), "a string"))?;
                node.attrs
                    .push((key.clone().into(), Value::Text(value.into())));
            }
        }
        Some(_) => return Err(shape(format!("{path}/attrs"), "an object")),
    }
    node.content = match obj.get("content") {
        None | Some(Json::Null) => Content::None,
        Some(Json::String(text)) => Content::Text(text.clone()),
        Some(Json::Array(children)) => Content::Nodes(
            children
                .iter()
                .enumerate()
                .map(|(i, child)| from_json_at(child, format!("{path}/content/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Some(Json::Object(bytes)) => {
            let hex = bytes
                .get("hex")
                .and_then(Json::as_str)
                .ok_or_else(|| shape(format!("{path}/content/hex"), "a hex string"))?;
            Content::Bytes(from_hex(hex).ok_or(JsonError::Hex {
                path: format!("{path}/content/hex"),
            })?)
        }
        Some(_) => {
            return Err(shape(
                format!("{path}/content"),
                "a string, array or {\"hex\"}",
            ));
        }
    };
    Ok(node)
}

/// Lower-case hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Bytes from hex (either case); whitespace is ignored. `None` when not hex.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            Some((high << 4 | low) as u8)
        })
        .collect()
}
