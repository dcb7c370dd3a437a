//! HTTP(S) for media: hyper-util's client over tokio-rustls (webpki roots), with connect, read
//! and overall timeouts, a response size limit and streamed bodies. The byte stream under TLS
//! comes from a [`Connect`] hook (plain TCP by default) so that a proxy can supply it later.
//!
//! Which URLs may be fetched is decided by the caller (`media.rs`); this module only refuses
//! schemes other than `http` and `https`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A boxed, sendable future (what [`Connect::connect`] returns).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A byte stream to a media host, before TLS.
pub trait MediaStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> MediaStream for T {}

/// Opens the byte stream a media request runs over: plain TCP by default ([`TcpConnect`]);
/// a proxy implementation returns a tunnel to `host:port` instead. TLS (for `https`) is added
/// on top by the client, so a proxy never sees the plaintext.
pub trait Connect: Send + Sync + 'static {
    /// A stream to `host` (a DNS name or IP literal) on `port`.
    fn connect(&self, host: String, port: u16) -> BoxFuture<io::Result<Box<dyn MediaStream>>>;
}

/// Direct TCP connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnect;

impl Connect for TcpConnect {
    fn connect(&self, host: String, port: u16) -> BoxFuture<io::Result<Box<dyn MediaStream>>> {
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp) as Box<dyn MediaStream>)
        })
    }
}

/// The [`Connect`] hook a [`crate::Config`] carries (cheap to clone).
#[derive(Clone)]
pub struct Connector(Arc<dyn Connect>);

impl Connector {
    /// Wraps a connection hook.
    pub fn new(connect: impl Connect) -> Self {
        Self(Arc::new(connect))
    }
}

impl Default for Connector {
    fn default() -> Self {
        Self::new(TcpConnect)
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

/// Timeouts of one media request: [`Default`] or [`HttpTimeouts::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpTimeouts {
    /// TCP connect plus TLS handshake (10 s).
    pub connect: Duration,
    /// The longest wait for the response head or the next piece of the body (30 s).
    pub read: Duration,
    /// The whole request, body included (10 min: 100 MiB at ~170 kB/s).
    pub overall: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            overall: Duration::from_secs(600),
        }
    }
}

impl HttpTimeouts {
    /// Timeouts from their three settings.
    pub fn new(connect: Duration, read: Duration, overall: Duration) -> Self {
        Self {
            connect,
            read,
            overall,
        }
    }
}

/// Why a media download or upload failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The message names a URL, host or path the client will not fetch (plain http, a host
    /// not in the latest `media_conn` answer, a malformed direct path). Never worth retrying.
    #[error("refused: {0}")]
    Refused(String),
    /// The attachment is larger than its declared length or the configured maximum; the body
    /// was not read past `limit` bytes.
    #[error("the attachment exceeds {limit} bytes")]
    TooLarge {
        /// The byte limit that applied.
        limit: u64,
    },
    /// Connecting, waiting for data or the whole request took too long.
    #[error("timed out ({0})")]
    Timeout(&'static str),
    /// The server answered with a status other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The connection, TLS or the HTTP exchange failed.
    #[error("failed: {0}")]
    Failed(String),
    /// The blob failed decryption or verification (MAC or hash mismatch).
    #[error("verification: {0}")]
    Invalid(whatsapp_proto::media::MediaError),
    /// Writing the plaintext to the caller's sink (or an upload's temporary file) failed.
    #[error("writing the download: {0}")]
    Write(io::Error),
    /// Reading an attachment to upload from its file or reader failed.
    #[error("reading the attachment: {0}")]
    Read(io::Error),
    /// The server no longer has the media (404/410) and the sender's phone did not re-upload
    /// it (see [`crate::Client::request_media_reupload`]).
    #[error("expired media not re-uploaded: {0}")]
    Reupload(ReuploadError),
}

