//! The token port: who a Kubernetes bearer token (a CI job's projected ServiceAccount token)
//! authenticates as, asked of the cluster that issued it.
//!
//! The token travels as a [`Secret`], so it never shows in `Debug`, `Display` or an error; what
//! comes back names the identity only. A refused token and a failure to ask are different
//! errors because callers answer them differently (401 and 503).

use crate::config::Secret;
use async_trait::async_trait;

/// The audience jitpe asks tokens to be issued for by default: a CI job mounts a projected
/// ServiceAccount token with `audience: jitpe`, so the token cannot be replayed to the
/// apiserver, and a token meant for the apiserver or another service is refused here.
pub const DEFAULT_AUDIENCE: &str = "jitpe";

/// The identity a token authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewed {
    /// E.g. `system:serviceaccount:ci:deployer`.
    pub username: String,
    /// The immutable uid of the ServiceAccount (or user); empty if the authenticator gives none.
    pub uid: String,
    /// Its groups, as the apiserver reports them.
    pub groups: Vec<String>,
    /// The requested audiences the token is valid for (never empty).
    pub audiences: Vec<String>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is not valid for the audiences: forged, expired, for another audience, of a
    /// deleted ServiceAccount, or garbage. The reason is the authenticator's, for the audit log;
    /// it never holds the token. Answer 401.
    #[error("the token was refused: {0}")]
    Refused(String),
    /// jitpe could not ask (the apiserver is unreachable, failed, or refused jitpe itself, e.g.
    /// without `create tokenreviews`). Nothing is known about the token. Answer 503.
    #[error("cannot verify the token now: {0}")]
    Unavailable(String),
    /// Too many tokens that are not cached were presented recently: jitpe did not ask, to spare
    /// the apiserver. Nothing is known about the token. Answer 503 (or 429) and retry later.
    #[error("too many token checks at once; retry in a few seconds")]
    Throttled,
}

impl TokenError {
    /// Whether the token itself was judged and refused (401), rather than left unjudged (503).
    pub fn is_refused(&self) -> bool {
        matches!(self, TokenError::Refused(_))
    }
}

/// Verifies bearer tokens (a `TokenReview` in `crate::kube::token_review`, cached by
/// `crate::service::tokens`).
#[async_trait]
pub trait TokenReviewer: Send + Sync {
    /// Who `token` authenticates as, if it is valid for at least one of `audiences`.
    /// `Err(Refused)` for a token that is not; `Err(Unavailable | Throttled)` when jitpe could
    /// not find out.
    async fn review(&self, token: &Secret, audiences: &[String]) -> Result<Reviewed, TokenError>;
}

/// A shared reviewer reviews as the one it shares (so a cache can wrap one kept elsewhere).
#[async_trait]
impl<T: TokenReviewer + ?Sized> TokenReviewer for std::sync::Arc<T> {
    async fn review(&self, token: &Secret, audiences: &[String]) -> Result<Reviewed, TokenError> {
        (**self).review(token, audiences).await
    }
}
