//! What the cluster lets jitpe create, as config checks: the ClusterRoles its RBAC may bind, the
//! rule shape its admission policy admits in a scoped Role, and the namespaces it may never
//! write in. A role outside these would be refused by the cluster on every approval, so
//! `check-config` refuses it first, naming the key. A leaf: it depends on no other policy module
//! but `issues`.
//!
//! The lists mirror `manifests/rbac.yaml` and `manifests/admission-policy.yaml`; a test reads
//! the manifests and fails if they drift apart.

use super::issues::Issues;
use super::raw::RawScopedRule;
use crate::domain::ids::Namespace;
use regex::Regex;

/// The ClusterRoles jitpe's shipped RBAC may `bind` (and `get`), and its admission policy admits.
pub const GRANTABLE_CLUSTER_ROLES: [&str; 3] = [
    "jitpe-ingress-debug",
    "jitpe-ingress-change",
    "jitpe-ingress-controller-logs",
];

/// The one API group a scoped Role may name.
pub const SCOPED_API_GROUP: &str = "networking.k8s.io";

/// The one resource a scoped Role may name (always limited by `resourceNames`).
pub const SCOPED_RESOURCE: &str = "ingresses";

/// The verbs a scoped Role may allow: those jitpe holds on Ingresses itself (RBAC lets it grant
/// no more) and its admission policy admits.
pub const SCOPED_VERBS: [&str; 5] = ["get", "list", "watch", "update", "patch"];

/// Namespaces the admission policy never lets jitpe write in, whatever the config says.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// Refuses a `cluster_role` jitpe may not bind, suggesting the nearest one it may.
pub(super) fn cluster_role(is: &mut Issues, key: &str, name: &str) {
    if GRANTABLE_CLUSTER_ROLES.contains(&name) {
        return;
    }
    let nearest = GRANTABLE_CLUSTER_ROLES
        .iter()
        .min_by_key(|r| distance(r, name))
        .filter(|r| distance(r, name) <= 3)
        .map(|r| format!(" (did you mean `{r}`?)"))
        .unwrap_or_default();
    is.push(
        key,
        format!(
            "`{name}` is not a ClusterRole jitpe may bind{nearest}: its RBAC and admission policy \
             (manifests/) allow only {}; every approval would fail",
            GRANTABLE_CLUSTER_ROLES.map(|r| format!("`{r}`")).join(", ")
        ),
    );
}

/// Refuses a fixed binding namespace the cluster refuses to jitpe: a system namespace, or one
/// the policy itself denies.
pub(super) fn binding_namespace(
    is: &mut Issues,
    key: &str,
    ns: &Namespace,
    deny: &[(String, Regex)],
) {
    if SYSTEM_NAMESPACES.contains(&ns.as_str()) {
        is.push(
            key,
            format!(
                "jitpe never grants access in `{ns}`: its admission policy refuses it in the \
                 system namespaces ({}); every approval would fail",
                SYSTEM_NAMESPACES.join(", ")
            ),
        );
    } else if let Some((pattern, _)) = deny.iter().find(|(_, re)| re.is_match(ns.as_str())) {
        is.push(
            key,
            format!(
                "`{ns}` is denied by policy.namespaces.deny (`{pattern}`), which is meant to be \
                 labelled jitpe.io/access=denied in the cluster: bind elsewhere or remove the \
                 deny pattern"
            ),
        );
    }
}

/// Refuses each part of a scoped rule the admission policy would refuse, under its own key
/// (`…scoped_rules[0].verbs`).
pub(super) fn scoped_rule(is: &mut Issues, key: &str, rule: &RawScopedRule) {
    let bad = |values: &[String], ok: &dyn Fn(&str) -> bool| {
        values
            .iter()
            .filter(|v| !ok(v))
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
    };
    let groups = bad(&rule.api_groups, &|g| g == SCOPED_API_GROUP);
    if rule.api_groups.is_empty() || !groups.is_empty() {
        is.push(
            format!("{key}.api_groups"),
            format!(
                "{}a scoped Role may only name the API group `{SCOPED_API_GROUP}`: write \
                 api_groups = [\"{SCOPED_API_GROUP}\"]",
                refused(&groups)
            ),
        );
    }
    let resources = bad(&rule.resources, &|r| r == SCOPED_RESOURCE);
    if rule.resources.is_empty() || !resources.is_empty() {
        is.push(
            format!("{key}.resources"),
            format!(
                "{}a scoped Role may only name `{SCOPED_RESOURCE}` (one Ingress, by name): \
                 never secrets, pods/exec, tokens, RBAC objects or `*`, which jitpe's RBAC and \
                 admission policy refuse",
                refused(&resources)
            ),
        );
    }
    let verbs = bad(&rule.verbs, &|v| SCOPED_VERBS.contains(&v));
    if rule.verbs.is_empty() || !verbs.is_empty() {
        is.push(
            format!("{key}.verbs"),
            format!(
                "{}a scoped Role may only allow {}: never bind, escalate, impersonate, create, \
                 delete or `*`, which jitpe does not hold and its admission policy refuses",
                refused(&verbs),
                SCOPED_VERBS.join(", ")
            ),
        );
    }
}

/// "`secrets` cannot be granted: " for the refused values, or "none given: " when empty.
fn refused(values: &[String]) -> String {
    if values.is_empty() {
        "none given: ".to_string()
    } else {
        format!("{} cannot be granted: ", values.join(", "))
    }
}

/// Levenshtein distance, for the "did you mean" of a misspelt ClusterRole.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}
