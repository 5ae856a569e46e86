//! A fake Slack Web API on `127.0.0.1:0` that records every call and checks what the real API
//! requires: the bearer token, `application/json; charset=utf-8`, the arguments of
//! `chat.postMessage`, `chat.update` and `conversations.open`, and the Block Kit limits.
//! It keeps the messages it accepted, so flow tests can read a card as it stands now.
//!
//! ```text
//! let slack = FakeSlack::start("xoxb-test").await;    // base_url = http://127.0.0.1:<port>/api
//! slack.fail_next(1, Failure::RateLimited(3));       // next call: 429 + Retry-After: 3
//! slack.fail_next(2, Failure::Lost(Duration::from_secs(2))); // performed, answer held back
//! ... exercise the code ...
//! slack.calls_to("chat.postMessage")[0].body["channel"]
//! ```

// Each test binary uses a different part of this helper.
#![allow(dead_code)]

mod blocks;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
pub use blocks::check_blocks;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scripted answer for upcoming calls.
#[derive(Debug, Clone)]
pub enum Failure {
    /// HTTP 429 with `Retry-After: <seconds>`.
    RateLimited(u64),
    /// HTTP 429 with this raw `Retry-After` header, or none.
    RateLimitedRaw(Option<String>),
    /// This HTTP status with `{"ok":false,"error":"fatal_error"}`.
    Status(u16),
    /// HTTP 200 with `{"ok":false,"error":<code>}`.
    Error(String),
    /// Wait this long, then answer normally (for client timeouts).
    Delay(Duration),
    /// Carry the call out, then hold the answer this long: with a shorter client timeout the
    /// answer is lost although the message was posted (as behind a proxy that drops answers).
    Lost(Duration),
}

/// One call the fake received, with its answer.
#[derive(Debug, Clone)]
pub struct Call {
    /// Web API method, e.g. `chat.postMessage`.
    pub method: String,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The `Content-Type` header as sent.
    pub content_type: Option<String>,
    /// The body as JSON (`Null` if it was not JSON).
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The JSON answered.
    pub response: Value,
}

/// A message the fake holds, as last posted or updated.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Channel id.
    pub channel: String,
    /// Slack timestamp (a string).
    pub ts: String,
    /// Fallback text.
    pub text: Value,
    /// Blocks (`Null` when none).
    pub blocks: Value,
    /// How many times `chat.update` replaced it.
    pub updates: u32,
}

#[derive(Default)]
struct Inner {
    token: String,
    calls: Vec<Call>,
    /// Scripted failures; `None` as method matches any method.
    script: VecDeque<(Option<String>, Failure)>,
    /// Failures for every call naming a channel, until cleared.
    failing_channels: BTreeMap<String, Failure>,
    messages: BTreeMap<(String, String), Message>,
    next_ts: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// The running fake; it stops when the test's runtime ends.
pub struct FakeSlack {
    /// Web API root to configure, e.g. `http://127.0.0.1:41234/api`.
    pub base_url: String,
    inner: Shared,
}

impl FakeSlack {
    /// Starts the fake, accepting `token` as the only valid bot token.
    pub async fn start(token: &str) -> FakeSlack {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            next_ts: 100,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/{method}", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Slack");
        let addr = listener.local_addr().expect("bound address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Slack serves");
        });
        FakeSlack {
            base_url: format!("http://{addr}/api"),
            inner,
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().expect("lock").calls.clone()
    }

    /// The calls to one method, in order.
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        let calls = self.calls();
        calls.into_iter().filter(|c| c.method == method).collect()
    }

    /// Answers the next `n` calls (any method) with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.script(None, n, failure);
    }

    /// Answers the next `n` calls to `method` with `failure`; other methods answer normally.
    pub fn fail_next_on(&self, method: &str, n: usize, failure: Failure) {
        self.script(Some(method.to_string()), n, failure);
    }

    /// Answers every call naming `channel` with `failure` (until called with `None`), before
    /// any scripted failure: one channel down while the others work.
    pub fn fail_channel(&self, channel: &str, failure: Option<Failure>) {
        let mut inner = self.inner.lock().expect("lock");
        match failure {
            Some(f) => inner.failing_channels.insert(channel.to_string(), f),
            None => inner.failing_channels.remove(channel),
        };
    }

    fn script(&self, method: Option<String>, n: usize, failure: Failure) {
        let mut inner = self.inner.lock().expect("lock");
        for _ in 0..n {
            inner.script.push_back((method.clone(), failure.clone()));
        }
    }

    /// The messages in a channel as they stand now, oldest first.
    pub fn messages(&self, channel: &str) -> Vec<Message> {
        let inner = self.inner.lock().expect("lock");
        let mut found: Vec<Message> = inner
            .messages
            .values()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.ts.cmp(&b.ts));
        found
    }

    /// One message as it stands now.
    pub fn message(&self, channel: &str, ts: &str) -> Option<Message> {
        let inner = self.inner.lock().expect("lock");
        inner.messages.get(&(channel.into(), ts.into())).cloned()
    }
}

