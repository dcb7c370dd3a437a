//! `/api/whatsapp`: pairing (QR as string, PNG and SVG; phone-number code), link status and
//! disconnect, through the [`WhatsappLink`] port (`crate::app::ports`). The service implements
//! the port with the real whatsapp-client; tests and UI work use [`FakeWhatsapp`]
//! (`crate::whatsapp::fake`).

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
use serde::Deserialize;
use serde_json::json;

// The port and its fake live below the HTTP layer; these paths keep working.
pub use crate::app::{
    DisconnectRecord, LinkError, LinkFuture, LinkState, LinkStatus, RECENT_DISCONNECTS,
    WhatsappLink,
};
pub use crate::whatsapp::fake::FakeWhatsapp;

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
