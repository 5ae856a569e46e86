//! The token port on a real apiserver: an `authentication.k8s.io/v1` `TokenReview` with the
//! audiences jitpe accepts, created with jitpe's own identity (it needs `create tokenreviews`,
//! `manifests/rbac.yaml`).
//!
//! A token is accepted only when the apiserver says `authenticated: true`, reports no error,
//! and confirms at least one of the requested audiences: an audience-agnostic authenticator
//! may answer with none, which is not enough, since jitpe asked for a specific one.

use super::lazy::connect;
use crate::config::Secret;
use crate::ports::{Reviewed, TokenError, TokenReviewer};
use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use kube::Client;
use kube::api::{Api, PostParams};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Tokens longer than this are refused without asking: a ServiceAccount token is about 1 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How long a review may take before it counts as a failure to ask. An API caller waits for
/// it, and kube's own read timeout (minutes, for watches) is far too long for that.
pub const REVIEW_TIMEOUT: Duration = Duration::from_secs(5);

/// Reviews tokens with a kube client acting as jitpe.
#[derive(Clone)]
pub struct KubeTokenReviewer {
    client: Client,
    timeout: Duration,
}

impl KubeTokenReviewer {
    /// Uses `client` (jitpe's own identity), waiting at most [`REVIEW_TIMEOUT`] per review.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            timeout: REVIEW_TIMEOUT,
        }
    }

    /// The same reviewer waiting at most `timeout` per review.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

#[async_trait]
impl TokenReviewer for KubeTokenReviewer {
    async fn review(&self, token: &Secret, audiences: &[String]) -> Result<Reviewed, TokenError> {
        precheck(token, audiences)?;
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.expose().to_string()),
                audiences: Some(audiences.to_vec()),
            },
            ..TokenReview::default()
        };
        let api = Api::<TokenReview>::all(self.client.clone());
        let answer =
            tokio::time::timeout(self.timeout, api.create(&PostParams::default(), &review))
                .await
                .map_err(|_| {
                    TokenError::Unavailable(format!(
                        "the apiserver did not answer the TokenReview within {:?}",
                        self.timeout
                    ))
                })?
                .map_err(|e| ask_failed(&e, token))?;
        judge(answer.status, audiences, token)
    }
}

/// A [`KubeTokenReviewer`] whose client is built on first use from a kubeconfig file, or the
/// in-cluster / default configuration, like `LazyKubeCluster`: jitpe starts without a cluster,
/// and reviews fail as `Unavailable` until one is reachable.
pub struct LazyKubeTokenReviewer {
    kubeconfig: Option<PathBuf>,
    inner: OnceCell<KubeTokenReviewer>,
}

impl LazyKubeTokenReviewer {
    /// `kubeconfig`: a file, or `None` for in-cluster config, then `$KUBECONFIG`/`~/.kube/config`.
    pub fn new(kubeconfig: Option<PathBuf>) -> Self {
        Self {
            kubeconfig,
            inner: OnceCell::new(),
        }
    }
}

#[async_trait]
impl TokenReviewer for LazyKubeTokenReviewer {
    async fn review(&self, token: &Secret, audiences: &[String]) -> Result<Reviewed, TokenError> {
        let reviewer = self
            .inner
            .get_or_try_init(|| async {
                connect(self.kubeconfig.as_ref())
                    .await
                    .map(KubeTokenReviewer::new)
                    .map_err(|e| TokenError::Unavailable(e.to_string()))
            })
            .await?;
        reviewer.review(token, audiences).await
    }
}

/// Refuses what needs no apiserver to judge, and never asks without an audience (the
/// apiserver would then check for its own audience, accepting tokens meant for it).
fn precheck(token: &Secret, audiences: &[String]) -> Result<(), TokenError> {
    if audiences.is_empty() || audiences.iter().any(|a| a.is_empty()) {
        return Err(TokenError::Unavailable(
            "no token audience is configured: jitpe must ask for a specific audience \
             (the default is `jitpe`)"
                .into(),
        ));
    }
    if token.expose().trim().is_empty() {
        return Err(TokenError::Refused("the token is empty".into()));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Refused(format!(
            "the token is longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The apiserver's answer to a review, as the port's result.
fn judge(
    status: Option<TokenReviewStatus>,
    audiences: &[String],
    token: &Secret,
) -> Result<Reviewed, TokenError> {
    let status = status.unwrap_or_default();
    if let Some(error) = status.error.filter(|e| !e.is_empty()) {
        return Err(TokenError::Refused(scrub(&error, token)));
    }
    if status.authenticated != Some(true) {
        return Err(TokenError::Refused("not authenticated".into()));
    }
    let confirmed: Vec<String> = status
        .audiences
        .unwrap_or_default()
        .into_iter()
        .filter(|a| audiences.contains(a))
        .collect();
    if confirmed.is_empty() {
        return Err(TokenError::Refused(format!(
            "the token is not confirmed for audience {}",
            audiences.join(", ")
        )));
    }
    let user = status.user.unwrap_or_default();
    let username = user.username.filter(|u| !u.is_empty()).ok_or_else(|| {
        TokenError::Refused("the apiserver authenticated the token but named no user".into())
    })?;
    Ok(Reviewed {
        username,
        uid: user.uid.unwrap_or_default(),
        groups: user.groups.unwrap_or_default(),
        audiences: confirmed,
    })
}

/// A failure to create the review: never a judgement on the token.
fn ask_failed(e: &kube::Error, token: &Secret) -> TokenError {
    let message = match e {
        kube::Error::Api(ae) if ae.code == 403 => format!(
            "Kubernetes refused jitpe's TokenReview ({}): grant jitpe `create` on \
             authentication.k8s.io tokenreviews (manifests/rbac.yaml)",
            ae.message
        ),
        kube::Error::Api(ae) if ae.code == 401 => format!(
            "Kubernetes did not accept jitpe's own credentials ({}): check its ServiceAccount \
             token or kubeconfig",
            ae.message
        ),
        other => format!("the TokenReview failed: {other}"),
    };
    TokenError::Unavailable(scrub(&message, token))
}

/// `text` without the token in it, should an authenticator ever echo it.
fn scrub(text: &str, token: &Secret) -> String {
    match token.expose() {
        "" => text.to_string(),
        t => text.replace(t, "[redacted]"),
    }
}

#[cfg(test)]
#[path = "token_review_tests.rs"]
mod tests;
