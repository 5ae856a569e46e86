//! Slack's inbound routes: `/jit` slash commands and Approve/Deny/Revoke clicks.
//!
//! [`SlackForm`] is the verifying extractor: it reads the raw body (the signature covers the
//! exact bytes), checks the v0 signature and the 5-minute window, and only then decodes the form.
//! Handlers answer within Slack's 3 seconds; slower work goes on after the answer.

use super::verify::verify_slack;
use crate::chat::slack::blocks::{mention, parse_action_id};
use crate::chat::slack::respond::SlackResponder;
use crate::domain::audit::AuditDraft;
use crate::domain::command;
use crate::domain::identity::{Actor, Platform};
use crate::domain::ids::RequestId;
use crate::domain::view::CardAction;
use crate::web::AppState;
use crate::web::error::user_text;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::Duration;
use tracing::{info, warn};

/// How long a handler waits for the service before acknowledging anyway (Slack allows 3 s).
const ACK_DEADLINE: Duration = Duration::from_millis(2500);

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

/// A form body proven to come from Slack.
pub struct SlackForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for SlackForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let route = req.uri().path().to_string();
        let Some(slack) = app.slack.clone() else {
            return Err((
                StatusCode::NOT_FOUND,
                "Slack is not configured on this jitpe\n",
            )
                .into_response());
        };
        let refuse = |status: StatusCode, why: String| {
            app.metrics.inbound(&route, "auth_failed");
            warn!(%route, reason = %why, "refused a Slack request");
            if let Some(left_out) = app.auth_audit.admit(app.service.clock().now().as_second()) {
                let mut draft = AuditDraft::new(Actor::system(), "auth_failed", None)
                    .with("route", &route)
                    .with("reason", &why);
                if left_out > 0 {
                    draft = draft.with("not_audited_before", left_out);
                }
                app.service.audit(draft);
            }
            (status, format!("refused: {why}\n")).into_response()
        };
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "content type must be application/x-www-form-urlencoded".into(),
            ));
        }
        let headers = req.headers().clone();
        let body = match Bytes::from_request(req, app).await {
            Ok(b) => b,
            Err(e) => {
                return Err(refuse(
                    e.status(),
                    format!("unreadable body: {}", e.body_text()),
                ));
            }
        };
        let now = app.service.clock().now().as_second();
        if let Err(e) = verify_slack(&slack.signing_secret, &headers, &body, now) {
            return Err(refuse(StatusCode::UNAUTHORIZED, e.to_string()));
        }
        serde_urlencoded::from_bytes(&body)
            .map(SlackForm)
            .map_err(|e| {
                app.metrics.inbound(&route, "bad_request");
                (
                    StatusCode::BAD_REQUEST,
                    format!("malformed form body: {e}\n"),
                )
                    .into_response()
            })
    }
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

