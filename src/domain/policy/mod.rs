//! The access policy: roles, namespaces, identities and approvers, and the checks made before a
//! request is stored or a vote is counted.
//!
//! A [`Policy`] is only built by [`Policy::try_from`] a [`RawPolicy`],
//! which validates everything at once, so an invalid policy cannot exist.

mod config;
mod issues;
mod prerequisites;
mod quorum;
mod raw;
mod roles;
mod shape;
mod systems;
mod tiers;

pub use issues::{ConfigIssue, PolicyErrors};
pub use prerequisites::{ClusterObject, Prerequisite};
pub use raw::{
    RawAutoApprove, RawBinding, RawIdentity, RawNamespaces, RawPolicy, RawRole, RawScopedRule,
    RawSystem, RawSystemAutoApprove, RawTier,
};
pub use shape::{
    GRANTABLE_CLUSTER_ROLES, SCOPED_API_GROUP, SCOPED_RESOURCE, SCOPED_VERBS, SYSTEM_NAMESPACES,
};
pub use systems::{SystemAutoApprove, SystemRule};
pub use tiers::{Rules, Tier};

use crate::domain::anomaly::RevocationRules;
use crate::domain::error::DomainError;
use crate::domain::identity::{Actor, KubeSubject, Platform, ServiceAccountName};
use crate::domain::ids::{Namespace, ResourceName, RoleName};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(super) roles: BTreeMap<RoleName, Role>,
    pub(super) namespaces: NamespaceRules,
    pub(super) identities: BTreeMap<Actor, KubeSubject>,
    pub(super) groups: BTreeMap<String, BTreeSet<Actor>>,
    pub(super) pending_ttl: Duration,
    pub(super) expiry_warning: Duration,
    pub(super) revocation: RevocationRules,
    pub(super) systems: Vec<SystemRule>,
    pub(super) tiers: Vec<Tier>,
}

/// One grantable role.
#[derive(Debug, Clone)]
pub struct Role {
    /// Its name, as typed in `/jit request <role>`.
    pub name: RoleName,
    /// One line for `/jit help` and the card.
    pub description: String,
    /// What is bound on approval.
    pub targets: Vec<BindingTarget>,
    /// Used when the request names no duration.
    pub default_duration: Duration,
    /// Requests and extensions may not be longer.
    pub max_duration: Duration,
    /// Distinct approvals needed; any deny wins.
    pub approvals_needed: usize,
    /// Who may approve (users, and members of policy groups).
    pub approvers: BTreeSet<Actor>,
    /// Policy groups whose members may approve.
    pub approver_groups: BTreeSet<String>,
    /// Whether the requester's own vote counts.
    pub allow_self_approval: bool,
    /// Optional approval without a human vote.
    pub auto_approve: Option<AutoApprove>,
    /// Optional pattern every reason must match (e.g. a ticket id).
    pub reason_pattern: Option<Regex>,
    /// Rules for a Role limited to one named resource (`shop/web-frontend`); `None` means the role
    /// cannot be scoped.
    pub scoped_rules: Option<Vec<ScopedRule>>,
    /// Per-platform approvers channel overriding the platform default.
    pub approvers_channels: BTreeMap<Platform, String>,
}

/// One ClusterRole to bind, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingTarget {
    /// The ClusterRole referenced by the RoleBinding.
    pub cluster_role: String,
    /// `None`: the namespace of the request; `Some`: a fixed one (e.g. the ingress controller's).
    pub namespace: Option<Namespace>,
}

/// A rule of a resource-scoped Role; `resourceNames` is filled with the requested resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedRule {
    /// API groups (`networking.k8s.io`).
    pub api_groups: Vec<String>,
    /// Resources (`ingresses`).
    pub resources: Vec<String>,
    /// Verbs (`get`, `update`, `patch`).
    pub verbs: Vec<String>,
}

/// When a request is approved without a human vote.
#[derive(Debug, Clone)]
pub struct AutoApprove {
    /// Users whose requests qualify.
    pub users: BTreeSet<Actor>,
    /// Policy groups whose members qualify.
    pub groups: BTreeSet<String>,
    /// Longest duration that qualifies.
    pub max_duration: Duration,
    /// At most this many automatic approvals of this role per requester per UTC day.
    pub per_day: u32,
}

/// Namespace allow and deny patterns (`*` matches any run of name characters); deny wins, and an
/// empty allow list allows nothing.
#[derive(Debug, Clone)]
pub struct NamespaceRules {
    pub(super) allow: Vec<(String, Regex)>,
    pub(super) deny: Vec<(String, Regex)>,
}

impl NamespaceRules {
    /// Whether `ns` may be requested.
    pub fn allows(&self, ns: &Namespace) -> bool {
        let hit = |list: &[(String, Regex)]| list.iter().any(|(_, re)| re.is_match(ns.as_str()));
        hit(&self.allow) && !hit(&self.deny)
    }

    /// The allow patterns as written.
    pub fn allow_patterns(&self) -> impl Iterator<Item = &str> {
        self.allow.iter().map(|(p, _)| p.as_str())
    }

    /// The deny patterns as written.
    pub fn deny_patterns(&self) -> impl Iterator<Item = &str> {
        self.deny.iter().map(|(p, _)| p.as_str())
    }
}

/// What a valid request resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// Who gets the access in Kubernetes.
    pub subject: KubeSubject,
    /// The duration, with the role's default filled in.
    pub duration: Duration,
}

impl Policy {
    /// All roles, by name.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The namespace rules.
    pub fn namespaces(&self) -> &NamespaceRules {
        &self.namespaces
    }

    /// How long a request may wait for approval.
    pub fn pending_ttl(&self) -> Duration {
        self.pending_ttl
    }

