//! One WebSocket connection, driven on [`ServerConnection`] (the sans-IO responder core of
//! whatsapp-proto: Noise handshake, framing, transport encryption, node codec). This task only
//! moves bytes between the socket and the core; the connection's decisions are made by
//! [`crate::state::State`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use rand::rngs::OsRng;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};
use whatsapp_proto::binary::Node;
use whatsapp_proto::connection::{ConnectionError, SendError, ServerConnection, ServerOutput};
use whatsapp_proto::payload::{self, PayloadError};
use whatsapp_proto::xeddsa;

use crate::state::{Admission, Outbound, RESTART_CLOSE_DEADLINE};
use crate::{Shared, SimHandle};

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
    Connection(#[from] ConnectionError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// How long the server waits for each handshake message.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

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

/// What the logged-in (or registering) connection does with a node from the client.
enum Session {
    LoggedIn(crate::state::DeviceKey),
    Registering,
    Refused,
}

/// Sends every byte string the core queued, until it yields something else (returned).
async fn flush(
    socket: &mut WebSocket,
    core: &mut ServerConnection,
) -> Result<Option<ServerOutput>, ConnError> {
    while let Some(output) = core.poll_output() {
        match output {
            ServerOutput::Transmit(bytes) => socket.send(Message::Binary(bytes.into())).await?,
            other => return Ok(Some(other)),
        }
    }
    Ok(None)
}

/// Feeds the core until the handshake finished: the client's static key and payload bytes.
/// Nodes that arrived in the same WebSocket message stay queued in the core.
async fn handshake(
    socket: &mut WebSocket,
    core: &mut ServerConnection,
) -> Result<([u8; 32], Vec<u8>), ConnError> {
    loop {
        if let Some(ServerOutput::ClientFinished {
            client_static,
            payload,
        }) = flush(socket, core).await?
        {
            return Ok((client_static, payload));
        }
        let incoming = tokio::time::timeout(HANDSHAKE_TIMEOUT, socket.recv())
            .await
            .map_err(|_| ConnError::Timeout)?;
        match incoming {
            None | Some(Ok(Message::Close(_))) => return Err(ConnError::Closed),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Binary(bytes))) => core.handle_input(&bytes)?,
            Some(Ok(_)) => {}
        }
    }
}

async fn send_node(
    socket: &mut WebSocket,
    core: &mut ServerConnection,
    shared: &Shared,
    conn_id: u64,
    node: &Node,
) -> Result<(), ConnError> {
    debug!(conn_id, out = ?node, "stanza out");
    // Every stanza the sim sends is checked as a JID-strict client reads it.
    let text_jids = whatsapp_proto::stanza::jid_attrs::text_jids(node);
    if !text_jids.is_empty() {
        tracing::error!(conn_id, ?text_jids, "the sim wrote a JID as text");
        shared.text_jids().extend(text_jids);
    }
    core.send_node(node)?;
    flush(socket, core).await?;
    Ok(())
}

/// Hands each node the core decoded to the state; sends what the core queued.
async fn deliver(
    socket: &mut WebSocket,
    core: &mut ServerConnection,
    shared: &Shared,
    conn_id: u64,
    session: &Session,
) -> Result<(), ConnError> {
    while let Some(output) = flush(socket, core).await? {
        let ServerOutput::Node(node) = output else {
            continue;
        };
        debug!(conn_id, r#in = ?node, "stanza in");
        let mut state = shared.lock();
        match session {
            Session::LoggedIn(key) => state.handle(key, node),
            Session::Registering => state.handle_registering(conn_id, node),
            Session::Refused => {}
        }
    }
    Ok(())
}

/// After a 515: waits for the client to close the socket (whatever else it sends is
/// dropped), closing it after [`RESTART_CLOSE_DEADLINE`] if it has not (counted in
/// [`SimHandle::forced_closes`]), or at once when the sim shuts down.
async fn await_client_close(
    socket: &mut WebSocket,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
    conn_id: u64,
) {
    let deadline = tokio::time::Instant::now() + RESTART_CLOSE_DEADLINE;
    loop {
        tokio::select! {
            incoming = tokio::time::timeout_at(deadline, socket.recv()) => match incoming {
                Ok(None | Some(Ok(Message::Close(_))) | Some(Err(_))) => return,
                Ok(Some(Ok(_))) => {}
                Err(_) => {
                    info!(
                        conn_id,
                        "the client kept the socket open after 515: closing it"
                    );
                    shared.forced_closes.fetch_add(1, Ordering::Relaxed);
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

impl SimHandle {
    /// How many times the sim closed a socket after `<stream:error code="515">` because the
    /// client had not closed it within the deadline: 0 for a client that restarts the stream
    /// as WhatsApp expects (the deadline would otherwise hide one that never closes).
    pub fn forced_closes(&self) -> u64 {
        self.shared.forced_closes.load(Ordering::Relaxed)
    }
}

async fn run(mut socket: WebSocket, shared: &Arc<Shared>, conn_id: u64) -> Result<(), ConnError> {
    let mut shutdown = shared.shutdown.subscribe();
    let mut core = ServerConnection::new(
        &shared.noise_config,
        shared.server_static.clone(),
        xeddsa::KeyPair::generate(&mut OsRng),
        shared.cert_chain.clone(),
    );
    let (client_static, payload) = handshake(&mut socket, &mut core).await?;
    let client_payload = payload::decode_client_payload(&payload)?;
    debug!(conn_id, payload = ?client_payload, "client payload");
    // Some clients switch to transport keys only once their ClientFinish write completed.
    tokio::time::sleep(shared.post_finish_delay).await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let admission = shared
        .lock()
        .admit(conn_id, &tx, client_static, &client_payload);
    let session = match admission {
        Admission::LoggedIn(key) => Session::LoggedIn(key),
        Admission::Registering => Session::Registering,
        Admission::Refused => Session::Refused,
    };
    let result = async {
        // Nodes that came with the ClientFinish.
        deliver(&mut socket, &mut core, shared, conn_id, &session).await?;
        loop {
            tokio::select! {
                incoming = socket.recv() => match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Err(e)) => return Err(ConnError::from(e)),
                    Some(Ok(Message::Binary(bytes))) => {
                        core.handle_input(&bytes)?;
                        deliver(&mut socket, &mut core, shared, conn_id, &session).await?;
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
                        send_node(&mut socket, &mut core, shared, conn_id, &node).await?;
                    }
                    Some(Outbound::Close(node)) => {
                        if let Some(node) = node {
                            send_node(&mut socket, &mut core, shared, conn_id, &node).await?;
                        }
                        let _ = socket.send(Message::Close(None)).await;
                        return Ok(());
                    }
                    Some(Outbound::Restart(node)) => {
                        send_node(&mut socket, &mut core, shared, conn_id, &node).await?;
                        await_client_close(&mut socket, shared, &mut shutdown, conn_id).await;
                        return Ok(());
                    }
                },
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
    .await;
    let key = match &session {
        Session::LoggedIn(key) => Some(key),
        _ => None,
    };
    shared.lock().disconnected(conn_id, key);
    result
}
