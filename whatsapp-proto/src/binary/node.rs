//! The node model: a tag, ordered attributes and optional content.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use crate::jid::Jid;

/// A tag, attribute name or attribute text: borrowed from the token dictionaries when the
/// wire held a token, owned otherwise. Decoding a stanza therefore allocates only for the
/// strings that were not tokens. It reads like a `&str` (`Deref`, `as_str`, comparisons
/// with `&str` and `String`).
///
/// ```
/// use whatsapp_proto::binary::NodeStr;
///
/// let tag = NodeStr::from_static("iq");
/// assert_eq!(tag, "iq");
/// assert_eq!(tag.as_str().len(), 2);
/// assert_eq!(String::from(NodeStr::from("id".to_owned())), "id");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeStr(Cow<'static, str>);

impl NodeStr {
    /// A string that lives for the whole program (a literal or a token); no allocation.
    pub const fn from_static(s: &'static str) -> NodeStr {
        NodeStr(Cow::Borrowed(s))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The string, owned.
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl Deref for NodeStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}
impl AsRef<str> for NodeStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl Borrow<str> for NodeStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}
impl fmt::Debug for NodeStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}
impl fmt::Display for NodeStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl From<&str> for NodeStr {
    fn from(s: &str) -> NodeStr {
        NodeStr(Cow::Owned(s.to_owned()))
    }
}
impl From<String> for NodeStr {
    fn from(s: String) -> NodeStr {
        NodeStr(Cow::Owned(s))
    }
}
impl From<&String> for NodeStr {
    fn from(s: &String) -> NodeStr {
        NodeStr(Cow::Owned(s.clone()))
    }
}
impl From<NodeStr> for String {
    fn from(s: NodeStr) -> String {
        s.into_string()
    }
}
impl PartialEq<str> for NodeStr {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}
impl PartialEq<&str> for NodeStr {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}
impl PartialEq<String> for NodeStr {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}
impl PartialEq<NodeStr> for str {
    fn eq(&self, other: &NodeStr) -> bool {
        *self == *other.0
    }
}
impl PartialEq<NodeStr> for &str {
    fn eq(&self, other: &NodeStr) -> bool {
        **self == *other.0
    }
}
impl PartialEq<NodeStr> for String {
    fn eq(&self, other: &NodeStr) -> bool {
        **self == *other.0
    }
}

/// An attribute value: text or a JID. On the wire both are strings, but a JID has its own
/// compact encodings, so the typed API keeps them apart (as whatsmeow does).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Value {
    /// Plain text (numbers and booleans are written as decimal / `true` / `false` text).
    Text(NodeStr),
    /// An address, written as JID_PAIR, AD_JID, FB_JID or INTEROP_JID.
    Jid(Jid),
}

impl Value {
    /// The value as text: JIDs in their string form.
    pub fn to_text(&self) -> String {
        match self {
            Value::Text(s) => s.to_string(),
            Value::Jid(j) => j.to_string(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => f.write_str(s),
            Value::Jid(j) => j.fmt(f),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s.into())
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Text(s.into())
    }
}
impl From<NodeStr> for Value {
    fn from(s: NodeStr) -> Value {
        Value::Text(s)
    }
}
impl From<Jid> for Value {
    fn from(j: Jid) -> Value {
        Value::Jid(j)
    }
}
impl From<&Jid> for Value {
    fn from(j: &Jid) -> Value {
        Value::Jid(j.clone())
    }
}
macro_rules! value_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Text(n.to_string().into())
            }
        }
    )*};
}
value_from_number!(u8, u16, u32, u64, i32, i64, usize, bool);

/// What a node holds after its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Content {
    /// Nothing.
    #[default]
    None,
    /// Raw bytes (BINARY_8/20/32 on the wire).
    Bytes(Vec<u8>),
    /// A string written as a token, a packed string or a JID.
    Text(String),
    /// Child nodes.
    Nodes(Vec<Node>),
}

/// One element of WhatsApp's binary XML.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// The element name, e.g. `iq`, `message`, `enc`.
    pub tag: NodeStr,
    /// Attributes in the order they are written.
    pub attrs: Vec<(NodeStr, Value)>,
    /// The content.
    pub content: Content,
}

