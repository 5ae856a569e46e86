//! Validation of the raw `[policy]` table into a [`Policy`].
//!
//! Validation collects every problem with the key it concerns, so an operator fixes a config in
//! one pass instead of one error per start.

use super::issues::{Issues, PolicyErrors};
use super::raw::{RawIdentity, RawNamespaces, RawPolicy};
use super::{NamespaceRules, Policy};
use crate::domain::anomaly::RevocationRules;
use crate::domain::identity::{Actor, KubeSubject};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

impl TryFrom<RawPolicy> for Policy {
    type Error = PolicyErrors;

    fn try_from(raw: RawPolicy) -> Result<Self, PolicyErrors> {
        let mut is = Issues::default();
        let pending_ttl = raw
            .pending_ttl
            .as_deref()
            .map_or(Some(Duration::from_secs(3600)), |v| {
                is.duration("policy.pending_ttl", v)
            });
        let expiry_warning = raw
            .expiry_warning
            .as_deref()
            .map_or(Some(Duration::from_secs(300)), |v| {
                is.duration("policy.expiry_warning", v)
            });
        let namespaces = namespaces(&mut is, &raw.namespaces);
        let groups: BTreeMap<String, BTreeSet<Actor>> = raw
            .groups
            .iter()
            .map(|(g, members)| (g.clone(), is.actors(&format!("policy.groups.{g}"), members)))
            .collect();
        let identities = identities(&mut is, &raw.identities);
        let mut roles = BTreeMap::new();
        for (name, r) in &raw.roles {
            if let Some(role) = super::roles::role(&mut is, &groups, &namespaces.deny, name, r) {
                roles.insert(role.name.clone(), role);
            }
        }
        super::quorum::check(&mut is, &roles, &groups, &identities);
        let systems = super::systems::systems(&mut is, &raw.systems, &roles);
        let tiers = super::tiers::tiers(&mut is, &raw.tiers);
        super::tiers::check_quorum(&mut is, &tiers, &roles, &groups, &identities);
        let revocation = RevocationRules::try_from(raw.revocation.clone())
            .map_err(|issues| is.0.extend(issues))
            .unwrap_or_default();
        if raw.roles.is_empty() {
            is.push(
                "policy.roles",
                "no roles are defined: add at least one `[policy.roles.<name>]` table",
            );
        }
        match (pending_ttl, expiry_warning, is.0.is_empty()) {
            (Some(pending_ttl), Some(expiry_warning), true) => Ok(Policy {
                roles,
                namespaces,
                identities,
                groups,
                pending_ttl,
                expiry_warning,
                revocation,
                systems,
                tiers,
            }),
            _ => Err(PolicyErrors(is.0)),
        }
    }
}

fn namespaces(is: &mut Issues, raw: &RawNamespaces) -> NamespaceRules {
    let allow = raw
        .allow
        .iter()
        .filter_map(|p| is.pattern("policy.namespaces.allow", p))
        .collect::<Vec<_>>();
    let deny = raw
        .deny
        .iter()
        .filter_map(|p| is.pattern("policy.namespaces.deny", p))
        .collect();
    if raw.allow.is_empty() {
        is.push("policy.namespaces.allow", "no namespace is allowed: list the namespaces (or patterns like `shop-*`) that may be requested");
    }
    NamespaceRules { allow, deny }
}

fn identities(is: &mut Issues, raw: &[RawIdentity]) -> BTreeMap<Actor, KubeSubject> {
    let mut map = BTreeMap::new();
    for (i, id) in raw.iter().enumerate() {
        let key = format!("policy.identities[{i}]");
        if id.kube_user.trim().is_empty() || id.kube_user.starts_with("system:") {
            is.push(
                format!("{key}.kube_user"),
                "give a Kubernetes user name that is not empty and not a `system:` name",
            );
            continue;
        }
        if !id.kube_groups.is_empty() {
            is.push(
                format!("{key}.kube_groups"),
                "jitpe grants exactly the requester, never a group (every member of it would be \
                 granted): remove kube_groups; policy.groups decides who may approve",
            );
        }
        let subject = KubeSubject {
            user: id.kube_user.clone(),
            groups: Vec::new(),
        };
        for actor in is.actors(&format!("{key}.chat"), &id.chat) {
            if map.insert(actor.clone(), subject.clone()).is_some() {
                // NB: an id mapped twice is ambiguous; refusing the config fails closed.
                is.push(
                    format!("{key}.chat"),
                    format!("`{actor}` is mapped more than once"),
                );
            }
        }
    }
    map
}
