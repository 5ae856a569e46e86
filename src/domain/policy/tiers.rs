//! Risk tiers (`[policy.tiers.<name>]`): namespaces whose requests need more than the role
//! alone asks for (more approvals, a shorter maximum, no auto-approval, a stricter reason). A
//! tier only ever tightens: [`Rules`] is a role's rules in one namespace, the strictest of the
//! role and of every tier covering that namespace.

use super::issues::Issues;
use super::raw::RawTier;
use super::{AutoApprove, Role};
use crate::domain::duration::format_duration;
use crate::domain::error::DomainError;
use crate::domain::identity::{Actor, KubeSubject};
use crate::domain::ids::{Namespace, RoleName};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One validated risk tier.
#[derive(Debug, Clone)]
pub struct Tier {
    /// Its name, the `<name>` of `[policy.tiers.<name>]`.
    pub name: String,
    /// Shown on the card beside the name; may be empty.
    pub description: String,
    pub(super) namespaces: Vec<(String, Regex)>,
    /// Approvals needed on top of the role's.
    pub extra_approvals: usize,
    /// At least this many approvals (0: no floor).
    pub min_approvals: usize,
    /// The longest access any role gets here, if the tier caps it.
    pub max_duration: Option<Duration>,
    /// `false`: no request here is approved without a vote.
    pub auto_approve: bool,
    /// A pattern the reason must match besides the role's own.
    pub reason_pattern: Option<Regex>,
}

impl Tier {
    /// Whether the tier covers namespace `ns`.
    pub fn covers(&self, ns: &Namespace) -> bool {
        self.namespaces
            .iter()
            .any(|(_, re)| re.is_match(ns.as_str()))
    }

    /// The namespace patterns as written.
    pub fn namespace_patterns(&self) -> impl Iterator<Item = &str> {
        self.namespaces.iter().map(|(p, _)| p.as_str())
    }

    /// The approvals `role` needs under this tier alone.
    pub fn approvals_for(&self, role: &Role) -> usize {
        role.approvals_needed
            .saturating_add(self.extra_approvals)
            .max(self.min_approvals)
    }

    /// `prod` or `prod (production)`, for cards and messages.
    pub fn label(&self) -> String {
        match self.description.is_empty() {
            true => self.name.clone(),
            false => format!("{} ({})", self.name, self.description),
        }
    }
}

/// A role's rules in one namespace: the role's own, tightened by every tier covering it.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// The role.
    pub role: &'a Role,
    /// The tiers covering the namespace, by name; empty when none does.
    pub tiers: Vec<&'a Tier>,
}

impl<'a> Rules<'a> {
    /// The role's rules tightened by those of `tiers` that cover `ns`.
    pub(super) fn new(role: &'a Role, tiers: &'a [Tier], ns: &Namespace) -> Self {
        let tiers = tiers.iter().filter(|t| t.covers(ns)).collect();
        Self { role, tiers }
    }

    /// Distinct approvals needed: the highest the role or any tier asks for.
    pub fn approvals_needed(&self) -> usize {
        self.tiers
            .iter()
            .map(|t| t.approvals_for(self.role))
            .fold(self.role.approvals_needed, usize::max)
    }

