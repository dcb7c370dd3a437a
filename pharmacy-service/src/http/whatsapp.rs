//! `/api/whatsapp`: pairing (QR as string, PNG and SVG; phone-number code), link status and
//! disconnect, through the [`WhatsappLink`] port. The service implements the port with the
//! real whatsapp-client; tests and UI work use [`FakeWhatsapp`].

use super::auth::Admin;
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::views::Done;
use super::views::whatsapp::{LinkStatusView, PairCodeView, QrView};
use super::{AppState, audit};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// A boxed future (the port is used as a trait object).
pub type LinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LinkError>> + Send + 'a>>;

/// Why the link could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not connected / not paired.
    #[error("WhatsApp is not connected")]
    NotConnected,
    /// Already paired: log out first.
    #[error("already paired")]
    AlreadyPaired,
    /// The phone number is not acceptable.
    #[error("invalid phone number: {0}")]
    InvalidPhone(String),
    /// Anything else (shown to admins).
    #[error("{0}")]
    Other(String),
}

/// The link's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Not paired: waiting for a QR scan or a pairing code.
    Unpaired,
    /// Paired, connecting.
    Connecting,
    /// Connected and serving.
    Connected,
    /// Paired, but disconnected (retrying).
    Disconnected,
    /// WhatsApp logged the device out.
    LoggedOut,
    /// Temporarily banned.
    TemporaryBan,
}

/// What `GET /api/whatsapp/status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LinkStatus {
    /// The state.
    pub state: LinkState,
    /// The paired number (digits), when paired.
    pub phone: Option<String>,
    /// Push name of the account.
    pub name: Option<String>,
    /// Ban expiry or similar details.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
    /// The last [`RECENT_DISCONNECTS`] times the link went down, newest first (kept in memory:
    /// empty after a restart).
    pub recent_disconnects: Vec<DisconnectRecord>,
}

/// How many disconnects [`LinkStatus::recent_disconnects`] keeps.
pub const RECENT_DISCONNECTS: usize = 10;

/// One time the link went down.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DisconnectRecord {
    /// When (ms since the epoch).
    #[schema(value_type = i64)]
    pub at: crate::domain::time::Timestamp,
    /// The state it went to: `disconnected`, `logged_out` or `temporary_ban`.
    pub state: String,
    /// The cause in words (`replaced`, `code 401: ...`, the client's reason).
    pub reason: String,
    /// The cause as the client stated it.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
}

impl DisconnectRecord {
    /// A record of the link going to `state` with the `detail` the bridge publishes.
    pub fn new(at: crate::domain::time::Timestamp, state: &str, detail: Option<&Value>) -> Self {
        let field = |k: &str| {
            detail
                .and_then(|d| d.get(k))
                .filter(|v| !v.is_null())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        };
        let reason = match (field("reason"), field("code"), field("message")) {
            (Some(r), _, _) => r,
            (None, Some(c), Some(m)) => format!("code {c}: {m}"),
            (None, Some(c), None) => format!("code {c}"),
            (None, None, Some(m)) => m,
            (None, None, None) => state.to_owned(),
        };
        DisconnectRecord {
            at,
            state: state.to_owned(),
            reason,
            detail: detail.cloned(),
        }
    }

    /// Puts `self` first in `recent`, keeping at most [`RECENT_DISCONNECTS`].
    pub fn push_to(self, recent: &mut std::collections::VecDeque<DisconnectRecord>) {
        recent.push_front(self);
        recent.truncate(RECENT_DISCONNECTS);
    }
}

/// Port to the WhatsApp link (one number). Implemented by the service's bridge over
/// whatsapp-client, and by [`FakeWhatsapp`].
pub trait WhatsappLink: Send + Sync + 'static {
    /// Current state.
    fn status(&self) -> LinkFuture<'_, LinkStatus>;
    /// The current pairing QR string (`ref,noiseKey,identityKey,advSecret`), while unpaired.
    fn qr_code(&self) -> LinkFuture<'_, Option<String>>;
    /// Asks for an 8-character pairing code for this phone number (digits, international).
    fn pair_code<'a>(&'a self, phone: &'a str) -> LinkFuture<'a, String>;
    /// Logs out and forgets the pairing.
    fn disconnect(&self) -> LinkFuture<'_, ()>;
}

/// An in-memory link for tests and UI work: starts unpaired with a fixed QR; `pair_code`
/// returns a deterministic code; `connect()` simulates a scan.
#[derive(Debug)]
pub struct FakeWhatsapp {
    inner: Mutex<FakeState>,
}

#[derive(Debug)]
struct FakeState {
    state: LinkState,
    phone: Option<String>,
    qr: String,
}

