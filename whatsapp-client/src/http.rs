//! A minimal HTTP/1.1 GET for media downloads: `Connection: close`, `Content-Length`, chunked
//! or read-to-end bodies, `https` through rustls (feature `tls`).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{ClientError, DEFAULT_ORIGIN};

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

fn http_error(reason: impl Into<String>) -> ClientError {
    ClientError::Http {
        reason: reason.into(),
    }
}

struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse(url: &str) -> Result<Target, ClientError> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(http_error(format!("unsupported URL {url}")));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse()
                .map_err(|_| http_error(format!("bad port in {url}")))?,
        ),
        None => (authority, if tls { 443 } else { 80 }),
    };
    Ok(Target {
        tls,
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// GETs `url`, handing the body to `sink` in chunks as it arrives.
pub(crate) async fn get(url: &str, sink: impl FnMut(&[u8])) -> Result<(), ClientError> {
    request(url, None, sink).await
}

/// POSTs `body` (`application/octet-stream`) and returns the response body.
pub(crate) async fn post(url: &str, body: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    request(url, Some(body), |c| out.extend_from_slice(c)).await?;
    Ok(out)
}

async fn request(
    url: &str,
    body: Option<&[u8]>,
    sink: impl FnMut(&[u8]),
) -> Result<(), ClientError> {
    let target = parse(url)?;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| http_error(format!("connect {}: {e}", target.host)))?;
    if target.tls {
        #[cfg(feature = "tls")]
        {
            use std::sync::Arc;
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|_| http_error(format!("bad host {}", target.host)))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| http_error(format!("TLS: {e}")))?;
            return exchange(stream, &target, body, sink).await;
        }
        #[cfg(not(feature = "tls"))]
        return Err(http_error("https needs the `tls` feature"));
    }
    exchange(tcp, &target, body, sink).await
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    target: &Target,
    body: Option<&[u8]>,
    mut sink: impl FnMut(&[u8]),
) -> Result<(), ClientError> {
    let method = if body.is_some() { "POST" } else { "GET" };
    let mut request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nOrigin: {DEFAULT_ORIGIN}\r\nReferer: {DEFAULT_ORIGIN}/\r\nConnection: close\r\n",
        target.path, target.host
    );
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    let io = |e: std::io::Error| http_error(e.to_string());
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    if let Some(body) = body {
        stream.write_all(body).await.map_err(io)?;
    }
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(http_error("response head too large"));
        }
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(http_error("connection closed before the response head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| http_error("malformed status line"))?;
    if status != 200 {
        return Err(http_error(format!("HTTP status {status}")));
    }
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<u64>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let rest = buf.split_off(head_end);
    if chunked {
        // Rare for media; gather and de-chunk.
        let mut body = rest;
        loop {
            let n = stream.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let mut at = 0usize;
        loop {
            let rest = body
                .get(at..)
                .ok_or_else(|| http_error("truncated chunk"))?;
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| http_error("malformed chunk"))?;
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| http_error("malformed chunk size"))?;
            at += line_end + 2;
            if size == 0 {
                return Ok(());
            }
            let end = at
                .checked_add(size)
                .ok_or_else(|| http_error("chunk size overflows"))?;
            let data = body
                .get(at..end)
                .ok_or_else(|| http_error("truncated chunk"))?;
            sink(data);
            at = end.saturating_add(2);
        }
    }
    let mut received = rest.len() as u64;
    sink(&rest);
    loop {
        if length.is_some_and(|l| received >= l) {
            return Ok(());
        }
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return match length {
                Some(l) if received < l => Err(http_error("body shorter than Content-Length")),
                _ => Ok(()),
            };
        }
        received += n as u64;
        sink(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse("https://mmg.whatsapp.net/v/x?a=1").unwrap();
        assert!(t.tls && t.port == 443 && t.host == "mmg.whatsapp.net" && t.path == "/v/x?a=1");
        let t = parse("http://127.0.0.1:8080/v/y").unwrap();
        assert!(!t.tls && t.port == 8080 && t.path == "/v/y");
        assert!(parse("ftp://x").is_err());
    }

    #[tokio::test]
    async fn malformed_chunks_are_errors_not_panics() {
        use tokio::io::duplex;
        for response in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhi"[..],
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx"[..],
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi"[..],
            &b"HTTP/1.1 404 Not Found\r\n\r\n"[..],
            &b"garbage\r\n\r\n"[..],
        ] {
            let (client, mut server) = duplex(1024);
            let response = response.to_vec();
            tokio::spawn(async move {
                let mut req = [0u8; 512];
                let _ = server.read(&mut req).await;
                server.write_all(&response).await.unwrap();
            });
            let target = parse("http://h/p").unwrap();
            assert!(exchange(client, &target, None, |_| {}).await.is_err());
        }
    }

    #[tokio::test]
    async fn content_length_and_chunked_bodies() {
        use tokio::io::duplex;
        for (response, body) in [
            (&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..], &b"hello"[..]),
            (
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"[..],
                &b"hello"[..],
            ),
        ] {
            let (client, mut server) = duplex(1024);
            let response = response.to_vec();
            tokio::spawn(async move {
                let mut req = [0u8; 512];
                let _ = server.read(&mut req).await;
                server.write_all(&response).await.unwrap();
            });
            let target = parse("http://h/p").unwrap();
            let mut got = Vec::new();
            exchange(client, &target, None, |c| got.extend_from_slice(c))
                .await
                .unwrap();
            assert_eq!(got, body);
        }
    }
}
