//! Control API routes for stanzas that are not a decryptable message (see
//! `state/stanzas.rs`): `<unavailable>` from the server, a customer's call and poll vote.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::SimHandle;
use crate::control::{Answer, Body};

#[derive(Deserialize)]
struct UnavailableBody {
    customer: String,
    kind: String,
    #[serde(default)]
    text: String,
}

async fn unavailable(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<UnavailableBody>,
) -> Answer {
    let id = sim.unavailable_message(&phone, &body.customer, &body.kind, &body.text)?;
    Ok(Json(json!({ "id": id })))
}

async fn resend_requests(State(sim): State<SimHandle>, Path(phone): Path<String>) -> Answer {
    Ok(Json(json!(sim.resend_requests(&phone))))
}

#[derive(Deserialize)]
struct CallBody {
    to: String,
    #[serde(default)]
    video: bool,
}

async fn call(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<CallBody>,
) -> Answer {
    let call_id = sim.customer_call(&phone, &body.to, body.video)?;
    Ok(Json(json!({ "call_id": call_id })))
}

#[derive(Deserialize)]
struct CallEndBody {
    to: String,
    call_id: String,
}

async fn call_end(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<CallEndBody>,
) -> Answer {
    sim.customer_call_end(&phone, &body.to, &body.call_id)?;
    Ok(Json(json!({ "ok": true })))
}

async fn calls(State(sim): State<SimHandle>, Path(phone): Path<String>) -> Answer {
    Ok(Json(json!(sim.customer_calls(&phone))))
}

#[derive(Deserialize)]
struct VoteBody {
    to: String,
    poll_id: String,
    options: Vec<String>,
    #[serde(default)]
    own_poll: bool,
}

async fn vote(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<VoteBody>,
) -> Answer {
    let options: Vec<&str> = body.options.iter().map(String::as_str).collect();
    let id = sim.customer_vote(&phone, &body.to, &body.poll_id, &options, body.own_poll)?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Deserialize)]
struct PollBody {
    to: String,
    name: String,
    options: Vec<String>,
}

async fn poll(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<PollBody>,
) -> Answer {
    let options: Vec<&str> = body.options.iter().map(String::as_str).collect();
    let id = sim.customer_poll(&phone, &body.to, &body.name, &options)?;
    Ok(Json(json!({ "id": id })))
}

/// The routes, merged into [`crate::control::router`].
pub(crate) fn routes() -> Router<SimHandle> {
    Router::new()
        .route("/control/accounts/{phone}/unavailable", post(unavailable))
        .route(
            "/control/accounts/{phone}/resend-requests",
            get(resend_requests),
        )
        .route("/control/customers/{phone}/call", post(call))
        .route("/control/customers/{phone}/call-end", post(call_end))
        .route("/control/customers/{phone}/calls", get(calls))
        .route("/control/customers/{phone}/vote", post(vote))
        .route("/control/customers/{phone}/poll", post(poll))
}
