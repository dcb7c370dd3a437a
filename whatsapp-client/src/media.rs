//! Media download and upload. A download is fetched only from the configured media server or
//! over https from the hosts of the latest `media_conn` answer, with the direct path validated
//! and the body capped at the declared length plus the encryption overhead (and the configured
//! maximum); it is decrypted and verified as it streams in (AES-CBC, the 10-byte MAC, both
//! SHA-256 hashes; part 2 §7.5). A mismatch is an error. A download cut off mid-way resumes
//! with a `Range` request where it stopped (the decryptor carries on, so the MAC and hashes
//! still cover the whole blob); one the server expired (404/410) is asked of the sender's
//! phone again (`retry`). Uploads are in `upload`, what to send in `outgoing`.

mod outgoing;
mod retry;
#[cfg(feature = "thumbnails")]
pub(crate) mod thumbnail;
mod upload;

pub use crate::http::ReuploadError;
pub use outgoing::{MediaKind, MediaSource, OutgoingMedia, WAVEFORM_SAMPLES};
pub use retry::MediaOrigin;
pub(crate) use retry::{on_notification as on_media_retry, request as request_reupload};
pub(crate) use upload::upload;

use whatsapp_proto::binary::Node;
use whatsapp_proto::content::{self, Content};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::media::{self, MediaDecryptor, MediaHashes, MediaType};
use whatsapp_proto::pb::e2e;

use std::time::Duration;

use http::Uri;

use crate::ClientError;
use crate::context::{MediaConn, Shared};
use crate::http::TransferError;

/// The default media host (whatsmeow falls back to it as well).
pub const DEFAULT_MEDIA_HOST: &str = "mmg.whatsapp.net";

/// What is needed to download one attachment.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The key type (image, audio, voice note, video, document, sticker).
    pub media_type: MediaType,
    /// The server path (`/v/t62…?…`).
    pub direct_path: Option<String>,
    /// The full URL, used when there is no direct path.
    pub url: Option<String>,
    /// The 32-byte media key.
    pub media_key: Vec<u8>,
    /// SHA-256 of the plaintext.
    pub file_sha256: Vec<u8>,
    /// SHA-256 of the encrypted blob.
    pub file_enc_sha256: Vec<u8>,
    /// The MIME type, if given.
    pub mimetype: Option<String>,
    /// The plaintext length, if given.
    pub file_length: Option<u64>,
    /// The message it came in, which a re-upload request names ([`MediaRef::from_incoming`]
    /// sets it; `None`: expired media cannot be asked for again).
    pub origin: Option<MediaOrigin>,
}

impl std::fmt::Debug for MediaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaRef")
            .field("media_type", &self.media_type)
            .field("direct_path", &self.direct_path)
            .field("mimetype", &self.mimetype)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl MediaRef {
    /// The attachment of a received message with its origin, so that
    /// [`crate::Client::download`] can have expired media re-uploaded.
    pub fn from_incoming(message: &crate::IncomingMessage) -> Option<MediaRef> {
        let mut media = MediaRef::from_message(&message.message)?;
        media.origin = Some(MediaOrigin::of(&message.info));
        Some(media)
    }

    /// This attachment, as having come in the message `origin`.
    pub fn with_origin(mut self, origin: MediaOrigin) -> MediaRef {
        self.origin = Some(origin);
        self
    }

    /// The attachment of a message (image, video, round video, audio, voice note, document
    /// or sticker), its wrappers looked through (disappearing, view-once, document with
    /// caption, …): read through [`whatsapp_proto::content`].
    pub fn from_message(message: &e2e::Message) -> Option<MediaRef> {
        match Content::of(content::unwrap(message).message) {
            Content::Media(media) => MediaRef::from_media(&media),
            _ => None,
        }
    }

    /// The attachment of [`Content::Media`]; `None` without its key and both hashes.
    pub fn from_media(media: &content::Media) -> Option<MediaRef> {
        Some(MediaRef {
            media_type: media.kind?.media_type(),
            direct_path: media.direct_path.clone(),
            url: media.url.clone(),
            media_key: media.media_key.clone()?,
            file_sha256: media.file_sha256.clone()?,
            file_enc_sha256: media.file_enc_sha256.clone()?,
            mimetype: media.mimetype.clone(),
            file_length: media.file_length,
            origin: None,
        })
    }
}

/// Bytes encryption adds to an attachment: 1 to 16 of AES-CBC padding and the 10-byte MAC
/// (part 2 §7.2).
pub const ENCRYPTION_OVERHEAD: u64 = 16 + 10;

