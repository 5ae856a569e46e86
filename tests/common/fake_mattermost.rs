//! A fake Mattermost REST API v4 on `127.0.0.1:0` that records every call and checks what the
//! real server requires: `Authorization: Bearer <token>`, JSON bodies, 26-character ids, button
//! ids of `[A-Za-z0-9]+` (the click route's pattern) and string-only `integration.context`
//! values. It keeps the posts it accepted, patched as the real server patches (`props` replaces
//! the whole map), so flow tests can read a card as it stands now.
//!
//! ```text
//! let mm = FakeMattermost::start("bot-token").await;   // base_url = http://127.0.0.1:<port>
//! mm.add_user(&user_id("alice"), "alice", UserKind::Active);
//! mm.fail_next(1, Failure::RateLimited(3));           // next call: 429 + X-Ratelimit-Reset: 3
//! ... exercise the code ...
//! mm.posts(CHANNEL)[0].props["attachments"][0]["actions"]
//! ```

// Each test binary uses a different part of this helper.
#![allow(dead_code)]

pub mod fixtures;
mod routes;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
// Only the binaries that test the fake itself use it directly.
#[allow(unused_imports)]
pub use routes::check_props;
use routes::{create_post, direct, get_user, patch_post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest post message the server accepts, in characters.
pub const MAX_MESSAGE_CHARS: usize = 16_383;

/// A scripted answer for upcoming calls.
#[derive(Debug, Clone)]
pub enum Failure {
    /// HTTP 429 `limit exceeded` with `X-Ratelimit-Reset: <seconds>`.
    RateLimited(u64),
    /// HTTP 429 with this raw `X-Ratelimit-Reset` header, or none.
    RateLimitedRaw(Option<String>),
    /// This HTTP status with a Mattermost error body.
    Status(u16),
    /// Wait this long, then answer normally (for client timeouts).
    Delay(Duration),
    /// Carry the call out, then hold the answer this long: with a shorter client timeout the
    /// answer is lost although the post was made.
    Lost(Duration),
}

/// What kind of account a fake user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    /// An active person.
    Active,
    /// A deactivated person (`delete_at` set).
    Deleted,
    /// A bot account.
    Bot,
}

/// One call the fake received, with its answer.
#[derive(Debug, Clone)]
pub struct Call {
    /// The route with ids replaced, e.g. `PUT posts/{id}/patch`.
    pub route: String,
    /// The path as sent, e.g. `/api/v4/posts/p0…1/patch`.
    pub path: String,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The body as JSON (`Null` if empty or not JSON).
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The body answered (JSON, or a string for non-JSON answers).
    pub response: Value,
}

/// A post the fake holds, as last created or patched.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// Post id (26 lowercase letters and digits).
    pub id: String,
    /// Channel id.
    pub channel_id: String,
    /// Author: always the bot.
    pub user_id: String,
    /// Markdown message.
    pub message: String,
    /// Props (attachments), `{}` when none.
    pub props: Value,
    /// How many patches changed it.
    pub edits: u32,
}

#[derive(Default)]
struct Inner {
    token: String,
    bot_user_id: String,
    calls: Vec<Call>,
    script: VecDeque<Failure>,
    posts: Vec<Post>,
    users: BTreeMap<String, Value>,
    forbidden_channels: Vec<String>,
    direct: BTreeMap<(String, String), String>,
    next_id: u64,
}

impl Inner {
    fn new_id(&mut self, prefix: char) -> String {
        self.next_id += 1;
        format!("{prefix}{:025}", self.next_id)
    }
}

type Shared = Arc<Mutex<Inner>>;
type Answer = (StatusCode, Value);

/// A 26-character Mattermost-style id made from a short lowercase name, for readable tests.
pub fn user_id(name: &str) -> String {
    assert!(name.len() <= 26 && name.bytes().all(|b| b.is_ascii_lowercase()));
    format!("{name:0<26}")
}

/// The running fake; it stops when the test's runtime ends.
pub struct FakeMattermost {
    /// Server URL to configure, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    /// The user id behind the accepted token (answered by `users/me`).
    pub bot_user_id: String,
    inner: Shared,
}

