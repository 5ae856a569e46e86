//! Mattermost's inbound routes: the `/jit` slash command and button callbacks.
//!
//! Commands carry the static command token (`Authorization: Token …`), compared in constant
//! time. Button callbacks carry no authentication from Mattermost, so every button's `context`
//! holds jitpe's own HMAC over (request, action, expiry, channel); the click must also come from
//! the post jitpe stored for the request (checked by the service), and the clicker is re-checked
//! through the REST API. Commands and clicks then go through the shared pipeline
//! ([`crate::chat::inbound`]), like Slack's.

use super::client::{MattermostChat, is_mattermost_id};
use super::render::render_text;
use super::sign::ButtonContext;
use crate::chat::inbound::{Inbound, kind};
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::text::Text;
use crate::domain::view::CardAction;
use crate::ports::{CardRef, ChatError};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tracing::warn;

/// Route of the Mattermost slash command.
pub const MATTERMOST_COMMANDS: &str = "/mattermost/commands";
/// Route of Mattermost button callbacks.
pub const MATTERMOST_ACTIONS: &str = "/mattermost/actions";

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

/// State of Mattermost's routes: the shared pipeline and Mattermost's own settings.
#[derive(Clone)]
pub struct MattermostState {
    /// The shared inbound pipeline.
    pub inbound: Arc<Inbound>,
    /// Mattermost's settings.
    pub mm: Arc<MattermostInbound>,
}

/// Mattermost's two routes.
pub fn router(state: MattermostState) -> Router {
    Router::new()
        .route(MATTERMOST_COMMANDS, post(command))
        .route(MATTERMOST_ACTIONS, post(action))
        .with_state(state)
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
    /// Single-use id of this invocation, repeated if the same invocation is delivered again.
    #[serde(default)]
    trigger_id: String,
}

fn ephemeral(text: &Text, zone: &TimeZone) -> Response {
    let text = render_text(text, zone);
    Json(json!({"response_type": "ephemeral", "text": text})).into_response()
}

fn mm_actor(user_id: &str) -> Option<Actor> {
    is_mattermost_id(user_id).then(|| Actor::new(Platform::Mattermost, user_id))
}

/// The command token from `Authorization: Token …`, else the form's `token` field, compared in
/// constant time.
fn token_ok(mm: &MattermostInbound, headers: &HeaderMap, cmd: &SlashCommand) -> bool {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "));
    let given = header_token.unwrap_or(&cmd.token);
    !given.is_empty() && bool::from(given.as_bytes().ct_eq(&mm.command_token))
}