/// Whether `host` is a plain `name[:port]` (what a `media_conn` `<host hostname>` holds).
fn plain_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

/// Asks the server for upload auth and media hosts (part 2 §7.1).
async fn query_media_conn(shared: &Shared) -> Result<MediaConn, ClientError> {
    let iq = Node::new("iq")
        .attr("xmlns", "w:m")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("media_conn")]);
    let answer = shared.iq(iq).await?;
    let conn = answer
        .child("media_conn")
        .ok_or_else(|| ClientError::unexpected("no media_conn", &answer))?;
    let auth = conn
        .attrs()
        .optional_string("auth")
        .ok_or_else(|| ClientError::unexpected("media_conn without auth", &answer))?;
    let ttl = conn
        .attrs()
        .optional_string("ttl")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0);
    let mut hosts: Vec<String> = conn
        .children_by_tag("host")
        .filter_map(|h| h.attrs().optional_string("hostname"))
        .filter(|h| plain_host(h))
        .collect();
    if hosts.is_empty() {
        hosts.push(DEFAULT_MEDIA_HOST.to_owned());
    }
    Ok(MediaConn {
        auth,
        hosts,
        expires: tokio::time::Instant::now() + Duration::from_secs(ttl),
    })
}

/// The cached `media_conn` answer, asked again only once its `ttl` passed (whatsmeow
/// `mediaconn.go` `refreshMediaConn`; the server counts these queries). Uploads and downloads
/// share it (whatsmeow `upload.go`, `download.go`).
pub(crate) async fn media_conn(shared: &Shared) -> Result<MediaConn, ClientError> {
    let mut cached = shared.media_conn.lock().await;
    if let Some(conn) = cached.as_ref()
        && conn.expires > tokio::time::Instant::now()
    {
        return Ok(conn.clone());
    }
    let conn = query_media_conn(shared).await?;
    *cached = Some(conn.clone());
    Ok(conn)
}

/// Checks a customer-supplied direct path before it follows a host: it starts with one `/`,
/// has no `.`/`..` segment, and holds only unreserved characters, `/ ? = & + %` (escapes
/// well-formed). So no CR/LF, space, `@`, `#`, `\` or `//` can change the request's target.
pub fn validate_direct_path(path: &str) -> Result<(), TransferError> {
    let refuse = |why: &str| Err(TransferError::Refused(format!("direct path {why}")));
    if !path.starts_with('/') || path.starts_with("//") {
        return refuse("must start with a single '/'");
    }
    if path.len() > 4096 {
        return refuse("is too long");
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~/?=&+%".contains(&b);
    if let Some(b) = path.bytes().find(|&b| !allowed(b)) {
        return refuse(&format!("has a forbidden character {:?}", char::from(b)));
    }
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        if !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return refuse("has a malformed %-escape");
        }
    }
    let route = path.split('?').next().unwrap_or_default();
    if route.to_ascii_lowercase().contains("%2e") || route.to_ascii_lowercase().contains("%2f") {
        return refuse("escapes a dot or slash");
    }
    if route.split('/').any(|seg| seg == "." || seg == "..") {
        return refuse("has a dot segment");
    }
    Ok(())
}

/// The scheme `media_conn` hosts are reached over: https, or http when the chat socket
/// itself is plain `ws://` to this machine (a simulated server on loopback serves media on
/// its own port; the real server is `wss://`, its media hosts https only). A `ws://` URL to
/// any other host keeps media on https: plain http there would be readable and alterable on
/// the network (a remote simulator is reached with [`crate::Config::media_base_url`]).
fn media_scheme(config: &crate::Config) -> &'static str {
    let loopback = |host: &str| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    match config.url.parse::<Uri>() {
        Ok(uri) if uri.scheme_str() == Some("ws") && uri.host().is_some_and(loopback) => "http",
        _ => "https",
    }
}

