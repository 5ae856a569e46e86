//! Slack's inbound routes: `/jit` slash commands and Approve/Deny/Revoke clicks.
//!
//! [`SlackForm`] is the verifying extractor: it reads the raw body (the signature covers the
//! exact bytes), checks the v0 signature and the 5-minute window, and only then decodes the form.
//! The handlers then hand the command or click to the shared pipeline ([`crate::chat::inbound`]),
//! which answers within Slack's 3 seconds; slower work goes on after the answer.

use super::blocks::{parse_action_id, render_text};
use super::respond::SlackResponder;
use super::verify::verify_slack;
use crate::chat::inbound::{Inbound, kind};
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::text::Text;
use crate::domain::view::CardAction;
use crate::ports::CardRef;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;
use tracing::info;

/// Route of the Slack slash command.
pub const SLACK_COMMANDS: &str = "/slack/commands";
/// Route of Slack interactivity (button clicks).
pub const SLACK_INTERACTIONS: &str = "/slack/interactions";

/// What jitpe needs to accept Slack's requests.
pub struct SlackInbound {
    /// The app's signing secret.
    pub signing_secret: Vec<u8>,
    /// If set, `api_app_id` must equal it.
    pub app_id: Option<String>,
    /// If set, the workspace (`team_id`) must equal it.
    pub team_id: Option<String>,
    /// Sends ephemeral answers to clicks.
    pub responder: SlackResponder,
}

/// State of Slack's routes: the shared pipeline and Slack's own settings.
#[derive(Clone)]
pub struct SlackState {
    /// The shared inbound pipeline.
    pub inbound: Arc<Inbound>,
    /// Slack's settings.
    pub slack: Arc<SlackInbound>,
}

/// Slack's two routes.
pub fn router(state: SlackState) -> Router {
    Router::new()
        .route(SLACK_COMMANDS, post(command))
        .route(SLACK_INTERACTIONS, post(interaction))
        .with_state(state)
}

/// A form body proven to come from Slack.
pub struct SlackForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<SlackState> for SlackForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &SlackState) -> Result<Self, Response> {
        let route = match req.uri().path() {
            SLACK_INTERACTIONS => SLACK_INTERACTIONS,
            _ => SLACK_COMMANDS,
        };
        let inbound = &app.inbound;
        let (parts, body) = inbound.read_body(Platform::Slack, route, req, FORM).await?;
        let now = inbound.now();
        if let Err(e) = verify_slack(&app.slack.signing_secret, &parts.headers, &body, now) {
            let status = StatusCode::UNAUTHORIZED;
            return Err(refuse(inbound, route, status, kind::SIGNATURE, e.to_string()).await);
        }
        // NB: `T` need not be `Send`, so nothing of the decoding is held across the await.
        let why = match serde_urlencoded::from_bytes(&body) {
            Ok(form) => return Ok(SlackForm(form)),
            Err(e) => format!("malformed form body: {e}"),
        };
        let status = StatusCode::BAD_REQUEST;
        let refused = inbound.refused_request(Platform::Slack, route, status, kind::MALFORMED, why);
        Err(refused.await)
    }
}

/// The content type of Slack's requests.
const FORM: &str = "application/x-www-form-urlencoded";

async fn refuse(
    inbound: &Inbound,
    route: &'static str,
    status: StatusCode,
    kind: &'static str,
    why: String,
) -> Response {
    inbound
        .refuse(Platform::Slack, route, status, kind, why)
        .await
}

/// The fields of a slash command that jitpe uses.
#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    /// Set (to 1) by Slack's certificate checks; answered with 200 and nothing else.
    pub ssl_check: Option<String>,
    /// Workspace.
    #[serde(default)]
    pub team_id: String,
    /// The invoking user: the identity.
    #[serde(default)]
    pub user_id: String,
    /// `/jit`.
    #[serde(default)]
    pub command: String,
    /// Everything after the command.
    #[serde(default)]
    pub text: String,
    /// Single-use id of this invocation; Slack's retries repeat it.
    #[serde(default)]
    pub trigger_id: String,
    /// The app.
    pub api_app_id: Option<String>,
}

fn ephemeral(text: &Text) -> Response {
    let text = render_text(text);
    Json(json!({"response_type": "ephemeral", "text": text})).into_response()
}

fn slack_actor(user_id: &str) -> Option<Actor> {
    let ok = !user_id.is_empty()
        && user_id.len() <= 32
        && user_id.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then(|| Actor::new(Platform::Slack, user_id))
}

fn wrong_workspace(slack: &SlackInbound, team: &str, app_id: Option<&str>) -> bool {
    slack.team_id.as_deref().is_some_and(|t| t != team)
        || slack.app_id.as_deref().is_some_and(|a| Some(a) != app_id)
}