    /// The tier with the shortest maximum, if it is shorter than the role's.
    fn capping_tier(&self) -> Option<&'a Tier> {
        self.tiers
            .iter()
            .copied()
            .filter(|t| t.max_duration.is_some_and(|m| m < self.role.max_duration))
            .min_by_key(|t| t.max_duration)
    }

    /// The longest access: the shortest of the role's and the tiers' maximums.
    pub fn max_duration(&self) -> Duration {
        self.capping_tier()
            .and_then(|t| t.max_duration)
            .unwrap_or(self.role.max_duration)
    }

    /// Used when a request names no duration: the role's default, capped to the maximum.
    pub fn default_duration(&self) -> Duration {
        self.role.default_duration.min(self.max_duration())
    }

    /// The role's auto-approval, unless a tier turns it off.
    pub fn auto_approve(&self) -> Option<&'a AutoApprove> {
        let off = self.tiers.iter().any(|t| !t.auto_approve);
        self.role.auto_approve.as_ref().filter(|_| !off)
    }

    /// Every pattern a reason must match, with the tier it comes from (`None`: the role's own).
    pub fn reason_patterns(&self) -> impl Iterator<Item = (Option<&'a Tier>, &'a Regex)> {
        let own = self.role.reason_pattern.iter().map(|re| (None, re));
        let tiers = self
            .tiers
            .iter()
            .filter_map(|t| t.reason_pattern.as_ref().map(|re| (Some(*t), re)));
        own.chain(tiers)
    }

    /// The names of the tiers, in order.
    pub fn tier_names(&self) -> Vec<String> {
        self.tiers.iter().map(|t| t.name.clone()).collect()
    }

    /// The name of the tier whose maximum applies, if a tier caps the role's.
    pub fn capped_by(&self) -> Option<&'a str> {
        self.capping_tier().map(|t| t.name.as_str())
    }

    /// Refuses a duration over the maximum, naming the tier when it is the one that caps it.
    pub fn check_duration(&self, d: Duration, ns: &Namespace) -> Result<(), DomainError> {
        let Some(tier) = self.capping_tier() else {
            return self.role.check_duration(d);
        };
        if d <= self.max_duration() {
            return Ok(());
        }
        Err(DomainError::TierDurationTooLong {
            tier: tier.name.clone(),
            namespace: ns.to_string(),
            role: self.role.name.clone(),
            asked: format_duration(d),
            max: format_duration(self.max_duration()),
        })
    }

    /// Refuses a reason that misses the role's pattern or any tier's.
    pub fn check_reason(&self, reason: &str) -> Result<(), DomainError> {
        for (tier, re) in self.reason_patterns() {
            if re.is_match(reason) {
                continue;
            }
            let pattern = re.as_str().to_string();
            return Err(match tier {
                None => DomainError::ReasonPattern {
                    role: self.role.name.clone(),
                    pattern,
                },
                Some(t) => DomainError::TierReasonPattern {
                    tier: t.name.clone(),
                    pattern,
                },
            });
        }
        Ok(())
    }
}

/// The tiers as written, or their problems in `is`, each under its dotted key.
pub(super) fn tiers(is: &mut Issues, raw: &BTreeMap<String, RawTier>) -> Vec<Tier> {
    raw.iter()
        .filter_map(|(name, t)| tier(is, name, t))
        .collect()
}

fn tier(is: &mut Issues, name: &str, t: &RawTier) -> Option<Tier> {
    let key = format!("policy.tiers.{name}");
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        is.push(
            &key,
            format!("`{name}` is not a tier name: use lowercase letters, digits, '-' and '_'"),
        );
    }
    let nkey = format!("{key}.namespaces");
    if t.namespaces.is_empty() {
        is.push(
            &nkey,
            "the tier covers no namespace: list namespaces or patterns like `prod-*`",
        );
    }
    let namespaces: Vec<_> = t
        .namespaces
        .iter()
        .filter_map(|p| is.pattern(&nkey, p))
        .collect();
    // Each is `Some(None)` when written but invalid, so one pass reports every problem.
    let max_duration = t
        .max_duration
        .as_deref()
        .map(|v| is.duration(&format!("{key}.max_duration"), v));
    let reason_pattern = t.reason_pattern.as_deref().map(|p| {
        Regex::new(p)
            .map_err(|e| {
                is.push(
                    format!("{key}.reason_pattern"),
                    format!("not a valid regular expression: {e}"),
                )
            })
            .ok()
    });
    let valid = name_ok
        && namespaces.len() == t.namespaces.len()
        && !matches!(max_duration, Some(None))
        && !matches!(reason_pattern, Some(None));
    valid.then(|| Tier {
        name: name.to_string(),
        description: t.description.clone(),
        namespaces,
        extra_approvals: t.extra_approvals,
        min_approvals: t.min_approvals,
        max_duration: max_duration.flatten(),
        auto_approve: t.auto_approve,
        reason_pattern: reason_pattern.flatten(),
    })
}

/// Pushes an issue for every tier and role whose tightened approvals some requester can never
/// collect (counted as `quorum.rs` counts the role's own).
pub(super) fn check_quorum(
    is: &mut Issues,
    tiers: &[Tier],
    roles: &BTreeMap<RoleName, Role>,
    groups: &BTreeMap<String, BTreeSet<Actor>>,
    identities: &BTreeMap<Actor, KubeSubject>,
) {
    for tier in tiers {
        for role in roles.values() {
            let needed = tier.approvals_for(role);
            if needed <= role.approvals_needed {
                continue;
            }
            let reachable = super::quorum::reachable(role, groups, identities);
            if reachable >= needed {
                continue;
            }
            let which = match role.approvals_needed + tier.extra_approvals >= tier.min_approvals {
                true => "extra_approvals",
                false => "min_approvals",
            };
            is.push(
                format!("policy.tiers.{}.{which}", tier.name),
                format!(
                    "in tier `{}` role `{}` needs {needed} approvals, but at most {reachable} can \
                     be collected for some requester (see policy.roles.{}.approvers and \
                     approver_groups): lower the tier's approvals or add approvers to the role",
                    tier.name, role.name, role.name
                ),
            );
        }
    }
}
