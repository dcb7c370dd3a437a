//! `POST /api/messages/{id}/media/retry`: an agent asks again for an attachment the media
//! worker gave up on ("could not be downloaded").

use super::AppState;
use super::access::readable_ticket;
use super::auth::CurrentUser;
use super::error::{ApiError, ApiResult, Id};
use crate::app::LiveEvent;
use crate::db;
use crate::db::messages::Message;
use crate::domain::ids::MessageId;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/messages/{id}/media/retry", post(retry))
}

/// The message whose download starts over.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct MediaRetryView {
    /// The message, now `media_state` `downloading`.
    pub message: Message,
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
        (status = 200, description = "Queued for download", body = MediaRetryView),
        super::openapi::WriteObjectErrors,
    ),
    security(("session" = [], "csrf" = []), ("bearer" = [])),
)]
pub(crate) async fn retry(
    State(state): State<AppState>,
    me: CurrentUser,
    Id(id): Id,
) -> ApiResult<Json<MediaRetryView>> {
    let not_found = || ApiError::not_found(format!("message {id}"));
    let mut c = state.app.pool().acquire().await?;
    let m = db::messages::by_id(&mut c, MessageId(id))
        .await?
        .ok_or_else(not_found)?;
    readable_ticket(&mut c, &me, m.ticket_id)
        .await
        .map_err(|_| not_found())?;
    if !db::media_downloads::retry(&mut c, m.id, state.app.now()).await? {
        return Err(ApiError::Conflict(
            "only an attachment that could not be downloaded can be retried".into(),
        ));
    }
    let message = db::messages::by_id(&mut c, m.id)
        .await?
        .ok_or_else(not_found)?;
    drop(c);
    state.app.wake_media_worker();
    state.app.events().publish(
        state.app.now(),
        LiveEvent::MessageUpdated {
            message: message.clone(),
        },
    );
    Ok(Json(MediaRetryView { message }))
}
