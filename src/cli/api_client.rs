//! The HTTP side of `jitpe request` and `jitpe exec`: jitpe's `/api/v1` over reqwest, with the
//! token read from its file on every call (projected tokens rotate), an `Idempotency-Key` so a
//! retried create never stores twice, and retries of 503s and connection errors until the
//! caller's deadline. Never prints the token: errors name its file.

use crate::domain::request::State;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The longest pause between two attempts of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// A request as the API answers it: the fields the client acts on (others are ignored, so a
/// newer jitpe's additions do not break an older client).
#[derive(Debug, Clone, Deserialize)]
pub struct Remote {
    /// Its id.
    pub id: u64,
    /// Where it is in its lifecycle.
    pub state: State,
    /// When access ends, once Active (RFC 3339).
    pub expires_at: Option<String>,
    /// Approvals given so far.
    pub approvals: usize,
    /// Approvals needed.
    pub approvals_needed: usize,
    /// The duration granted or asked for.
    pub duration_seconds: u64,
    /// Why it ended, once final.
    pub end_reason: Option<String>,
}

/// Why a call did not give a request.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The arguments are wrong.
    #[error("{0}")]
    Usage(String),
    /// The token file cannot be read (its content is never shown).
    #[error(
        "cannot read the token file {path}: {why}; mount a projected ServiceAccount token with \
         `audience: jitpe` there or pass --token-file / JITPE_TOKEN_FILE"
    )]
    Token {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// jitpe answered 4xx: its message says what to do.
    #[error("jitpe refused the call ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// jitpe's `error`.
        message: String,
    },
    /// jitpe could not be reached or kept answering 503 until the deadline, or failed.
    #[error("{0}")]
    Unreachable(String),
    /// The deadline passed while the request was still pending.
    #[error("{0}")]
    Timeout(String),
}

/// jitpe's API at one base URL, as the ServiceAccount whose token is in one file.
pub struct ApiClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token_file: PathBuf,
    idempotency_key: String,
}

