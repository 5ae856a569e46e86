//! The access request and its lifecycle: the data here, the state machine in [`lifecycle`]
//! (with the votes and extensions in `voting.rs`, and what both build in `transition.rs`); a
//! system's labels in `labels.rs`.

mod current;
pub mod labels;
pub mod lifecycle;
mod transition;
mod voting;
mod watched;

pub use labels::Labels;

use crate::domain::anomaly::Usage;
use crate::domain::identity::{Actor, KubeSubject};
use crate::domain::ids::{Namespace, RequestId, ResourceName, RoleName};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Where a request is in its lifecycle (see the diagram in [`crate::domain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for approvals.
    Pending,
    /// Quorum reached; bindings are being created.
    Approved,
    /// Bindings exist; access is live until `expires_at`.
    Active,
    /// Ended at `expires_at`; bindings deleted.
    Expired,
    /// An approver denied it.
    Denied,
    /// Nobody decided within the pending TTL.
    TimedOut,
    /// The requester withdrew it.
    Cancelled,
    /// Creating the bindings failed; nothing was left behind.
    Failed,
    /// Ended early by a person, the shell or anomaly detection.
    Revoked,
}

impl State {
    /// Whether the request can never change again.
    pub fn is_final(self) -> bool {
        !matches!(self, State::Pending | State::Approved | State::Active)
    }

    /// Lowercase words for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Active => "active",
            State::Expired => "expired",
            State::Denied => "denied",
            State::TimedOut => "timed out",
            State::Cancelled => "cancelled",
            State::Failed => "failed",
            State::Revoked => "revoked",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The approver.
    pub by: Actor,
    /// When they clicked.
    pub at: Timestamp,
}

/// An extension of an active grant, waiting for its own approval round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// How much longer.
    pub duration: Duration,
    /// Why.
    pub reason: String,
    /// When it was asked for.
    pub requested_at: Timestamp,
    /// When the extension round times out.
    pub pending_until: Timestamp,
    /// Votes in this round.
    pub approvals: Vec<Vote>,
}

/// An access request, as stored. Changed only through [`lifecycle::decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// Sequential id.
    pub id: RequestId,
    /// Who asked (immutable chat id).
    pub requester: Actor,
    /// Who gets access in Kubernetes.
    pub subject: KubeSubject,
    /// The policy role.
    pub role: RoleName,
    /// The target namespace.
    pub namespace: Namespace,
    /// The single resource (Ingress) the grant is limited to, if any.
    pub resource: Option<ResourceName>,
    /// How long access lasts once active.
    pub duration: Duration,
    /// Why, as typed.
    pub reason: String,
    /// When it was asked for.
    pub created_at: Timestamp,
    /// Lifecycle state.
    pub state: State,
    /// Votes in the approval round.
    pub approvals: Vec<Vote>,
    /// Approvals the role needs.
    pub approvals_needed: usize,
    /// Whether the policy approved it without a vote.
    pub auto_approved: bool,
    /// When the approval round times out.
    pub pending_until: Timestamp,
    /// When quorum was reached.
    pub approved_at: Option<Timestamp>,
    /// When the bindings were created.
    pub activated_at: Option<Timestamp>,
    /// When access ends.
    pub expires_at: Option<Timestamp>,
    /// When the requester is warned of the coming expiry.
    pub warn_at: Option<Timestamp>,
    /// Whether that warning was sent.
    pub warned: bool,
    /// A pending extension, if any.
    pub extension: Option<Extension>,
    /// When it reached a final state.
    pub ended_at: Option<Timestamp>,
    /// Who ended it (denier, canceller, revoker; jitpe for expiry and timeouts).
    pub ended_by: Option<Actor>,
    /// Why it ended, when that is not obvious from the state.
    pub end_reason: Option<String>,
    /// The revocation rule that ended it, if one did (the card says "REVOKED by rule <name>").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by_rule: Option<String>,
    /// What the grant was used for, written once it has ended (from the audit stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// What a system said about itself (a pipeline run URL), shown on the card.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// The risk tiers that tightened the role's rules when it was asked for, kept so the card
    /// shows them even after the policy changes; empty for records from before tiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<AppliedTier>,
    /// The longest access the role and its tiers allowed when it was asked for; set only when a
    /// tier applied (the card shows it beside the tier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
}

/// A risk tier as it applied to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedTier {
    /// The tier's name.
    pub name: String,
    /// Its description, possibly empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

impl AccessRequest {
    /// The next time the request needs attention, for the store's deadline index: the end of the
    /// approval round, an activation to (re)try, the expiry warning, the expiry or the end of an
    /// extension round. `None` once final.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match self.state {
            State::Pending => Some(self.pending_until),
            State::Approved => self.approved_at.or(Some(self.created_at)),
            State::Active => {
                let warn = self.warn_at.filter(|_| !self.warned);
                let ext = self.extension.as_ref().map(|e| e.pending_until);
                [warn, ext, self.expires_at].into_iter().flatten().min()
            }
            _ => None,
        }
    }

    /// Time left until expiry at `now`, if active.
    pub fn time_left(&self, now: Timestamp) -> Option<Duration> {
        let left = self.expires_at?.duration_since(now);
        Some(left.try_into().unwrap_or(Duration::ZERO))
    }

    /// Approvals counted in the current round (the extension's, while one is pending).
    pub fn current_votes(&self) -> &[Vote] {
        match &self.extension {
            Some(e) if self.state == State::Active => &e.approvals,
            _ => &self.approvals,
        }
    }
}

