//! The borrowed node model: a decoded stanza that points into the frame's bytes.
//!
//! [`super::decode_node_ref`] reads a node into a [`NodeTree`]: two flat arrays (nodes and
//! attributes) plus one small buffer for the strings the wire packed as nibbles or hex.
//! Tokens are `&'static str`, raw strings and byte content are slices of the input, and
//! JIDs stay as their parts until asked for as a [`Jid`]. A tree costs three allocations
//! whatever its size; [`NodeRef::to_node`] gives the owned [`Node`] where one is needed.
//!
//! ```
//! use whatsapp_proto::binary::{ContentRef, Node, decode_node_ref, Encoder};
//! use whatsapp_proto::jid::Jid;
//!
//! let node = Node::new("message")
//!     .attr("id", "3EB0A1B2C3D4")
//!     .attr("from", Jid::user("201001234567").with_device(3))
//!     .attr("t", "1700000000")
//!     .children([Node::new("enc").attr("type", "pkmsg").bytes(vec![7; 4])]);
//! let bytes = Encoder::new().node_bytes(&node).unwrap();
//!
//! let tree = decode_node_ref(&bytes).unwrap();
//! let message = tree.root();
//! assert_eq!(message.tag(), "message");
//! assert_eq!(message.attr_str("id"), Some("3EB0A1B2C3D4"));
//! let attrs = message.attrs();
//! assert_eq!(attrs.u64("t").unwrap(), 1_700_000_000);
//! let from = attrs.jid_ref("from").unwrap();
//! assert_eq!((from.user(), from.device()), ("201001234567", 3));
//! let enc = message.child("enc").unwrap();
//! assert!(matches!(enc.content(), ContentRef::Bytes(&[7, 7, 7, 7])));
//! assert_eq!(message.to_node(), node);
//! ```

use std::fmt;

use super::node::{AttrError, Content, Node, NodeStr, Value};
use crate::jid::{Jid, Server};

