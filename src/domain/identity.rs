//! Who is acting: chat users (by immutable platform id, never a display name), the jitpe system
//! itself and shell operators, and the Kubernetes subjects that chat users map to.

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
}

impl Platform {
    /// The lowercase name used in config files and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Mattermost => "mattermost",
            Platform::Cli => "cli",
            Platform::System => "system",
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
