//! Who is acting: chat users (by immutable platform id, never a display name), systems (a
//! Kubernetes ServiceAccount, by the username its token authenticates as), the jitpe system
//! itself and shell operators, and the Kubernetes subjects that requesters map to.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an actor comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// A Slack workspace user (`U…`/`W…` ids).
    Slack,
    /// A Mattermost user (26-character ids).
    Mattermost,
    /// An operator at a shell running `jitpe revoke` (break-glass).
    Cli,
    /// jitpe itself: expiry, timeouts, reconcile, anomaly revocation.
    System,
    /// A Kubernetes ServiceAccount calling the API (a CI/CD pipeline), by the username its
    /// token authenticates as (`system:serviceaccount:<namespace>:<name>`).
    Kubernetes,
}

impl Platform {
    /// The lowercase name used in config files and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Mattermost => "mattermost",
            Platform::Cli => "cli",
            Platform::System => "system",
            Platform::Kubernetes => "kubernetes",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An actor: a platform plus that platform's immutable user id.
///
/// Written `slack:U0123ABCD` in config files and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Actor {
    /// The platform the id belongs to.
    pub platform: Platform,
    /// The platform's immutable id for the user (Slack `user_id`, Mattermost `user_id`).
    pub id: String,
}

impl Actor {
    /// A chat or shell actor.
    pub fn new(platform: Platform, id: impl Into<String>) -> Self {
        Self {
            platform,
            id: id.into(),
        }
    }

    /// jitpe itself, for transitions nobody clicked (expiry, timeouts, reconcile).
    pub fn system() -> Self {
        Self::new(Platform::System, "jitpe")
    }

    /// Whether this actor is a person in a chat platform (as opposed to jitpe or a shell).
    pub fn is_chat_user(&self) -> bool {
        matches!(self.platform, Platform::Slack | Platform::Mattermost)
    }

    /// A ServiceAccount calling the API, named by the username its token authenticated as; the
    /// caller checks the prefix ([`ServiceAccountName::parse`]).
    pub fn service_account(sa: &ServiceAccountName) -> Self {
        Self::new(Platform::Kubernetes, sa.username())
    }

    /// The ServiceAccount, if this actor is a system.
    pub fn as_service_account(&self) -> Option<ServiceAccountName> {
        match self.platform {
            Platform::Kubernetes => ServiceAccountName::parse(&self.id).ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

/// Why an actor string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a user reference: write `slack:<user id>` or `mattermost:<user id>` (for example `slack:U0123ABCD`)"
)]
pub struct ActorError(pub String);

impl FromStr for Actor {
    type Err = ActorError;

    fn from_str(s: &str) -> Result<Self, ActorError> {
        let bad = || ActorError(s.to_string());
        let (platform, id) = s.split_once(':').ok_or_else(bad)?;
        let platform = match platform {
            "slack" => Platform::Slack,
            "mattermost" => Platform::Mattermost,
            "cli" => Platform::Cli,
            "system" => Platform::System,
            "kubernetes" => {
                let sa = ServiceAccountName::parse(id).map_err(|_| bad())?;
                return Ok(Self::service_account(&sa));
            }
            _ => return Err(bad()),
        };
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
        if !id_ok {
            return Err(bad());
        }
        Ok(Self::new(platform, id))
    }
}

impl TryFrom<String> for Actor {
    type Error = ActorError;
    fn try_from(s: String) -> Result<Self, ActorError> {
        s.parse()
    }
}

impl From<Actor> for String {
    fn from(a: Actor) -> String {
        a.to_string()
    }
}

/// The username prefix of every ServiceAccount token (`serviceaccount.ServiceAccountUsernamePrefix`
/// in Kubernetes).
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// A ServiceAccount by namespace and name, as its tokens authenticate:
/// `system:serviceaccount:<namespace>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceAccountName {
    /// Its namespace (a DNS label).
    pub namespace: String,
    /// Its name (a DNS subdomain).
    pub name: String,
}

