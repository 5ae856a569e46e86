//! [`MattermostChat`]: the outgoing Mattermost side (REST API v4 with a bot token) behind the
//! [`Chat`] port, plus [`MattermostChat::get_user`] for re-checking who clicked a button.
//!
//! Rendering lives in [`super::render`] and button signatures in
//! [`super::sign`]; this file speaks HTTP and maps answers onto [`ChatError`]:
//!
//! ```text
//! HTTP 429                         -> RateLimited(X-Ratelimit-Reset s, default 1 s, at most 60 s)
//! HTTP 5xx/408, network, timeout   -> Unavailable           (retried with backoff)
//! other non-2xx                    -> Refused("<call>: HTTP <status> <id>: <message>")
//! ```
//!
//! | Port call | REST call |
//! |---|---|
//! | `post_card`, `post_line` | `POST /api/v4/posts` (expects `201 Created`) |
//! | `update_card` | `PUT /api/v4/posts/{id}/patch` (`props` replaces the whole map) |
//! | `direct_message` | `GET /api/v4/users/me` once (unless configured), `POST /api/v4/channels/direct`, a post |
//! | `get_user` | `GET /api/v4/users/{id}` |

pub use super::api::{
    DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER, MIN_ACTION_SECRET_BYTES, MattermostSetupError,
    MattermostUser, is_mattermost_id,
};
use super::api::{
    http_url, path_pattern, rate_limit_reset, read_answer, require_id, transport_error,
};
use super::render::{MAX_MESSAGE_CHARS, button, card_props, clip, neutralise_lines, render_text};
use super::sign::ButtonContext;
use crate::domain::identity::{Actor, Platform};
use crate::domain::text::Text;
use crate::domain::view::RequestView;
use crate::ports::{CardRef, Chat, ChatError, Clock};
use async_trait::async_trait;
use jiff::tz::TimeZone;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one REST call may take before it counts as unavailable.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a signed button stays clickable; cards are re-signed whenever they are updated.
pub const DEFAULT_BUTTON_TTL: Duration = Duration::from_secs(24 * 3600);

/// Settings of the Mattermost adapter.
#[derive(Clone)]
pub struct MattermostConfig {
    /// Server URL, e.g. `https://mattermost.example.com` (the adapter appends `/api/v4/…`).
    pub base_url: String,
    /// Bot access token. Secret: never shown by `Debug`.
    pub bot_token: String,
    /// Channel id where approval cards go.
    pub approvers_channel: String,
    /// Channel id where audit lines go.
    pub audit_channel: String,
    /// jitpe's `/mattermost/actions` URL, used as every button's `integration.url`.
    pub actions_url: String,
    /// Key of the button context HMAC (see `sign.rs`), at least 32 bytes. Secret: never shown by `Debug`.
    pub action_secret: Vec<u8>,
    /// The bot's user id; `None` asks `GET /api/v4/users/me` once, at the first DM.
    pub bot_user_id: Option<String>,
    /// How long a signed button stays valid.
    pub button_ttl: Duration,
    /// Limit for one REST call.
    pub timeout: Duration,
    /// The zone moments are shown in (Mattermost has no per-reader time); default UTC.
    pub time_zone: TimeZone,
}

impl MattermostConfig {
    /// Settings with [`DEFAULT_BUTTON_TTL`], [`DEFAULT_TIMEOUT`] and no configured bot user id.
    pub fn new(
        base_url: impl Into<String>,
        bot_token: impl Into<String>,
        approvers_channel: impl Into<String>,
        audit_channel: impl Into<String>,
        actions_url: impl Into<String>,
        action_secret: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            bot_token: bot_token.into(),
            approvers_channel: approvers_channel.into(),
            audit_channel: audit_channel.into(),
            actions_url: actions_url.into(),
            action_secret: action_secret.into(),
            bot_user_id: None,
            button_ttl: DEFAULT_BUTTON_TTL,
            timeout: DEFAULT_TIMEOUT,
            time_zone: TimeZone::UTC,
        }
    }
}

impl fmt::Debug for MattermostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MattermostConfig")
            .field("base_url", &self.base_url)
            .field("bot_token", &"<redacted>")
            .field("approvers_channel", &self.approvers_channel)
            .field("audit_channel", &self.audit_channel)
            .field("actions_url", &self.actions_url)
            .field("action_secret", &"<redacted>")
            .field("bot_user_id", &self.bot_user_id)
            .field("button_ttl", &self.button_ttl)
            .field("timeout", &self.timeout)
            .field("time_zone", &self.time_zone.iana_name())
            .finish()
    }
}

