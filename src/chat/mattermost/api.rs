//! Mattermost REST API v4 on the wire: error bodies, status codes and rate-limit headers mapped
//! onto [`ChatError`], id and URL checks, set-up errors, and the user record.

use super::render::clip;
use crate::ports::ChatError;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// What jitpe waits after a 429 without a usable `X-Ratelimit-Reset`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest wait taken from `X-Ratelimit-Reset`: Mattermost's window is per second, so a larger
/// value is more likely a misread epoch than advice.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Fewest key bytes accepted for button signatures (HMAC-SHA256 strength, as the config demands).
pub const MIN_ACTION_SECRET_BYTES: usize = 32;

/// Why a [`super::client::MattermostChat`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MattermostSetupError {
    /// The server URL is not an absolute http(s) URL.
    #[error("Mattermost URL `{0}` is not an http(s) URL such as https://mattermost.example.com")]
    BaseUrl(String),
    /// The actions URL is not an absolute http(s) URL.
    #[error("button callback URL `{0}` is not an http(s) URL")]
    ActionsUrl(String),
    /// The bot token is empty or cannot be sent in a header.
    #[error("the Mattermost bot token is empty or contains characters a header cannot carry")]
    Token,
    /// The button signing key is too short.
    #[error(
        "the Mattermost action secret has {0} bytes; at least {MIN_ACTION_SECRET_BYTES} are needed"
    )]
    ActionSecret(usize),
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the Mattermost HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Checks that `url` is an absolute http(s) URL and returns it without a trailing `/`.
pub(super) fn http_url(url: &str) -> Option<String> {
    let trimmed = url.trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(trimmed.to_string()),
        _ => None,
    }
}

/// A Mattermost user as `GET /api/v4/users/{id}` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MattermostUser {
    /// Immutable user id.
    pub id: String,
    /// Current username (may change; never use it for identity).
    pub username: String,
    /// When the account was deactivated (ms since the epoch); 0 while active.
    #[serde(default)]
    pub delete_at: i64,
    /// Whether this is a bot account.
    #[serde(default)]
    pub is_bot: bool,
}

impl MattermostUser {
    /// Whether the account may act on a card: active and not a bot (the clicker re-check).
    pub fn is_active_person(&self) -> bool {
        self.delete_at == 0 && !self.is_bot
    }
}

