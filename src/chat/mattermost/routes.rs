//! Mattermost's inbound routes: the `/jit` slash command and button callbacks.
//!
//! Commands carry the static command token (`Authorization: Token …`), compared in constant
//! time. Button callbacks carry no authentication from Mattermost, so every button's `context`
//! holds jitpe's own HMAC over (request, action, expiry, channel); the click must also come from
//! the post jitpe stored for the request, and the clicker is re-checked through the REST API.

use crate::chat::mattermost::client::{MattermostChat, is_mattermost_id};
use crate::chat::mattermost::sign::ButtonContext;
use crate::domain::audit::AuditDraft;
use crate::domain::command;
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::view::CardAction;
use crate::web::AppState;
use crate::web::error::user_text;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What jitpe needs to accept Mattermost's requests.
pub struct MattermostInbound {
    /// The slash command's token.
    pub command_token: Vec<u8>,
    /// The team whose command calls jitpe.
    pub team_id: String,
    /// Key of the button context signatures.
    pub action_secret: Vec<u8>,
    /// The REST client, to re-check clickers.
    pub chat: Arc<MattermostChat>,
}

/// The fields of a Mattermost slash command that jitpe uses.
#[derive(Debug, Deserialize)]
struct SlashCommand {
    #[serde(default)]
    token: String,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    command: String,
    #[serde(default)]
    text: String,
}

fn ephemeral(text: &str) -> Response {
    Json(json!({"response_type": "ephemeral", "text": text})).into_response()
}

fn mm_actor(user_id: &str) -> Option<Actor> {
    is_mattermost_id(user_id).then(|| Actor::new(Platform::Mattermost, user_id))
}

/// Refuses a request that failed authentication: counted, logged and audited (capped).
fn refuse(app: &AppState, route: &str, status: StatusCode, why: &str) -> Response {
    app.metrics.inbound(route, "auth_failed");
    tracing::warn!(%route, reason = %why, "refused a Mattermost request");
    if let Some(left_out) = app.auth_audit.admit(app.service.clock().now().as_second()) {
        let mut draft = AuditDraft::new(Actor::system(), "auth_failed", None)
            .with("route", route)
            .with("reason", why);
        if left_out > 0 {
            draft = draft.with("not_audited_before", left_out);
        }
        app.service.audit(draft);
    }
    (status, format!("refused: {why}\n")).into_response()
}

fn content_type_is(headers: &HeaderMap, prefix: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(prefix))
}

/// `POST /mattermost/commands`.
pub async fn command(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let route = crate::web::MATTERMOST_COMMANDS;
    let Some(mm) = app.mattermost.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "Mattermost is not configured on this jitpe\n",
        )
            .into_response();
    };
    if !content_type_is(&headers, "application/x-www-form-urlencoded") {
        return refuse(
            &app,
            route,
            StatusCode::BAD_REQUEST,
            "content type must be application/x-www-form-urlencoded",
        );
    }
    let Ok(cmd) = serde_urlencoded::from_bytes::<SlashCommand>(&body) else {
        return refuse(&app, route, StatusCode::BAD_REQUEST, "malformed form body");
    };
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "));
    let given = header_token.unwrap_or(&cmd.token);
    if given.is_empty() || !bool::from(given.as_bytes().ct_eq(&mm.command_token)) {
        return refuse(
            &app,
            route,
            StatusCode::UNAUTHORIZED,
            "wrong or missing command token",
        );
    }
    if cmd.team_id != mm.team_id {
        return ephemeral("This jitpe serves another Mattermost team; nothing was done.");
    }
    if cmd.command != "/jit" {
        return ephemeral(&format!("jitpe only answers /jit, not {}", cmd.command));
    }
    let Some(actor) = mm_actor(&cmd.user_id) else {
        return ephemeral("Mattermost sent no valid user id; nothing was done.");
    };
    let parsed = match command::parse(&cmd.text) {
        Ok(c) => c,
        Err(e) => return ephemeral(&e.to_string()),
    };
    let mention = |a: &Actor| a.to_string();
    match app.service.command(&actor, parsed, None, &mention).await {
        Ok(reply) => {
            app.metrics.inbound(route, "ok");
            ephemeral(&reply.text)
        }
        Err(e) => {
            app.metrics.inbound(route, "refused");
            ephemeral(&user_text(&e))
        }
    }
}

#[derive(Debug, Deserialize)]
struct ActionCall {
    user_id: String,
    channel_id: String,
    post_id: String,
    context: ButtonContext,
}

fn ephemeral_action(text: &str) -> Response {
    Json(json!({"ephemeral_text": text})).into_response()
}

/// `POST /mattermost/actions`: a button click on a card.
pub async fn action(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let route = crate::web::MATTERMOST_ACTIONS;
    let Some(mm) = app.mattermost.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "Mattermost is not configured on this jitpe\n",
        )
            .into_response();
    };
    if !content_type_is(&headers, "application/json") {
        return refuse(
            &app,
            route,
            StatusCode::BAD_REQUEST,
            "content type must be application/json",
        );
    }
    let call: ActionCall = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(_) => {
            return refuse(
                &app,
                route,
                StatusCode::BAD_REQUEST,
                "malformed callback JSON",
            );
        }
    };
    let Some((id, act)) = verified_context(&app, &mm, &call) else {
        return refuse(
            &app,
            route,
            StatusCode::UNAUTHORIZED,
            "button context signature invalid or expired",
        );
    };
    let Some(actor) = mm_actor(&call.user_id) else {
        return refuse(&app, route, StatusCode::BAD_REQUEST, "no valid user id");
    };
    if let Err(why) = check_clicker(&app, &mm, &actor, id, &call).await {
        app.metrics.inbound(route, "refused");
        app.service
            .audit(AuditDraft::new(actor, "click_refused", Some(id)).with("reason", &why));
        return ephemeral_action(&why);
    }
    let text = match app.service.click(&actor, id, act).await {
        Ok(reply) => reply.text,
        Err(e) => user_text(&e),
    };
    app.metrics.inbound(route, "ok");
    ephemeral_action(&text)
}

/// The request and action of a context whose version, signature and expiry check out.
fn verified_context(
    app: &AppState,
    mm: &MattermostInbound,
    call: &ActionCall,
) -> Option<(RequestId, CardAction)> {
    let now = app.service.clock().now().as_second();
    call.context
        .verify(&mm.action_secret, &call.channel_id, now)
        .ok()
}

/// The click must come from the post jitpe stored for the request, by an active, human user.
async fn check_clicker(
    app: &AppState,
    mm: &MattermostInbound,
    actor: &Actor,
    id: RequestId,
    call: &ActionCall,
) -> Result<(), String> {
    let cards = app.service.store().cards(id).unwrap_or_default();
    let on_card = cards.iter().any(|c| {
        c.platform == Platform::Mattermost
            && c.channel == call.channel_id
            && c.message_id == call.post_id
    });
    if !on_card {
        return Err(format!(
            "that button is not on the card jitpe posted for #{id}; nothing was done"
        ));
    }
    match mm.chat.get_user(&actor.id).await {
        Ok(u) if u.is_active_person() => Ok(()),
        Ok(_) => Err("your Mattermost account is deactivated or a bot; nothing was done".into()),
        Err(e) => Err(format!(
            "jitpe could not check your Mattermost account ({e}); nothing was done, try again"
        )),
    }
}