impl TransferError {
    /// Whether the same request may succeed later (network trouble, a server error), as
    /// opposed to never (refused, too large, a bad blob, a 4xx answer).
    pub fn is_retryable(&self) -> bool {
        match self {
            TransferError::Timeout(_) | TransferError::Failed(_) | TransferError::Write(_) => true,
            TransferError::Status(code) => *code >= 500 || *code == 408 || *code == 429,
            TransferError::Refused(_)
            | TransferError::TooLarge { .. }
            | TransferError::Invalid(_)
            | TransferError::Read(_)
            | TransferError::Reupload(_) => false,
        }
    }
}

/// A request body: empty, in memory, or streamed from a file.
type Body = BoxBody<Bytes, io::Error>;

/// An in-memory request body.
fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// What a POST sends: bytes in memory, or a file streamed in pieces of [`STREAM_PIECE`] bytes
/// with its length declared up front (whatsmeow `rawUpload` sets `ContentLength` too).
pub(crate) enum Upload {
    /// The whole body.
    Bytes(Vec<u8>),
    /// A file read from its current position, `len` bytes.
    File(tokio::fs::File, u64),
}

/// The piece size of a streamed upload body.
const STREAM_PIECE: usize = 64 * 1024;

impl Upload {
    fn len(&self) -> u64 {
        match self {
            Upload::Bytes(b) => b.len() as u64,
            Upload::File(_, len) => *len,
        }
    }

    fn into_body(self) -> Body {
        match self {
            Upload::Bytes(b) => full(b),
            Upload::File(file, len) => {
                use tokio::io::AsyncReadExt;
                let pieces =
                    futures_util::stream::unfold((file, len), |(mut file, left)| async move {
                        if left == 0 {
                            return None;
                        }
                        let want = usize::try_from(left)
                            .unwrap_or(usize::MAX)
                            .min(STREAM_PIECE);
                        let mut piece = vec![0u8; want];
                        match file.read(&mut piece).await {
                            Ok(0) => Some((
                                Err(io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "the upload file ended early",
                                )),
                                (file, 0),
                            )),
                            Ok(n) => {
                                piece.truncate(n);
                                let frame = hyper::body::Frame::data(Bytes::from(piece));
                                Some((Ok(frame), (file, left - n as u64)))
                            }
                            Err(e) => Some((Err(e), (file, 0))),
                        }
                    });
                StreamBody::new(pieces).boxed()
            }
        }
    }
}

/// The connection one request runs over, with or without TLS.
enum Conn {
    Plain(Box<dyn MediaStream>),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<Box<dyn MediaStream>>>),
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// hyper-util's connector: the hook's stream, TLS for `https`, under the connect timeout.
#[derive(Clone)]
struct HyperConnector {
    hook: Connector,
    #[cfg(feature = "tls")]
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl tower_service::Service<Uri> for HyperConnector {
    type Response = TokioIo<Conn>;
    type Error = io::Error;
    type Future = BoxFuture<io::Result<TokioIo<Conn>>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tls = match uri.scheme_str() {
                Some("https") => true,
                Some("http") => false,
                _ => return Err(io::Error::other("unsupported scheme")),
            };
            let host = uri
                .host()
                .ok_or_else(|| io::Error::other("no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
            let connect = async {
                let stream = this.hook.0.connect(host.clone(), port).await?;
                if !tls {
                    return Ok(Conn::Plain(stream));
                }
                #[cfg(feature = "tls")]
                {
                    let name = rustls::pki_types::ServerName::try_from(host)
                        .map_err(|_| io::Error::other("bad TLS server name"))?;
                    let stream = this.tls.connect(name, stream).await?;
                    Ok(Conn::Tls(Box::new(stream)))
                }
                #[cfg(not(feature = "tls"))]
                Err(io::Error::other("https needs the `tls` feature"))
            };
            match tokio::time::timeout(this.timeout, connect).await {
                Ok(conn) => conn.map(TokioIo::new),
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            }
        })
    }
}

