//! What a grant looks like in Kubernetes: deterministic names, labels and annotations of the
//! RoleBindings (and resource-scoped Roles) that an approved request becomes.

use super::error::DomainError;
use super::identity::KubeSubject;
use super::ids::{Namespace, RequestId};
use super::policy::{Policy, ScopedRule};
use super::request::AccessRequest;
use jiff::Timestamp;
use std::collections::BTreeMap;

/// Label on every object jitpe manages; the reconcile sweep lists by it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "jitpe";
/// Label holding the request id.
pub const REQUEST_ID_LABEL: &str = "jitpe.io/request-id";
/// Label holding the role name.
pub const ROLE_LABEL: &str = "jitpe.io/role";
/// Annotation holding the expiry (RFC 3339), read by the reconcile sweep.
pub const EXPIRES_AT_ANNOTATION: &str = "jitpe.io/expires-at";
/// Annotation naming the requester.
pub const REQUESTED_BY_ANNOTATION: &str = "jitpe.io/requested-by";
/// Annotation naming the approvers.
pub const APPROVED_BY_ANNOTATION: &str = "jitpe.io/approved-by";
/// Annotation holding the reason.
pub const REASON_ANNOTATION: &str = "jitpe.io/reason";

/// What a RoleBinding refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleRef {
    /// A ClusterRole from the policy.
    ClusterRole(String),
    /// The namespaced Role of the same name created with the binding (resource-scoped grants).
    Role(String),
}

/// One RoleBinding to create, with its resource-scoped Role if it needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBinding {
    /// `jitpe-<request id>-<index>`; the Role, if any, has the same name.
    pub name: String,
    /// Where it is created.
    pub namespace: Namespace,
    /// What it grants.
    pub role_ref: RoleRef,
    /// Rules of the Role to create (with `resourceNames` filled in), for scoped grants.
    pub scoped_rules: Option<Vec<ScopedRule>>,
    /// The resource the scoped Role is limited to.
    pub resource_name: Option<String>,
    /// Who gets access.
    pub subject: KubeSubject,
    /// Labels (managed-by, request id, role).
    pub labels: BTreeMap<String, String>,
    /// Annotations (expiry, requester, approvers, reason).
    pub annotations: BTreeMap<String, String>,
}

/// The name of binding `index` of request `id`.
pub fn binding_name(id: RequestId, index: usize) -> String {
    format!("jitpe-{id}-{index}")
}

/// Reads the request id back from an object's labels, if it is one of ours.
pub fn request_id_of(labels: &BTreeMap<String, String>) -> Option<RequestId> {
    if labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY_VALUE) {
        return None;
    }
    labels.get(REQUEST_ID_LABEL)?.parse().ok().map(RequestId)
}

/// The objects an approved request becomes, expiring at `expires_at`.
pub fn plan(
    req: &AccessRequest,
    policy: &Policy,
    expires_at: Timestamp,
) -> Result<Vec<PlannedBinding>, DomainError> {
    let role = policy.role(&req.role)?;
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (REQUEST_ID_LABEL.to_string(), req.id.to_string()),
        (ROLE_LABEL.to_string(), req.role.to_string()),
    ]);
    let approvers = if req.auto_approved {
        "auto-approved by policy".to_string()
    } else {
        let v: Vec<String> = req.approvals.iter().map(|v| v.by.to_string()).collect();
        v.join(",")
    };
    let annotations = BTreeMap::from([
        (EXPIRES_AT_ANNOTATION.to_string(), expires_at.to_string()),
        (
            REQUESTED_BY_ANNOTATION.to_string(),
            req.requester.to_string(),
        ),
        (APPROVED_BY_ANNOTATION.to_string(), approvers),
        (REASON_ANNOTATION.to_string(), req.reason.clone()),
    ]);
    let out = role
        .targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let name = binding_name(req.id, i);
            let fixed = target.namespace.clone();
            // NB: only targets in the requested namespace are narrowed to the resource; a fixed
            // namespace (the controller's logs) has nothing of that name to narrow to.
            let scoped = match (&req.resource, &fixed, &role.scoped_rules) {
                (Some(res), None, Some(rules)) => Some((res.to_string(), rules.clone())),
                _ => None,
            };
            PlannedBinding {
                role_ref: match &scoped {
                    Some(_) => RoleRef::Role(name.clone()),
                    None => RoleRef::ClusterRole(target.cluster_role.clone()),
                },
                resource_name: scoped.as_ref().map(|(r, _)| r.clone()),
                scoped_rules: scoped.map(|(_, rules)| rules),
                name,
                namespace: fixed.unwrap_or_else(|| req.namespace.clone()),
                subject: req.subject.clone(),
                labels: labels.clone(),
                annotations: annotations.clone(),
            }
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::*;
    use crate::domain::ids::ResourceName;
    use crate::domain::lifecycle::submit;

    #[test]
    fn a_debug_grant_binds_each_target_with_labels_and_annotations() {
        let req = in_state(crate::domain::request::State::Active);
        let plan = plan(&req, &policy(), at(960)).unwrap();
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].name, "jitpe-7-0");
        assert_eq!(plan[0].namespace.as_str(), "shop");
        assert_eq!(
            plan[0].role_ref,
            RoleRef::ClusterRole("jitpe-ingress-debug".into())
        );
        assert_eq!(plan[1].namespace.as_str(), "ingress-nginx");
        assert_eq!(plan[0].labels[REQUEST_ID_LABEL], "7");
        assert_eq!(request_id_of(&plan[1].labels), Some(RequestId(7)));
        assert_eq!(
            plan[0].annotations[EXPIRES_AT_ANNOTATION],
            "2023-11-14T22:29:20Z"
        );
        assert_eq!(plan[0].annotations[APPROVED_BY_ANNOTATION], "slack:UAPP1");
        assert_eq!(plan[0].subject.user, "rachel");
    }

    #[test]
    fn a_scoped_change_grant_gets_its_own_role_with_resource_names() {
        let mut n = new_request("change", 30);
        n.resource = Some(ResourceName::parse("web-frontend").unwrap());
        let req = submit(RequestId(9), n, &policy(), t0(), 0).unwrap().request;
        let plan = plan(&req, &policy(), at(100)).unwrap();
        assert_eq!(plan[0].role_ref, RoleRef::Role("jitpe-9-0".into()));
        assert_eq!(plan[0].resource_name.as_deref(), Some("web-frontend"));
        assert!(plan[0].scoped_rules.is_some());
    }

    #[test]
    fn foreign_objects_are_not_ours() {
        let labels = BTreeMap::from([(REQUEST_ID_LABEL.to_string(), "7".to_string())]);
        assert_eq!(request_id_of(&labels), None);
    }
}
