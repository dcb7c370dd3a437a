//! The HTTP JSON control API (issue 5 §7). Errors are `{"error": "..."}` with a 4xx status.
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `POST /control/scan` | `{"qr", "phone"}` | `{"ok": true, "jid"}` |
//! | `POST /control/link-code` | `{"phone", "code"}` (the code the companion shows, dash optional) | `{"ok": true, "jid"}` |
//! | `POST /control/accounts` | `{"phone", "name"}` | `{"ok": true, "jid"}` |
//! | `POST /control/groups` | `{"creator", "subject", "participants": [phones], "addressing": "pn" \| "lid"}` | `{"ok": true, "jid"}` (customers post with `send` and `"to": "<group jid>"`) |
//! | `POST /control/groups/remove` | `{"by", "group": "<group jid>", "participants": [phones]}` | `{"ok": true}` (members get a `w:gp2` `<remove>`; `by` is an admin, or leaves) |
//! | `GET /control/devices` | | `[{"phone", "lid", "customer", "devices": [{"jid", "lid", "online", "offline_queue", "platform"}]}]` |
//! | `POST /control/devices/remove` | `{"jid"}` | `{"ok": true}` |
//! | `POST /control/customers` | `{"phone", "name", "devices": 1, "addressing": "lid" (default) \| "pn"}` | `{"ok": true, "jid"}` |
//! | `POST /control/customers/{phone}/addressing` | `{"addressing": "pn" \| "lid"}` | `{"ok": true}` (the customer's next messages go to LID chats, or back to phone numbers) |
//! | `POST /control/customers/{phone}/send` | `{"to"}` and one of `"text"`, `"image": {"base64", "mimetype", "caption"}`, `"audio": {"base64", "mimetype", "ptt"}`, `"document": {"base64", "mimetype", "file_name"}`, `"video"`, `"ptv"`, `"sticker"` (as `image`), `"location": {"lat", "lng", "name"}`, `"reaction": {"message_id", "emoji"}`, `"edit": {"message_id", "text", "form": "edited" \| "protocol"}`, `"revoke": {"message_id"}`, `"poll": {"name", "options", "single"}`, `"raw": "<base64 e2e.Message>"` (sent as it is); optional `"reply_to"`, optional `"appdata": true` (relayed under `<appdata>`; client customers only), optional `"wrap": {"ephemeral": seconds, "ephemeral_bare", "view_once", "document_with_caption", "forwarded": score, "mentions": [jids]}` (see `shapes`) | `{"id"}` |
//! | `POST /control/customers/{phone}/read` | `{"message_ids": [...]}` | `{"ok": true, "count"}` |
//! | `POST /control/customers/{phone}/typing` | `{"to", "state": "composing" \| "paused"}` | `{"ok": true}` |
//! | `POST /control/customers/{phone}/presence` | `{"state": "available" \| "unavailable"}` | `{"ok": true}` |
//! | `POST /control/customers/{phone}/reinstall` | | `{"ok": true}` (new identity keys; devices of accounts with a chat with it get an identity-change notification) |
//! | `GET /control/customers/{phone}/inbox` | | `[{"id", "from", "device", "kind", "text", "media_sha256", "media_error", "reply_to", "group", "from_me", "destination", "receipt", "received_at_ms"}]` (media is downloaded from the sim's media server and verified) |
//! | `GET /control/customers/{phone}/sent` | | `[{"id", "to", "kind", "text", "status", "server_ts", "stanza_type"}]` |
//! | `GET /control/customers/{phone}/chatstates` | | `[{"from", "state", "at_ms"}]` (typing seen from companions) |
//! | `POST /control/fault` | `{"kind": "drop_connections"}`, `{"kind": "stream_error", "code"}`, `{"kind": "delay", "ms", "duration_ms"}`, `{"kind": "nack", "code", "count"}`, `{"kind": "temp_ban", "code", "expire_s"}`, `{"kind": "corrupt_next", "count"}`, `{"kind": "expire_media"}`, `{"kind": "cut_media_downloads", "count", "after_bytes"}`, `{"kind": "bad_patch_mac"}`, `{"kind": "bad_patch_lthash"}`, `{"kind": "stale_companion", "phone", "device"}`, `{"kind": "bad_key_index_signature", "phone"}` | `{"ok": true}` |
//! | `POST /control/appstate/{phone}/mutation` | one mutation `{"action": "contact", "jid", "name"}`, `{"action": "push_name", "name"}`, `{"action": "archive", "chat", "archived"}`, `{"action": "pin", "chat", "pinned"}`, `{"action": "mark_read", "chat", "read"}`, `{"action": "mute", "chat", "until_ms"}` (-1 = always, absent = unmute), `{"action": "label", "id", "name", "color"}`, `{"action": "label_chat", "label_id", "chat", "labeled"}`, or `{"mutations": [...]}` | `{"ok": true, "versions": {"<collection>": version}}` (the phone's patch; companions get `server_sync`) |
//! | `POST /control/appstate/{phone}/rotate-key` | | `{"ok": true, "key_id"}` (a new app-state key, shared with the companions) |
//! | `POST /control/history/{phone}` | `{"chats": 6, "messages_per_chat": 50}` (generated) or `{"conversations": [{"jid", "name", "unread_count", "messages": [{"id", "from_me", "text", "timestamp"}]}]}` | `{"ok": true, "messages"}` (what the phone remembers; sent to companions linked afterwards) |
//! | `GET /control/stanzas` | | `[{"from", "tag", "id", "kind", "to", "media_types", "recipients", "sender_key_id", "error", "received_at_ms"}]` (`<ack>` only with an `error`) |
//! | `GET /control/root_key` | | `{"root_key"}` |
//! | `POST /control/accounts/{phone}/unavailable` | `{"customer", "kind", "text"}` | `{"id"}` (`<unavailable type=kind>` to the account's companions; unless `view_once`, its phone resends `text` when asked) |
//! | `GET /control/accounts/{phone}/resend-requests` | | `["<message id>", ...]` (placeholder-resend requests its phone got) |
//! | `POST /control/customers/{phone}/call` | `{"to", "video"}` | `{"call_id"}` (`<offer>`) |
//! | `POST /control/customers/{phone}/call-end` | `{"to", "call_id"}` | `{"ok": true}` (`<terminate>`) |
//! | `GET /control/customers/{phone}/calls` | | `[{"to", "from", "action", "call_id"}]` (`<call>` stanzas relayed to it: rejects) |
//! | `POST /control/customers/{phone}/vote` | `{"to", "poll_id", "options": [names], "own_poll"}` | `{"id"}` (a vote on a poll `to` sent it, or its own) |
//! | `POST /control/customers/{phone}/poll` | `{"to", "name", "options": [names]}` | `{"id"}` (a single-choice poll) |

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::appstate::PhoneMutation;
use crate::device::{MediaKind, Outgoing};
use crate::history::HistoryChat;
use crate::{Fault, SimError, SimHandle};

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match self {
            SimError::UnknownAccount(_) | SimError::UnknownDevice(_) => StatusCode::NOT_FOUND,
            SimError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            SimError::PairingRefused(_) => StatusCode::CONFLICT,
            SimError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

pub(crate) type Answer = Result<Json<Value>, SimError>;

/// A JSON body whose rejection answers `{"error": ...}` with 400 like every other error.
pub(crate) struct Body<T>(pub(crate) T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = SimError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, SimError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e| SimError::BadRequest(e.body_text()))
    }
}