/// `POST /slack/commands`.
pub async fn command(
    State(app): State<SlackState>,
    SlackForm(cmd): SlackForm<SlashCommand>,
) -> Response {
    let route = SLACK_COMMANDS;
    if cmd.ssl_check.is_some() {
        app.inbound.ignored(route);
        return StatusCode::OK.into_response();
    }
    let inbound = &app.inbound;
    let actor = slack_actor(&cmd.user_id);
    let refused =
        |kind, why: Text| inbound.refused(Platform::Slack, route, actor.as_ref(), kind, why);
    let text = if wrong_workspace(&app.slack, &cmd.team_id, cmd.api_app_id.as_deref()) {
        let why = "This jitpe serves another Slack workspace or app; nothing was done.";
        refused(kind::WORKSPACE, why.into()).await
    } else if cmd.command != "/jit" {
        let why = Text::ours("jitpe only answers /jit, not ").typed(cmd.command.as_str());
        refused(kind::NOT_JIT, why).await
    } else if let Some(actor) = actor.clone() {
        let trigger = Some(cmd.trigger_id.clone());
        inbound.command(route, actor, &cmd.text, trigger).await
    } else {
        let why = "Slack sent no valid user id; nothing was done.";
        refused(kind::FIELDS, why.into()).await
    };
    ephemeral(&text)
}

/// The form of an interaction: one JSON `payload` field.
#[derive(Debug, Deserialize)]
pub struct InteractionForm {
    /// The JSON payload.
    pub payload: String,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: IdField,
    api_app_id: Option<String>,
    team: Option<IdField>,
    container: Option<Container>,
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<ActionField>,
}

#[derive(Debug, Deserialize)]
struct IdField {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Container {
    channel_id: Option<String>,
    message_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ActionField {
    action_id: String,
    value: Option<String>,
}

/// `POST /slack/interactions`: a button click on a card.
pub async fn interaction(
    State(app): State<SlackState>,
    SlackForm(form): SlackForm<InteractionForm>,
) -> Response {
    let route = SLACK_INTERACTIONS;
    let inbound = &app.inbound;
    // Behind a valid signature: authentic, but unusable.
    let bad = |kind, why: String| {
        inbound.refused_request(Platform::Slack, route, StatusCode::BAD_REQUEST, kind, why)
    };
    let p: Payload = match serde_json::from_str(&form.payload) {
        Ok(p) => p,
        Err(e) => return bad(kind::MALFORMED, format!("malformed payload JSON: {e}")).await,
    };
    if p.kind != "block_actions" {
        app.inbound.ignored(route);
        return StatusCode::OK.into_response();
    }
    let team = p.team.as_ref().map_or("", |t| t.id.as_str());
    let (Some(actor), [action]) = (slack_actor(&p.user.id), p.actions.as_slice()) else {
        return bad(kind::FIELDS, "expected one action by one valid user".into()).await;
    };
    let text = if wrong_workspace(&app.slack, team, p.api_app_id.as_deref()) {
        let why = "This card belongs to another Slack workspace or app; nothing was done.";
        let (platform, kind) = (Platform::Slack, kind::WORKSPACE);
        inbound
            .refused(platform, route, Some(&actor), kind, why)
            .await
    } else {
        match parse_action(&action.action_id, action.value.as_deref()) {
            Some((id, act)) => {
                let origin = origin(p.container.as_ref());
                app.inbound.click(route, actor, id, act, origin).await
            }
            None => {
                let why = Text::ours("button ")
                    .typed(action.action_id.as_str())
                    .and(" is not one of jitpe's; nothing was done");
                app.inbound.refuse_click(route, &actor, None, why).await
            }
        }
    };
    respond(&app.slack.responder, p.response_url.clone(), text)
}

fn parse_action(action_id: &str, value: Option<&str>) -> Option<(RequestId, CardAction)> {
    let action = parse_action_id(action_id)?;
    let id: RequestId = value?.parse().ok()?;
    Some((id, action))
}

/// Where Slack says the button was: the channel and message of its container.
fn origin(container: Option<&Container>) -> CardRef {
    let field = |f: fn(&Container) -> &Option<String>| {
        container.and_then(|c| f(c).clone()).unwrap_or_default()
    };
    CardRef {
        platform: Platform::Slack,
        channel: field(|c| &c.channel_id),
        message_id: field(|c| &c.message_ts),
    }
}

/// Acknowledges the click with 200 and sends the clicker's answer through `response_url`.
fn respond(responder: &SlackResponder, url: Option<String>, text: Text) -> Response {
    if let Some(url) = url {
        let text = render_text(&text);
        let responder = responder.clone();
        tokio::spawn(async move {
            if let Err(e) = responder.ephemeral(&url, &text).await {
                info!(error = %e, "ephemeral answer not delivered");
            }
        });
    }
    StatusCode::OK.into_response()
}

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