/// The Mattermost REST API v4 as a [`Chat`].
pub struct MattermostChat {
    config: MattermostConfig,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// The bot's own user id: configured, or asked for once.
    bot_user_id: OnceCell<String>,
    /// DM channel per user id: `channels/direct` returns the same channel every time.
    dm_channels: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for MattermostChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MattermostChat")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MattermostChat {
    /// The zone moments are shown in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.config.time_zone
    }

    /// A client for the server at `config.base_url`; `clock` dates button expiries.
    pub fn new(
        mut config: MattermostConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MattermostSetupError> {
        config.base_url = http_url(&config.base_url)
            .ok_or_else(|| MattermostSetupError::BaseUrl(config.base_url.clone()))?;
        if http_url(&config.actions_url).is_none() {
            return Err(MattermostSetupError::ActionsUrl(config.actions_url));
        }
        let token_ok = !config.bot_token.is_empty()
            && reqwest::header::HeaderValue::from_str(&config.bot_token).is_ok();
        if !token_ok {
            return Err(MattermostSetupError::Token);
        }
        if config.action_secret.len() < MIN_ACTION_SECRET_BYTES {
            return Err(MattermostSetupError::ActionSecret(
                config.action_secret.len(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(MattermostSetupError::Client)?;
        Ok(Self {
            bot_user_id: OnceCell::new_with(config.bot_user_id.clone()),
            config,
            client,
            clock,
            dm_channels: Mutex::new(HashMap::new()),
        })
    }

    /// Looks a user up, e.g. to re-check who clicked a button: the click's `user_id` is only as
    /// trustworthy as the request that carried it.
    pub async fn get_user(&self, user_id: &str) -> Result<MattermostUser, ChatError> {
        require_id("user", user_id)?;
        let user = self
            .call(Method::GET, &format!("users/{user_id}"), None)
            .await?;
        serde_json::from_value(user)
            .map_err(|e| ChatError::Unavailable(format!("users/{{id}}: unreadable user: {e}")))
    }

    /// Calls `/api/v4/{path}` with the bot token; returns the JSON answer of a 2xx.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ChatError> {
        let what = format!("{method} {}", path_pattern(path));
        let url = format!("{}/api/v4/{path}", self.config.base_url);
        // bearer_auth marks the header sensitive, so reqwest never prints it either.
        let mut req = self
            .client
            .request(method, url)
            .bearer_auth(&self.config.bot_token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| transport_error(&what, e))?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ChatError::RateLimited(rate_limit_reset(resp.headers())));
        }
        let text = resp.text().await.map_err(|e| transport_error(&what, e))?;
        read_answer(&what, status, &text)
    }

    /// Creates a post and returns where it landed.
    async fn create_post(
        &self,
        channel: &str,
        message: &str,
        props: Option<Value>,
    ) -> Result<CardRef, ChatError> {
        require_id("channel", channel)?;
        let mut body = json!({"channel_id": channel, "message": message});
        if let Some(props) = props {
            body["props"] = props;
        }
        let post = self.call(Method::POST, "posts", Some(&body)).await?;
        let id = post
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| is_mattermost_id(id))
            .ok_or_else(|| ChatError::Refused("POST posts: answer without a post id".into()))?;
        Ok(CardRef {
            platform: Platform::Mattermost,
            channel: channel.to_string(),
            message_id: id.to_string(),
        })
    }

    /// The card's `props`, with buttons signed for `channel` and valid for `button_ttl`.
    fn card(&self, channel: &str, view: &RequestView) -> Value {
        let ttl = i64::try_from(self.config.button_ttl.as_secs()).unwrap_or(i64::MAX);
        let exp = self.clock.now().as_second().saturating_add(ttl);
        let key = &self.config.action_secret;
        let buttons = view
            .actions
            .iter()
            .map(|act| {
                let context = ButtonContext::signed(key, view.id, *act, exp, channel);
                let integration = json!({"url": self.config.actions_url, "context": context});
                button(view, *act, integration)
            })
            .collect();
        card_props(view, buttons, &self.config.time_zone)
    }

    /// The bot's user id, from the config or asked for once.
    async fn bot_user_id(&self) -> Result<&str, ChatError> {
        let id = self
            .bot_user_id
            .get_or_try_init(|| async {
                let me = self.call(Method::GET, "users/me", None).await?;
                me.get("id")
                    .and_then(Value::as_str)
                    .filter(|id| is_mattermost_id(id))
                    .map(str::to_string)
                    .ok_or_else(|| ChatError::Refused("GET users/me: answer without an id".into()))
            })
            .await?;
        Ok(id)
    }

    /// The DM channel with a user, opened once and then remembered.
    async fn dm_channel(&self, user_id: &str) -> Result<String, ChatError> {
        if let Some(c) = self.dm_channels.lock().expect("lock").get(user_id) {
            return Ok(c.clone());
        }
        let bot = self.bot_user_id().await?;
        let channel = self
            .call(
                Method::POST,
                "channels/direct",
                Some(&json!([bot, user_id])),
            )
            .await?;
        let channel = channel
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ChatError::Refused("POST channels/direct: answer without an id".into()))?
            .to_string();
        self.dm_channels
            .lock()
            .expect("lock")
            .insert(user_id.to_string(), channel.clone());
        Ok(channel)
    }
}

