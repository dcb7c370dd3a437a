//! The web UI: HTML, CSS, ES modules and icons embedded in the binary (no npm, no bundler).
//!
//! Every asset is served under `/static/{version}/...`, where `version` is a hash of all the
//! embedded files, so the browser may cache them forever (`immutable`) and a new build changes
//! every URL at once; relative `import`s between modules stay inside one version. The HTML shell
//! is served with `no-cache` and a strict Content-Security-Policy: scripts, styles, images and
//! connections only from this origin, no inline script or style, no framing.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// The Content-Security-Policy of every UI page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; \
manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// `Cache-Control` of versioned assets.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)) as &[u8])),*]
    };
}

/// Every embedded file, by its path under `ui/`.
static ASSETS: &[(&str, &[u8])] = assets!(
    "index.html",
    "css/app.css",
    "js/app.js",
    "js/api.js",
    "js/busy.js",
    "js/contract.js",
    "js/dom.js",
    "js/i18n.js",
    "js/i18n/ar.js",
    "js/i18n/en.js",
    "js/format.js",
    "js/kinds.js",
    "js/live.js",
    "js/inbox.js",
    "js/listload.js",
    "js/composer.js",
    "js/ticket.js",
    "js/whatsapp.js",
    "js/dashboard.js",
    "js/charts.js",
    "js/admin.js",
    "js/notify.js",
    "js/switchover.js",
    "js/linkbanner.js",
    "js/push.js",
    "js/webhooks.js",
    "js/email.js",
    "js/labels.js",
    "js/accounts.js",
    "sw.js",
    "icons/icons.svg",
    "icons/logo.svg",
);

/// The version in every asset URL: the first 12 hex digits of a SHA-256 over all the files.
pub fn version() -> &'static str {
    static V: LazyLock<String> = LazyLock::new(|| {
        let mut h = Sha256::new();
        for (path, bytes) in ASSETS {
            h.update(path.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        hex::encode(&h.finalize()[..6])
    });
    &V
}

/// The HTML shell with the asset version filled in.
fn shell() -> &'static str {
    static S: LazyLock<String> = LazyLock::new(|| {
        let raw = asset("index.html").unwrap_or_default();
        String::from_utf8_lossy(raw).replace("{{V}}", &format!("/static/{}", version()))
    });
    &S
}

fn asset(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// The page: the same shell for every UI path (the modules route on `location.hash`).
async fn page() -> Response {
    let mut r = shell().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    security_headers(h);
    r
}

/// A versioned asset. A stale version (a page loaded before an upgrade) still gets today's
/// file, but not cached, so the next load picks up the new page.
async fn static_asset(Path((v, path)): Path<(String, String)>) -> Response {
    let Some(bytes) = asset(&path).filter(|_| path != "index.html") else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(&path)));
    let cache = if v == version() {
        IMMUTABLE
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    security_headers(h);
    r
}

async fn favicon() -> Response {
    let mut r = asset("icons/logo.svg").unwrap_or_default().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

/// The Web Push service worker, at the root so that its scope is the whole UI; `no-cache` so
/// that browsers check it for updates on every registration.
async fn service_worker() -> Response {
    let mut r = asset("sw.js").unwrap_or_default().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(mime("sw.js")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(h);
    r
}

/// The UI routes: `/` (and `/app`, `/login`, `/admin`) serve the page, `/static/{version}/*`
/// the assets. Stateless, so it merges into a router of any state.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(page))
        .route("/app", get(page))
        .route("/app/", get(page))
        .route("/login", get(page))
        .route("/login/", get(page))
        .route("/admin", get(page))
        .route("/admin/", get(page))
        .route("/favicon.ico", get(favicon))
        .route("/sw.js", get(service_worker))
        .route("/static/{v}/{*path}", get(static_asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_references_only_versioned_assets_that_exist() {
        let html = shell();
        assert!(!html.contains("{{V}}"));
        let prefix = format!("/static/{}/", version());
        let mut n = 0;
        for part in html.split(&prefix).skip(1) {
            let path = part.split(['"', '#']).next().unwrap();
            assert!(asset(path).is_some(), "{path} is not embedded");
            n += 1;
        }
        assert!(n >= 2, "the shell loads the stylesheet and the app module");
        assert!(!html.contains("<script>"), "no inline script");
        assert!(!html.contains("style="), "no inline style");
    }

    #[test]
    fn modules_import_only_embedded_modules() {
        for (path, bytes) in ASSETS.iter().filter(|(p, _)| p.ends_with(".js")) {
            let src = std::str::from_utf8(bytes).unwrap();
            let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            for line in src.lines().filter(|l| l.starts_with("import ")) {
                let spec = line.rsplit(['"', '\'']).nth(1).unwrap();
                let target = normalize(dir, spec);
                assert!(asset(&target).is_some(), "{path} imports {spec} ({target})");
            }
        }
    }

    fn normalize(dir: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
        for seg in spec.split('/') {
            match seg {
                "." | "" => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    /// The keys of a string table module (`"key": "text",` pairs).
    fn table_keys(path: &str) -> std::collections::BTreeSet<String> {
        let src = std::str::from_utf8(asset(path).unwrap()).unwrap();
        let mut keys = std::collections::BTreeSet::new();
        let mut rest = src;
        while let Some(i) = rest.find('"') {
            let after = &rest[i + 1..];
            let Some(j) = after.find('"') else { break };
            let key = &after[..j];
            let tail = after[j + 1..].trim_start();
            if tail.starts_with(':') {
                keys.insert(key.to_owned());
            }
            rest = &after[j + 1..];
        }
        keys
    }

    #[test]
    fn every_string_used_is_in_both_languages() {
        let ar = table_keys("js/i18n/ar.js");
        let en = table_keys("js/i18n/en.js");
        assert!(en.len() > 100, "{} English strings", en.len());
        let only_ar: Vec<_> = ar.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&ar).collect();
        assert!(
            only_ar.is_empty() && only_en.is_empty(),
            "ar only {only_ar:?}, en only {only_en:?}"
        );
        let mut used = Vec::new();
        for (path, bytes) in ASSETS {
            let src = std::str::from_utf8(bytes).unwrap();
            let marks: &[&str] = if path.ends_with(".html") {
                &[
                    "data-i18n=\"",
                    "data-i18n-label=\"",
                    "data-i18n-placeholder=\"",
                ]
            } else if path.ends_with(".js") {
                &["t(\""]
            } else {
                &[]
            };
            for mark in marks {
                let mut from = 0;
                while let Some(i) = src[from..].find(mark) {
                    let at = from + i;
                    from = at + mark.len();
                    // `t("` only as the function itself, not the end of `get("` or `split("`.
                    let prev = src[..at].chars().next_back().unwrap_or(' ');
                    if prev.is_alphanumeric() || prev == '_' || prev == '.' || prev == '$' {
                        continue;
                    }
                    let key = src[from..].split('"').next().unwrap();
                    used.push((*path, key.to_owned()));
                }
            }
        }
        assert!(used.len() > 100);
        let missing: Vec<_> = used.iter().filter(|(_, k)| !en.contains(k)).collect();
        assert!(missing.is_empty(), "untranslated: {missing:?}");
    }

    #[test]
    fn version_is_stable_hex() {
        assert_eq!(version().len(), 12);
        assert!(version().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(version(), version());
    }
}