impl Default for FakeWhatsapp {
    fn default() -> Self {
        FakeWhatsapp {
            inner: Mutex::new(FakeState {
                state: LinkState::Unpaired,
                phone: None,
                qr: "2@fakeRef,fakeNoiseKey=,fakeIdentityKey=,fakeAdvSecret=".into(),
            }),
        }
    }
}

impl FakeWhatsapp {
    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Simulates a successful pairing with `phone`.
    pub fn connect(&self, phone: &str) {
        let mut s = self.lock();
        s.state = LinkState::Connected;
        s.phone = Some(phone.to_owned());
    }
}

impl WhatsappLink for FakeWhatsapp {
    fn status(&self) -> LinkFuture<'_, LinkStatus> {
        let s = self.lock();
        let st = LinkStatus {
            state: s.state,
            phone: s.phone.clone(),
            name: s.phone.as_ref().map(|_| "Khalifa Pharmacies".to_owned()),
            detail: None,
            recent_disconnects: Vec::new(),
        };
        Box::pin(async move { Ok(st) })
    }

    fn qr_code(&self) -> LinkFuture<'_, Option<String>> {
        let s = self.lock();
        let qr = (s.state == LinkState::Unpaired || s.state == LinkState::LoggedOut)
            .then(|| s.qr.clone());
        Box::pin(async move { Ok(qr) })
    }

    fn pair_code<'a>(&'a self, phone: &'a str) -> LinkFuture<'a, String> {
        let paired = self.lock().state == LinkState::Connected;
        Box::pin(async move {
            if paired {
                return Err(LinkError::AlreadyPaired);
            }
            // Deterministic: the last eight digits, as letters A-J.
            let code: String = phone
                .chars()
                .rev()
                .take(8)
                .map(|c| (b'A' + c.to_digit(10).unwrap_or(0) as u8) as char)
                .collect();
            Ok(code)
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        let mut s = self.lock();
        let was = s.state;
        s.state = LinkState::LoggedOut;
        s.phone = None;
        Box::pin(async move {
            if was == LinkState::Unpaired || was == LinkState::LoggedOut {
                Err(LinkError::NotConnected)
            } else {
                Ok(())
            }
        })
    }
}

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/whatsapp/qr-code", get(qr_code))
        .route("/api/whatsapp/status", get(status))
        .route("/api/whatsapp/disconnect", post(disconnect))
        .route("/api/whatsapp/pair-code", post(pair_code))
}

fn link_error(e: LinkError) -> ApiError {
    match e {
        LinkError::InvalidPhone(m) => ApiError::invalid("phone", m),
        LinkError::AlreadyPaired => ApiError::Conflict("already paired; disconnect first".into()),
        LinkError::NotConnected => ApiError::Conflict("WhatsApp is not connected".into()),
        LinkError::Other(m) => ApiError::Unavailable(m),
    }
}

#[utoipa::path(
    get,
    path = "/api/whatsapp/status",
    tag = "whatsapp",
    operation_id = "whatsapp_status",
    summary = "The link state",
    responses(
        (status = 200, description = "The state", body = LinkStatusView),
        super::openapi::LinkErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn status(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Json<LinkStatusView>> {
    let status = state.whatsapp.status().await.map_err(link_error)?;
    Ok(Json(LinkStatusView::from(status)))
}

/// Query of the QR endpoint: `format=png` or `format=svg` answers the image itself.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// `json` (default), `png` or `svg`.
    #[param(value_type = Option<String>, pattern = "^(json|png|svg)$")]
    pub format: Option<QrFormat>,
}

/// How the QR is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrFormat {
    /// A [`QrView`]: the string, a PNG in base64 and an SVG.
    #[default]
    Json,
    /// The PNG image.
    Png,
    /// The SVG image.
    Svg,
}

/// The QR code's modules as an SVG document.
pub fn qr_svg(data: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(ApiError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build())
}

/// The QR code as a PNG (8 pixels per module, 4-module quiet zone, greyscale).
pub fn qr_png(data: &str) -> Result<Vec<u8>, ApiError> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(ApiError::internal)?;
    let w = code.width();
    let colors = code.to_colors();
    let (scale, quiet) = (8usize, 4usize);
    let side = (w + 2 * quiet) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = (i % w + quiet, i / w + quiet);
            for dy in 0..scale {
                let row = (y * scale + dy) * side;
                for dx in 0..scale {
                    pixels[row + x * scale + dx] = 0;
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(ApiError::internal)?;
        wr.write_image_data(&pixels).map_err(ApiError::internal)?;
    }
    Ok(out)
}