/// The DM channel the fake opens for a user (stable, like Slack's).
pub fn dm_channel_of(user: &str) -> String {
    format!("D{user}")
}

async fn handle(
    State(inner): State<Shared>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let mut scripted =
        channel_failure(&inner, json_body.as_ref()).or_else(|| take_script(&inner, &method));
    if let Some(Failure::Delay(d)) = &scripted {
        tokio::time::sleep(*d).await;
    }
    let hold = match scripted {
        Some(Failure::Lost(d)) => {
            scripted = None;
            Some(d)
        }
        _ => None,
    };
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let authorization = header(header::AUTHORIZATION).map(str::to_string);
    let content_type = header(header::CONTENT_TYPE).map(str::to_string);
    let (status, retry_after, response) = {
        let mut guard = inner.lock().expect("lock");
        let check = Request {
            method: &method,
            authorization: authorization.as_deref(),
            content_type: content_type.as_deref(),
            body: json_body.as_ref(),
        };
        answer(&mut guard, &check, scripted)
    };
    inner.lock().expect("lock").calls.push(Call {
        method,
        authorization,
        content_type,
        body: json_body.unwrap_or(Value::Null),
        status: status.as_u16(),
        response: response.clone(),
    });
    if let Some(d) = hold {
        tokio::time::sleep(d).await;
    }
    let mut resp = (status, axum::Json(response)).into_response();
    if let Some(secs) = retry_after {
        let v = HeaderValue::from_str(&secs).expect("a scripted Retry-After is a header value");
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn channel_failure(inner: &Shared, body: Option<&Value>) -> Option<Failure> {
    let channel = body?.get("channel")?.as_str()?;
    let inner = inner.lock().expect("lock");
    inner.failing_channels.get(channel).cloned()
}

fn take_script(inner: &Shared, method: &str) -> Option<Failure> {
    let mut inner = inner.lock().expect("lock");
    let at = inner
        .script
        .iter()
        .position(|(m, _)| m.as_deref().is_none_or(|m| m == method))?;
    inner.script.remove(at).map(|(_, f)| f)
}

struct Request<'a> {
    method: &'a str,
    authorization: Option<&'a str>,
    content_type: Option<&'a str>,
    body: Option<&'a Value>,
}

/// Status, optional `Retry-After` and JSON body of the answer, checked in Slack's order:
/// scripted failure, authentication, content type, JSON, arguments.
fn answer(
    inner: &mut Inner,
    req: &Request<'_>,
    scripted: Option<Failure>,
) -> (StatusCode, Option<String>, Value) {
    let err = |code: &str| (StatusCode::OK, None, json!({"ok": false, "error": code}));
    match scripted {
        Some(Failure::RateLimited(s)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Some(s.to_string()),
                json!({"ok": false, "error": "ratelimited"}),
            );
        }
        Some(Failure::RateLimitedRaw(h)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                h,
                json!({"ok": false, "error": "ratelimited"}),
            );
        }
        Some(Failure::Status(s)) => {
            let status = StatusCode::from_u16(s).expect("a valid scripted status");
            return (status, None, json!({"ok": false, "error": "fatal_error"}));
        }
        Some(Failure::Error(code)) => return err(&code),
        Some(Failure::Delay(_) | Failure::Lost(_)) | None => {}
    }
    let expected = format!("Bearer {}", inner.token);
    match req.authorization {
        None => return err("not_authed"),
        Some(a) if a != expected => return err("invalid_auth"),
        Some(_) => {}
    }
    let ct = req.content_type.unwrap_or("").to_ascii_lowercase();
    if !ct.starts_with("application/json") {
        return err("invalid_form_data");
    }
    let Some(body) = req.body else {
        return err("invalid_json");
    };
    let result = match req.method {
        "chat.postMessage" => post_message(inner, body),
        "chat.update" => update(inner, body),
        "conversations.open" => open(body),
        _ => {
            let body = json!({"ok": false, "error": "unknown_method"});
            return (StatusCode::NOT_FOUND, None, body);
        }
    };
    let mut body = result.unwrap_or_else(
        |(code, why)| json!({"ok": false, "error": code, "response_metadata": {"messages": [why]}}),
    );
    if !ct.replace(' ', "").contains("charset=utf-8") {
        body["warning"] = json!("missing_charset");
    }
    (StatusCode::OK, None, body)
}