impl ApiClient {
    /// A client for jitpe at `base` with the token in `token_file`, with a fresh idempotency
    /// key for this invocation's create.
    pub fn new(base: &reqwest::Url, token_file: &std::path::Path) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("jitpe/", env!("CARGO_PKG_VERSION")));
        if base.scheme() == "http" {
            // Plain http is only accepted on loopback (`client::server_url`): never via a proxy.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: base.clone(),
            token_file: token_file.to_path_buf(),
            idempotency_key: random_key()?,
        })
    }

    /// `POST /api/v1/requests` with `body`, retried with the same idempotency key.
    pub async fn create(
        &self,
        body: &serde_json::Value,
        deadline: Instant,
    ) -> Result<Remote, CallError> {
        self.call(Method::POST, "requests", Some(body), deadline)
            .await
    }

    /// `GET /api/v1/requests/{id}`.
    pub async fn get(&self, id: u64, deadline: Instant) -> Result<Remote, CallError> {
        self.call(Method::GET, &format!("requests/{id}"), None, deadline)
            .await
    }

    /// `POST /api/v1/requests/{id}/revoke`.
    pub async fn revoke(&self, id: u64, deadline: Instant) -> Result<Remote, CallError> {
        self.call(
            Method::POST,
            &format!("requests/{id}/revoke"),
            None,
            deadline,
        )
        .await
    }

    /// One call, retried on connection errors, 429 and 503 until `deadline`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<Remote, CallError> {
        let url = self.url(path)?;
        let mut backoff = Duration::from_millis(500);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let why = match self.attempt(method.clone(), &url, body).await? {
                Attempt::Done(r) => return Ok(r),
                Attempt::Duplicate if attempt > 1 => return Err(lost_answer()),
                Attempt::Duplicate => {
                    return Err(CallError::Refused {
                        status: 409,
                        message: "the Idempotency-Key was already used".into(),
                    });
                }
                Attempt::Retry { why, after } => {
                    backoff = after.unwrap_or(backoff).min(MAX_BACKOFF);
                    why
                }
            };
            if Instant::now() + backoff > deadline {
                return Err(CallError::Unreachable(format!(
                    "{method} {url}: {why} (gave up after {attempt} attempt(s) at --timeout)"
                )));
            }
            eprintln!("jitpe: {why}; retrying in {}s", backoff.as_secs_f32());
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn attempt(
        &self,
        method: Method,
        url: &reqwest::Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Attempt, CallError> {
        let token = self.token()?;
        let mut call = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token);
        if let Some(body) = body {
            call = call
                .header("Idempotency-Key", &self.idempotency_key)
                .json(body);
        }
        let answer = match call.send().await {
            Ok(answer) => answer,
            Err(e) => {
                let why = format!("cannot reach jitpe at {}: {}", self.base, chain(&e));
                return Ok(Attempt::Retry { why, after: None });
            }
        };
        let status = answer.status();
        let retry_after = answer
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = answer.text().await.unwrap_or_default();
        judge(status, &text, retry_after)
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, CallError> {
        let base = self.base.as_str().trim_end_matches('/');
        reqwest::Url::parse(&format!("{base}/api/v1/{path}"))
            .map_err(|e| CallError::Usage(format!("--server {}: {e}", self.base)))
    }

    /// The token, read now: a projected token is replaced on disk before it expires.
    fn token(&self) -> Result<String, CallError> {
        let failed = |why: String| CallError::Token {
            path: self.token_file.display().to_string(),
            why,
        };
        let text = std::fs::read_to_string(&self.token_file).map_err(|e| failed(e.to_string()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(failed("it is empty".into()));
        }
        Ok(token.to_string())
    }
}

/// What one attempt of a call gave.
enum Attempt {
    Done(Remote),
    /// 409 `duplicate`: this key was stored already.
    Duplicate,
    Retry {
        why: String,
        after: Option<Duration>,
    },
}

/// The meaning of an answer with `status` and body `text`.
fn judge(
    status: StatusCode,
    text: &str,
    retry_after: Option<Duration>,
) -> Result<Attempt, CallError> {
    if status.is_success() {
        return serde_json::from_str(text).map(Attempt::Done).map_err(|e| {
            CallError::Unreachable(format!(
                "jitpe answered {status} with an unreadable body ({e})"
            ))
        });
    }
    let (message, kind) = error_of(text);
    if status == StatusCode::CONFLICT && kind == "duplicate" {
        return Ok(Attempt::Duplicate);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        let why = format!("jitpe is busy ({status}): {message}");
        return Ok(Attempt::Retry {
            why,
            after: retry_after,
        });
    }
    if status.is_client_error() {
        return Err(CallError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    Err(CallError::Unreachable(format!(
        "jitpe failed ({status}): {message}"
    )))
}

/// jitpe's `{"error", "kind"}`, or the body itself when it is not that (a proxy's page).
fn error_of(text: &str) -> (String, String) {
    #[derive(Deserialize)]
    struct ApiError {
        error: String,
        #[serde(default)]
        kind: String,
    }
    match serde_json::from_str::<ApiError>(text) {
        Ok(e) => (e.error, e.kind),
        Err(_) => (text.chars().take(300).collect(), String::new()),
    }
}

fn lost_answer() -> CallError {
    CallError::Unreachable(
        "an earlier attempt of this request was stored, but its answer was lost and jitpe does \
         not give the id on a retry: look for it in the approvers channel or `jitpe grants \
         list`; it ends at its expiry"
            .into(),
    )
}

/// An error with its causes, which say what actually failed (refused, timed out, TLS).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// 128 random bits as hex, from the kernel's generator.
fn random_key() -> Result<String, String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for the Idempotency-Key: {e}"))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_is_retried_with_its_retry_after_and_a_4xx_is_refused_with_jitpes_message() {
        let busy = r#"{"error":"retry later","kind":"store"}"#;
        let got = judge(
            StatusCode::SERVICE_UNAVAILABLE,
            busy,
            Some(Duration::from_secs(5)),
        );
        assert!(
            matches!(got, Ok(Attempt::Retry { after: Some(d), .. }) if d == Duration::from_secs(5))
        );
        let policy = r#"{"error":"role change is not allowed for you","kind":"policy"}"#;
        match judge(StatusCode::FORBIDDEN, policy, None) {
            Err(e @ CallError::Refused { status: 403, .. }) => {
                assert!(e.to_string().contains("role change is not allowed"), "{e}");
            }
            _ => panic!("a 403 is a refusal"),
        }
    }

    #[test]
    fn a_duplicate_is_told_apart_and_a_500_is_not_retried() {
        let dup = r#"{"error":"already stored","kind":"duplicate"}"#;
        assert!(matches!(
            judge(StatusCode::CONFLICT, dup, None),
            Ok(Attempt::Duplicate)
        ));
        let state = r#"{"error":"not active","kind":"state"}"#;
        assert!(matches!(
            judge(StatusCode::CONFLICT, state, None),
            Err(CallError::Refused { status: 409, .. })
        ));
        let got = judge(StatusCode::INTERNAL_SERVER_ERROR, "oops", None);
        assert!(matches!(got, Err(CallError::Unreachable(m)) if m.contains("oops")));
    }

    #[test]
    fn a_success_is_read_as_the_request() {
        let body = r#"{"id":7,"state":"active","expires_at":"2026-01-01T00:15:00Z",
            "approvals":0,"approvals_needed":0,"duration_seconds":900,"end_reason":null,
            "role":"debug"}"#;
        match judge(StatusCode::CREATED, body, None) {
            Ok(Attempt::Done(r)) => {
                assert_eq!((r.id, r.state), (7, State::Active));
                assert_eq!(r.expires_at.as_deref(), Some("2026-01-01T00:15:00Z"));
            }
            _ => panic!("a 201 gives the request"),
        }
    }

    #[test]
    fn the_token_file_error_names_the_file_and_never_the_token() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("token");
        let base = reqwest::Url::parse("http://127.0.0.1:9").unwrap();
        let api = ApiClient::new(&base, &path).unwrap();
        let missing = api.token().unwrap_err().to_string();
        assert!(missing.contains(&path.display().to_string()), "{missing}");
        std::fs::write(&path, "  \n").unwrap();
        assert!(api.token().unwrap_err().to_string().contains("empty"));
        std::fs::write(&path, "secret-token-value\n").unwrap();
        assert_eq!(api.token().unwrap(), "secret-token-value");
    }

    #[test]
    fn each_invocation_has_its_own_idempotency_key() {
        let (a, b) = (random_key().unwrap(), random_key().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
