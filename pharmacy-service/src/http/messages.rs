//! `/api/messages`: a ticket's messages, one message, sending (text, media upload, reply-to,
//! template), the signed ingest webhook for other gateways, revoking, search, and
//! `/api/media/{sha256}`.

use super::AppState;
use super::answers::{IngestView, MessageView, Revocation, RevokedView};
use super::auth::CurrentUser;
use super::error::{ApiError, ApiJson, ApiQuery, ApiResult, Id};
use super::page::{Items, Page, page_size};
use crate::app::{InboundContent, InboundEvent, Message, MessageDetail, SendReply};
use crate::domain::ids::{MessageId, TemplateId, TicketId};
use crate::domain::mime;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/messages", get(list))
        .route("/api/messages/search", get(search))
        .route("/api/messages/send", post(send))
        .route("/api/messages/receive", post(receive))
        .route("/api/messages/{id}", get(detail).delete(revoke))
        .route("/api/media/{sha256}", get(media))
}

/// Query of `GET /api/messages`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The ticket (required).
    #[param(value_type = i64, required = true, example = 1)]
    pub ticket: Option<TicketId>,
    /// The `next_cursor` of the previous page (a message id).
    pub cursor: Option<MessageId>,
    /// Page backwards instead: the newest messages older than this id (`latest` = the newest
    /// of all); their `next_cursor` is the `before` of the next older page.
    #[param(value_type = Option<String>, pattern = "^(latest|[0-9]+)$")]
    pub before: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The `before` cursor: `latest` or a message id.
fn parse_before(v: &Option<String>) -> ApiResult<Option<Option<MessageId>>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some("latest") => Ok(Some(None)),
        Some(s) => match s.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Some(Some(MessageId(id)))),
            _ => Err(ApiError::invalid("before", "a message id or latest")),
        },
    }
}

#[utoipa::path(
    get,
    path = "/api/messages",
    tag = "messages",
    operation_id = "list_messages",
    summary = "A ticket's messages (oldest first after `cursor`, or pages backwards with `before`)",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of messages", body = Page<Message>),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Message>>> {
    let ticket = q
        .ticket
        .ok_or_else(|| ApiError::invalid("ticket", "required"))?;
    let after = q.cursor;
    let before = parse_before(&q.before)?;
    if before.is_some() && after.is_some() {
        return Err(ApiError::invalid("before", "not together with cursor"));
    }
    let lim = page_size(q.limit)?;
    state.app.readable_ticket(&me.caller(), ticket).await?;
    let cursor = |m: &Message| m.id.0.to_string();
    if let Some(before) = before {
        let rows = state
            .app
            .ticket_messages_before(ticket, before, lim)
            .await?;
        // Backwards: the next (older) page ends before this page's first message.
        return Ok(Json(Page::of(rows, lim, false, cursor)));
    }
    let rows = state.app.ticket_messages(ticket, after, lim).await?;
    Ok(Json(Page::of(rows, lim, true, cursor)))
}