#[utoipa::path(
    get,
    path = "/api/whatsapp/qr-code",
    tag = "whatsapp",
    operation_id = "whatsapp_qr",
    summary = "The pairing QR: string, PNG (base64) and SVG; or `format=png|svg` for the image",
    params(QrQuery),
    responses(
        (status = 200, description = "The QR (nulls once paired), or the image", content((QrView = "application/json"), (String = "image/svg+xml"), (Vec<u8> = "image/png"))),
        super::openapi::LinkErrors,
    ),
    security(("session" = ["admin"]), ("bearer" = ["admin"])),
)]
async fn qr_code(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> ApiResult<Response> {
    let status = state.whatsapp.status().await.map_err(link_error)?;
    let qr = state.whatsapp.qr_code().await.map_err(link_error)?;
    let Some(qr) = qr else {
        let view = QrView {
            state: status.state,
            qr: None,
            png_base64: None,
            svg: None,
        };
        return Ok(Json(view).into_response());
    };
    Ok(match q.format.unwrap_or_default() {
        QrFormat::Png => ([(header::CONTENT_TYPE, "image/png")], qr_png(&qr)?).into_response(),
        QrFormat::Svg => ([(header::CONTENT_TYPE, "image/svg+xml")], qr_svg(&qr)?).into_response(),
        QrFormat::Json => {
            let png = base64::engine::general_purpose::STANDARD.encode(qr_png(&qr)?);
            let view = QrView {
                state: status.state,
                svg: Some(qr_svg(&qr)?),
                png_base64: Some(png),
                qr: Some(qr),
            };
            Json(view).into_response()
        }
    })
}

#[utoipa::path(
    post,
    path = "/api/whatsapp/disconnect",
    tag = "whatsapp",
    operation_id = "whatsapp_disconnect",
    summary = "Log the number out",
    responses(
        (status = 200, description = "Logged out", body = Done),
        super::openapi::LinkErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn disconnect(State(state): State<AppState>, Admin(me): Admin) -> ApiResult<Json<Done>> {
    state.whatsapp.disconnect().await.map_err(link_error)?;
    audit(
        &state,
        Some(me.id),
        "whatsapp.disconnected",
        None,
        json!({}),
    )
    .await?;
    state.app.events().publish(
        state.app.now(),
        crate::app::LiveEvent::WhatsappStatus {
            state: "logged_out".into(),
            detail: None,
        },
    );
    Ok(Json(Done::OK))
}

/// `POST /api/whatsapp/pair-code` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PairCodeRequest {
    /// The pharmacy's number, international (`201001234567`, `+20 100 123 4567` or `0100...`).
    pub phone: String,
}

#[utoipa::path(
    post,
    path = "/api/whatsapp/pair-code",
    tag = "whatsapp",
    operation_id = "whatsapp_pair_code",
    summary = "A pairing code for a phone number",
    request_body = PairCodeRequest,
    responses(
        (status = 200, description = "The code to type on the phone", body = PairCodeView),
        super::openapi::LinkErrors,
    ),
    security(("session" = ["admin"], "csrf" = []), ("bearer" = ["admin"])),
)]
async fn pair_code(
    State(state): State<AppState>,
    Admin(me): Admin,
    ApiJson(r): ApiJson<PairCodeRequest>,
) -> ApiResult<Json<PairCodeView>> {
    let phone = crate::domain::phone::normalize_phone(&r.phone)
        .map_err(|e| ApiError::invalid("phone", e.to_string()))?
        .as_str()
        .to_owned();
    let code = state.whatsapp.pair_code(&phone).await.map_err(link_error)?;
    audit(
        &state,
        Some(me.id),
        "whatsapp.pair_code",
        None,
        json!({ "phone": phone }),
    )
    .await?;
    Ok(Json(PairCodeView { phone, code }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;

    #[test]
    fn disconnect_records_keep_the_newest_ten_with_their_causes() {
        let mut recent = std::collections::VecDeque::new();
        for i in 0..12 {
            DisconnectRecord::new(
                Timestamp(i),
                "disconnected",
                Some(&json!({ "reason": format!("r{i}") })),
            )
            .push_to(&mut recent);
        }
        assert_eq!(recent.len(), RECENT_DISCONNECTS);
        assert_eq!(
            (recent[0].at, recent[0].reason.as_str()),
            (Timestamp(11), "r11")
        );
        assert_eq!(recent[9].reason, "r2");
        let r = DisconnectRecord::new(
            Timestamp(1),
            "disconnected",
            Some(&json!({ "code": 401, "message": "bad" })),
        );
        assert_eq!(r.reason, "code 401: bad");
        let r = DisconnectRecord::new(
            Timestamp(1),
            "temporary_ban",
            Some(&json!({ "code": 101, "until": null })),
        );
        assert_eq!(r.reason, "code 101");
        assert_eq!(
            DisconnectRecord::new(Timestamp(1), "logged_out", None).reason,
            "logged_out"
        );
    }
}
