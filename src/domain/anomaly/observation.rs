//! What jitpe observes, already read from its wire format and reduced to what the rules and the
//! use report look at. Strings are bounded by the intake (see `web::observe`), so a hostile
//! batch cannot make these large.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One observation: a Kubernetes API call or a Falco alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// A completed API call from the cluster's audit webhook.
    Call(ApiCall),
    /// An alert from Falco or Falcosidekick.
    Falco(FalcoAlert),
}

/// A completed Kubernetes API request (an `audit.k8s.io/v1` `Event` at stage
/// `ResponseComplete` or `Panic`; the intake drops the other stages so that a request counts
/// once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    /// The apiserver's `auditID`, for the evidence in audit records.
    pub audit_id: String,
    /// When the apiserver received it (`requestReceivedTimestamp`).
    pub at: Timestamp,
    /// The authenticated user (`user.username`).
    pub user: String,
    /// The impersonated user (`impersonatedUser.username`), if the caller impersonated one.
    /// Rules match a grantee under either name.
    pub impersonated: Option<String>,
    /// The Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...).
    pub verb: String,
    /// API group of the resource (`""` for the core group), empty for non-resource requests.
    pub group: String,
    /// Resource (`secrets`, `ingresses`), empty for non-resource requests such as `/healthz`.
    pub resource: String,
    /// Subresource (`exec`, `log`, `status`), empty if none.
    pub subresource: String,
    /// Namespace of the object, `None` for cluster-scoped requests.
    pub namespace: Option<String>,
    /// Name of the object, if the request named one.
    pub name: Option<String>,
    /// HTTP status code of the response (`responseStatus.code`), if the event carries one.
    pub code: Option<u16>,
    /// The object's `metadata.resourceVersion` after a write, when the audit policy logs the
    /// response at `RequestResponse` level (Ingresses only, see `manifests/audit/`), so the
    /// Ingress change feed can name exactly who made each change it sees.
    pub resource_version: Option<String>,
}

impl ApiCall {
    /// Whether `user` made this call, directly or by impersonation.
    pub fn is_by(&self, user: &str) -> bool {
        self.user == user || self.impersonated.as_deref() == Some(user)
    }

    /// `group/resource[/subresource]` as written in rules (`secrets`, `pods/exec`,
    /// `networking.k8s.io/ingresses`).
    pub fn resource_path(&self) -> String {
        let mut s = String::new();
        if !self.group.is_empty() {
            s.push_str(&self.group);
            s.push('/');
        }
        s.push_str(&self.resource);
        if !self.subresource.is_empty() {
            s.push('/');
            s.push_str(&self.subresource);
        }
        s
    }
}

/// A Falco alert, from Falco's JSON output or Falcosidekick's webhook output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FalcoAlert {
    /// The Falco rule that fired.
    pub rule: String,
    /// Its priority.
    pub priority: FalcoPriority,
    /// When it fired.
    pub at: Timestamp,
    /// The Kubernetes user the alert names (`ka.user.name` for the k8saudit plugin), if any.
    pub user: Option<String>,
    /// The namespace the alert names (`k8s.ns.name` or `ka.target.namespace`), if any.
    pub namespace: Option<String>,
    /// Falco's one-line `output`, clipped, for the evidence.
    pub output: String,
}

/// Falco's priorities, most severe first (Falco's own order and names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FalcoPriority {
    /// `Emergency`.
    Emergency,
    /// `Alert`.
    Alert,
    /// `Critical`.
    Critical,
    /// `Error`.
    Error,
    /// `Warning`.
    Warning,
    /// `Notice`.
    Notice,
    /// `Informational` (also written `Info`).
    Informational,
    /// `Debug`.
    Debug,
}

impl FalcoPriority {
    /// Every priority, most severe first.
    pub const ALL: [FalcoPriority; 8] = [
        Self::Emergency,
        Self::Alert,
        Self::Critical,
        Self::Error,
        Self::Warning,
        Self::Notice,
        Self::Informational,
        Self::Debug,
    ];

    /// Falco's name, lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Alert => "alert",
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
            Self::Informational => "informational",
            Self::Debug => "debug",
        }
    }

    /// Whether this priority is at least as severe as `min`.
    pub fn at_least(self, min: FalcoPriority) -> bool {
        self <= min
    }
}

impl fmt::Display for FalcoPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A priority name Falco does not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a Falco priority: use one of emergency, alert, critical, error, warning, \
     notice, informational, debug"
)]
pub struct PriorityError(pub String);

impl FromStr for FalcoPriority {
    type Err = PriorityError;

    /// Case-insensitive, as Falco writes them capitalised (`Critical`); `info` is accepted for
    /// `informational` as Falco's own config does.
    fn from_str(s: &str) -> Result<Self, PriorityError> {
        let lower = s.trim().to_ascii_lowercase();
        if lower == "info" {
            return Ok(Self::Informational);
        }
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == lower)
            .ok_or_else(|| PriorityError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_read_as_falco_writes_them_and_order_by_severity() {
        assert_eq!("Critical".parse(), Ok(FalcoPriority::Critical));
        assert_eq!("INFO".parse(), Ok(FalcoPriority::Informational));
        assert!(FalcoPriority::Emergency.at_least(FalcoPriority::Critical));
        assert!(FalcoPriority::Critical.at_least(FalcoPriority::Critical));
        assert!(!FalcoPriority::Warning.at_least(FalcoPriority::Critical));
        let err = "severe".parse::<FalcoPriority>().unwrap_err();
        assert!(err.to_string().contains("informational"), "{err}");
    }

    #[test]
    fn a_call_is_by_its_user_or_the_user_it_impersonated() {
        let call = ApiCall {
            audit_id: "a".into(),
            at: Timestamp::UNIX_EPOCH,
            user: "admin".into(),
            impersonated: Some("alice".into()),
            verb: "get".into(),
            group: "networking.k8s.io".into(),
            resource: "ingresses".into(),
            subresource: String::new(),
            namespace: Some("shop".into()),
            name: Some("web".into()),
            code: Some(200),
            resource_version: None,
        };
        assert!(call.is_by("alice") && call.is_by("admin") && !call.is_by("bob"));
        assert_eq!(call.resource_path(), "networking.k8s.io/ingresses");
    }
}