#[derive(Deserialize)]
struct ScanBody {
    qr: String,
    phone: String,
}

async fn scan(State(sim): State<SimHandle>, Body(body): Body<ScanBody>) -> Answer {
    let jid = sim.scan(&body.qr, &body.phone).await?;
    Ok(Json(json!({ "ok": true, "jid": jid.to_string() })))
}

#[derive(Deserialize)]
struct LinkCodeBody {
    phone: String,
    code: String,
}

async fn link_code(State(sim): State<SimHandle>, Body(body): Body<LinkCodeBody>) -> Answer {
    let jid = sim.link_code(&body.phone, &body.code).await?;
    Ok(Json(json!({ "ok": true, "jid": jid.to_string() })))
}

#[derive(Deserialize)]
struct AccountBody {
    phone: String,
    #[serde(default)]
    name: String,
}

async fn add_account(State(sim): State<SimHandle>, Body(body): Body<AccountBody>) -> Answer {
    let jid = sim.add_account(&body.phone, &body.name)?;
    Ok(Json(json!({ "ok": true, "jid": jid.to_string() })))
}

#[derive(Deserialize)]
struct GroupBody {
    creator: String,
    #[serde(default)]
    subject: String,
    participants: Vec<String>,
    #[serde(default)]
    addressing: Option<String>,
}

