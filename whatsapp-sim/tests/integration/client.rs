//! A minimal raw client built from whatsapp-proto pieces (Noise initiator, frames, nodes,
//! Signal), enough to drive the sim over a real WebSocket. Not whatsapp-client.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use prost::Message as _;
use rand::rngs::OsRng;
use sha2::Sha256;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use whatsapp_proto::binary::{Node, decode_frame_plaintext, encode_frame_plaintext};
use whatsapp_proto::frame::{FrameDecoder, FrameEncoder};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::noise::{self, HandshakeConfig, Transport};
use whatsapp_proto::payload::{self, PayloadConfig, RegistrationData};
use whatsapp_proto::pb::adv::{AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};
use whatsapp_proto::signal::{self, KeyPair, PreKeyRecord, SessionRecord, SignedPreKeyRecord};
use whatsapp_proto::xeddsa;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A device's long-lived keys and what pairing gave it.
pub struct Identity {
    pub noise: xeddsa::KeyPair,
    pub identity: KeyPair,
    pub registration_id: u32,
    pub spk: SignedPreKeyRecord,
    pub prekeys: Vec<PreKeyRecord>,
    pub adv_secret: [u8; 32],
    pub jid: Option<Jid>,
    pub account: Option<Vec<u8>>,
    pub sessions: std::collections::HashMap<String, SessionRecord>,
}

impl Identity {
    pub fn new() -> Identity {
        let mut rng = OsRng;
        let identity = KeyPair::generate(&mut rng);
        let spk = SignedPreKeyRecord::generate(1, &identity, 0, &mut rng);
        let mut adv_secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rng, &mut adv_secret);
        Identity {
            noise: xeddsa::KeyPair::generate(&mut rng),
            registration_id: signal::generate_registration_id(&mut rng),
            spk,
            prekeys: PreKeyRecord::generate_batch(1, 30, &mut rng),
            identity,
            adv_secret,
            jid: None,
            account: None,
            sessions: Default::default(),
        }
    }

    pub fn registration_payload(&self) -> Vec<u8> {
        let data = RegistrationData {
            registration_id: self.registration_id,
            identity_key: *self.identity.public.as_bytes(),
            signed_pre_key_id: self.spk.id,
            signed_pre_key: *self.spk.key_pair.public.as_bytes(),
            signed_pre_key_signature: self.spk.signature,
        };
        payload::registration_payload(&PayloadConfig::default(), &data).encode_to_vec()
    }

    pub fn login_payload(&self) -> Vec<u8> {
        let jid = self.jid.as_ref().expect("paired");
        payload::login_payload(
            &PayloadConfig::default(),
            jid.user.parse().expect("digits"),
            u32::from(jid.device),
            true,
        )
        .encode_to_vec()
    }

    pub fn qr(&self, reference: &str) -> String {
        whatsapp_proto::pairing::QrData {
            reference: reference.to_owned(),
            noise_public: *self.noise.public(),
            identity_public: *self.identity.public.as_bytes(),
            adv_secret: self.adv_secret,
            client_type: '9',
        }
        .to_string()
    }

    /// The companion side of pair-success (whatsmeow `pair.go` `handlePair`): returns the
    /// `pair-device-sign` reply, or an error reply on a bad HMAC / account signature.
    pub fn answer_pair_success(&mut self, node: &Node, corrupt_signature: bool) -> Node {
        let id = node.attrs().string("id").expect("id");
        let ps = node.child("pair-success").expect("pair-success");
        let container = AdvSignedDeviceIdentityHmac::decode(
            ps.child("device-identity")
                .and_then(Node::content_bytes)
                .expect("device-identity"),
        )
        .expect("hmac container");
        let details = container.details.clone().expect("details");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.adv_secret).expect("key");
        mac.update(&details);
        if mac
            .verify_slice(&container.hmac.clone().unwrap_or_default())
            .is_err()
        {
            return error_reply(&id, 401, "hmac-mismatch");
        }
        let mut signed = AdvSignedDeviceIdentity::decode(details.as_slice()).expect("signed");
        let inner = signed.details.clone().expect("inner");
        let account_key: [u8; 32] = signed
            .account_signature_key
            .clone()
            .expect("key")
            .try_into()
            .expect("32");
        let account_sig: [u8; 64] = signed
            .account_signature
            .clone()
            .expect("sig")
            .try_into()
            .expect("64");
        let msg = [&[6u8, 0][..], &inner, self.identity.public.as_bytes()].concat();
        if !xeddsa::verify(&account_key, &msg, &account_sig) {
            return error_reply(&id, 401, "signature-mismatch");
        }
        let dmsg = [
            &[6u8, 1][..],
            &inner,
            self.identity.public.as_bytes(),
            &account_key,
        ]
        .concat();
        let mut device_sig = self.identity.private.sign(&dmsg, &mut OsRng);
        if corrupt_signature {
            device_sig[0] ^= 1;
        }
        signed.device_signature = Some(device_sig.to_vec());
        self.account = Some(signed.encode_to_vec());
        let key_index = whatsapp_proto::pb::adv::AdvDeviceIdentity::decode(inner.as_slice())
            .expect("identity")
            .key_index
            .unwrap_or(0);
        signed.account_signature_key = None;
        let device = ps.child("device").expect("device");
        self.jid = Some(device.attrs().jid("jid").expect("jid"));
        Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "result")
            .attr("id", id)
            .children([
                Node::new("pair-device-sign").children([Node::new("device-identity")
                    .attr("key-index", key_index)
                    .bytes(signed.encode_to_vec())]),
            ])
    }

    pub fn prekey_upload(&self, id: &str) -> Node {
        use whatsapp_proto::stanza::keys::{PreKey, PreKeyUpload, SignedPreKey};
        let upload = PreKeyUpload {
            registration_id: self.registration_id,
            identity: *self.identity.public.as_bytes(),
            prekeys: self
                .prekeys
                .iter()
                .map(|k| PreKey {
                    id: k.id,
                    public: *k.key_pair.public.as_bytes(),
                })
                .collect(),
            signed_prekey: SignedPreKey {
                id: self.spk.id,
                public: *self.spk.key_pair.public.as_bytes(),
                signature: self.spk.signature,
            },
        };
        upload.iq().attr("id", id.to_owned())
    }
}