/// Why a username is not a ServiceAccount's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a ServiceAccount: write `system:serviceaccount:<namespace>:<name>` (for example `system:serviceaccount:ci:deployer`)"
)]
pub struct ServiceAccountError(pub String);

impl ServiceAccountName {
    /// Reads `system:serviceaccount:<namespace>:<name>`: a namespace of at most 63 lowercase
    /// letters, digits and `-`, a name of at most 253 of those and `.`, as Kubernetes allows.
    pub fn parse(username: &str) -> Result<Self, ServiceAccountError> {
        let bad = || ServiceAccountError(username.to_string());
        let rest = username
            .strip_prefix(SERVICE_ACCOUNT_PREFIX)
            .ok_or_else(bad)?;
        let (namespace, name) = rest.split_once(':').ok_or_else(bad)?;
        let part = |s: &str, max: usize, dot: bool| {
            !s.is_empty()
                && s.len() <= max
                && s.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dot && c == '.')
                })
                && !s.starts_with(['-', '.'])
                && !s.ends_with(['-', '.'])
        };
        if !part(namespace, 63, false) || !part(name, 253, true) {
            return Err(bad());
        }
        Ok(Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }

    /// `system:serviceaccount:<namespace>:<name>`, the username its tokens authenticate as and
    /// the subject a grant binds.
    pub fn username(&self) -> String {
        format!("{SERVICE_ACCOUNT_PREFIX}{}:{}", self.namespace, self.name)
    }
}

impl fmt::Display for ServiceAccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.username())
    }
}

/// The Kubernetes identity a chat user is granted access as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KubeSubject {
    /// Kubernetes user name, as the cluster's authenticator reports it.
    pub user: String,
    /// Groups that are bound too (usually empty: jitpe grants to the user).
    #[serde(default)]
    pub groups: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_accounts_round_trip_as_actors_and_bad_names_are_refused() {
        let a: Actor = "kubernetes:system:serviceaccount:ci:deployer"
            .parse()
            .unwrap();
        assert_eq!(a.platform, Platform::Kubernetes);
        assert_eq!(a.id, "system:serviceaccount:ci:deployer");
        assert_eq!(a.to_string().parse::<Actor>().unwrap(), a);
        let sa = a.as_service_account().unwrap();
        assert_eq!(
            (sa.namespace.as_str(), sa.name.as_str()),
            ("ci", "deployer")
        );
        assert!(!a.is_chat_user());
        for bad in [
            "kubernetes:alice",
            "kubernetes:system:serviceaccount:ci",
            "kubernetes:system:serviceaccount::x",
            "kubernetes:system:serviceaccount:CI:x",
            "kubernetes:system:serviceaccount:ci:x:y",
            "kubernetes:system:serviceaccount:-ci:x",
            "kubernetes:system:serviceaccount:ci:x.",
        ] {
            assert!(bad.parse::<Actor>().is_err(), "{bad}");
        }
        let long = format!("system:serviceaccount:{}:x", "a".repeat(64));
        assert!(ServiceAccountName::parse(&long).is_err());
        let dotted = ServiceAccountName::parse("system:serviceaccount:ci:a.b-c").unwrap();
        assert_eq!(dotted.username(), "system:serviceaccount:ci:a.b-c");
    }

    #[test]
    fn actors_round_trip_through_their_text_form() {
        let a: Actor = "slack:U0123ABCD".parse().unwrap();
        assert_eq!(a, Actor::new(Platform::Slack, "U0123ABCD"));
        assert_eq!(a.to_string(), "slack:U0123ABCD");
        assert!(a.is_chat_user());
        assert!(!Actor::system().is_chat_user());
    }

    #[test]
    fn malformed_actor_references_are_refused_with_the_right_form() {
        for bad in [
            "",
            "U0123",
            "teams:U1",
            "slack:",
            "slack:a b",
            "slack:<@U1>",
        ] {
            let err = bad.parse::<Actor>().unwrap_err();
            assert!(err.to_string().contains("slack:<user id>"), "{bad}");
        }
    }
}