// A transfer's error, so it lives beside `TransferError` (media depends on http, not back).
/// Why the sender's phone did not re-upload expired media.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReuploadError {
    /// The attachment does not say which message it came in ([`crate::MediaRef::origin`]).
    #[error("the media's message is unknown, so no phone can be asked")]
    NoOrigin,
    /// The phone no longer has the file (`<error code="2">`, whatsmeow
    /// `ErrMediaNotAvailableOnPhone`; or a `NOT_FOUND` result).
    #[error("the sender's phone no longer has the media")]
    NotOnPhone,
    /// Another `<error code>` (3: the phone could not decrypt the request).
    #[error("the re-upload failed with code {0}")]
    Code(u64),
    /// The phone answered with a result other than success.
    #[error("the re-upload answered {0:?}")]
    Result(whatsapp_proto::pb::e2e::media_retry_notification::ResultType),
    /// The sealed answer did not open or parse under the media key.
    #[error("the re-upload answer: {0}")]
    Sealed(whatsapp_proto::media::MediaError),
    /// The answer is missing a part, or names another message.
    #[error("malformed re-upload answer: {0}")]
    Malformed(&'static str),
    /// No answer within the wait.
    #[error("no re-upload answer within {0:?}")]
    Timeout(Duration),
}

/// The client's HTTP client for media (one per [`crate::Client`]; connections are pooled).
pub(crate) struct HttpClient {
    client: Client<HyperConnector, Body>,
    timeouts: HttpTimeouts,
    /// The `Origin` every request sends (the configured web origin, as WhatsApp Web's).
    origin: String,
}

