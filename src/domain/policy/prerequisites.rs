//! What must exist in the cluster for each role to be grantable: the ClusterRoles its bindings
//! refer to and the fixed namespaces they are created in. The config cannot tell (a namespace
//! may be created later, a ClusterRole may not be installed), so jitpe checks these against the
//! cluster at start-up and periodically; this module only says what to check and how to word
//! what is missing.

use super::Policy;
use crate::domain::ids::RoleName;
use std::fmt;

/// A cluster-scoped object jitpe looks up by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClusterObject {
    /// `rbac.authorization.k8s.io/v1` ClusterRole.
    ClusterRole(String),
    /// `v1` Namespace.
    Namespace(String),
}

impl fmt::Display for ClusterObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterObject::ClusterRole(n) => write!(f, "ClusterRole `{n}`"),
            ClusterObject::Namespace(n) => write!(f, "namespace `{n}`"),
        }
    }
}

/// One object a role needs, with the config key that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prerequisite {
    /// The role that needs it.
    pub role: RoleName,
    /// The dotted config key naming it (`policy.roles.debug.bindings[1].namespace`).
    pub key: String,
    /// What must exist.
    pub object: ClusterObject,
}

impl Prerequisite {
    /// What an operator reads when the object is missing.
    pub fn missing(&self) -> String {
        format!(
            "role `{}` cannot be granted: {} ({}) does not exist, so every approved request \
             would end Failed; create it or change the key",
            self.role, self.object, self.key
        )
    }

    /// What an operator reads when jitpe may not look the object up (`why` is the cluster's
    /// refusal).
    pub fn unreadable(&self, why: &str) -> String {
        format!(
            "role `{}` may not be grantable: jitpe may not read {} ({}): {why}; jitpe's RBAC \
             (manifests/rbac.yaml) lets it get only the ClusterRoles it may bind, and namespaces",
            self.role, self.object, self.key
        )
    }
}

impl Policy {
    /// Everything the roles need in the cluster, role by role and binding by binding.
    pub fn prerequisites(&self) -> Vec<Prerequisite> {
        let mut out = Vec::new();
        for role in self.roles.values() {
            for (i, t) in role.targets.iter().enumerate() {
                let key = format!("policy.roles.{}.bindings[{i}]", role.name);
                out.push(Prerequisite {
                    role: role.name.clone(),
                    key: format!("{key}.cluster_role"),
                    object: ClusterObject::ClusterRole(t.cluster_role.clone()),
                });
                if let Some(ns) = &t.namespace {
                    out.push(Prerequisite {
                        role: role.name.clone(),
                        key: format!("{key}.namespace"),
                        object: ClusterObject::Namespace(ns.to_string()),
                    });
                }
            }
        }
        out
    }
}
