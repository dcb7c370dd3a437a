//! The accept loop: HTTP/1.1 connections with deadlines and a per-address cap, so slow or idle
//! clients cannot hold the process's file descriptors.
//!
//! - A new connection must send its first byte within [`ConnectionLimits::first_byte`].
//! - A request head must be complete within [`ConnectionLimits::head`] of its first byte.
//! - A keep-alive connection waiting for its next request is closed after
//!   [`ConnectionLimits::idle`].
//! - One client address (an IPv6 /64 counts as one) holds at most
//!   [`ConnectionLimits::per_address`] connections; more are closed as soon as they are accepted,
//!   so one address never starves the others (or `/healthz`).
//!
//! Handlers' time limit is the router's middleware ([`super::request_deadline`]). The
//! deadlines are hyper's header-read timer driven by a [`PhaseTimer`] that learns from the
//! connection's reads when the head's first byte came.

use axum::Router;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Deadlines and caps of the HTTP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A new connection's first byte must come within this.
    pub first_byte: Duration,
    /// A request head must be complete this long after its first byte.
    pub head: Duration,
    /// A kept-alive connection with no request in progress is closed after this.
    pub idle: Duration,
    /// Open connections per client address (IPv6: per /64).
    pub per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            first_byte: Duration::from_secs(10),
            head: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            // Browsers open about six connections per site plus the live socket; a reverse
            // proxy counts as one address for all its clients. Far below the unit's
            // LimitNOFILE (65536) and below the common 1024 soft limit.
            per_address: 256,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets every open connection
/// finish its request in progress (upgraded WebSockets live on in their own tasks).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let counts = Arc::new(AddressCounts::new(limits.per_address));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every connection task holds a receiver; `closed()` waits for the last one.
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = counts.take(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many from this address");
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            // Live events are small frames; Nagle would hold them back behind delayed acks.
            tracing::debug!(error = %e, "TCP_NODELAY refused");
        }
        tokio::spawn(connection(
            stream,
            peer,
            slot,
            router.clone(),
            limits,
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
    Ok(())
}

/// Accept errors: a connection that died before it was accepted is nothing; anything else
/// (out of file descriptors) is waited out briefly instead of spinning.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(250)).await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: AddressSlot,
    router: Router,
    limits: ConnectionLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tower::ServiceExt as _;
    let phase = Arc::new(Mutex::new(Phase::default()));
    let io = TokioIo::new(Tracked {
        inner: stream,
        phase: phase.clone(),
        _slot: slot,
    });
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = super::trim_trailing_slash(req.map(axum::body::Body::new));
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(PhaseTimer { phase, limits })
        // Any value turns hyper's header timer on; the PhaseTimer decides the deadline.
        .header_read_timeout(limits.idle)
        .serve_connection(io, service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection closed");
    }
}

/// The head being read on one connection: when hyper started waiting for it, when its first
/// byte came, and how many heads the connection began.
#[derive(Debug, Default)]
struct Phase {
    reading_head: bool,
    started: Option<Instant>,
    first_byte: Option<Instant>,
    heads: u64,
}

impl Phase {
    fn deadline(&self, limits: &ConnectionLimits) -> Instant {
        let started = self.started.unwrap_or_else(Instant::now);
        match self.first_byte {
            Some(t) => t + limits.head,
            None if self.heads <= 1 => started + limits.first_byte,
            None => started + limits.idle,
        }
    }
}

/// hyper's timer for the header read: hyper asks for a sleep when it starts waiting for a
/// head and drops it when the head is parsed; the sleep ends at the [`Phase::deadline`].
/// Bytes of the next request that hyper read ahead while answering the previous one are not
/// seen as its start, so such a head gets the idle deadline: still bounded.
#[derive(Clone)]
struct PhaseTimer {
    phase: Arc<Mutex<Phase>>,
    limits: ConnectionLimits,
}

impl hyper::rt::Timer for PhaseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        // Not used by the HTTP/1 server; a plain sleep if it ever is.
        Box::pin(PlainSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, _deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let (deadline, head) = {
            let mut p = lock(&self.phase);
            p.reading_head = true;
            p.started = Some(Instant::now());
            p.first_byte = None;
            p.heads += 1;
            (p.deadline(&self.limits), p.heads)
        };
        Box::pin(HeadSleep {
            phase: self.phase.clone(),
            limits: self.limits,
            head,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        })
    }
}

fn lock(p: &Mutex<Phase>) -> std::sync::MutexGuard<'_, Phase> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct HeadSleep {
    phase: Arc<Mutex<Phase>>,
    limits: ConnectionLimits,
    /// Which head this sleep times ([`Phase::heads`] when it began).
    head: u64,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this after each read that left the head incomplete: the first byte may
        // have moved the deadline.
        let deadline = tokio::time::Instant::from(lock(&self.phase).deadline(&self.limits));
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        // hyper drops the sleep once the head is parsed (a replaced sleep must not end the
        // phase of its successor).
        let mut p = lock(&self.phase);
        if p.heads == self.head {
            p.reading_head = false;
        }
    }
}

impl hyper::rt::Sleep for HeadSleep {}

struct PlainSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for PlainSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for PlainSleep {}

/// The accepted socket, noting the first byte of a head for the [`PhaseTimer`] and holding
/// its address's slot until it closes (also after a WebSocket upgrade).
struct Tracked {
    inner: TcpStream,
    phase: Arc<Mutex<Phase>>,
    _slot: AddressSlot,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut p = lock(&self.phase);
            if p.reading_head && p.first_byte.is_none() {
                p.first_byte = Some(Instant::now());
            }
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Open connections per client address.
struct AddressCounts {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl AddressCounts {
    fn new(cap: usize) -> AddressCounts {
        AddressCounts {
            cap: cap.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one more connection from `ip`, or `None` at the cap.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            counts: self.clone(),
            key,
        })
    }
}

/// One connection's place in its address's count, given back on drop.
struct AddressSlot {
    counts: Arc<AddressCounts>,
    key: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// IPv4 (also when mapped into IPv6) as is; IPv6 by its /64, the block one host usually has.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_slots_back() {
        let counts = Arc::new(AddressCounts::new(2));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let s1 = counts.take(a).unwrap();
        let _s2 = counts.take(a).unwrap();
        assert!(counts.take(a).is_none());
        assert!(counts.take(b).is_some(), "another address is not affected");
        drop(s1);
        assert!(counts.take(a).is_some());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let k = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:bbbb::2"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:10.0.0.1"), k("10.0.0.1"));
    }
}