impl HttpClient {
    /// A client over `hook` with `timeouts`, sending `origin` as its `Origin`.
    pub(crate) fn new(hook: Connector, timeouts: HttpTimeouts, origin: String) -> Self {
        let connector = HyperConnector {
            hook,
            #[cfg(feature = "tls")]
            tls: {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                tokio_rustls::TlsConnector::from(Arc::new(config))
            },
            timeout: timeouts.connect,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(connector);
        Self {
            client,
            timeouts,
            origin,
        }
    }

    /// GETs `url`, handing the body to `sink` as it arrives; refuses a body over `limit`
    /// bytes (by its `Content-Length`, or as soon as more arrives). Returns the body length.
    pub(crate) async fn get(
        &self,
        url: &Uri,
        limit: u64,
        sink: impl FnMut(&[u8]) -> Result<(), TransferError>,
    ) -> Result<u64, TransferError> {
        self.exchange(url, Method::Get { from: 0 }, limit, sink)
            .await
    }

    /// GETs `url` from byte `from` on: a `Range: bytes=<from>-` request, answered `206` with a
    /// matching `Content-Range`; a server that ignores the range (`200`) has its first `from`
    /// bytes skipped. `limit` bounds the whole resource. Returns the bytes handed to `sink`.
    pub(crate) async fn get_from(
        &self,
        url: &Uri,
        from: u64,
        limit: u64,
        sink: impl FnMut(&[u8]) -> Result<(), TransferError>,
    ) -> Result<u64, TransferError> {
        self.exchange(url, Method::Get { from }, limit, sink).await
    }

    /// POSTs `body` (`application/octet-stream`, its length declared) and returns the
    /// response body (at most `limit` bytes).
    pub(crate) async fn post(
        &self,
        url: &Uri,
        body: Upload,
        limit: u64,
    ) -> Result<Vec<u8>, TransferError> {
        let mut out = Vec::new();
        self.exchange(url, Method::Post(body), limit, |c| {
            out.extend_from_slice(c);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// DELETEs `url` (a media blob, whatsmeow `DeleteMedia`); any 2xx answer is success and
    /// its body is not read.
    pub(crate) async fn delete(&self, url: &Uri) -> Result<(), TransferError> {
        let request = self
            .request(url)?
            .method(http::Method::DELETE)
            .body(full(Bytes::new()))
            .map_err(|e| TransferError::Refused(format!("bad request: {e}")))?;
        let exchange = async {
            let response = tokio::time::timeout(self.timeouts.read, self.client.request(request))
                .await
                .map_err(|_| TransferError::Timeout("the response head"))?
                .map_err(request_error)?;
            if !response.status().is_success() {
                return Err(TransferError::Status(response.status().as_u16()));
            }
            Ok(())
        };
        tokio::time::timeout(self.timeouts.overall, exchange)
            .await
            .map_err(|_| TransferError::Timeout("the whole request"))?
    }

    /// A request to `url` with our `Origin` and `Referer`; only http(s).
    fn request(&self, url: &Uri) -> Result<http::request::Builder, TransferError> {
        if !matches!(url.scheme_str(), Some("http" | "https")) {
            return Err(TransferError::Refused(format!("unsupported URL {url}")));
        }
        Ok(http::Request::builder()
            .uri(url.clone())
            .header(http::header::ORIGIN, &self.origin)
            .header(http::header::REFERER, format!("{}/", self.origin)))
    }

    async fn exchange(
        &self,
        url: &Uri,
        method: Method,
        limit: u64,
        sink: impl FnMut(&[u8]) -> Result<(), TransferError>,
    ) -> Result<u64, TransferError> {
        match tokio::time::timeout(self.timeouts.overall, self.run(url, method, limit, sink)).await
        {
            Ok(result) => result,
            Err(_) => Err(TransferError::Timeout("the whole request")),
        }
    }

    async fn run(
        &self,
        url: &Uri,
        method: Method,
        limit: u64,
        mut sink: impl FnMut(&[u8]) -> Result<(), TransferError>,
    ) -> Result<u64, TransferError> {
        let builder = self.request(url)?;
        let from = match &method {
            Method::Get { from } => *from,
            Method::Post(_) => 0,
        };
        let request = match method {
            Method::Post(body) => builder
                .method(http::Method::POST)
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .header(http::header::CONTENT_LENGTH, body.len())
                .body(body.into_body()),
            Method::Get { from: 0 } => builder.method(http::Method::GET).body(full(Bytes::new())),
            Method::Get { from } => builder
                .method(http::Method::GET)
                .header(http::header::RANGE, format!("bytes={from}-"))
                .body(full(Bytes::new())),
        }
        .map_err(|e| TransferError::Refused(format!("bad request: {e}")))?;
        let response = tokio::time::timeout(self.timeouts.read, self.client.request(request))
            .await
            .map_err(|_| TransferError::Timeout("the response head"))?
            .map_err(request_error)?;
        // `skip`: bytes of a full answer to a range request that the caller already has;
        // `offset`: where the body starts in the resource.
        let (mut skip, offset) = match response.status() {
            http::StatusCode::OK => (from, 0),
            http::StatusCode::PARTIAL_CONTENT if from > 0 => {
                let range = response
                    .headers()
                    .get(http::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !range.starts_with(&format!("bytes {from}-")) {
                    return Err(TransferError::Failed(format!(
                        "asked for bytes from {from}, got Content-Range {range:?}"
                    )));
                }
                (0, from)
            }
            status => return Err(TransferError::Status(status.as_u16())),
        };
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|l| l.saturating_add(offset) > limit) {
            return Err(TransferError::TooLarge { limit });
        }
        let mut body = response.into_body();
        let mut position = offset;
        let mut handed = 0u64;
        loop {
            let frame = tokio::time::timeout(self.timeouts.read, body.frame())
                .await
                .map_err(|_| TransferError::Timeout("the body"))?;
            let Some(frame) = frame else {
                return Ok(handed);
            };
            let frame = frame.map_err(|e| TransferError::Failed(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            position += data.len() as u64;
            if position > limit {
                // Dropping the body closes the connection: the rest is never read.
                return Err(TransferError::TooLarge { limit });
            }
            let cut = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
            skip -= cut as u64;
            let fresh = &data[cut..];
            if !fresh.is_empty() {
                handed += fresh.len() as u64;
                sink(fresh)?;
            }
        }
    }
}

/// What a request does.
enum Method {
    /// A download, from this byte on.
    Get { from: u64 },
    /// An upload.
    Post(Upload),
}

/// A request failure, with a connect timeout told apart.
fn request_error(e: hyper_util::client::legacy::Error) -> TransferError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::TimedOut
        {
            return TransferError::Timeout("connect");
        }
        source = s.source();
    }
    let mut text = e.to_string();
    if let Some(s) = std::error::Error::source(&e) {
        text.push_str(&format!(": {s}"));
    }
    TransferError::Failed(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-connection server answering `head` then `body_len` bytes of `b'x'` (written in
    /// 64 KiB pieces); returns its URL and the count of body bytes it managed to write.
    async fn serve(head: String, body_len: u64) -> (Uri, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: Uri = format!("http://{}/v/x", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let counter = written.clone();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 2048];
            let _ = s.read(&mut req).await;
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let piece = vec![b'x'; 64 * 1024];
            let mut left = body_len;
            while left > 0 {
                let n = left.min(piece.len() as u64) as usize;
                if s.write_all(&piece[..n]).await.is_err() {
                    return;
                }
                counter.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
            // Keep the connection open: a server that never finishes.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        (url, written)
    }

    fn client() -> HttpClient {
        HttpClient::new(
            Connector::default(),
            HttpTimeouts {
                connect: Duration::from_secs(5),
                read: Duration::from_secs(2),
                overall: Duration::from_secs(20),
            },
            crate::DEFAULT_ORIGIN.to_owned(),
        )
    }

    #[tokio::test]
    async fn a_body_is_streamed_to_the_sink() {
        let (url, _) = serve("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".into(), 5).await;
        let mut got = Vec::new();
        let n = client()
            .get(&url, 100, |c| {
                got.extend_from_slice(c);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!((n, got), (5, b"xxxxx".to_vec()));
    }

    #[tokio::test]
    async fn an_oversize_body_is_cut_off_at_the_limit_without_reading_it_all() {
        // No Content-Length: the limit is enforced on the bytes as they arrive.
        let total = 256 << 20;
        let (url, written) =
            serve("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(), total).await;
        let mut seen = 0u64;
        let err = client()
            .get(&url, 1 << 20, |c| {
                seen += c.len() as u64;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, TransferError::TooLarge { limit } if limit == 1 << 20));
        assert!(seen <= 1 << 20);
        // The server could only write what fits in the socket buffers after we stopped.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(written.load(Ordering::SeqCst) < total / 2);
    }

    #[tokio::test]
    async fn a_declared_oversize_body_is_refused_before_reading() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n".to_owned();
        let (url, _) = serve(head, 10).await;
        let mut seen = 0;
        let err = client()
            .get(&url, 1000, |c| {
                seen += c.len();
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, TransferError::TooLarge { .. }));
        assert_eq!(seen, 0);
    }

    #[tokio::test]
    async fn a_server_that_stops_sending_times_out() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_owned();
        let (url, _) = serve(head, 10).await;
        let err = client().get(&url, 1000, |_| Ok(())).await.unwrap_err();
        assert!(matches!(err, TransferError::Timeout(_)), "{err}");
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn statuses_and_schemes() {
        let (url, _) = serve("HTTP/1.1 404 Not Found\r\n\r\n".into(), 0).await;
        let err = client().get(&url, 1000, |_| Ok(())).await.unwrap_err();
        assert!(matches!(err, TransferError::Status(404)) && !err.is_retryable());
        let ftp: Uri = "ftp://h/x".parse().unwrap();
        let err = client().get(&ftp, 1000, |_| Ok(())).await.unwrap_err();
        assert!(matches!(err, TransferError::Refused(_)));
    }
}
