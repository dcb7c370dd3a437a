//! The tests' one HTTP client (hyper-util's): one request per connection, as a browser on a
//! branch PC would open them, so connection caps and live sockets see what they would.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// An answer: status, headers (every `Set-Cookie` kept), body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
    /// Every `Set-Cookie`'s `name=value`.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next().map(str::to_owned))
            .collect()
    }
    /// The error code of an error response (and checks the one error shape).
    pub fn code(&self) -> String {
        let v = self.json();
        let e = &v["error"];
        assert!(
            e["message"].is_string() && e["details"].is_object(),
            "error shape: {v}"
        );
        e["code"].as_str().unwrap().to_owned()
    }
}

/// `method base+path` with `headers` and `body`; `base` is `http://HOST:PORT` or `HOST:PORT`.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Resp, hyper_util::client::legacy::Error> {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{host}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .expect("a well-formed request");
    // No pool: every request opens (and closes) its own connection.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();
    let res = client.request(req).await?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match res.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        // A body cut short (a server closing the connection) reads as what arrived: nothing.
        Err(_) => Vec::new(),
    };
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// A GET that must succeed at the HTTP level.
pub async fn get(base: &str, path: &str) -> Resp {
    request(base, "GET", path, &[], Vec::new())
        .await
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"))
}