fn ephemeral(text: &str) -> Response {
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
    State(app): State<AppState>,
    SlackForm(cmd): SlackForm<SlashCommand>,
) -> Response {
    let route = crate::web::SLACK_COMMANDS;
    if cmd.ssl_check.is_some() {
        return StatusCode::OK.into_response();
    }
    let slack = app
        .slack
        .clone()
        .expect("the extractor checked Slack is configured");
    if wrong_workspace(&slack, &cmd.team_id, cmd.api_app_id.as_deref()) {
        app.metrics.inbound(route, "refused");
        return ephemeral("This jitpe serves another Slack workspace or app; nothing was done.");
    }
    if cmd.command != "/jit" {
        return ephemeral(&format!("jitpe only answers /jit, not {}", cmd.command));
    }
    let Some(actor) = slack_actor(&cmd.user_id) else {
        return ephemeral("Slack sent no valid user id; nothing was done.");
    };
    let parsed = match command::parse(&cmd.text) {
        Ok(c) => c,
        Err(e) => {
            app.metrics.inbound(route, "refused");
            return ephemeral(&e.to_string());
        }
    };
    let service = app.service.clone();
    let trigger = cmd.trigger_id.clone();
    let task = tokio::spawn(async move {
        let key = (!trigger.is_empty()).then_some(trigger.as_str());
        service.command(&actor, parsed, key, &mention).await
    });
    match tokio::time::timeout(ACK_DEADLINE, task).await {
        Ok(Ok(Ok(reply))) => {
            app.metrics.inbound(route, "ok");
            ephemeral(&reply.text)
        }
        Ok(Ok(Err(e))) => {
            app.metrics.inbound(route, "refused");
            ephemeral(&user_text(&e))
        }
        Ok(Err(join)) => {
            warn!(error = %join, "command task failed");
            ephemeral(
                "jitpe failed to handle that command; nothing more was done. The operators can see why in its log.",
            )
        }
        Err(_) => ephemeral(
            "Working on it: this is taking longer than usual. The card and a DM will tell you the outcome.",
        ),
    }
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
    State(app): State<AppState>,
    SlackForm(form): SlackForm<InteractionForm>,
) -> Response {
    let route = crate::web::SLACK_INTERACTIONS;
    let p: Payload = match serde_json::from_str(&form.payload) {
        Ok(p) => p,
        Err(e) => {
            app.metrics.inbound(route, "bad_request");
            return (
                StatusCode::BAD_REQUEST,
                format!("malformed payload JSON: {e}\n"),
            )
                .into_response();
        }
    };
    if p.kind != "block_actions" {
        return StatusCode::OK.into_response();
    }
    let slack = app
        .slack
        .clone()
        .expect("the extractor checked Slack is configured");
    let team = p.team.as_ref().map_or("", |t| t.id.as_str());
    let (Some(actor), [action]) = (slack_actor(&p.user.id), p.actions.as_slice()) else {
        app.metrics.inbound(route, "bad_request");
        return (
            StatusCode::BAD_REQUEST,
            "expected one action by one valid user\n",
        )
            .into_response();
    };
    let answer = |text: String| respond(&slack.responder, p.response_url.clone(), text);
    if wrong_workspace(&slack, team, p.api_app_id.as_deref()) {
        return answer(
            "This card belongs to another Slack workspace or app; nothing was done.".into(),
        );
    }
    let (id, card_action) = match check_click(&app, &actor, action, p.container.as_ref()) {
        Ok(click) => click,
        Err(why) => {
            app.metrics.inbound(route, "refused");
            return answer(why);
        }
    };
    let service = app.service.clone();
    let task = tokio::spawn(async move { service.click(&actor, id, card_action).await });
    let text = match tokio::time::timeout(ACK_DEADLINE, task).await {
        Ok(Ok(Ok(reply))) => reply.text,
        Ok(Ok(Err(e))) => user_text(&e),
        Ok(Err(_)) => {
            "jitpe failed to handle that click; the operators can see why in its log.".into()
        }
        Err(_) => format!("Working on #{id}; the card will update when it is done."),
    };
    app.metrics.inbound(route, "ok");
    answer(text)
}

/// Accepts only jitpe's own buttons on the card jitpe posted; a refusal is audited and its
/// text is for the clicker.
fn check_click(
    app: &AppState,
    actor: &Actor,
    action: &ActionField,
    container: Option<&Container>,
) -> Result<(RequestId, CardAction), String> {
    let refuse = |id: Option<RequestId>, why: String| {
        let draft = AuditDraft::new(actor.clone(), "click_refused", id).with("reason", &why);
        app.service.audit(draft);
        why
    };
    let Some((id, card_action)) = parse_action(&action.action_id, action.value.as_deref()) else {
        let why = format!(
            "button {} is not one of jitpe's; nothing was done",
            action.action_id
        );
        return Err(refuse(None, why));
    };
    if !on_our_card(app, id, container) {
        let why =
            format!("that button is not on the card jitpe posted for #{id}; nothing was done");
        return Err(refuse(Some(id), why));
    }
    Ok((id, card_action))
}

fn parse_action(action_id: &str, value: Option<&str>) -> Option<(RequestId, CardAction)> {
    let action = parse_action_id(action_id)?;
    let id: RequestId = value?.parse().ok()?;
    Some((id, action))
}

/// Binds a click to the card jitpe posted: the click must come from that channel and message.
fn on_our_card(app: &AppState, id: RequestId, container: Option<&Container>) -> bool {
    let Some(c) = container else { return false };
    let cards = app.service.store().cards(id).unwrap_or_default();
    cards.iter().any(|card| {
        card.platform == Platform::Slack
            && Some(card.channel.as_str()) == c.channel_id.as_deref()
            && Some(card.message_id.as_str()) == c.message_ts.as_deref()
    })
}

/// Acknowledges the click with 200 and sends the clicker's answer through `response_url`.
fn respond(responder: &SlackResponder, url: Option<String>, text: String) -> Response {
    if let Some(url) = url {
        let responder = responder.clone();
        tokio::spawn(async move {
            if let Err(e) = responder.ephemeral(&url, &text).await {
                info!(error = %e, "ephemeral answer not delivered");
            }
        });
    }
    StatusCode::OK.into_response()
}