impl Node {
    /// A node with no attributes and no content.
    pub fn new(tag: impl Into<NodeStr>) -> Node {
        Node {
            tag: tag.into(),
            attrs: Vec::new(),
            content: Content::None,
        }
    }

    /// Adds an attribute (builder style). A later attribute of the same name replaces it.
    pub fn attr(mut self, key: impl Into<NodeStr>, value: impl Into<Value>) -> Node {
        self.set_attr(key, value);
        self
    }

    /// Adds an attribute only when `value` is `Some`.
    pub fn attr_opt(self, key: impl Into<NodeStr>, value: Option<impl Into<Value>>) -> Node {
        match value {
            Some(v) => self.attr(key, v),
            None => self,
        }
    }

    /// Sets an attribute in place, keeping the position of an existing one.
    pub fn set_attr(&mut self, key: impl Into<NodeStr>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self
            .attrs
            .iter_mut()
            .find(|(k, _)| k.as_str() == key.as_str())
        {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((key, value)),
        }
    }

    /// Sets child nodes as the content (builder style).
    pub fn children(mut self, children: impl IntoIterator<Item = Node>) -> Node {
        self.content = Content::Nodes(children.into_iter().collect());
        self
    }

    /// Sets bytes as the content (builder style).
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Node {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// Sets text as the content (builder style).
    pub fn text(mut self, text: impl Into<String>) -> Node {
        self.content = Content::Text(text.into());
        self
    }

    /// The raw value of an attribute.
    pub fn attr_value(&self, key: &str) -> Option<&Value> {
        self.attrs
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// Typed access to the attributes, with errors that name the attribute.
    pub fn attrs(&self) -> AttrReader<'_> {
        AttrReader { node: self }
    }

    /// The child nodes (empty when the content is not a list).
    pub fn child_nodes(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(nodes) => nodes,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.child_nodes().iter().find(|n| n.tag.as_str() == tag)
    }

    /// All children with this tag.
    pub fn children_by_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.child_nodes()
            .iter()
            .filter(move |n| n.tag.as_str() == tag)
    }

    /// Follows a path of tags down the first matching children.
    pub fn path(&self, tags: &[&str]) -> Option<&Node> {
        tags.iter().try_fold(self, |node, tag| node.child(tag))
    }

    /// The content as bytes: raw bytes, or the UTF-8 of text content.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(b) => Some(b),
            Content::Text(t) => Some(t.as_bytes()),
            _ => None,
        }
    }
}

/// Why an attribute could not be read as the type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttrError {
    /// The attribute is absent.
    #[error("<{tag}> has no attribute {key:?}")]
    Missing {
        /// The node's tag.
        tag: String,
        /// The attribute asked for.
        key: String,
    },
    /// The attribute is present but not of the expected form.
    #[error("<{tag}> attribute {key:?} = {value:?} is not {expected}")]
    Invalid {
        /// The node's tag.
        tag: String,
        /// The attribute asked for.
        key: String,
        /// Its value as text.
        value: String,
        /// What was expected ("a JID", "an unsigned integer", ...).
        expected: &'static str,
    },
}

/// Typed attribute access for one node; see [`Node::attrs`].
///
/// ```
/// use whatsapp_proto::binary::Node;
///
/// use whatsapp_proto::jid::Jid;
/// let node = Node::new("message").attr("t", "1700000000").attr("from", Jid::user("2010"));
/// let attrs = node.attrs();
/// assert_eq!(attrs.u64("t").unwrap(), 1_700_000_000);
/// assert_eq!(attrs.jid("from").unwrap().user, "2010");
/// // A JID written as text is refused, as whatsmeow refuses it.
/// let text = Node::new("message").attr("from", "2010@s.whatsapp.net");
/// assert!(text.attrs().jid("from").is_err());
/// assert!(attrs.u64("id").unwrap_err().to_string().contains("\"id\""));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AttrReader<'a> {
    node: &'a Node,
}