async fn create_group(State(sim): State<SimHandle>, Body(body): Body<GroupBody>) -> Answer {
    let lid = body.addressing.as_deref() == Some("lid");
    let jid = sim.create_group(&body.creator, &body.subject, &body.participants, lid)?;
    Ok(Json(json!({ "ok": true, "jid": jid.to_string() })))
}

#[derive(Deserialize)]
struct GroupRemoveBody {
    by: String,
    group: String,
    participants: Vec<String>,
}

async fn remove_group_participants(
    State(sim): State<SimHandle>,
    Body(body): Body<GroupRemoveBody>,
) -> Answer {
    let group = body
        .group
        .parse::<whatsapp_proto::jid::Jid>()
        .ok()
        .filter(|g| g.is_group())
        .ok_or_else(|| SimError::BadRequest(format!("{:?} is not a group JID", body.group)))?;
    sim.remove_group_participants(&body.by, &group, &body.participants)?;
    Ok(Json(json!({ "ok": true })))
}

async fn devices(State(sim): State<SimHandle>) -> Json<Value> {
    Json(json!(sim.devices()))
}

#[derive(Deserialize)]
struct RemoveBody {
    jid: String,
}

async fn remove_device(State(sim): State<SimHandle>, Body(body): Body<RemoveBody>) -> Answer {
    sim.remove_device(&body.jid)?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct CustomerBody {
    phone: String,
    #[serde(default)]
    name: String,
    #[serde(default = "one")]
    devices: u16,
    #[serde(default)]
    addressing: Option<String>,
}

fn one() -> u16 {
    1
}

/// `"lid"` or `"pn"`; absent is LID, as the real server addresses most chats now.
fn lid_addressing(addressing: Option<&str>) -> Result<bool, SimError> {
    match addressing {
        None | Some("lid") => Ok(true),
        Some("pn") => Ok(false),
        Some(other) => Err(SimError::BadRequest(format!(
            "addressing {other:?} is not pn or lid"
        ))),
    }
}

#[derive(Deserialize)]
struct AddressingBody {
    addressing: String,
}

async fn customer_addressing(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<AddressingBody>,
) -> Answer {
    sim.customer_addressing(&phone, lid_addressing(Some(&body.addressing))?)?;
    Ok(Json(json!({ "ok": true })))
}

async fn add_customer(State(sim): State<SimHandle>, Body(body): Body<CustomerBody>) -> Answer {
    let lid = lid_addressing(body.addressing.as_deref())?;
    if body.devices == 0 || body.devices > 20 {
        return Err(SimError::BadRequest("devices must be 1..=20".into()));
    }
    let jid = sim.add_customer(&body.phone, &body.name, body.devices, lid)?;
    Ok(Json(json!({ "ok": true, "jid": jid.to_string() })))
}

#[derive(Deserialize)]
struct LocationBody {
    lat: f64,
    lng: f64,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct ReactionBody {
    message_id: String,
    emoji: String,
}

#[derive(Deserialize)]
struct MediaBody {
    base64: String,
    mimetype: String,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    ptt: Option<bool>,
    #[serde(default)]
    file_name: Option<String>,
    #[serde(skip)]
    kind: Option<MediaKind>,
}

fn media_content(media: MediaBody) -> Result<Outgoing, SimError> {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(media.base64.trim())
        .map_err(|e| SimError::BadRequest(format!("base64: {e}")))?;
    let kind = media.kind.unwrap_or(MediaKind::Image);
    let kind = match (kind, media.ptt) {
        (MediaKind::Audio, Some(true)) => MediaKind::VoiceNote,
        (k, _) => k,
    };
    Ok(Outgoing::Media {
        kind,
        data,
        mimetype: media.mimetype,
        caption: media.caption,
        file_name: media.file_name,
    })
}

#[derive(Deserialize)]
struct EditBody {
    message_id: String,
    text: String,
    /// `"edited"` (an `editedMessage` wrapper, the default) or `"protocol"` (bare).
    #[serde(default)]
    form: Option<String>,
}

#[derive(Deserialize)]
struct RevokeBody {
    message_id: String,
}

#[derive(Deserialize)]
struct PollBody {
    name: String,
    options: Vec<String>,
    #[serde(default)]
    single: bool,
}

#[derive(Deserialize, Default)]
struct WrapBody {
    #[serde(default)]
    ephemeral: Option<u32>,
    #[serde(default)]
    ephemeral_bare: bool,
    #[serde(default)]
    view_once: bool,
    #[serde(default)]
    document_with_caption: bool,
    #[serde(default)]
    forwarded: Option<u32>,
    #[serde(default)]
    mentions: Vec<String>,
}

#[derive(Deserialize)]
struct SendBody {
    to: String,
    #[serde(default)]
    text: Option<String>,
    /// Any `e2e.Message`, protobuf bytes in base64, sent as it is.
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    video: Option<MediaBody>,
    #[serde(default)]
    ptv: Option<MediaBody>,
    #[serde(default)]
    sticker: Option<MediaBody>,
    #[serde(default)]
    edit: Option<EditBody>,
    #[serde(default)]
    revoke: Option<RevokeBody>,
    #[serde(default)]
    poll: Option<PollBody>,
    #[serde(default)]
    wrap: Option<WrapBody>,
    #[serde(default)]
    location: Option<LocationBody>,
    #[serde(default)]
    reaction: Option<ReactionBody>,
    #[serde(default)]
    image: Option<MediaBody>,
    #[serde(default)]
    audio: Option<MediaBody>,
    #[serde(default)]
    document: Option<MediaBody>,
    #[serde(default)]
    reply_to: Option<String>,
    /// Relayed to the other account's devices under `<appdata>` (customers that are clients).
    #[serde(default)]
    appdata: bool,
}

async fn send(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<SendBody>,
) -> Answer {
    let tag = |m: Option<MediaBody>, kind| {
        m.map(|mut m| {
            m.kind = Some(kind);
            m
        })
    };
    let mut body = body;
    body.image = tag(body.image.take(), MediaKind::Image);
    body.audio = tag(body.audio.take(), MediaKind::Audio);
    body.document = tag(body.document.take(), MediaKind::Document);
    body.video = tag(body.video.take(), MediaKind::Video);
    body.ptv = tag(body.ptv.take(), MediaKind::Ptv);
    body.sticker = tag(body.sticker.take(), MediaKind::Sticker);
    let chat = if body.to.contains('@') {
        body.to.clone()
    } else {
        format!("{}@s.whatsapp.net", body.to.trim_start_matches('+'))
    };
    let content = if let Some(raw) = body.raw {
        use base64::Engine as _;
        use prost::Message as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .map_err(|e| SimError::BadRequest(format!("raw: base64: {e}")))?;
        let message = whatsapp_proto::pb::e2e::Message::decode(bytes.as_slice())
            .map_err(|e| SimError::BadRequest(format!("raw: not an e2e.Message: {e}")))?;
        Outgoing::Raw(Box::new(message))
    } else if let Some(e) = body.edit {
        let wrapped = match e.form.as_deref() {
            None | Some("edited") => true,
            Some("protocol") => false,
            Some(other) => {
                return Err(SimError::BadRequest(format!(
                    "edit form {other:?}: edited or protocol"
                )));
            }
        };
        let now_ms = i64::try_from(crate::state::now_ms()).unwrap_or(i64::MAX);
        Outgoing::Raw(Box::new(crate::shapes::edit(
            &chat,
            &e.message_id,
            &e.text,
            wrapped,
            now_ms,
        )))
    } else if let Some(r) = body.revoke {
        Outgoing::Raw(Box::new(crate::shapes::revoke(&chat, &r.message_id)))
    } else if let Some(p) = body.poll {
        let options: Vec<&str> = p.options.iter().map(String::as_str).collect();
        Outgoing::Raw(Box::new(crate::shapes::poll(
            &p.name,
            &options,
            p.single,
            rand::random(),
        )))
    } else if let Some(text) = body.text {
        Outgoing::Text(text)
    } else if let Some(l) = body.location {
        Outgoing::Location {
            lat: l.lat,
            lng: l.lng,
            name: l.name,
        }
    } else if let Some(r) = body.reaction {
        let inbox = sim.customer_inbox(&phone)?;
        let received = inbox.iter().find(|e| e.id == r.message_id);
        let remote_jid = match received {
            Some(e) => e
                .from
                .parse::<whatsapp_proto::jid::Jid>()
                .map(|j| j.to_non_ad().to_string())
                .unwrap_or_default(),
            None => body.to.clone(),
        };
        Outgoing::Reaction {
            message_id: r.message_id,
            emoji: r.emoji,
            remote_jid,
            from_me: received.is_none(),
        }
    } else if let Some(media) = body
        .image
        .or(body.audio)
        .or(body.document)
        .or(body.video)
        .or(body.ptv)
        .or(body.sticker)
    {
        media_content(media)?
    } else {
        return Err(SimError::BadRequest(
            "one of text, location, reaction, media, raw, edit, revoke, poll is required".into(),
        ));
    };
    let content = match body.wrap {
        Some(w) => Outgoing::Wrapped {
            content: Box::new(content),
            wrapping: crate::shapes::Wrapping {
                ephemeral: w.ephemeral,
                ephemeral_bare: w.ephemeral_bare,
                view_once: w.view_once,
                document_with_caption: w.document_with_caption,
                forwarded: w.forwarded,
                mentions: w.mentions,
            },
        },
        None => content,
    };
    let id = sim.send_from(
        &phone,
        &body.to,
        content,
        body.reply_to.as_deref(),
        body.appdata,
    )?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Deserialize)]
struct ReadBody {
    message_ids: Vec<String>,
}

async fn read(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<ReadBody>,
) -> Answer {
    let count = sim.customer_read(&phone, &body.message_ids)?;
    Ok(Json(json!({ "ok": true, "count": count })))
}

#[derive(Deserialize)]
struct TypingBody {
    to: String,
    state: String,
}

async fn typing(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<TypingBody>,
) -> Answer {
    sim.customer_typing(&phone, &body.to, &body.state)?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct PresenceBody {
    state: String,
}

async fn presence(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<PresenceBody>,
) -> Answer {
    let available = match body.state.as_str() {
        "available" => true,
        "unavailable" => false,
        other => {
            return Err(SimError::BadRequest(format!(
                "state {other:?} is not available or unavailable"
            )));
        }
    };
    sim.customer_presence(&phone, available)?;
    Ok(Json(json!({ "ok": true })))
}

async fn reinstall(State(sim): State<SimHandle>, Path(phone): Path<String>) -> Answer {
    sim.customer_reinstall(&phone)?;
    Ok(Json(json!({ "ok": true })))
}

async fn inbox(State(sim): State<SimHandle>, Path(phone): Path<String>) -> Answer {
    Ok(Json(json!(sim.customer_inbox(&phone)?)))
}

async fn sent(State(sim): State<SimHandle>, Path(phone): Path<String>) -> Answer {
    Ok(Json(json!(sim.customer_sent(&phone)?)))
}

async fn chatstates(State(sim): State<SimHandle>, Path(phone): Path<String>) -> Answer {
    Ok(Json(json!(sim.customer_chatstates(&phone)?)))
}

async fn fault(State(sim): State<SimHandle>, Body(body): Body<Value>) -> Answer {
    let fault: Fault = serde_json::from_value(body)
        .map_err(|e| SimError::BadRequest(format!("bad fault: {e}")))?;
    sim.fault(&fault)?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MutationBody {
    Many { mutations: Vec<PhoneMutation> },
    One(PhoneMutation),
}

async fn app_state_mutation(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<MutationBody>,
) -> Answer {
    let mutations = match body {
        MutationBody::Many { mutations } => mutations,
        MutationBody::One(m) => vec![m],
    };
    let versions: serde_json::Map<String, Value> = sim
        .app_state_mutations(&phone, &mutations)?
        .into_iter()
        .map(|(name, v)| (name, json!(v)))
        .collect();
    Ok(Json(json!({ "ok": true, "versions": versions })))
}

async fn rotate_key(State(sim): State<SimHandle>, Path(phone): Path<String>) -> Answer {
    let key_id = sim.rotate_app_state_key(&phone)?;
    Ok(Json(json!({ "ok": true, "key_id": key_id })))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HistoryBody {
    Given {
        conversations: Vec<HistoryChat>,
    },
    Generated {
        chats: usize,
        messages_per_chat: usize,
    },
}

async fn seed_history(
    State(sim): State<SimHandle>,
    Path(phone): Path<String>,
    Body(body): Body<HistoryBody>,
) -> Answer {
    let messages = match body {
        HistoryBody::Given { conversations } => sim.seed_history(&phone, conversations)?,
        HistoryBody::Generated {
            chats,
            messages_per_chat,
        } => {
            if chats.saturating_mul(messages_per_chat) > 100_000 {
                return Err(SimError::BadRequest(
                    "at most 100,000 generated messages".into(),
                ));
            }
            sim.seed_generated_history(&phone, chats, messages_per_chat)?
        }
    };
    Ok(Json(json!({ "ok": true, "messages": messages })))
}

async fn stanzas(State(sim): State<SimHandle>) -> Json<Value> {
    Json(json!(sim.stanzas()))
}

async fn root_key(State(sim): State<SimHandle>) -> Json<Value> {
    Json(json!({ "root_key": sim.root_key_hex() }))
}

/// The control API's routes.
pub fn router(sim: SimHandle) -> Router {
    Router::new()
        .route("/control/scan", post(scan))
        .route("/control/link-code", post(link_code))
        .route("/control/accounts", post(add_account))
        .route("/control/groups", post(create_group))
        .route("/control/groups/remove", post(remove_group_participants))
        .route("/control/devices", get(devices))
        .route("/control/devices/remove", post(remove_device))
        .route("/control/customers", post(add_customer))
        .route(
            "/control/customers/{phone}/addressing",
            post(customer_addressing),
        )
        .route("/control/customers/{phone}/send", post(send))
        .route("/control/customers/{phone}/read", post(read))
        .route("/control/customers/{phone}/typing", post(typing))
        .route("/control/customers/{phone}/inbox", get(inbox))
        .route("/control/customers/{phone}/presence", post(presence))
        .route("/control/customers/{phone}/reinstall", post(reinstall))
        .route("/control/customers/{phone}/sent", get(sent))
        .route("/control/customers/{phone}/chatstates", get(chatstates))
        .route("/control/fault", post(fault))
        .route(
            "/control/appstate/{phone}/mutation",
            post(app_state_mutation),
        )
        .route("/control/appstate/{phone}/rotate-key", post(rotate_key))
        .route("/control/history/{phone}", post(seed_history))
        .route("/control/stanzas", get(stanzas))
        .route("/control/root_key", get(root_key))
        .merge(crate::control_stanzas::routes())
        .with_state(sim)
}