/// `POST /mattermost/commands`.
pub async fn command(State(app): State<MattermostState>, req: Request) -> Response {
    let route = MATTERMOST_COMMANDS;
    let inbound = &app.inbound;
    let platform = Platform::Mattermost;
    let form = "application/x-www-form-urlencoded";
    let (parts, body) = match inbound.read_body(platform, route, req, form).await {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let refuse =
        |status, kind, why: &'static str| inbound.refuse(platform, route, status, kind, why);
    let Ok(cmd) = serde_urlencoded::from_bytes::<SlashCommand>(&body) else {
        let why = "malformed form body";
        return refuse(StatusCode::BAD_REQUEST, kind::MALFORMED, why).await;
    };
    if !token_ok(&app.mm, &parts.headers, &cmd) {
        let why = "wrong or missing command token";
        return refuse(StatusCode::UNAUTHORIZED, kind::SIGNATURE, why).await;
    }
    let actor = mm_actor(&cmd.user_id);
    let refused = |kind, why: Text| inbound.refused(platform, route, actor.as_ref(), kind, why);
    let text = if cmd.team_id != app.mm.team_id {
        let why = "This jitpe serves another Mattermost team; nothing was done.";
        refused(kind::WORKSPACE, why.into()).await
    } else if cmd.command != "/jit" {
        let why = Text::ours("jitpe only answers /jit, not ").typed(cmd.command.as_str());
        refused(kind::NOT_JIT, why).await
    } else if let Some(actor) = actor.clone() {
        let trigger = Some(cmd.trigger_id.clone());
        inbound.command(route, actor, &cmd.text, trigger).await
    } else {
        let why = "Mattermost sent no valid user id; nothing was done.";
        refused(kind::FIELDS, why.into()).await
    };
    ephemeral(&text, app.mm.chat.time_zone())
}

#[derive(Debug, Deserialize)]
struct ActionCall {
    user_id: String,
    channel_id: String,
    post_id: String,
    context: ButtonContext,
}

fn ephemeral_action(text: &Text, zone: &TimeZone) -> Response {
    Json(json!({"ephemeral_text": render_text(text, zone)})).into_response()
}

/// `POST /mattermost/actions`: a button click on a card.
pub async fn action(State(app): State<MattermostState>, req: Request) -> Response {
    let route = MATTERMOST_ACTIONS;
    let inbound = &app.inbound;
    let platform = Platform::Mattermost;
    let body = match inbound
        .read_body(platform, route, req, "application/json")
        .await
    {
        Ok((_, body)) => body,
        Err(refusal) => return refusal,
    };
    let refuse =
        |status, kind, why: &'static str| inbound.refuse(platform, route, status, kind, why);
    let Ok(call) = serde_json::from_slice::<ActionCall>(&body) else {
        let why = "malformed callback JSON";
        return refuse(StatusCode::BAD_REQUEST, kind::MALFORMED, why).await;
    };
    let Some((id, act)) = verified_context(&app, &call) else {
        let why = "button context signature invalid or expired";
        return refuse(StatusCode::UNAUTHORIZED, kind::SIGNATURE, why).await;
    };
    let Some(actor) = mm_actor(&call.user_id) else {
        // Behind a valid button signature: authentic, but unusable.
        let (status, why) = (StatusCode::BAD_REQUEST, "no valid user id".to_string());
        return inbound
            .refused_request(platform, route, status, kind::FIELDS, why)
            .await;
    };
    let text = match check_clicker(&app.mm, &actor).await {
        Err(why) => inbound.refuse_click(route, &actor, Some(id), why).await,
        Ok(()) => {
            let origin = CardRef {
                platform,
                channel: call.channel_id.clone(),
                message_id: call.post_id.clone(),
            };
            inbound.click(route, actor, id, act, origin).await
        }
    };
    ephemeral_action(&text, app.mm.chat.time_zone())
}

/// The request and action of a context whose version, signature and expiry check out.
fn verified_context(app: &MattermostState, call: &ActionCall) -> Option<(RequestId, CardAction)> {
    let now = app.inbound.now();
    call.context
        .verify(&app.mm.action_secret, &call.channel_id, now)
        .ok()
}

/// The clicker must be an active, human Mattermost user (asked through the REST API, since the
/// callback's `user_id` is only what the body says; the signed context binds the rest). The
/// answer never carries the API's own error text (that goes to the log): a user Mattermost does
/// not know is told so plainly, since clicking again cannot help.
async fn check_clicker(mm: &MattermostInbound, actor: &Actor) -> Result<(), String> {
    match mm.chat.get_user(&actor.id).await {
        Ok(u) if u.is_active_person() => Ok(()),
        Ok(_) => Err("your Mattermost account is deactivated or a bot; nothing was done".into()),
        Err(ChatError::Refused(e)) => {
            warn!(error = %e, user = %actor.id, "Mattermost refused to show the clicker");
            Err(UNKNOWN_CLICKER.into())
        }
        Err(e) => {
            warn!(error = %e, user = %actor.id, "could not check the clicker");
            Err(UNCHECKED_CLICKER.into())
        }
    }
}

/// The answer to a click by a user the users API does not return (404, or jitpe's bot may not
/// read users).
pub const UNKNOWN_CLICKER: &str = "jitpe cannot find your Mattermost account, so it cannot tell \
whether you may act on this card; nothing was done. Ask the jitpe operators to check that jitpe's \
bot can read users on this Mattermost server.";

/// The answer to a click whose clicker could not be checked because Mattermost did not answer.
const UNCHECKED_CLICKER: &str = "Mattermost did not answer when jitpe checked your account; \
nothing was done. The card still works once Mattermost answers again.";

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