/// Something that happens to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An approver clicked Approve.
    Approve {
        /// The clicker.
        by: Actor,
    },
    /// An approver clicked Deny.
    Deny {
        /// The clicker.
        by: Actor,
    },
    /// The requester withdrew a pending request.
    Cancel {
        /// Who asked.
        by: Actor,
    },
    /// Access ends now.
    Revoke {
        /// Requester, approver, shell operator or jitpe (anomaly).
        by: Actor,
        /// Why.
        reason: String,
    },
    /// A revocation rule matched what the grantee did: access ends now.
    RuleRevoke {
        /// The rule's name (`falco:<rule>` for a Falco alert).
        rule: String,
        /// The matching calls or alert, one compact line each.
        evidence: Vec<String>,
    },
    /// The use report of a grant that has ended.
    ReportUsage {
        /// What the grantee did while access was live.
        usage: Usage,
    },
    /// The requester asks for more time on an active grant.
    RequestExtension {
        /// Who asked.
        by: Actor,
        /// How much more.
        duration: Duration,
        /// Why.
        reason: String,
    },
    /// The bindings were created; access lasts until `expires_at`.
    Activated {
        /// The expiry written into the bindings' annotations.
        expires_at: Timestamp,
    },
    /// Creating the bindings failed permanently.
    ActivationFailed {
        /// What the cluster said.
        error: String,
    },
    /// The grant reached its expiry and its bindings are gone.
    Expire,
    /// Nobody decided in time.
    PendingTimeout,
    /// Nobody decided on an extension in time.
    ExtensionTimeout,
    /// Time to warn the requester that access ends soon.
    WarnExpiry,
}

/// A message to the requester.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Access is live.
    Approved,
    /// An approver said no.
    Denied {
        /// Who.
        by: Actor,
    },
    /// Access ends soon.
    ExpiringSoon,
    /// Access ended on time.
    Expired,
    /// Access was ended by a revocation rule.
    RevokedByRule {
        /// The rule.
        rule: String,
        /// What matched, in short.
        reason: String,
    },
    /// Access was ended early.
    Revoked {
        /// Who.
        by: Actor,
        /// Why.
        reason: String,
    },
    /// Nobody decided in time.
    TimedOut,
    /// The bindings could not be created.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// The grant was extended.
    Extended,
    /// The extension was refused.
    ExtensionDenied {
        /// Who.
        by: Actor,
    },
    /// Nobody decided on the extension in time.
    ExtensionTimedOut,
    /// The card never reached the approvers (given up after a refusal or a long outage).
    CardUndelivered {
        /// The last delivery error.
        error: String,
    },
}

/// Work for the adapters, produced by a transition and carried out by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Create (or refresh) the request's bindings, after the transition is stored.
    ApplyBindings,
    /// Delete the request's bindings, BEFORE the transition is stored, so that a crash never
    /// leaves access behind a final record.
    DeleteBindings,
    /// Post a new approval card.
    PostCard,
    /// Refresh the existing cards.
    UpdateCard,
    /// Message the requester.
    Notify(Notice),
    /// Alert the approvers: a revocation rule ended the grant.
    Alert,
}