type Outcome = Result<Value, (&'static str, String)>;

fn text_and_blocks(body: &Value) -> Result<(Value, Value), (&'static str, String)> {
    let text = body.get("text").cloned().unwrap_or(Value::Null);
    let blocks = body.get("blocks").cloned().unwrap_or(Value::Null);
    if !blocks.is_null() {
        check_blocks(&blocks).map_err(|why| ("invalid_blocks", why))?;
    }
    Ok((text, blocks))
}

fn channel_of(body: &Value) -> Result<String, (&'static str, String)> {
    match body.get("channel").and_then(Value::as_str) {
        Some(c) if !c.is_empty() => Ok(c.to_string()),
        _ => Err(("channel_not_found", "channel is missing".into())),
    }
}

fn post_message(inner: &mut Inner, body: &Value) -> Outcome {
    let channel = channel_of(body)?;
    let (text, blocks) = text_and_blocks(body)?;
    if text.as_str().is_none_or(str::is_empty) && blocks.is_null() {
        return Err(("no_text", "text or blocks is required".into()));
    }
    inner.next_ts += 1;
    let ts = format!("1700000000.{:06}", inner.next_ts);
    let msg = Message {
        channel: channel.clone(),
        ts: ts.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        updates: 0,
    };
    inner.messages.insert((channel.clone(), ts.clone()), msg);
    let message = json!({"type": "message", "ts": ts, "text": text, "blocks": blocks});
    Ok(json!({"ok": true, "channel": channel, "ts": ts, "message": message}))
}

fn update(inner: &mut Inner, body: &Value) -> Outcome {
    let channel = channel_of(body)?;
    let ts = match body.get("ts") {
        Some(Value::String(ts)) => ts.clone(),
        Some(_) => return Err(("invalid_arguments", "ts must be a string".into())),
        None => return Err(("invalid_arguments", "ts is required".into())),
    };
    let (text, blocks) = text_and_blocks(body)?;
    // Real Slack drops the blocks when only text comes; jitpe must always send both.
    if text.as_str().is_none_or(str::is_empty) || blocks.is_null() {
        return Err(("invalid_arguments", "send both text and blocks".into()));
    }
    let msg = inner
        .messages
        .get_mut(&(channel.clone(), ts.clone()))
        .ok_or(("message_not_found", format!("no message {ts} in {channel}")))?;
    msg.text = text.clone();
    msg.blocks = blocks;
    msg.updates += 1;
    Ok(json!({"ok": true, "channel": channel, "ts": ts, "text": text}))
}

fn open(body: &Value) -> Outcome {
    let users = body.get("users").and_then(Value::as_str).unwrap_or("");
    if users.is_empty() {
        return Err(("users_list_not_supplied", "users is required".into()));
    }
    if users.contains(',') {
        return Err((
            "invalid_arguments",
            "jitpe opens one-to-one DMs only".into(),
        ));
    }
    Ok(json!({"ok": true, "channel": {"id": dm_channel_of(users)}}))
}