/// A string as stored in a tree: a slice of the input or the token tables, or a range of
/// the tree's buffer of unpacked strings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RawStr<'a> {
    Token(&'static str),
    Slice(&'a str),
    Unpacked { start: usize, len: usize },
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RawJid<'a> {
    pub(crate) user: RawStr<'a>,
    pub(crate) server: RawStr<'a>,
    pub(crate) agent: u8,
    pub(crate) device: u16,
    pub(crate) integrator: u16,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum RawValue<'a> {
    Text(RawStr<'a>),
    Jid(RawJid<'a>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum RawContent<'a> {
    None,
    Bytes(&'a [u8]),
    Text(RawStr<'a>),
    /// An index into [`NodeTree::jids`]: JID content is rare, and inline it would double
    /// the size of every node.
    Jid(usize),
    Nodes {
        start: usize,
        len: usize,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RawNode<'a> {
    pub(crate) tag: RawStr<'a>,
    pub(crate) attrs_start: usize,
    pub(crate) attrs_len: usize,
    pub(crate) content: RawContent<'a>,
}

/// A decoded stanza borrowing from the bytes it was read from, made by
/// [`super::decode_node_ref`]. The root is [`NodeTree::root`].
pub struct NodeTree<'a> {
    /// Every node; a node's children are contiguous. The root is the first.
    pub(crate) nodes: Vec<RawNode<'a>>,
    /// Every attribute; a node's attributes are contiguous.
    pub(crate) attrs: Vec<(RawStr<'a>, RawValue<'a>)>,
    /// The characters of nibble- and hex-packed strings, which have no text on the wire.
    pub(crate) unpacked: String,
    /// JIDs written as content.
    pub(crate) jids: Vec<RawJid<'a>>,
}

impl<'a> NodeTree<'a> {
    /// The top node.
    pub fn root(&self) -> NodeRef<'_> {
        NodeRef {
            tree: self,
            index: 0,
        }
    }

    /// How many nodes the tree holds, the root included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn str(&self, raw: RawStr<'a>) -> &str {
        match raw {
            RawStr::Token(s) => s,
            RawStr::Slice(s) => s,
            RawStr::Unpacked { start, len } => &self.unpacked[start..start + len],
        }
    }

    /// The owned string; tokens stay borrowed from the tables.
    fn node_str(&self, raw: RawStr<'a>) -> NodeStr {
        match raw {
            RawStr::Token(s) => NodeStr::from_static(s),
            other => NodeStr::from(self.str(other)),
        }
    }

    fn jid(&self, raw: &RawJid<'a>) -> JidRef<'_> {
        JidRef {
            user: self.str(raw.user),
            server: self.str(raw.server),
            agent: raw.agent,
            device: raw.device,
            integrator: raw.integrator,
        }
    }

    fn value(&self, raw: &RawValue<'a>) -> ValueRef<'_> {
        match raw {
            RawValue::Text(s) => ValueRef::Text(self.str(*s)),
            RawValue::Jid(j) => ValueRef::Jid(self.jid(j)),
        }
    }
}

impl fmt::Debug for NodeTree<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root().fmt(f)
    }
}

/// A JID as read off the wire, its parts borrowed; [`JidRef::to_jid`] parses the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JidRef<'t> {
    user: &'t str,
    server: &'t str,
    agent: u8,
    device: u16,
    integrator: u16,
}

impl<'t> JidRef<'t> {
    /// The user part (empty for a server JID).
    pub fn user(&self) -> &'t str {
        self.user
    }
    /// The server's wire string, e.g. `s.whatsapp.net` or `lid`.
    pub fn server(&self) -> &'t str {
        self.server
    }
    /// The raw agent (an AD JID's unknown domain type; 0 otherwise).
    pub fn agent(&self) -> u8 {
        self.agent
    }
    /// The device (0 = the primary phone).
    pub fn device(&self) -> u16 {
        self.device
    }
    /// The integrator of an interop JID (0 otherwise).
    pub fn integrator(&self) -> u16 {
        self.integrator
    }
    /// The owned JID, as the owned decoder builds it.
    pub fn to_jid(&self) -> Jid {
        Jid {
            user: self.user.to_owned(),
            agent: self.agent,
            device: self.device,
            integrator: self.integrator,
            server: Server::from_wire(self.server),
        }
    }
}

impl fmt::Display for JidRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_jid().fmt(f)
    }
}

/// An attribute value: text, or a JID in its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueRef<'t> {
    /// Text (a token, a raw string or an unpacked nibble/hex string).
    Text(&'t str),
    /// A JID.
    Jid(JidRef<'t>),
}

impl ValueRef<'_> {
    /// The owned value.
    pub fn to_value(&self) -> Value {
        match self {
            ValueRef::Text(s) => Value::Text(NodeStr::from(*s)),
            ValueRef::Jid(j) => Value::Jid(j.to_jid()),
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Text(s) => f.write_str(s),
            ValueRef::Jid(j) => j.fmt(f),
        }
    }
}