#[utoipa::path(
    get,
    path = "/api/messages/{id}",
    tag = "messages",
    operation_id = "get_message",
    summary = "One message with its delivery log",
    params(("id" = i64, Path, description = "Message id", example = 1)),
    responses(
        (status = 200, description = "The message", body = MessageDetail),
        super::openapi::ReadObjectErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn detail(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<MessageDetail>> {
    let d = state
        .app
        .message_detail(&me.caller(), MessageId(id))
        .await?;
    Ok(Json(d))
}

/// Query of `GET /api/messages/search`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find (Arabic spelling variants match).
    #[param(value_type = String, required = true, min_length = 1)]
    pub q: Option<String>,
    /// At most this many.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/messages/search",
    tag = "messages",
    operation_id = "search_messages",
    summary = "Full-text search over the messages the caller may read",
    params(SearchQuery),
    responses(
        (status = 200, description = "Matching messages", body = Items<Message>),
        super::openapi::ReadErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn search(
    State(state): State<AppState>,
    me: CurrentUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Items<Message>>> {
    let text = q.q.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::invalid("q", "required"));
    }
    let lim = page_size(q.limit)?;
    let rows = state
        .app
        .search_visible_messages(&me.caller(), &text, lim)
        .await?;
    Ok(Json(rows.into()))
}

/// `POST /api/messages/send` as JSON (multipart takes the same fields plus a `file` part).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct SendRequest {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Text, or the caption of the media.
    #[serde(default)]
    pub text: Option<String>,
    /// A template to render instead of text.
    #[serde(default)]
    pub template_id: Option<TemplateId>,
    /// The stored message this answers.
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// Media stored earlier (its SHA-256), e.g. a forwarded prescription: one the sender may
    /// read (the rule of `GET /api/media/{sha256}`), else 422 as if there were none.
    #[serde(default)]
    pub media_sha256: Option<String>,
}

/// `POST /api/messages/send` as multipart/form-data: the fields of [`SendRequest`] and the
/// file (the handler reads the parts one by one, so this type only describes them).
#[derive(utoipa::ToSchema)]
pub struct SendForm {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Text, or the caption of the file.
    pub text: Option<String>,
    /// A template to render instead of text.
    pub template_id: Option<TemplateId>,
    /// The stored message this answers.
    pub reply_to: Option<MessageId>,
    /// The media.
    #[schema(value_type = Option<String>, format = Binary)]
    pub file: Option<Vec<u8>>,
}

/// An attached file, kept in memory until the caller is known to be allowed to send it (a
/// refused request leaves nothing in the media store).
type Upload = (axum::body::Bytes, String, Option<String>);

async fn multipart_send(mut mp: Multipart) -> ApiResult<(SendRequest, Option<Upload>)> {
    let mut r = SendRequest::default();
    let mut ticket = None;
    let mut media = None;
    let bad = |f: &str| ApiError::invalid(f.to_owned(), "malformed multipart field");
    while let Some(field) = mp.next_field().await.map_err(|_| bad("body"))? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let mime = mime::normalise(field.content_type().unwrap_or_default()).to_owned();
                let file_name = field.file_name().map(str::to_owned);
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::PayloadTooLarge
                    } else {
                        bad("file")
                    }
                })?;
                if bytes.is_empty() {
                    return Err(ApiError::invalid("file", "empty file"));
                }
                media = Some((bytes, mime, file_name));
            }
            _ => {
                let v = field.text().await.map_err(|_| bad(&name))?;
                let num = |f: &str| -> ApiResult<i64> {
                    v.trim()
                        .parse()
                        .map_err(|_| ApiError::invalid(f.to_owned(), "not a number"))
                };
                match name.as_str() {
                    "ticket_id" => ticket = Some(TicketId(num("ticket_id")?)),
                    "text" => r.text = Some(v.clone()),
                    "template_id" => r.template_id = Some(TemplateId(num("template_id")?)),
                    "reply_to" => r.reply_to = Some(MessageId(num("reply_to")?)),
                    _ => {}
                }
            }
        }
    }
    r.ticket_id = ticket.ok_or_else(|| ApiError::invalid("ticket_id", "required"))?;
    Ok((r, media))
}

