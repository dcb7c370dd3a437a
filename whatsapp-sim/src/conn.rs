//! One WebSocket connection: the Noise handshake as responder, then encrypted binary nodes in
//! both directions. The connection's decisions are made by [`crate::state::State`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use rand::rngs::OsRng;
use tokio::sync::mpsc;
use tracing::{debug, info};
use whatsapp_proto::binary::{self, Node};
use whatsapp_proto::frame::{FrameDecoder, FrameEncoder, FrameError};
use whatsapp_proto::noise::{self, HandshakeError, Transport, TransportError};
use whatsapp_proto::payload::{self, PayloadError};
use whatsapp_proto::xeddsa;

use crate::Shared;
use crate::state::{Admission, Outbound};

/// Why a connection ended early (logged, never propagated).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("websocket: {0}")]
    Ws(#[from] axum::Error),
    #[error("socket closed")]
    Closed,
    #[error("handshake timed out")]
    Timeout,
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Decode(#[from] binary::DecodeError),
    #[error(transparent)]
    Encode(#[from] binary::EncodeError),
}

/// How long the server waits for each handshake message.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

async fn next_frame(
    socket: &mut WebSocket,
    decoder: &mut FrameDecoder,
) -> Result<Vec<u8>, ConnError> {
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(frame);
        }
        match socket.recv().await {
            None => return Err(ConnError::Closed),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Binary(bytes))) => decoder.push(&bytes),
            Some(Ok(Message::Close(_))) => return Err(ConnError::Closed),
            Some(Ok(_)) => {}
        }
    }
}

async fn send_node(
    socket: &mut WebSocket,
    encoder: &mut FrameEncoder,
    transport: &mut Transport,
    conn_id: u64,
    node: &Node,
) -> Result<(), ConnError> {
    debug!(conn_id, out = ?node, "stanza out");
    let plain = binary::encode_frame_plaintext(node)?;
    let sealed = transport.encrypt(&plain)?;
    let frame = encoder.encode(&sealed)?;
    socket.send(Message::Binary(frame.into())).await?;
    Ok(())
}

/// Serves one accepted WebSocket until it closes.
pub(crate) async fn serve(socket: WebSocket, shared: Arc<Shared>) {
    let conn_id = shared
        .next_conn
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match run(socket, &shared, conn_id).await {
        Ok(()) => debug!(conn_id, "connection closed"),
        Err(e) => info!(conn_id, error = %e, "connection ended"),
    }
}

async fn run(mut socket: WebSocket, shared: &Arc<Shared>, conn_id: u64) -> Result<(), ConnError> {
    let mut shutdown = shared.shutdown.subscribe();
    let mut decoder = FrameDecoder::server();
    let mut encoder = FrameEncoder::without_intro();
    let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, next_frame(&mut socket, &mut decoder))
        .await
        .map_err(|_| ConnError::Timeout)??;
    let responder = noise::respond(
        &shared.noise_config,
        shared.server_static.clone(),
        xeddsa::KeyPair::generate(&mut OsRng),
    );
    let (responder, server_hello) = responder
        .read_client_hello(&hello)?
        .write_server_hello(&shared.cert_chain);
    socket
        .send(Message::Binary(encoder.encode(&server_hello)?.into()))
        .await?;
    let finish = tokio::time::timeout(HANDSHAKE_TIMEOUT, next_frame(&mut socket, &mut decoder))
        .await
        .map_err(|_| ConnError::Timeout)??;
    let done = responder.read_client_finish(&finish)?;
    let client_payload = payload::decode_client_payload(&done.payload)?;
    let mut transport = done.transport;
    debug!(conn_id, payload = ?client_payload, "client payload");
    // Some clients switch to transport keys only once their ClientFinish write completed.
    tokio::time::sleep(shared.post_finish_delay).await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let admission = shared
        .lock()
        .admit(conn_id, &tx, done.client_static, &client_payload);
    let (key, registering) = match admission {
        Admission::LoggedIn(key) => (Some(key), false),
        Admission::Registering => (None, true),
        Admission::Refused => (None, false),
    };
    let result = async {
        loop {
            tokio::select! {
                incoming = socket.recv() => match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Err(e)) => return Err(ConnError::from(e)),
                    Some(Ok(Message::Binary(bytes))) => {
                        decoder.push(&bytes);
                        while let Some(frame) = decoder.next_frame()? {
                            let plain = transport.decrypt(&frame)?;
                            let node = binary::decode_frame_plaintext(&plain)?;
                            debug!(conn_id, r#in = ?node, "stanza in");
                            let mut state = shared.lock();
                            if let Some(key) = &key {
                                state.handle(key, node);
                            } else if registering {
                                state.handle_registering(conn_id, node);
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                },
                outgoing = rx.recv() => match outgoing {
                    None => return Ok(()),
                    Some(Outbound::Node(node)) => {
                        let delay = shared.delay();
                        if let Some(delay) = delay {
                            tokio::time::sleep(delay).await;
                        }
                        send_node(&mut socket, &mut encoder, &mut transport, conn_id, &node).await?;
                    }
                    Some(Outbound::Close(node)) => {
                        if let Some(node) = node {
                            send_node(&mut socket, &mut encoder, &mut transport, conn_id, &node).await?;
                        }
                        let _ = socket.send(Message::Close(None)).await;
                        return Ok(());
                    }
                },
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
    .await;
    shared.lock().disconnected(conn_id, key.as_ref());
    result
}