/// What a borrowed node holds after its attributes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ContentRef<'t> {
    /// Nothing.
    None,
    /// Raw bytes, a slice of the input.
    Bytes(&'t [u8]),
    /// A string written as a token, a packed string or raw text.
    Text(&'t str),
    /// A JID written as content (rare; the owned node holds its text form).
    Jid(JidRef<'t>),
    /// Child nodes (possibly an empty list, which differs from [`ContentRef::None`]).
    Nodes(Children<'t>),
}

/// One node of a [`NodeTree`]: cheap to copy, every string borrowed.
#[derive(Clone, Copy)]
pub struct NodeRef<'t> {
    tree: &'t NodeTree<'t>,
    index: usize,
}

impl<'t> NodeRef<'t> {
    fn raw(&self) -> &'t RawNode<'t> {
        &self.tree.nodes[self.index]
    }

    fn raw_attrs(&self) -> &'t [(RawStr<'t>, RawValue<'t>)] {
        let raw = self.raw();
        &self.tree.attrs[raw.attrs_start..raw.attrs_start + raw.attrs_len]
    }

    /// The element name.
    pub fn tag(&self) -> &'t str {
        self.tree.str(self.raw().tag)
    }

    /// The attributes in wire order.
    pub fn attr_iter(&self) -> impl ExactSizeIterator<Item = (&'t str, ValueRef<'t>)> + 't {
        let tree = self.tree;
        self.raw_attrs()
            .iter()
            .map(move |(k, v)| (tree.str(*k), tree.value(v)))
    }

    /// How many attributes the node has.
    pub fn attr_count(&self) -> usize {
        self.raw().attrs_len
    }

    /// The value of an attribute; no allocation.
    pub fn attr(&self, key: &str) -> Option<ValueRef<'t>> {
        let tree = self.tree;
        self.raw_attrs()
            .iter()
            .find(|(k, _)| tree.str(*k) == key)
            .map(|(_, v)| tree.value(v))
    }

    /// An attribute's text; `None` when absent or a JID.
    pub fn attr_str(&self, key: &str) -> Option<&'t str> {
        match self.attr(key)? {
            ValueRef::Text(s) => Some(s),
            ValueRef::Jid(_) => None,
        }
    }

    /// Typed access to the attributes, with the owned reader's errors.
    pub fn attrs(&self) -> AttrsRef<'t> {
        AttrsRef { node: *self }
    }

    /// The content.
    pub fn content(&self) -> ContentRef<'t> {
        match self.raw().content {
            RawContent::None => ContentRef::None,
            RawContent::Bytes(b) => ContentRef::Bytes(b),
            RawContent::Text(s) => ContentRef::Text(self.tree.str(s)),
            RawContent::Jid(j) => ContentRef::Jid(self.tree.jid(&self.tree.jids[j])),
            RawContent::Nodes { start, len } => ContentRef::Nodes(Children {
                tree: self.tree,
                next: start,
                end: start + len,
            }),
        }
    }

    /// The child nodes (empty when the content is not a list).
    pub fn children(&self) -> Children<'t> {
        match self.raw().content {
            RawContent::Nodes { start, len } => Children {
                tree: self.tree,
                next: start,
                end: start + len,
            },
            _ => Children {
                tree: self.tree,
                next: 0,
                end: 0,
            },
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: &str) -> Option<NodeRef<'t>> {
        self.children().find(|n| n.tag() == tag)
    }

    /// All children with this tag.
    pub fn children_by_tag<'k>(&self, tag: &'k str) -> impl Iterator<Item = NodeRef<'t>> + 'k
    where
        't: 'k,
    {
        self.children().filter(move |n| n.tag() == tag)
    }

    /// Follows a path of tags down the first matching children.
    pub fn path(&self, tags: &[&str]) -> Option<NodeRef<'t>> {
        tags.iter().try_fold(*self, |node, tag| node.child(tag))
    }

    /// The content as bytes: raw bytes, or the UTF-8 of text content (not of a JID).
    pub fn content_bytes(&self) -> Option<&'t [u8]> {
        match self.content() {
            ContentRef::Bytes(b) => Some(b),
            ContentRef::Text(t) => Some(t.as_bytes()),
            _ => None,
        }
    }

    /// The owned node, equal to what [`super::decode_node`] returns for the same bytes.
    pub fn to_node(&self) -> Node {
        let tree = self.tree;
        let raw = self.raw();
        let attrs = self
            .raw_attrs()
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    RawValue::Text(s) => Value::Text(tree.node_str(*s)),
                    RawValue::Jid(j) => Value::Jid(tree.jid(j).to_jid()),
                };
                (tree.node_str(*k), value)
            })
            .collect();
        let content = match raw.content {
            RawContent::None => Content::None,
            RawContent::Bytes(b) => Content::Bytes(b.to_vec()),
            RawContent::Text(s) => Content::Text(tree.str(s).to_owned()),
            RawContent::Jid(j) => {
                Content::Text(super::node::jid_text(&tree.jid(&tree.jids[j]).to_jid()))
            }
            RawContent::Nodes { .. } => {
                Content::Nodes(self.children().map(|c| c.to_node()).collect())
            }
        };
        Node {
            tag: tree.node_str(raw.tag),
            attrs,
            content,
        }
    }
}