#[async_trait]
impl Chat for MattermostChat {
    fn platform(&self) -> Platform {
        Platform::Mattermost
    }

    fn approvers_channel(&self) -> &str {
        &self.config.approvers_channel
    }

    fn audit_channel(&self) -> &str {
        &self.config.audit_channel
    }

    async fn post_card(&self, channel: &str, view: &RequestView) -> Result<CardRef, ChatError> {
        let props = self.card(channel, view);
        self.create_post(channel, "", Some(props)).await
    }

    async fn update_card(&self, card: &CardRef, view: &RequestView) -> Result<(), ChatError> {
        if card.platform != Platform::Mattermost {
            return Err(ChatError::Refused(format!(
                "a {} card cannot be updated through Mattermost",
                card.platform
            )));
        }
        require_id("post", &card.message_id)?;
        // `props` replaces the whole map: a final view has no actions, so the buttons go.
        let body = json!({"props": self.card(&card.channel, view)});
        let path = format!("posts/{}/patch", card.message_id);
        self.call(Method::PUT, &path, Some(&body)).await.map(drop)
    }

    async fn direct_message(&self, user: &Actor, text: &Text) -> Result<(), ChatError> {
        if user.platform != Platform::Mattermost {
            return Err(ChatError::Refused(format!(
                "{user} is not a Mattermost user; no Mattermost DM possible"
            )));
        }
        require_id("user", &user.id)?;
        let channel = self.dm_channel(&user.id).await?;
        let text = clip(
            &render_text(text, &self.config.time_zone),
            MAX_MESSAGE_CHARS,
        );
        let sent = self.create_post(&channel, &text, None).await;
        if sent.is_err() {
            // The DM channel may be gone (user deactivated and back); open it afresh next time.
            self.dm_channels.lock().expect("lock").remove(&user.id);
        }
        sent.map(drop)
    }

    async fn post_line(&self, channel: &str, text: &str) -> Result<(), ChatError> {
        // Audit lines carry user-typed reasons and no intended Markdown: neutralise everything.
        // Clipped to half the limit because escaping may double the length.
        let text = neutralise_lines(&clip(text, MAX_MESSAGE_CHARS / 2));
        self.create_post(channel, &text, None).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn config() -> MattermostConfig {
        MattermostConfig::new(
            "https://mm.example.com/",
            "bot-token-value",
            "j6j53p28k6urx15fpcgsr20psq",
            "rd49ehbqyjytddasoownkuqrxe",
            "https://jitpe.example.com/mattermost/actions",
            b"0123456789abcdef0123456789abcdef-key".to_vec(),
        )
    }

    fn build(c: MattermostConfig) -> Result<MattermostChat, MattermostSetupError> {
        MattermostChat::new(c, Arc::new(SystemClock))
    }

    #[test]
    fn debug_output_never_shows_the_bot_token_or_the_action_secret() {
        let chat = build(config()).expect("valid config");
        for shown in [format!("{:?}", config()), format!("{chat:?}")] {
            assert!(!shown.contains("bot-token-value"), "{shown}");
            assert!(!shown.contains("0123456789abcdef"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn bad_urls_empty_tokens_and_short_secrets_are_refused_at_start() {
        let with = |f: fn(&mut MattermostConfig)| {
            let mut c = config();
            f(&mut c);
            build(c).unwrap_err()
        };
        let e = with(|c| c.base_url = "mm.example.com".into());
        assert!(matches!(e, MattermostSetupError::BaseUrl(_)), "{e:?}");
        let e = with(|c| c.actions_url = "/mattermost/actions".into());
        assert!(matches!(e, MattermostSetupError::ActionsUrl(_)), "{e:?}");
        let e = with(|c| c.bot_token = String::new());
        assert!(matches!(e, MattermostSetupError::Token), "{e:?}");
        let e = with(|c| c.action_secret = b"short".to_vec());
        assert!(matches!(e, MattermostSetupError::ActionSecret(5)), "{e:?}");
    }

    #[test]
    fn mentions_name_users_by_id_and_the_trailing_slash_of_the_url_is_dropped() {
        use super::super::render::mention;
        let chat = build(config()).unwrap();
        let a = Actor::new(Platform::Mattermost, "rd49ehbqyjytddasoownkuqrxe");
        assert_eq!(mention(&a), "mattermost:rd49ehbqyjytddasoownkuqrxe");
        assert_eq!(chat.config.base_url, "https://mm.example.com");
        assert_eq!(chat.platform(), Platform::Mattermost);
    }
}
