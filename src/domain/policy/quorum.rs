//! Whether each role's `approvals` can be reached, whoever requests it. Votes count people, not
//! chat ids: the chat ids of one `[[policy.identities]]` entry are one person (who may not
//! approve their own request unless `allow_self_approval`), and an approver who is not mapped
//! is a person of their own. A leaf: it depends on no other policy module but `issues`.

use super::Role;
use super::issues::Issues;
use crate::domain::identity::{Actor, KubeSubject};
use std::collections::{BTreeMap, BTreeSet};

/// One person: a mapped Kubernetes user, or an approver known only by a chat id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Person {
    /// A `[[policy.identities]]` entry, by its Kubernetes user.
    Mapped(String),
    /// A chat id mapped to no Kubernetes user (it may approve, never request).
    Unmapped(Actor),
}

impl Person {
    /// The person behind `actor`.
    pub(super) fn of(actor: &Actor, identities: &BTreeMap<Actor, KubeSubject>) -> Self {
        match identities.get(actor) {
            Some(s) => Person::Mapped(s.user.clone()),
            None => Person::Unmapped(actor.clone()),
        }
    }

    fn name(&self) -> String {
        match self {
            Person::Mapped(user) => user.clone(),
            Person::Unmapped(actor) => actor.to_string(),
        }
    }
}

/// Pushes an issue for every role whose `approvals` some requester can never collect.
pub(super) fn check(
    is: &mut Issues,
    roles: &BTreeMap<crate::domain::ids::RoleName, Role>,
    groups: &BTreeMap<String, BTreeSet<Actor>>,
    identities: &BTreeMap<Actor, KubeSubject>,
) {
    let requesters: BTreeSet<Person> = identities
        .keys()
        .map(|a| Person::of(a, identities))
        .collect();
    for role in roles.values() {
        let approvers = approvers(role, groups, identities);
        let (worst, reachable) = worst_case(role, &approvers, &requesters);
        if reachable < role.approvals_needed {
            is.push(
                format!("policy.roles.{}.approvals", role.name),
                message(role, &approvers, worst, reachable),
            );
        }
    }
}

/// The people who may approve `role`.
fn approvers(
    role: &Role,
    groups: &BTreeMap<String, BTreeSet<Actor>>,
    identities: &BTreeMap<Actor, KubeSubject>,
) -> BTreeSet<Person> {
    role.approvers
        .iter()
        // An unknown group is already an issue of its own; it adds nobody here.
        .chain(
            role.approver_groups
                .iter()
                .filter_map(|g| groups.get(g))
                .flatten(),
        )
        .map(|a| Person::of(a, identities))
        .collect()
}

/// The most approvals every requester of `role` can collect (tiers check theirs against it).
pub(super) fn reachable(
    role: &Role,
    groups: &BTreeMap<String, BTreeSet<Actor>>,
    identities: &BTreeMap<Actor, KubeSubject>,
) -> usize {
    let requesters: BTreeSet<Person> = identities
        .keys()
        .map(|a| Person::of(a, identities))
        .collect();
    worst_case(role, &approvers(role, groups, identities), &requesters).1
}

/// The requester who can collect the fewest approvals, and how many: an approver's own request
/// loses their vote (unless self-approval is allowed).
fn worst_case<'a>(
    role: &Role,
    approvers: &BTreeSet<Person>,
    requesters: &'a BTreeSet<Person>,
) -> (Option<&'a Person>, usize) {
    if role.allow_self_approval {
        return (None, approvers.len());
    }
    match requesters.iter().find(|r| approvers.contains(r)) {
        Some(r) => (Some(r), approvers.len() - 1),
        None => (None, approvers.len()),
    }
}

fn message(
    role: &Role,
    approvers: &BTreeSet<Person>,
    worst: Option<&Person>,
    reachable: usize,
) -> String {
    let people = approvers
        .iter()
        .map(|p| format!("`{}`", p.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let who = match worst {
        Some(p) => format!(
            "a request by `{}` can collect at most {reachable}, as nobody approves their own \
             request",
            p.name()
        ),
        None => format!("at most {reachable} can ever be collected"),
    };
    format!(
        "{} approvals are needed, but {who}: the approvers are {} people ({people}; the chat \
         ids of one identity are one person). Lower approvals or add approvers",
        role.approvals_needed,
        approvers.len(),
    )
}
