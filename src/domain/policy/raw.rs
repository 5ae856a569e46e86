//! The `[policy]` table as written in the config file: plain serde types, checked by
//! `config.rs` into a `Policy`. A leaf: it depends on no other policy module.
//!
//! Unknown keys are not refused here (`deny_unknown_fields` would stop at the first): the config
//! reader (`config/unknown.rs`) refuses all of them at once, wherever they are. Anything else
//! that reads these types from text must do the same.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The `[policy]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawPolicy {
    /// How long a request may wait for approval (default `1h`).
    pub pending_ttl: Option<String>,
    /// How long before expiry the requester is warned (default `5m`).
    pub expiry_warning: Option<String>,
    /// Namespace allow and deny patterns.
    #[serde(default)]
    pub namespaces: RawNamespaces,
    /// Named groups of chat users, usable as approvers.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// Chat users mapped to Kubernetes users.
    #[serde(default)]
    pub identities: Vec<RawIdentity>,
    /// Roles by name.
    #[serde(default)]
    pub roles: BTreeMap<String, RawRole>,
    /// `[policy.revocation]`: the rules that end a grant early (shipped defaults when absent).
    #[serde(default)]
    pub revocation: crate::domain::anomaly::RawRevocation,
    /// `[[policy.systems]]`: ServiceAccounts that may ask through the API, in order.
    #[serde(default)]
    pub systems: Vec<RawSystem>,
    /// `[policy.tiers.<name>]`: risk tiers that tighten the roles' rules in some namespaces.
    #[serde(default)]
    pub tiers: BTreeMap<String, RawTier>,
}

/// `[[policy.systems]]`: one rule for ServiceAccounts asking through the API.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSystem {
    /// Shown on cards and in `check-config`.
    #[serde(default)]
    pub description: String,
    /// `system:serviceaccount:<namespace>:<name>` patterns (`*` within a part).
    #[serde(default)]
    pub service_accounts: Vec<String>,
    /// Roles they may ask for.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Namespace patterns they may ask in.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Approval without a vote, within limits; absent: the role's approvers decide in chat.
    pub auto_approve: Option<RawSystemAutoApprove>,
}

/// `[policy.systems.auto_approve]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSystemAutoApprove {
    /// Longest duration that qualifies.
    pub max_duration: String,
    /// Automatic approvals of a role per ServiceAccount per UTC day.
    pub per_day: u32,
}

/// `[policy.namespaces]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawNamespaces {
    /// Patterns that may be requested (`shop`, `shop-*`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Patterns that never may, even if allowed above.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `[[policy.identities]]`: one person.
#[derive(Debug, Clone, Deserialize)]
pub struct RawIdentity {
    /// Kubernetes user name.
    pub kube_user: String,
    /// Refused when not empty: a grant binds exactly the requester, never a group (whose every
    /// member would be granted). Kept as a key only so the refusal can say so.
    #[serde(default)]
    pub kube_groups: Vec<String>,
    /// The person's chat ids (`slack:U…`, `mattermost:…`).
    pub chat: Vec<String>,
}

/// `[policy.roles.<name>]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawRole {
    /// One line shown in help and on cards.
    #[serde(default)]
    pub description: String,
    /// Duration used when none is typed.
    pub default_duration: String,
    /// Longest duration allowed.
    pub max_duration: String,
    /// Distinct approvals needed (default 1).
    #[serde(default = "one")]
    pub approvals: usize,
    /// Approver chat ids.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Policy groups whose members approve.
    #[serde(default)]
    pub approver_groups: Vec<String>,
    /// Whether requesters may approve their own requests (default false).
    #[serde(default)]
    pub allow_self_approval: bool,
    /// Pattern the whole reason must contain a match of.
    pub reason_pattern: Option<String>,
    /// ClusterRoles to bind.
    #[serde(default)]
    pub bindings: Vec<RawBinding>,
    /// Rules for a Role limited to one resource; absent means the role cannot be scoped.
    pub scoped_rules: Option<Vec<RawScopedRule>>,
    /// Automatic approval.
    pub auto_approve: Option<RawAutoApprove>,
    /// Per-platform approvers channel (`slack = "C…"`, `mattermost = "…"`).
    #[serde(default)]
    pub approvers_channel: BTreeMap<String, String>,
}

fn one() -> usize {
    1
}

/// `[[policy.roles.<name>.bindings]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawBinding {
    /// The ClusterRole to reference.
    pub cluster_role: String,
    /// A fixed namespace; absent means the requested one.
    pub namespace: Option<String>,
}

/// `[[policy.roles.<name>.scoped_rules]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawScopedRule {
    /// API groups.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

/// `[policy.roles.<name>.auto_approve]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawAutoApprove {
    /// Users who qualify.
    #[serde(default)]
    pub users: Vec<String>,
    /// Policy groups who qualify.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Longest duration that qualifies.
    pub max_duration: String,
    /// Automatic approvals of this role per requester per UTC day.
    pub per_day: u32,
}

/// `[policy.tiers.<name>]`: a risk tier. Every key tightens the rules of any role requested in a
/// matching namespace; none can loosen them.
#[derive(Debug, Clone, Deserialize)]
pub struct RawTier {
    /// Namespace patterns the tier covers, as in `[policy.namespaces]`.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Approvals needed on top of the role's (default 0).
    #[serde(default)]
    pub extra_approvals: usize,
    /// At least this many approvals (default 0: no floor).
    #[serde(default)]
    pub min_approvals: usize,
    /// Caps the role's max_duration and default_duration.
    pub max_duration: Option<String>,
    /// `false` turns the role's auto-approval off here (default `true`: keep the role's).
    #[serde(default = "yes")]
    pub auto_approve: bool,
    /// A pattern the reason must also match, besides the role's own.
    pub reason_pattern: Option<String>,
    /// Shown on the card beside the tier's name.
    #[serde(default)]
    pub description: String,
}

fn yes() -> bool {
    true
}