impl FakeMattermost {
    /// Starts the fake, accepting `token` as the only valid bot token.
    pub async fn start(token: &str) -> FakeMattermost {
        let bot_user_id = user_id("jitpebot");
        let inner: Shared = Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            bot_user_id: bot_user_id.clone(),
            ..Inner::default()
        }));
        let fake = FakeMattermost {
            base_url: String::new(),
            bot_user_id: bot_user_id.clone(),
            inner: inner.clone(),
        };
        fake.add_user(&bot_user_id, "jitpe", UserKind::Bot);
        let app = Router::new().fallback(handle).with_state(inner);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Mattermost");
        let addr = listener.local_addr().expect("bound address");
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Mattermost serves");
        });
        FakeMattermost {
            base_url: format!("http://{addr}"),
            ..fake
        }
    }

    /// Adds a user that `users/{id}` and `channels/direct` know.
    pub fn add_user(&self, id: &str, username: &str, kind: UserKind) {
        let user = json!({
            "id": id, "username": username, "email": "", "roles": "system_user",
            "delete_at": if kind == UserKind::Deleted { 1_700_000_000_000_i64 } else { 0 },
            "is_bot": kind == UserKind::Bot,
        });
        let mut inner = self.inner.lock().expect("lock");
        inner.users.insert(id.to_string(), user);
    }

    /// Posting to `channel` is answered with 403, as for a channel the bot is not in.
    pub fn forbid_channel(&self, channel: &str) {
        let mut inner = self.inner.lock().expect("lock");
        inner.forbidden_channels.push(channel.to_string());
    }

    /// Answers the next `n` calls with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut inner = self.inner.lock().expect("lock");
        for _ in 0..n {
            inner.script.push_back(failure.clone());
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().expect("lock").calls.clone()
    }

    /// The calls to one route (e.g. `POST posts`), in order.
    pub fn calls_to(&self, route: &str) -> Vec<Call> {
        let calls = self.calls();
        calls.into_iter().filter(|c| c.route == route).collect()
    }

    /// The posts in a channel as they stand now, oldest first.
    pub fn posts(&self, channel: &str) -> Vec<Post> {
        let inner = self.inner.lock().expect("lock");
        let found = inner.posts.iter().filter(|p| p.channel_id == channel);
        found.cloned().collect()
    }

    /// One post as it stands now.
    pub fn post(&self, id: &str) -> Option<Post> {
        let inner = self.inner.lock().expect("lock");
        inner.posts.iter().find(|p| p.id == id).cloned()
    }

    /// The DM channel between the bot and `user`, if one was opened.
    pub fn dm_channel_with(&self, user: &str) -> Option<String> {
        let inner = self.inner.lock().expect("lock");
        inner.direct.get(&pair(&inner.bot_user_id, user)).cloned()
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.into(), b.into())
    } else {
        (b.into(), a.into())
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Mattermost's error body (`model.AppError`).
fn app_error(status: u16, id: &str, message: &str) -> Answer {
    let body = json!({
        "id": id, "message": message, "detailed_error": "", "request_id": "fakerequest",
        "status_code": status, "is_oauth": false,
    });
    (StatusCode::from_u16(status).expect("a valid status"), body)
}

async fn handle(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scripted = inner.lock().expect("lock").script.pop_front();
    if let Some(Failure::Delay(d)) = &scripted {
        tokio::time::sleep(*d).await;
    }
    let path = uri.path().to_string();
    let rest = path.strip_prefix("/api/v4/").unwrap_or("").to_string();
    let route = format!(
        "{method} {}",
        rest.split('/')
            .map(|s| if is_id(s) { "{id}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    );
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string);
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let mut call = Call {
        route,
        path,
        authorization,
        body: json_body.clone().unwrap_or(Value::Null),
        status: 0,
        response: Value::Null,
    };
    let (status, response) = match scripted {
        Some(Failure::RateLimited(s)) => {
            return record(&inner, call, rate_limited(Some(s.to_string())));
        }
        Some(Failure::RateLimitedRaw(h)) => return record(&inner, call, rate_limited(h)),
        Some(Failure::Status(s)) => app_error(s, "fake.scripted.app_error", "scripted failure"),
        Some(Failure::Delay(_) | Failure::Lost(_)) | None => {
            let mut guard = inner.lock().expect("lock");
            answer(&mut guard, &method, &rest, &call, json_body.as_ref())
        }
    };
    call.response = response.clone();
    let resp = record(&inner, call, (status, axum::Json(response)).into_response());
    if let Some(Failure::Lost(d)) = scripted {
        tokio::time::sleep(d).await;
    }
    resp
}

/// Keeps the call with the status it got, and passes the answer on.
fn record(inner: &Shared, mut call: Call, resp: Response) -> Response {
    call.status = resp.status().as_u16();
    if call.status == 429 {
        call.response = json!("limit exceeded");
    }
    inner.lock().expect("lock").calls.push(call);
    resp
}

/// 429 as Mattermost's rate limiter sends it: plain text and the `X-Ratelimit-*` headers.
fn rate_limited(reset: Option<String>) -> Response {
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, "limit exceeded\n").into_response();
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from_static("10"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    if let Some(reset) = reset {
        let v = HeaderValue::from_str(&reset).expect("a scripted reset is a header value");
        h.insert("x-ratelimit-reset", v);
    }
    resp
}

/// Authentication first, then the route, then its arguments: the real server's order.
fn answer(
    inner: &mut Inner,
    method: &Method,
    rest: &str,
    call: &Call,
    body: Option<&Value>,
) -> Answer {
    let expected = format!("Bearer {}", inner.token);
    if call.authorization.as_deref() != Some(expected.as_str()) {
        return app_error(
            401,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
        );
    }
    let segments: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["posts"]) => create_post(inner, body),
        ("PUT", ["posts", id, "patch"]) => patch_post(inner, id, body),
        ("POST", ["channels", "direct"]) => direct(inner, body),
        ("GET", ["users", "me"]) => {
            let me = inner.bot_user_id.clone();
            get_user(inner, &me)
        }
        ("GET", ["users", id]) => get_user(inner, id),
        _ => app_error(
            404,
            "api.context.404.app_error",
            "Sorry, we could not find the page.",
        ),
    }
}