    /// How long before expiry the requester is warned.
    pub fn expiry_warning(&self) -> Duration {
        self.expiry_warning
    }

    /// The rules that revoke a grant on what its grantee does (`[policy.revocation]`).
    pub fn revocation(&self) -> &RevocationRules {
        &self.revocation
    }

    /// The `[[policy.systems]]` rules, in order.
    pub fn systems(&self) -> &[SystemRule] {
        &self.systems
    }

    /// The first system rule that lets `sa` ask for `role` in `namespace`.
    pub fn system_rule(
        &self,
        sa: &ServiceAccountName,
        role: &RoleName,
        namespace: &Namespace,
    ) -> Option<&SystemRule> {
        self.systems.iter().find(|r| r.allows(sa, role, namespace))
    }

    /// The risk tiers, by name.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// The rules of `role` in namespace `ns`: the role's, tightened by the tiers covering `ns`.
    pub fn rules<'a>(&'a self, role: &'a Role, ns: &Namespace) -> Rules<'a> {
        Rules::new(role, &self.tiers, ns)
    }

    /// Number of mapped chat identities.
    pub fn identity_count(&self) -> usize {
        self.identities.len()
    }

    /// The role, or an error listing the known ones.
    pub fn role(&self, name: &RoleName) -> Result<&Role, DomainError> {
        self.roles
            .get(name)
            .ok_or_else(|| DomainError::UnknownRole {
                role: name.clone(),
                known: self
                    .roles
                    .keys()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The Kubernetes subject of a requester: a chat user's mapped identity, or a system's own
    /// ServiceAccount if some `[[policy.systems]]` rule names it; anyone else is refused (fail
    /// closed).
    pub fn subject_for(&self, who: &Actor) -> Result<KubeSubject, DomainError> {
        if who.platform == Platform::Kubernetes {
            let sa = who.as_service_account();
            let known = sa.filter(|sa| self.systems.iter().any(|r| r.names(sa)));
            return known
                .map(|sa| KubeSubject {
                    user: sa.username(),
                    groups: Vec::new(),
                })
                .ok_or_else(|| DomainError::UnknownSystem(who.id.clone()));
        }
        self.identities
            .get(who)
            .cloned()
            .ok_or_else(|| DomainError::UnmappedUser(who.to_string()))
    }

    /// Whether `who` belongs to policy group `group`.
    pub fn in_group(&self, who: &Actor, group: &str) -> bool {
        self.groups.get(group).is_some_and(|m| m.contains(who))
    }

    /// Whether `who` may approve or deny requests for `role`.
    pub fn is_approver(&self, role: &Role, who: &Actor) -> bool {
        role.approvers.contains(who) || role.approver_groups.iter().any(|g| self.in_group(who, g))
    }

    /// Whether two actors are one person: the same chat id, or two chat ids of one identity (a
    /// person's Slack and Mattermost accounts). Votes and self-approval count people.
    pub fn same_person(&self, a: &Actor, b: &Actor) -> bool {
        quorum::Person::of(a, &self.identities) == quorum::Person::of(b, &self.identities)
    }

    /// Whether `who` approves for any role (approvers see every request in `/jit list`).
    pub fn is_any_approver(&self, who: &Actor) -> bool {
        self.roles.values().any(|r| self.is_approver(r, who))
    }

    /// Checks a new request against the policy, before anything is stored or anyone is pinged.
    pub fn admit(
        &self,
        requester: &Actor,
        role_name: &RoleName,
        namespace: &Namespace,
        resource: Option<&ResourceName>,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<Admitted, DomainError> {
        let subject = self.subject_for(requester)?;
        let role = self.role(role_name)?;
        if !self.namespaces.allows(namespace) {
            return Err(DomainError::NamespaceNotAllowed(namespace.to_string()));
        }
        if let Some(sa) = requester.as_service_account()
            && self.system_rule(&sa, role_name, namespace).is_none()
        {
            return Err(DomainError::SystemNotAllowed {
                who: sa.username(),
                role: role_name.clone(),
                namespace: namespace.to_string(),
            });
        }
        if resource.is_some() && role.scoped_rules.is_none() {
            return Err(DomainError::NotScopable(role.name.clone()));
        }
        let rules = self.rules(role, namespace);
        let duration = duration.unwrap_or(rules.default_duration());
        rules.check_duration(duration, namespace)?;
        rules.check_reason(reason)?;
        Ok(Admitted { subject, duration })
    }

    /// Whether a request qualifies for automatic approval under `rules` (a tier may have turned
    /// it off), given how many the requester already had today.
    pub fn auto_approves(
        &self,
        rules: &Rules<'_>,
        who: &Actor,
        duration: Duration,
        approved_today: u32,
    ) -> bool {
        if who.platform == Platform::Kubernetes {
            // A system's own rule decides, never the role's list of people.
            return false;
        }
        let Some(auto) = rules.auto_approve() else {
            return false;
        };
        let member = auto.users.contains(who) || auto.groups.iter().any(|g| self.in_group(who, g));
        member && duration <= auto.max_duration && approved_today < auto.per_day
    }
}

impl Role {
    /// Refuses durations over the role's maximum.
    pub fn check_duration(&self, d: Duration) -> Result<(), DomainError> {
        if d > self.max_duration {
            return Err(DomainError::DurationTooLong {
                role: self.name.clone(),
                asked: crate::domain::duration::format_duration(d),
                max: crate::domain::duration::format_duration(self.max_duration),
            });
        }
        Ok(())
    }

    /// The approvers channel for `platform`, if the role overrides the default.
    pub fn approvers_channel(&self, platform: Platform) -> Option<&str> {
        self.approvers_channels.get(&platform).map(String::as_str)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tiers_tests;
#[cfg(test)]
mod unusable_tests;