impl<'a> AttrReader<'a> {
    fn missing(&self, key: &str) -> AttrError {
        AttrError::Missing {
            tag: self.node.tag.to_string(),
            key: key.to_owned(),
        }
    }

    fn invalid(&self, key: &str, value: &Value, expected: &'static str) -> AttrError {
        AttrError::Invalid {
            tag: self.node.tag.to_string(),
            key: key.to_owned(),
            value: value.to_text(),
            expected,
        }
    }

    /// The attribute as text (a JID in its string form).
    pub fn string(&self, key: &str) -> Result<String, AttrError> {
        self.optional_string(key).ok_or_else(|| self.missing(key))
    }

    /// The attribute as text, if present.
    pub fn optional_string(&self, key: &str) -> Option<String> {
        self.node.attr_value(key).map(Value::to_text)
    }

    /// The attribute as borrowed text; JID values are refused (use [`Self::string`]).
    pub fn str(&self, key: &str) -> Result<&'a str, AttrError> {
        match self.node.attr_value(key) {
            Some(Value::Text(s)) => Ok(s.as_str()),
            Some(v) => Err(self.invalid(key, v, "text")),
            None => Err(self.missing(key)),
        }
    }

    /// The attribute as borrowed text, if present and text.
    pub fn optional_str(&self, key: &str) -> Option<&'a str> {
        match self.node.attr_value(key) {
            Some(Value::Text(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The attribute as a JID: a JID node only (see [`crate::stanza::jid_attrs`]).
    pub fn jid(&self, key: &str) -> Result<Jid, AttrError> {
        match self.node.attr_value(key) {
            Some(Value::Jid(j)) => Ok(j.clone()),
            // A JID written as a string is refused, as whatsmeow's `AttrGetter.JID` refuses it
            // (binary/attrs.go `GetJID`): the server never sends one.
            Some(v) => Err(self.invalid(key, v, "a JID node")),
            None => Err(self.missing(key)),
        }
    }

    /// The attribute as a JID, if present; a present but malformed value is an error.
    pub fn optional_jid(&self, key: &str) -> Result<Option<Jid>, AttrError> {
        match self.node.attr_value(key) {
            None => Ok(None),
            Some(_) => self.jid(key).map(Some),
        }
    }

    /// The attribute as an unsigned decimal integer.
    pub fn u64(&self, key: &str) -> Result<u64, AttrError> {
        self.optional_u64(key)?.ok_or_else(|| self.missing(key))
    }

    /// The attribute as an unsigned decimal integer, if present.
    pub fn optional_u64(&self, key: &str) -> Result<Option<u64>, AttrError> {
        match self.node.attr_value(key) {
            None => Ok(None),
            Some(v @ Value::Text(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(key, v, "an unsigned integer")),
            Some(v) => Err(self.invalid(key, v, "an unsigned integer")),
        }
    }

    /// The attribute as a signed decimal integer.
    pub fn i64(&self, key: &str) -> Result<i64, AttrError> {
        match self.node.attr_value(key) {
            None => Err(self.missing(key)),
            Some(v @ Value::Text(s)) => s.parse().map_err(|_| self.invalid(key, v, "an integer")),
            Some(v) => Err(self.invalid(key, v, "an integer")),
        }
    }

    /// The attribute as a boolean (`true`/`false`, `1`/`0`); absent is `false`.
    pub fn bool(&self, key: &str) -> Result<bool, AttrError> {
        match self.node.attr_value(key) {
            None => Ok(false),
            Some(Value::Text(s)) if *s == "true" || *s == "1" => Ok(true),
            Some(Value::Text(s)) if *s == "false" || *s == "0" => Ok(false),
            Some(v) => Err(self.invalid(key, v, "a boolean")),
        }
    }
}

/// A JID as Baileys prints it: like [`Jid`]'s `Display`, but a server-only JID keeps its
/// `@` (`@s.whatsapp.net`), so the text still reads back as a JID.
pub fn jid_text(jid: &Jid) -> String {
    if jid.user.is_empty() && jid.device == 0 && jid.agent == 0 {
        format!("@{}", jid.server)
    } else {
        jid.to_string()
    }
}