/// The URLs an attachment may be fetched from, in order of preference: `base` (the
/// configured media server) or each `media_conn` host over `scheme`, followed by the direct
/// path and the hash and type parameters (whatsmeow `download.go`). Without a direct path the
/// message's `url` is used only over https to a `media_conn` host.
pub(crate) fn download_urls(
    media_ref: &MediaRef,
    base: Option<&str>,
    hosts: &[String],
    scheme: &str,
) -> Result<Vec<Uri>, TransferError> {
    let (path, hosts) = match (&media_ref.direct_path, &media_ref.url) {
        (Some(path), _) => {
            validate_direct_path(path)?;
            let full = |host: &str| {
                media::download_url(host, path, &media_ref.file_enc_sha256, media_ref.media_type)
            };
            // `https://<host>` is what `download_url` puts before the path.
            let tail = full("x")["https://x".len()..].to_owned();
            (tail, hosts.to_vec())
        }
        (None, Some(url)) => {
            let uri: Uri = url
                .parse()
                .map_err(|_| TransferError::Refused("the media URL does not parse".into()))?;
            if uri.scheme_str() != Some("https") {
                return Err(TransferError::Refused("the media URL is not https".into()));
            }
            let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(authority)) {
                return Err(TransferError::Refused(format!(
                    "the media URL's host {authority:?} is not a media_conn host"
                )));
            }
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            validate_direct_path(path)?;
            (path.to_owned(), vec![authority.to_owned()])
        }
        (None, None) => {
            return Err(TransferError::Refused(
                "the media has no direct path or URL".into(),
            ));
        }
    };
    let origins: Vec<String> = match base {
        Some(base) => vec![base.trim_end_matches('/').to_owned()],
        None => hosts.iter().map(|h| format!("{scheme}://{h}")).collect(),
    };
    origins
        .into_iter()
        .map(|origin| {
            let expected: Uri = origin
                .parse()
                .map_err(|_| TransferError::Refused(format!("bad media origin {origin}")))?;
            let uri: Uri = format!("{origin}{path}")
                .parse()
                .map_err(|_| TransferError::Refused("the media URL does not parse".into()))?;
            // The path cannot move the request elsewhere (validated above; checked again).
            if uri.scheme() != expected.scheme() || uri.authority() != expected.authority() {
                return Err(TransferError::Refused(
                    "the direct path changes the host".into(),
                ));
            }
            Ok(uri)
        })
        .collect()
}

/// How often one download resumes after its connection dropped mid-way (whatsmeow retries a
/// failed download five times; a resumption only runs after progress, so this bounds it too).
const RESUMES: u32 = 5;

