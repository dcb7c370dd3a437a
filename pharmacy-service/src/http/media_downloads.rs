//! `POST /api/messages/{id}/media/retry`: an agent asks again for an attachment the media
//! worker gave up on ("could not be downloaded").

use super::AppState;
use super::answers::MessageView;
use super::auth::CurrentUser;
use super::error::{ApiResult, Id};
use crate::domain::ids::MessageId;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/messages/{id}/media/retry", post(retry))
}

#[utoipa::path(
    post,
    path = "/api/messages/{id}/media/retry",
    tag = "messages",
    operation_id = "retry_media_download",
    summary = "Download a failed attachment again",
    description = "For an incoming attachment whose download failed (`media_state` `failed`): \
        the media worker tries again at once; a live `message_updated` event follows when the \
        file arrives or the download fails again. 409 when the attachment is not failed \
        (downloading, stored, too large). Anyone who can read the ticket may ask.",
    params(("id" = i64, Path, description = "Message id", example = 1)),
    responses(
        (status = 200, description = "Queued for download: the message, now `media_state` `downloading`", body = MessageView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
pub(crate) async fn retry(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<MessageView>> {
    let message = state
        .app
        .retry_media_download(&me.caller(), MessageId(id))
        .await?;
    Ok(Json(MessageView { message }))
}