#[utoipa::path(
    post,
    path = "/api/messages/send",
    tag = "messages",
    operation_id = "send_message",
    summary = "Send text, a template, media or a reply",
    description = "JSON, or multipart/form-data with the same fields and a `file` part (the media; `text` is its caption).",
    request_body(content((SendRequest = "application/json"), (SendForm = "multipart/form-data"))),
    responses(
        (status = 201, description = "Queued in the durable outbox", body = MessageView, links(("GetMessage" = (operation_id = "get_message", parameters(("id" = "$response.body#/message/id")))), ("RevokeMessage" = (operation_id = "revoke_message", parameters(("id" = "$response.body#/message/id")))))),
        super::openapi::SendErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn send(
    State(state): State<AppState>,
    me: CurrentUser,
    req: Request,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (r, upload) = if is_multipart {
        let mp = Multipart::from_request(req, &state)
            .await
            .map_err(|_| ApiError::invalid("body", "malformed multipart body"))?;
        multipart_send(mp).await?
    } else {
        let ApiJson(r) = ApiJson::<SendRequest>::from_request(req, &state).await?;
        (r, None)
    };
    state.app.workable_ticket(&me.caller(), r.ticket_id).await?;
    let mut media = None;
    if let Some(sha) = r.media_sha256.as_deref().filter(|_| upload.is_none()) {
        // Only media the sender may read (issue 18, High 4): another branch's prescription is
        // "no such media", as for `GET /api/media/{sha256}`.
        let m = state
            .app
            .readable_media(&me.caller(), sha)
            .await?
            .ok_or_else(|| ApiError::invalid("media_sha256", "no such media"))?;
        media = Some((m.sha256, m.mime.to_owned(), m.name));
    }
    if let Some((bytes, mime, file_name)) = upload {
        let sha = state.app.store_media(&bytes, &mime).await?;
        media = Some((sha, mime, file_name));
    }
    let m = state
        .app
        .send_reply(SendReply {
            ticket_id: r.ticket_id,
            user_id: me.id,
            text: r.text,
            template_id: r.template_id,
            media,
            reply_to: r.reply_to,
        })
        .await
        .map_err(|e| match e {
            crate::app::AppError::NotFound {
                entity: "template", ..
            } => ApiError::invalid("template_id", "no such template"),
            crate::app::AppError::NotFound {
                entity: "message", ..
            } => ApiError::invalid("reply_to", "no such message"),
            e => e.into(),
        })?;
    Ok((StatusCode::CREATED, Json(MessageView { message: m })))
}

#[utoipa::path(
    post,
    path = "/api/messages/receive",
    tag = "messages",
    operation_id = "receive_message",
    summary = "Ingest webhook for other gateways",
    description = "Authenticated by `X-Timestamp: <unix seconds>` and `X-Signature: sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\">` under the configured ingest secret (403 when none is configured); 401 when either is missing, the signature does not match, or the timestamp is more than 5 minutes from the server's clock. Edits, revokes, reactions and receipts name their sender (`from`): the ids they carry are looked up in that customer's chat only. A media item must name a file the service already holds (422 otherwise); its type is normalised.",
    params(("X-Timestamp" = i64, Header, description = "Unix seconds when the request was signed; within 5 minutes of the server's clock", example = 1_795_593_600)),
    request_body(content = InboundEvent, description = "An inbound event (`type`: message, edited, revoked, reaction, poll_vote, receipt, sent_from_phone)", content_type = "application/json"),
    responses(
        (status = 200, description = "What the event did", body = IngestView),
        super::openapi::IngestErrors,
    ),
    security(("signature" = [])),
)]
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<IngestView>> {
    let Some(secret) = state.config.ingest_secret.as_deref() else {
        return Err(ApiError::Forbidden(
            "the ingest webhook is not configured".into(),
        ));
    };
    if let Err(e) = super::signature::verify(secret, &headers, &body, state.app.now()) {
        tracing::warn!(reason = %e, "ingest webhook request refused");
        return Err(ApiError::Unauthenticated);
    }
    let mut event: InboundEvent = super::error::parse_json(&body)?;
    if let InboundEvent::Message(m) | InboundEvent::SentFromPhone(m) = &mut event
        && let InboundContent::Media { sha256, mime, .. } = &mut m.content
    {
        // The gateway names a file the service must already hold (it cannot attach bytes
        // here), and its type is a claim like any other.
        *sha256 = sha256.to_ascii_lowercase();
        if !state.app.holds_media(sha256).await? {
            return Err(ApiError::invalid("content.sha256", "no such media"));
        }
        *mime = mime::normalise(mime).to_owned();
    }
    let outcome = state.app.handle_inbound(event).await?;
    Ok(Json(IngestView { outcome }))
}

#[utoipa::path(
    delete,
    path = "/api/messages/{id}",
    tag = "messages",
    operation_id = "revoke_message",
    summary = "Delete for everyone (or cancel before it left)",
    description = "A sent message is revoked through the outbox while WhatsApp allows it (409 after); a queued or held one is cancelled. Agents may revoke only their own.",
    params(("id" = i64, Path, description = "Message id", example = 1)),
    responses(
        (status = 200, description = "Revoked or cancelled", body = RevokedView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
async fn revoke(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<RevokedView>> {
    // Not yet sent: cancelled; sent within WhatsApp's window: a revoke goes through the
    // durable outbox; older or incoming: 409.
    let (updated, was_sent) = state
        .app
        .revoke_message_as(&me.caller(), MessageId(id))
        .await?;
    let how = if was_sent {
        Revocation::Revoked
    } else {
        Revocation::Cancelled
    };
    Ok(Json(RevokedView {
        message: updated,
        how,
    }))
}

#[utoipa::path(
    get,
    path = "/api/media/{sha256}",
    tag = "messages",
    operation_id = "get_media",
    summary = "A stored media file",
    params(("sha256" = String, Path, description = "SHA-256 of the file, hex")),
    responses(
        (status = 200, description = "The file: passive images, audio and video inline with their type; anything else as an `application/octet-stream` attachment. Always `nosniff` with a sandboxing Content-Security-Policy.", content_type = "*/*"),
        super::openapi::MediaErrors,
    ),
    security(("session" = []), ("bearer" = [])),
)]
async fn media(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    let m = state
        .app
        .readable_media(&me.caller(), &sha)
        .await?
        .ok_or_else(|| ApiError::not_found("media"))?;
    let bytes = state
        .app
        .read_media(&m.sha256)
        .await?
        .ok_or_else(|| ApiError::not_found("media"))?;
    Ok(super::media::answer(&m, bytes))
}