/// Downloads an attachment, handing the (not yet authenticated) plaintext to `out` as it
/// streams in; verified at the end. Refused without a request when the message declares more
/// than the configured maximum; the body is cut off past the declared length (or the
/// maximum) plus the encryption overhead. A connection that drops after some of the blob came
/// is resumed from there with a `Range` request.
async fn fetch(
    shared: &Shared,
    media_ref: &MediaRef,
    out: &mut (impl FnMut(&[u8]) -> Result<(), TransferError> + Send),
) -> Result<u64, ClientError> {
    let config = &shared.config;
    let max = config.media_max_bytes;
    if media_ref.file_length.is_some_and(|l| l > max) {
        return Err(TransferError::TooLarge { limit: max }.into());
    }
    let limit = media_ref.file_length.unwrap_or(max) + ENCRYPTION_OVERHEAD;
    let base = config.media_base_url.as_deref();
    let hosts = if base.is_some() && media_ref.direct_path.is_some() {
        Vec::new()
    } else {
        media_conn(shared).await?.hosts
    };
    let urls = download_urls(media_ref, base, &hosts, media_scheme(config))?;
    let hashes = MediaHashes::from_slices(&media_ref.file_sha256, &media_ref.file_enc_sha256)
        .map_err(TransferError::Invalid)?;
    let mut last = TransferError::Refused("no media host".into());
    for url in urls {
        let mut decryptor = MediaDecryptor::new(&media_ref.media_key, media_ref.media_type, hashes);
        let mut released = 0u64;
        let mut resumes = 0;
        let mut buffer = Vec::new();
        loop {
            let from = decryptor.bytes_received();
            let got = shared
                .http
                .get_from(&url, from, limit, |chunk| {
                    buffer.clear();
                    decryptor.update_into(chunk, &mut buffer);
                    released += buffer.len() as u64;
                    out(&buffer)
                })
                .await;
            match got {
                Ok(_) => {
                    let tail = decryptor.finish().map_err(TransferError::Invalid)?;
                    out(&tail)?;
                    return Ok(released + tail.len() as u64);
                }
                // Part of the blob came: go on from there on the same host.
                Err(e)
                    if e.is_retryable()
                        && !matches!(e, TransferError::Write(_))
                        && decryptor.bytes_received() > from
                        && resumes < RESUMES =>
                {
                    resumes += 1;
                    tracing::debug!(error = %e, %url, at = decryptor.bytes_received(), "media download resumes");
                }
                // Another host only while nothing reached `out` (whatsmeow tries each host).
                Err(e) if e.is_retryable() && decryptor.bytes_received() == 0 => {
                    tracing::debug!(error = %e, %url, "media host failed, trying the next");
                    last = e;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Err(last.into())
}

/// [`fetch`], and once more from a re-upload when the server expired the blob (404/410) and
/// the configuration lets downloads ask the sender's phone.
async fn fetch_or_reupload(
    shared: &Shared,
    media_ref: &MediaRef,
    mut out: impl FnMut(&[u8]) -> Result<(), TransferError> + Send,
) -> Result<u64, ClientError> {
    let result = fetch(shared, media_ref, &mut out).await;
    let expired = matches!(
        result,
        Err(ClientError::Transfer(TransferError::Status(404 | 410)))
    );
    match shared.config.media_reupload_wait {
        Some(wait) if expired && media_ref.origin.is_some() => {
            tracing::info!(
                ?media_ref,
                "media expired on the server, asking the sender's phone"
            );
            let fresh = request_reupload(shared, media_ref, wait).await?;
            fetch(shared, &fresh, &mut out).await
        }
        _ => result,
    }
}

/// Downloads and decrypts an attachment into `out` as it streams in; verified at the end.
/// Until this returns `Ok`, what was written is unauthenticated: discard it on error.
pub(crate) async fn download_to(
    shared: &Shared,
    media_ref: &MediaRef,
    out: &mut (impl std::io::Write + Send),
) -> Result<u64, ClientError> {
    fetch_or_reupload(shared, media_ref, |plain| {
        out.write_all(plain).map_err(TransferError::Write)
    })
    .await
}

/// Downloads, decrypts and verifies an attachment.
pub(crate) async fn download(
    shared: &Shared,
    media_ref: &MediaRef,
) -> Result<Vec<u8>, ClientError> {
    let mut plain = Vec::with_capacity(
        media_ref
            .file_length
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0)
            .min(64 << 20),
    );
    fetch_or_reupload(shared, media_ref, |chunk| {
        plain.extend_from_slice(chunk);
        Ok(())
    })
    .await?;
    Ok(plain)
}

/// A media-host URL of ours (`https://<host>/…`) moved onto the configured media server,
/// if any (tests and the sim serve plain HTTP).
fn on_media_server(shared: &Shared, host: &str, url: String) -> String {
    match &shared.config.media_base_url {
        Some(base) => url
            .strip_prefix(&format!("https://{host}"))
            .map(|rest| format!("{}{rest}", base.trim_end_matches('/')))
            .unwrap_or(url),
        None if media_scheme(&shared.config) == "http" => url.replacen("https://", "http://", 1),
        None => url,
    }
}

/// Deletes a blob we downloaded from the media server (whatsmeow `upload.go` `DeleteMedia`:
/// history blobs, once imported, with the notification's `encHandle`).
pub(crate) async fn delete(
    shared: &Shared,
    media_type: MediaType,
    direct_path: &str,
    file_enc_sha256: &[u8],
    enc_handle: Option<&str>,
) -> Result<(), ClientError> {
    validate_direct_path(direct_path)?;
    let conn = media_conn(shared).await?;
    let host = conn
        .hosts
        .first()
        .map_or(DEFAULT_MEDIA_HOST, String::as_str);
    let url = media::delete_url(
        host,
        media_type,
        direct_path,
        file_enc_sha256,
        &conn.auth,
        enc_handle,
    );
    let url = on_media_server(shared, host, url);
    let url: Uri = url
        .parse()
        .map_err(|_| TransferError::Refused(format!("bad delete URL {url}")))?;
    Ok(shared.http.delete(&url).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media_ref(direct_path: Option<&str>, url: Option<&str>) -> MediaRef {
        MediaRef {
            media_type: MediaType::Image,
            direct_path: direct_path.map(str::to_owned),
            url: url.map(str::to_owned),
            media_key: vec![1; 32],
            file_sha256: vec![2; 32],
            file_enc_sha256: vec![3; 32],
            mimetype: None,
            file_length: Some(10),
            origin: None,
        }
    }

    const PATH: &str =
        "/v/t62.7118-24/1234_5678_n.enc?ccb=11-4&oh=01_Q5Aa-x_Y&oe=68000000&_nc_sid=5e03e0";

    #[test]
    fn real_direct_paths_pass() {
        validate_direct_path(PATH).unwrap();
        validate_direct_path("/mms/image/abc%3D").unwrap();
    }

    #[test]
    fn hostile_direct_paths_are_refused() {
        for path in [
            "v/x",                        // no leading slash: glued to the host
            "//evil.example/x",           // a new authority
            "@evil.example/x",            // userinfo
            "/v/x\r\nHost: evil.example", // request splitting
            "/v/x\nX: y",
            "/v/x y",
            "/v/../admin",
            "/v/./x",
            "/..",
            "/v/%2e%2e/x",
            "/v/%2F%2Fevil",
            "/v/x%zz",
            "/v/x%4",
            "/v/x#frag",
            "/v/x\\y",
            "/v/é",
            "/v/x@evil.example",
            "/v/x:80",
        ] {
            assert!(
                matches!(validate_direct_path(path), Err(TransferError::Refused(_))),
                "{path:?} passed"
            );
        }
    }

    #[test]
    fn downloads_go_over_https_to_media_conn_hosts_only() {
        let hosts = vec![
            "mmg.whatsapp.net".to_owned(),
            "media-x.cdn.whatsapp.net".to_owned(),
        ];
        let urls = download_urls(&media_ref(Some(PATH), None), None, &hosts, "https").unwrap();
        assert_eq!(urls.len(), 2);
        for (url, host) in urls.iter().zip(&hosts) {
            assert_eq!(url.scheme_str(), Some("https"));
            assert_eq!(url.host(), Some(host.as_str()));
            assert!(url.path().starts_with("/v/t62.7118-24/"));
            assert!(url.query().unwrap().contains("&mms-type=image"));
        }
        // The configured server replaces the hosts (a simulator over plain http).
        let urls = download_urls(
            &media_ref(Some(PATH), None),
            Some("http://127.0.0.1:9/"),
            &[],
            "https",
        )
        .unwrap();
        assert_eq!(urls.len(), 1);
        assert!(
            urls[0]
                .to_string()
                .starts_with("http://127.0.0.1:9/v/t62.7118-24/")
        );
    }

    #[test]
    fn plain_http_media_only_with_a_ws_url_to_this_machine() {
        for (url, scheme) in [
            ("ws://127.0.0.1:9000/ws/chat", "http"),
            ("ws://127.8.9.10:9000/ws/chat", "http"),
            ("ws://[::1]:9000/ws/chat", "http"),
            ("ws://localhost:9000/ws/chat", "http"),
            ("ws://LocalHost/ws/chat", "http"),
            ("ws://10.0.0.5:9000/ws/chat", "https"),
            ("ws://sim.example/ws/chat", "https"),
            ("ws://localhost.example/ws/chat", "https"),
            ("ws://[::2]:9000/ws/chat", "https"),
            ("wss://127.0.0.1/ws/chat", "https"),
            ("wss://web.whatsapp.com/ws/chat", "https"),
            ("not a url", "https"),
        ] {
            let config = crate::Config::default().with_url(url);
            assert_eq!(media_scheme(&config), scheme, "{url}");
        }
    }

    #[test]
    fn a_customer_url_to_another_host_or_over_http_is_refused() {
        let hosts = vec!["mmg.whatsapp.net".to_owned()];
        for url in [
            "http://mmg.whatsapp.net/v/x.enc?a=1", // plain http
            "https://evil.example/v/x.enc?a=1",    // not a media_conn host
            "https://mmg.whatsapp.net.evil.example/v/x",
            "https://user@evil.example/v/x",
            "https://mmg.whatsapp.net:444/v/x", // another port is another host
            "https://mmg.whatsapp.net/v/../x",  // the path is checked too
            "ftp://mmg.whatsapp.net/v/x",
            "not a url",
        ] {
            assert!(
                matches!(
                    download_urls(&media_ref(None, Some(url)), None, &hosts, "https"),
                    Err(TransferError::Refused(_))
                ),
                "{url} passed"
            );
            // Also with a configured server: the customer's URL never picks the host.
            assert!(
                download_urls(
                    &media_ref(None, Some(url)),
                    Some("http://127.0.0.1:9"),
                    &hosts,
                    "https",
                )
                .is_err()
            );
        }
        let ok = download_urls(
            &media_ref(None, Some("https://mmg.whatsapp.net/v/x.enc?a=1")),
            None,
            &hosts,
            "https",
        )
        .unwrap();
        assert_eq!(ok[0].to_string(), "https://mmg.whatsapp.net/v/x.enc?a=1");
        assert!(download_urls(&media_ref(None, None), None, &hosts, "https").is_err());
    }

    #[test]
    fn media_conn_hostnames_must_be_plain() {
        assert!(plain_host("mmg.whatsapp.net") && plain_host("127.0.0.1:8080"));
        assert!(
            !plain_host("evil/x")
                && !plain_host("a@b")
                && !plain_host("")
                && !plain_host("h:99999")
        );
    }
}