/// Whether `id` looks like a Mattermost id (26 lowercase letters and digits). Ids go into URL
/// paths, so anything else is refused before a call is made.
pub fn is_mattermost_id(id: &str) -> bool {
    id.len() == 26
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Ids are checked before they go into a URL path or a body.
pub(super) fn require_id(what: &str, id: &str) -> Result<(), ChatError> {
    if is_mattermost_id(id) {
        Ok(())
    } else {
        Err(ChatError::Refused(format!(
            "`{id}` is not a Mattermost {what} id (26 lowercase letters and digits)"
        )))
    }
}

/// `posts/abc…/patch` → `posts/{id}/patch`: errors name the call, not the ids in it.
pub(super) fn path_pattern(path: &str) -> String {
    path.split('/')
        .map(|seg| if is_mattermost_id(seg) { "{id}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Judges an answer by its HTTP status; a 2xx must carry JSON.
pub(super) fn read_answer(what: &str, status: StatusCode, text: &str) -> Result<Value, ChatError> {
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Err(ChatError::Unavailable(format!(
            "{what}: HTTP {}",
            status.as_u16()
        )));
    }
    if !status.is_success() {
        return Err(ChatError::Refused(format!(
            "{what}: HTTP {}{}",
            status.as_u16(),
            api_error(text)
        )));
    }
    // A 2xx that is not JSON is most likely a proxy's page: Mattermost itself always answers JSON.
    serde_json::from_str(text)
        .map_err(|_| ChatError::Unavailable(format!("{what}: answer is not JSON")))
}

/// ` <id>: <message>` of Mattermost's error body, or nothing if the body is something else.
fn api_error(text: &str) -> String {
    #[derive(Deserialize)]
    struct AppError {
        #[serde(default)]
        id: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<AppError>(text) {
        Ok(e) if !e.id.is_empty() || !e.message.is_empty() => {
            format!(" {}: {}", clip(&e.id, 100), clip(&e.message, 200))
        }
        _ => String::new(),
    }
}

/// Reads `X-Ratelimit-Reset` (seconds until the window resets), between 1 s and
/// [`MAX_RETRY_AFTER`]; missing or unreadable means [`DEFAULT_RETRY_AFTER`].
pub(super) fn rate_limit_reset(headers: &HeaderMap) -> Duration {
    headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RETRY_AFTER, |s| {
            Duration::from_secs(s).clamp(DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER)
        })
}

/// Network failures and timeouts are always worth retrying.
pub(super) fn transport_error(what: &str, e: reqwest::Error) -> ChatError {
    let connect = e.is_connect();
    let how = if e.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    let text = format!("{what} {how}: {}", e.without_url());
    // Only a failed connection surely did nothing; after a timeout or a dropped answer the
    // server may have carried the call out.
    if connect {
        ChatError::Unavailable(text)
    } else {
        ChatError::NoAnswer(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_reset_header_is_read_in_seconds_within_one_second_and_a_minute() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_reset(&h), DEFAULT_RETRY_AFTER);
        for (raw, secs) in [("soon", 1), ("0", 1), (" 7", 7), ("1700000000", 60)] {
            h.insert("x-ratelimit-reset", HeaderValue::from_static(raw));
            assert_eq!(rate_limit_reset(&h), Duration::from_secs(secs), "{raw}");
        }
    }

    #[test]
    fn statuses_map_to_retry_or_give_up_with_mattermosts_error_id() {
        let body =
            r#"{"id":"api.context.permissions.app_error","message":"No.","status_code":403}"#;
        let refused = read_answer("POST posts", StatusCode::FORBIDDEN, body);
        assert!(
            matches!(&refused, Err(ChatError::Refused(m)) if m == "POST posts: HTTP 403 api.context.permissions.app_error: No."),
            "{refused:?}"
        );
        let plain = read_answer("GET users/{id}", StatusCode::NOT_FOUND, "<html>");
        assert!(
            matches!(&plain, Err(ChatError::Refused(m)) if m == "GET users/{id}: HTTP 404"),
            "{plain:?}"
        );
        for s in [StatusCode::BAD_GATEWAY, StatusCode::REQUEST_TIMEOUT] {
            assert!(matches!(
                read_answer("x", s, body),
                Err(ChatError::Unavailable(_))
            ));
        }
        let proxy = read_answer("x", StatusCode::OK, "<html>ok</html>");
        assert!(matches!(proxy, Err(ChatError::Unavailable(_))));
        assert_eq!(
            read_answer("x", StatusCode::CREATED, r#"{"id":"p"}"#).unwrap()["id"],
            "p"
        );
    }

    #[test]
    fn ids_in_paths_are_checked_and_left_out_of_error_names() {
        let id = "j6j53p28k6urx15fpcgsr20psq";
        assert!(is_mattermost_id(id));
        for bad in [
            "me",
            "J6J53P28K6URX15FPCGSR20PSQ",
            "../../../users/me/aaaaaaaaaa",
            "",
        ] {
            assert!(require_id("user", bad).is_err(), "{bad}");
        }
        assert_eq!(
            path_pattern(&format!("posts/{id}/patch")),
            "posts/{id}/patch"
        );
    }

    #[test]
    fn a_user_without_is_bot_or_delete_at_is_an_active_person() {
        let u: MattermostUser = serde_json::from_str(r#"{"id":"a","username":"alice"}"#).unwrap();
        assert!(u.is_active_person());
    }
}