impl fmt::Debug for NodeRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("NodeRef");
        s.field("tag", &self.tag());
        s.field("attrs", &self.attr_iter().collect::<Vec<_>>());
        match self.content() {
            ContentRef::Nodes(children) => s.field("children", &children.collect::<Vec<_>>()),
            other => s.field("content", &other),
        };
        s.finish()
    }
}

/// The children of a [`NodeRef`], in order.
#[derive(Clone)]
pub struct Children<'t> {
    tree: &'t NodeTree<'t>,
    next: usize,
    end: usize,
}

impl fmt::Debug for Children<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'t> Iterator for Children<'t> {
    type Item = NodeRef<'t>;
    fn next(&mut self) -> Option<NodeRef<'t>> {
        (self.next < self.end).then(|| {
            let index = self.next;
            self.next += 1;
            NodeRef {
                tree: self.tree,
                index,
            }
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Children<'_> {}

/// Typed attribute access for a borrowed node ([`NodeRef::attrs`]); the same rules and
/// errors as [`super::AttrReader`], without allocating unless it reports an error.
#[derive(Debug, Clone, Copy)]
pub struct AttrsRef<'t> {
    node: NodeRef<'t>,
}

impl<'t> AttrsRef<'t> {
    fn missing(&self, key: &str) -> AttrError {
        AttrError::Missing {
            tag: self.node.tag().to_owned(),
            key: key.to_owned(),
        }
    }

    fn invalid(&self, key: &str, value: ValueRef<'_>, expected: &'static str) -> AttrError {
        AttrError::Invalid {
            tag: self.node.tag().to_owned(),
            key: key.to_owned(),
            value: value.to_string(),
            expected,
        }
    }

    /// The attribute as borrowed text; JID values are refused.
    pub fn str(&self, key: &str) -> Result<&'t str, AttrError> {
        match self.node.attr(key) {
            Some(ValueRef::Text(s)) => Ok(s),
            Some(v) => Err(self.invalid(key, v, "text")),
            None => Err(self.missing(key)),
        }
    }

    /// The attribute as borrowed text, if present and text.
    pub fn optional_str(&self, key: &str) -> Option<&'t str> {
        self.node.attr_str(key)
    }

    /// The attribute as a borrowed JID; text is refused, as whatsmeow refuses it (see
    /// [`crate::stanza::jid_attrs`]).
    pub fn jid_ref(&self, key: &str) -> Result<JidRef<'t>, AttrError> {
        match self.node.attr(key) {
            Some(ValueRef::Jid(j)) => Ok(j),
            Some(v) => Err(self.invalid(key, v, "a JID node")),
            None => Err(self.missing(key)),
        }
    }

    /// The attribute as an owned JID; text is refused, as by [`Self::jid_ref`].
    pub fn jid(&self, key: &str) -> Result<Jid, AttrError> {
        self.jid_ref(key).map(|j| j.to_jid())
    }

    /// The attribute as an owned JID, if present; a present but malformed value is an error.
    pub fn optional_jid(&self, key: &str) -> Result<Option<Jid>, AttrError> {
        match self.node.attr(key) {
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
        match self.node.attr(key) {
            None => Ok(None),
            Some(v @ ValueRef::Text(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(key, v, "an unsigned integer")),
            Some(v) => Err(self.invalid(key, v, "an unsigned integer")),
        }
    }

    /// The attribute as a signed decimal integer.
    pub fn i64(&self, key: &str) -> Result<i64, AttrError> {
        match self.node.attr(key) {
            None => Err(self.missing(key)),
            Some(v @ ValueRef::Text(s)) => {
                s.parse().map_err(|_| self.invalid(key, v, "an integer"))
            }
            Some(v) => Err(self.invalid(key, v, "an integer")),
        }
    }

    /// The attribute as a boolean (`true`/`false`, `1`/`0`); absent is `false`.
    pub fn bool(&self, key: &str) -> Result<bool, AttrError> {
        match self.node.attr(key) {
            None => Ok(false),
            Some(ValueRef::Text("true" | "1")) => Ok(true),
            Some(ValueRef::Text("false" | "0")) => Ok(false),
            Some(v) => Err(self.invalid(key, v, "a boolean")),
        }
    }
}