fn error_reply(id: &str, code: u16, text: &str) -> Node {
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "error")
        .attr("id", id.to_owned())
        .children([Node::new("error")
            .attr("code", code)
            .attr("text", text.to_owned())])
}

/// One connection after the handshake.
pub struct Conn {
    ws: Ws,
    decoder: FrameDecoder,
    encoder: FrameEncoder,
    transport: Transport,
    counter: u32,
}

impl Conn {
    pub async fn connect(
        url: &str,
        root: [u8; 32],
        noise: &xeddsa::KeyPair,
        payload: &[u8],
    ) -> Conn {
        Conn::connect_routed(url, root, noise, payload, None).await
    }

    /// Like [`Conn::connect`], with the `ED 00 01` edge-routing block before the intro.
    pub async fn connect_routed(
        url: &str,
        root: [u8; 32],
        noise: &xeddsa::KeyPair,
        payload: &[u8],
        routing: Option<&[u8]>,
    ) -> Conn {
        let (mut ws, _) = connect_async(url).await.expect("ws connect");
        let config = HandshakeConfig::default().with_root_key(root);
        let (state, hello) = noise::initiate(
            &config,
            noise.clone(),
            xeddsa::KeyPair::generate(&mut OsRng),
        );
        let mut encoder = FrameEncoder::new(routing).expect("encoder");
        ws.send(Message::Binary(
            encoder.encode(&hello).expect("frame").into(),
        ))
        .await
        .expect("send hello");
        let mut decoder = FrameDecoder::new();
        let server_hello = read_frame(&mut ws, &mut decoder)
            .await
            .expect("server hello");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let ready = state
            .read_server_hello(&server_hello, now)
            .expect("server hello verifies");
        let finished = ready.finish(payload);
        ws.send(Message::Binary(
            encoder.encode(&finished.message).expect("frame").into(),
        ))
        .await
        .expect("send finish");
        Conn {
            ws,
            decoder,
            encoder,
            transport: finished.transport,
            counter: 0,
        }
    }

    pub fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("12.34-{}", self.counter)
    }

    /// Sends arbitrary plaintext as one encrypted frame (for robustness tests).
    pub async fn send_raw(&mut self, plain: &[u8]) {
        let sealed = self.transport.encrypt(plain).expect("encrypt");
        let frame = self.encoder.encode(&sealed).expect("frame");
        self.ws
            .send(Message::Binary(frame.into()))
            .await
            .expect("send");
    }

    pub async fn send(&mut self, node: &Node) {
        let plain = encode_frame_plaintext(node).expect("encode");
        let sealed = self.transport.encrypt(&plain).expect("encrypt");
        let frame = self.encoder.encode(&sealed).expect("frame");
        self.ws
            .send(Message::Binary(frame.into()))
            .await
            .expect("send");
    }

    /// The next node, or `None` when the socket closed (or nothing came within `wait`).
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Node> {
        let frame = tokio::time::timeout(wait, read_frame(&mut self.ws, &mut self.decoder))
            .await
            .ok()??;
        let plain = self.transport.decrypt(&frame).expect("decrypt");
        Some(decode_frame_plaintext(&plain).expect("decode"))
    }

    pub async fn recv(&mut self) -> Node {
        self.recv_within(Duration::from_secs(10))
            .await
            .expect("a node within 10 s")
    }

    /// Receives until a node with this tag arrives (others are returned too).
    pub async fn recv_tag(&mut self, tag: &str) -> (Node, Vec<Node>) {
        let mut skipped = Vec::new();
        loop {
            let node = self.recv().await;
            if node.tag == tag {
                return (node, skipped);
            }
            skipped.push(node);
        }
    }

    /// Sends an IQ and waits for its answer.
    pub async fn iq(&mut self, node: Node) -> Node {
        let id = node.attrs().string("id").expect("iq id");
        self.send(&node).await;
        loop {
            let reply = self.recv().await;
            if reply.tag == "iq" && reply.attrs().optional_string("id").as_deref() == Some(&id) {
                return reply;
            }
        }
    }

    pub async fn closed(&mut self) -> bool {
        self.recv_within(Duration::from_secs(5)).await.is_none()
    }
}

pub async fn read_frame(ws: &mut Ws, decoder: &mut FrameDecoder) -> Option<Vec<u8>> {
    loop {
        if let Some(frame) = decoder.next_frame().expect("frame") {
            return Some(frame);
        }
        match ws.next().await? {
            Ok(Message::Binary(bytes)) => decoder.push(&bytes),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
