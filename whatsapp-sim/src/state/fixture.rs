//! Fixtures of the state's unit tests: nodes go into [`State`] directly and what it sends a
//! connection is read off that connection's channel (no sockets, no runtime).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::RngCore;
use rand::rngs::OsRng;
use tokio::sync::mpsc;
use whatsapp_proto::binary::Node;
use whatsapp_proto::pb::wa6::ClientPayload;
use whatsapp_proto::signal::{KeyPair, SignedPreKeyRecord};

use super::{
    Admission, Companion, Device, DeviceKey, DeviceKind, Outbound, Settings, State, now_unix,
};

/// The paired account (the pharmacy's number).
pub(super) const ACCOUNT: &str = "201001234567";
/// A customer whose phone (device 0) the sim simulates.
pub(super) const CUSTOMER: &str = "201112223334";

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// A state whose phones do not bootstrap new companions (so a test sees only its own nodes).
pub(super) fn state() -> State {
    State::new(Settings {
        qr_first_ref: Duration::from_secs(60),
        qr_next_ref: Duration::from_secs(20),
        ref_count: 6,
        prekey_low_threshold: 5,
        min_app_version: None,
        phone_bootstrap: false,
    })
}

/// One connection's end: what the state sent it.
pub(super) struct Conn {
    pub id: u64,
    pub key: DeviceKey,
    pub tx: mpsc::UnboundedSender<Outbound>,
    rx: mpsc::UnboundedReceiver<Outbound>,
    /// The state closed the connection.
    pub closed: bool,
}

impl Conn {
    pub(super) fn new(key: DeviceKey) -> Conn {
        let (tx, rx) = mpsc::unbounded_channel();
        Conn {
            id: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
            key,
            tx,
            rx,
            closed: false,
        }
    }

    /// The nodes sent since the last call (a closing node included).
    pub(super) fn sent(&mut self) -> Vec<Node> {
        let mut nodes = Vec::new();
        while let Ok(out) = self.rx.try_recv() {
            match out {
                Outbound::Node(node) => nodes.push(node),
                Outbound::Close(node) => {
                    self.closed = true;
                    nodes.extend(node);
                }
                Outbound::Restart(node) => {
                    self.closed = true;
                    nodes.push(node);
                }
            }
        }
        nodes
    }

    /// The one node with this tag among those sent since the last call.
    pub(super) fn one(&mut self, tag: &str) -> Node {
        let sent = self.sent();
        let mut found = sent.iter().filter(|n| n.tag == tag);
        let node = found.next().cloned();
        assert!(found.next().is_none(), "several <{tag}> in {sent:?}");
        node.unwrap_or_else(|| panic!("no <{tag}> in {sent:?}"))
    }
}

/// A login payload for `pn`'s device `device`.
pub(super) fn login_payload(pn: &str, device: u16) -> ClientPayload {
    ClientPayload {
        username: pn.parse().ok(),
        device: Some(u32::from(device)),
        passive: Some(false),
        ..Default::default()
    }
}

impl State {
    /// Links a companion to `pn` (created if missing) as pairing leaves it: an identity, a
    /// signed prekey and ten one-time prekeys. Returns its key and Noise key.
    pub(super) fn link_test_companion(&mut self, pn: &str) -> (DeviceKey, [u8; 32]) {
        self.ensure_account(pn, "Pharmacy", false).expect("account");
        let mut rng = OsRng;
        let identity = KeyPair::generate(&mut rng);
        let spk = SignedPreKeyRecord::generate(1, &identity, now_unix(), &mut rng);
        let mut noise_key = [0u8; 32];
        rng.fill_bytes(&mut noise_key);
        let prekeys = (1..=10)
            .map(|id| (id, *KeyPair::generate(&mut rng).public.as_bytes()))
            .collect();
        let account = self.accounts.get_mut(pn).expect("account");
        let device = account.next_device;
        account.next_device += 1;
        let key_index = account.next_key_index;
        account.next_key_index += 1;
        let companion = Companion {
            noise_key,
            identity: *identity.public.as_bytes(),
            registration_id: 4242,
            spk: (spk.id, *spk.key_pair.public.as_bytes(), spk.signature),
            prekeys,
            low_notified: false,
            signed_identity: Vec::new(),
            platform: "test".into(),
            simulated: false,
        };
        account.devices.insert(
            device,
            Device {
                key_index,
                kind: DeviceKind::Companion(Box::new(companion)),
                queue: VecDeque::new(),
                retries: HashMap::new(),
            },
        );
        ((pn.to_owned(), device), noise_key)
    }

    /// Logs a device in and returns its connection, the login's nodes read off.
    pub(super) fn test_login(&mut self, key: &DeviceKey, noise_key: [u8; 32]) -> Conn {
        let mut conn = Conn::new(key.clone());
        let admission = self.admit(conn.id, &conn.tx, noise_key, &login_payload(&key.0, key.1));
        assert!(matches!(admission, Admission::LoggedIn(_)));
        conn.sent();
        conn
    }

    /// A new companion of `pn`, logged in and active.
    pub(super) fn online_companion(&mut self, pn: &str) -> Conn {
        let (key, noise_key) = self.link_test_companion(pn);
        self.test_login(&key, noise_key)
    }

    /// A customer whose phone the sim simulates.
    pub(super) fn simulated_customer(&mut self, pn: &str) {
        self.ensure_account(pn, "Mona", true).expect("customer");
    }

    /// The `<tctoken>` `issuer` gave `holder` (issued before), as a client attaches it.
    pub(super) fn tctoken(&self, issuer: &str, holder: &str) -> Node {
        Node::new("tctoken").bytes(self.accounts[issuer].issued_tokens[holder].0.clone())
    }
}

/// An attribute as text ("" when absent).
pub(super) fn attr(node: &Node, key: &str) -> String {
    node.attrs().optional_string(key).unwrap_or_default()
}

/// `<iq id xmlns type>` with `children`, as a device sends it.
pub(super) fn iq(id: &str, xmlns: &str, kind: &str, children: Vec<Node>) -> Node {
    Node::new("iq")
        .attr("id", id.to_owned())
        .attr("xmlns", xmlns.to_owned())
        .attr("type", kind.to_owned())
        .children(children)
}
