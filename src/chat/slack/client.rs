//! [`SlackChat`]: the outgoing Slack side (Web API `chat.postMessage`, `chat.update`,
//! `conversations.open`) behind the [`Chat`] port.
//!
//! Rendering lives in [`super::blocks`]; this file only speaks HTTP and maps Slack's
//! answers onto [`ChatError`], which decides what the outbox does next:
//!
//! ```text
//! HTTP 429, ok:false "ratelimited"          -> RateLimited(Retry-After, default 1 s)
//! HTTP 5xx/408, network, timeout, transient -> Unavailable   (retried with backoff)
//! other ok:false codes, other HTTP 4xx      -> Refused(code) (dropped: retrying cannot help)
//! ```

use super::blocks::{MAX_MESSAGE_TEXT, card_blocks, clip, escape, fallback_text, render_text};
use crate::domain::identity::{Actor, Platform};
use crate::domain::text::Text;
use crate::domain::view::RequestView;
use crate::ports::{CardRef, Chat, ChatError};
use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

pub use super::blocks::mention;

/// Slack's Web API root.
pub const DEFAULT_API_BASE_URL: &str = "https://slack.com/api";
/// How long one Web API call may take before it counts as unavailable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// What jitpe waits after a rate limit that did not say how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// `ok:false` codes that describe Slack's trouble rather than ours: worth retrying.
const TRANSIENT_ERRORS: [&str; 5] = [
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

/// Settings of the Slack adapter.
#[derive(Clone)]
pub struct SlackConfig {
    /// Web API root without the method, e.g. [`DEFAULT_API_BASE_URL`]; tests use a fake.
    pub api_base_url: String,
    /// Bot token (`xoxb-…`). Secret: never shown by `Debug`.
    pub bot_token: String,
    /// Channel id where approval cards go.
    pub approvers_channel: String,
    /// Channel id where audit lines go.
    pub audit_channel: String,
    /// Limit for one Web API call.
    pub timeout: Duration,
}

impl SlackConfig {
    /// Settings with the production API root and [`DEFAULT_TIMEOUT`].
    pub fn new(
        bot_token: impl Into<String>,
        approvers_channel: impl Into<String>,
        audit_channel: impl Into<String>,
    ) -> Self {
        Self {
            api_base_url: DEFAULT_API_BASE_URL.to_string(),
            bot_token: bot_token.into(),
            approvers_channel: approvers_channel.into(),
            audit_channel: audit_channel.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig")
            .field("api_base_url", &self.api_base_url)
            .field("bot_token", &"<redacted>")
            .field("approvers_channel", &self.approvers_channel)
            .field("audit_channel", &self.audit_channel)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a [`SlackChat`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SlackSetupError {
    /// The API root is not an absolute http(s) URL.
    #[error("Slack API base URL `{0}` is not an http(s) URL such as {DEFAULT_API_BASE_URL}")]
    BaseUrl(String),
    /// The bot token is empty or cannot be sent in a header.
    #[error("the Slack bot token is empty or contains characters a header cannot carry")]
    Token,
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the Slack HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// The Slack Web API as a [`Chat`].
pub struct SlackChat {
    config: SlackConfig,
    client: reqwest::Client,
    /// DM channel per user id: `conversations.open` returns the same channel every time.
    dm_channels: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for SlackChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackChat")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SlackChat {
    /// A client for the Web API at `config.api_base_url`.
    pub fn new(mut config: SlackConfig) -> Result<Self, SlackSetupError> {
        let base = config.api_base_url.trim_end_matches('/').to_string();
        match reqwest::Url::parse(&base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => return Err(SlackSetupError::BaseUrl(config.api_base_url)),
        }
        let token_ok = !config.bot_token.is_empty()
            && reqwest::header::HeaderValue::from_str(&config.bot_token).is_ok();
        if !token_ok {
            return Err(SlackSetupError::Token);
        }
        config.api_base_url = base;
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(SlackSetupError::Client)?;
        Ok(Self {
            config,
            client,
            dm_channels: Mutex::new(HashMap::new()),
        })
    }

    /// Calls a Web API method with a JSON body; returns the `ok:true` envelope.
    async fn call(&self, method: &str, body: &Value) -> Result<Value, ChatError> {
        let url = format!("{}/{method}", self.config.api_base_url);
        let bytes = serde_json::to_vec(body).expect("a serde_json::Value always serialises");
        let resp = self
            .client
            .post(url)
            // bearer_auth marks the header sensitive, so reqwest never prints it either.
            .bearer_auth(&self.config.bot_token)
            // Set by hand: `.json()` omits the charset, and Slack warns `missing_charset`.
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(bytes)
            .send()
            .await
            .map_err(|e| transport_error(method, e))?;
        let status = resp.status();
        let retry = retry_after(resp.headers());
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ChatError::RateLimited(retry));
        }
        let text = resp.text().await.map_err(|e| transport_error(method, e))?;
        read_answer(method, status, retry, &text)
    }

    /// Posts a message and returns where it landed.
    async fn post_message(&self, body: Value) -> Result<CardRef, ChatError> {
        let asked = body["channel"].as_str().unwrap_or_default().to_string();
        let resp = self.call("chat.postMessage", &body).await?;
        // `ts` must stay a string: as a float it would lose the digits that identify the message.
        let ts = resp.get("ts").and_then(Value::as_str).ok_or_else(|| {
            ChatError::Refused("chat.postMessage: answer without a string `ts`".into())
        })?;
        let channel = resp
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or(&asked);
        Ok(CardRef {
            platform: Platform::Slack,
            channel: channel.to_string(),
            message_id: ts.to_string(),
        })
    }

    /// The DM channel with a Slack user, opened once and then remembered.
    async fn dm_channel(&self, user_id: &str) -> Result<String, ChatError> {
        if let Some(c) = self.dm_channels.lock().expect("lock").get(user_id) {
            return Ok(c.clone());
        }
        let resp = self
            .call("conversations.open", &json!({"users": user_id}))
            .await?;
        let channel = resp
            .pointer("/channel/id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ChatError::Refused("conversations.open: answer without a channel id".into())
            })?
            .to_string();
        self.dm_channels
            .lock()
            .expect("lock")
            .insert(user_id.to_string(), channel.clone());
        Ok(channel)
    }
}

/// Judges an answer by its HTTP status **and** its `ok` flag (Slack reports most errors with 200).
fn read_answer(
    method: &str,
    status: StatusCode,
    retry: Duration,
    text: &str,
) -> Result<Value, ChatError> {
    let envelope: Option<Value> = serde_json::from_str(text).ok();
    let code = envelope
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Err(ChatError::Unavailable(format!("{method}: HTTP {status}")));
    }
    if !status.is_success() {
        let why = code.unwrap_or_else(|| format!("HTTP {status}"));
        return Err(ChatError::Refused(format!("{method}: {why}")));
    }
    let Some(envelope) = envelope else {
        // A proxy's error page, most likely: Slack itself always answers JSON.
        return Err(ChatError::Unavailable(format!(
            "{method}: answer is not JSON"
        )));
    };
    if envelope.get("ok").and_then(Value::as_bool) != Some(true) {
        return Err(api_error(
            method,
            code.as_deref().unwrap_or("unknown_error"),
            retry,
        ));
    }
    if let Some(w) = envelope.get("warning").and_then(Value::as_str) {
        tracing::warn!(
            method,
            warning = w,
            "Slack accepted the call with a warning"
        );
    }
    Ok(envelope)
}

/// Reads `Retry-After` in seconds; missing or unreadable means [`DEFAULT_RETRY_AFTER`].
fn retry_after(headers: &HeaderMap) -> Duration {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs)
}

/// Network failures and timeouts are always worth retrying. Only a failed connection surely
/// did nothing; after a timeout or a dropped answer Slack may have carried the call out.
fn transport_error(method: &str, e: reqwest::Error) -> ChatError {
    let connect = e.is_connect();
    let what = if e.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    // without_url: the URL is not secret, but the method name says more and stays short.
    let text = format!("{method} {what}: {}", e.without_url());
    if connect {
        ChatError::Unavailable(text)
    } else {
        ChatError::NoAnswer(text)
    }
}

/// Maps an `ok:false` code.
fn api_error(method: &str, code: &str, retry_after: Duration) -> ChatError {
    match code {
        "ratelimited" | "rate_limited" => ChatError::RateLimited(retry_after),
        c if TRANSIENT_ERRORS.contains(&c) => ChatError::Unavailable(format!("{method}: {c}")),
        c => ChatError::Refused(format!("{method}: {c}")),
    }
}

#[async_trait]
impl Chat for SlackChat {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    fn approvers_channel(&self) -> &str {
        &self.config.approvers_channel
    }

    fn audit_channel(&self) -> &str {
        &self.config.audit_channel
    }

    async fn post_card(&self, channel: &str, view: &RequestView) -> Result<CardRef, ChatError> {
        self.post_message(json!({
            "channel": channel,
            "text": fallback_text(view),
            "blocks": card_blocks(view),
            "unfurl_links": false,
        }))
        .await
    }

    async fn update_card(&self, card: &CardRef, view: &RequestView) -> Result<(), ChatError> {
        if card.platform != Platform::Slack {
            return Err(ChatError::Refused(format!(
                "a {} card cannot be updated through Slack",
                card.platform
            )));
        }
        // Both text and blocks: chat.update with text alone removes the blocks.
        let body = json!({
            "channel": card.channel,
            "ts": card.message_id,
            "text": fallback_text(view),
            "blocks": card_blocks(view),
        });
        self.call("chat.update", &body).await.map(drop)
    }

    async fn direct_message(&self, user: &Actor, text: &Text) -> Result<(), ChatError> {
        if user.platform != Platform::Slack {
            return Err(ChatError::Refused(format!(
                "{user} is not a Slack user; no Slack DM possible"
            )));
        }
        let channel = self.dm_channel(&user.id).await?;
        let text = clip(&render_text(text), MAX_MESSAGE_TEXT);
        let body = json!({"channel": channel, "text": text});
        let sent = self.post_message(body).await;
        if sent.is_err() {
            // The DM may have been closed or archived since; open it afresh next time.
            self.dm_channels.lock().expect("lock").remove(&user.id);
        }
        sent.map(drop)
    }

    async fn post_line(&self, channel: &str, text: &str) -> Result<(), ChatError> {
        // Audit lines carry user-typed reasons and no mentions: escape everything.
        let text = clip(&escape(text), MAX_MESSAGE_TEXT);
        let body = json!({"channel": channel, "text": text, "unfurl_links": false});
        self.post_message(body).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_bot_token() {
        let config = SlackConfig::new("xoxb-secret-token", "CAPP", "CAUD");
        let chat = SlackChat::new(config.clone()).expect("valid config");
        for shown in [format!("{config:?}"), format!("{chat:?}")] {
            assert!(!shown.contains("xoxb-secret-token"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn bad_base_urls_and_empty_tokens_are_refused_at_start() {
        let mut c = SlackConfig::new("xoxb-1", "C1", "C2");
        c.api_base_url = "slack.com/api".into();
        assert!(matches!(
            SlackChat::new(c),
            Err(SlackSetupError::BaseUrl(_))
        ));
        let c = SlackConfig::new("", "C1", "C2");
        assert!(matches!(SlackChat::new(c), Err(SlackSetupError::Token)));
    }

    #[test]
    fn retry_after_defaults_to_one_second_when_missing_or_garbled() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), DEFAULT_RETRY_AFTER);
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), DEFAULT_RETRY_AFTER);
        h.insert(RETRY_AFTER, " 7".parse().unwrap());
        assert_eq!(retry_after(&h), Duration::from_secs(7));
    }

    #[test]
    fn api_error_codes_map_to_retry_or_give_up() {
        let d = Duration::from_secs(3);
        assert!(matches!(api_error("m", "ratelimited", d), ChatError::RateLimited(x) if x == d));
        assert!(matches!(
            api_error("m", "internal_error", d),
            ChatError::Unavailable(_)
        ));
        assert!(
            matches!(api_error("m", "not_in_channel", d), ChatError::Refused(s) if s == "m: not_in_channel")
        );
    }
}
