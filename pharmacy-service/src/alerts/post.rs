//! The one outbound HTTP client of the alerts: hyper-util's pooled client over rustls (the
//! Mozilla roots), HTTP/1. It POSTs and reads at most a few KiB of the answer; it never
//! follows a redirect (a 3xx is a failed delivery), so a receiver cannot bounce the service's
//! requests somewhere else. Every request has an overall deadline.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// How much of an answer's body is kept (for the delivery log).
const ANSWER_LIMIT: usize = 4 * 1024;

/// Why a POST got no 2xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// Not an `http`/`https` URL with a host.
    #[error("refused URL: {0}")]
    BadUrl(String),
    /// No answer in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS or the exchange failed.
    #[error("{0}")]
    Failed(String),
}

/// An answer's status and the start of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// At most 4 KiB of the body, lossily as text.
    pub body: String,
}

/// A pooled HTTP(S) client for webhooks and push services.
#[derive(Clone)]
pub struct Poster {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for Poster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Poster {
    /// A client giving each request at most `timeout` (connect to the end of the answer).
    pub fn new(timeout: Duration) -> Poster {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(https);
        Poster { client, timeout }
    }

    /// POSTs `body` to `url` with `headers`; any status is an [`Answer`].
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, PostError> {
        let uri = check_url(url)?;
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(uri)
            .header(http::header::USER_AGENT, "khalifa-pharmacy-service");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| PostError::BadUrl(e.to_string()))?;
        self.send(req).await
    }

    /// Sends a request built elsewhere (the push message's).
    pub async fn send(&self, req: http::Request<Full<Bytes>>) -> Result<Answer, PostError> {
        check_url(&req.uri().to_string())?;
        let exchange = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| PostError::Failed(error_text(&e)))?;
            let status = res.status().as_u16();
            // The body only explains a failure: a receiver sending more is cut short.
            let body = match Limited::new(res.into_body(), ANSWER_LIMIT).collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                Err(_) => String::new(),
            };
            Ok(Answer { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| PostError::Timeout(self.timeout))?
    }
}

/// An `http`/`https` URL with a host, and nothing else (no userinfo).
pub fn check_url(url: &str) -> Result<http::Uri, PostError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| PostError::BadUrl("not a URL".into()))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(PostError::BadUrl("only http and https URLs".into()));
    }
    let Some(auth) = uri.authority() else {
        return Err(PostError::BadUrl("no host".into()));
    };
    if auth.as_str().contains('@') || auth.host().is_empty() {
        return Err(PostError::BadUrl("a host without user or password".into()));
    }
    Ok(uri)
}

fn error_text(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_plain_host() {
        assert!(check_url("https://erp.example/hooks/wa").is_ok());
        assert!(check_url("http://127.0.0.1:8080/x").is_ok());
        for bad in [
            "ftp://erp.example/x",
            "file:///etc/passwd",
            "erp.example/x",
            "https://user:pw@erp.example/x",
            "gopher://x",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
