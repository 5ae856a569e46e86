//! What a grant looks like in Kubernetes: deterministic names, labels and annotations of the
//! RoleBindings (and resource-scoped Roles) that an approved request becomes.
//!
//! Names and labels carry the jitpe instance ([`InstanceId`]), so that two installations on one
//! cluster, whose request ids both start at 1, never see, delete or reconcile each other's
//! objects. The names are deterministic, so ending a grant deletes by name (404 is success)
//! instead of listing the cluster.

use super::error::DomainError;
use super::identity::KubeSubject;
use super::ids::{InstanceId, Namespace, RequestId};
use super::policy::{Policy, ScopedRule};
use super::request::AccessRequest;
use jiff::Timestamp;
use std::collections::BTreeMap;

/// Label on every object jitpe manages; the reconcile sweep lists by it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "jitpe";
/// Label holding the jitpe instance; every selector jitpe lists with includes it.
pub const INSTANCE_LABEL: &str = "jitpe.io/instance";
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

/// Kind of a managed Kubernetes object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// `rbac.authorization.k8s.io/v1` RoleBinding. Sorts first: bindings are what grant access,
    /// so they are deleted before the Roles they refer to.
    RoleBinding,
    /// `rbac.authorization.k8s.io/v1` Role (resource-scoped grants).
    Role,
}

/// Which object: kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// RoleBinding or Role.
    pub kind: ObjectKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// One RoleBinding to create, with its resource-scoped Role if it needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBinding {
    /// `jitpe-<instance>-<request id>-<index>`; the Role, if any, has the same name.
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
    /// Labels (managed-by, instance, request id, role).
    pub labels: BTreeMap<String, String>,
    /// Annotations (expiry, requester, approvers, reason).
    pub annotations: BTreeMap<String, String>,
}

impl PlannedBinding {
    /// The objects this binding creates: the RoleBinding, then its scoped Role if it has one.
    pub fn objects(&self) -> Vec<ObjectRef> {
        refs(&self.role_ref, &self.namespace, &self.name)
    }
}

/// A binding's objects: the RoleBinding, and the Role of the same name when it refers to one.
fn refs(role_ref: &RoleRef, namespace: &Namespace, name: &str) -> Vec<ObjectRef> {
    let mut kinds = vec![ObjectKind::RoleBinding];
    if matches!(role_ref, RoleRef::Role(_)) {
        kinds.push(ObjectKind::Role);
    }
    kinds
        .into_iter()
        .map(|kind| ObjectRef {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
        .collect()
}

/// The name of binding `index` of request `id` of `instance`.
pub fn binding_name(instance: &InstanceId, id: RequestId, index: usize) -> String {
    format!("jitpe-{instance}-{id}-{index}")
}

/// Reads the request id back from an object's labels, if it is one of ours.
pub fn request_id_of(labels: &BTreeMap<String, String>) -> Option<RequestId> {
    if labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY_VALUE) {
        return None;
    }
    labels.get(REQUEST_ID_LABEL)?.parse().ok().map(RequestId)
}

/// Where each binding of a grant goes and what it refers to, before labels and annotations.
struct Layout {
    name: String,
    namespace: Namespace,
    role_ref: RoleRef,
    scoped: Option<(String, Vec<ScopedRule>)>,
}

fn layout(
    req: &AccessRequest,
    policy: &Policy,
    instance: &InstanceId,
) -> Result<Vec<Layout>, DomainError> {
    let role = policy.role(&req.role)?;
    let out = role
        .targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let name = binding_name(instance, req.id, i);
            let fixed = target.namespace.clone();
            // NB: only targets in the requested namespace are narrowed to the resource; a fixed
            // namespace (the controller's logs) has nothing of that name to narrow to.
            let scoped = match (&req.resource, &fixed, &role.scoped_rules) {
                (Some(res), None, Some(rules)) => Some((res.to_string(), rules.clone())),
                _ => None,
            };
            Layout {
                role_ref: match &scoped {
                    Some(_) => RoleRef::Role(name.clone()),
                    None => RoleRef::ClusterRole(target.cluster_role.clone()),
                },
                scoped,
                name,
                namespace: fixed.unwrap_or_else(|| req.namespace.clone()),
            }
        })
        .collect();
    Ok(out)
}

/// The objects a grant consists of, bindings first, so ending it deletes them by name. Fails
/// only when the request's role is no longer in the policy.
pub fn objects(
    req: &AccessRequest,
    policy: &Policy,
    instance: &InstanceId,
) -> Result<Vec<ObjectRef>, DomainError> {
    let mut out: Vec<ObjectRef> = layout(req, policy, instance)?
        .into_iter()
        .flat_map(|l| refs(&l.role_ref, &l.namespace, &l.name))
        .collect();
    out.sort_by_key(|o| o.kind);
    Ok(out)
}

/// The objects an approved request of `instance` becomes, expiring at `expires_at`.
pub fn plan(
    req: &AccessRequest,
    policy: &Policy,
    instance: &InstanceId,
    expires_at: Timestamp,
) -> Result<Vec<PlannedBinding>, DomainError> {
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (INSTANCE_LABEL.to_string(), instance.to_string()),
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
    let out = layout(req, policy, instance)?
        .into_iter()
        .map(|l| PlannedBinding {
            name: l.name,
            namespace: l.namespace,
            role_ref: l.role_ref,
            resource_name: l.scoped.as_ref().map(|(r, _)| r.clone()),
            scoped_rules: l.scoped.map(|(_, rules)| rules),
            subject: req.subject.clone(),
            labels: labels.clone(),
            annotations: annotations.clone(),
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

    fn instance() -> InstanceId {
        InstanceId::parse("prod").unwrap()
    }

    #[test]
    fn a_debug_grant_binds_each_target_with_labels_and_annotations() {
        let req = in_state(crate::domain::request::State::Active);
        let plan = plan(&req, &policy(), &instance(), at(960)).unwrap();
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].name, "jitpe-prod-7-0");
        assert_eq!(plan[1].name, "jitpe-prod-7-1");
        assert_eq!(plan[0].labels[INSTANCE_LABEL], "prod");
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
        let plan = plan(&req, &policy(), &instance(), at(100)).unwrap();
        assert_eq!(plan[0].role_ref, RoleRef::Role("jitpe-prod-9-0".into()));
        assert_eq!(plan[0].resource_name.as_deref(), Some("web-frontend"));
        assert!(plan[0].scoped_rules.is_some());
        let objects = objects(&req, &policy(), &instance()).unwrap();
        let kinds: Vec<ObjectKind> = objects.iter().map(|o| o.kind).collect();
        assert_eq!(kinds, [ObjectKind::RoleBinding, ObjectKind::Role]);
        assert!(objects.iter().all(|o| o.name == "jitpe-prod-9-0"));
    }

    #[test]
    fn a_grant_is_deleted_by_the_names_it_was_created_with_bindings_first() {
        let req = in_state(crate::domain::request::State::Active);
        let planned: Vec<ObjectRef> = plan(&req, &policy(), &instance(), at(960))
            .unwrap()
            .iter()
            .flat_map(PlannedBinding::objects)
            .collect();
        assert_eq!(objects(&req, &policy(), &instance()).unwrap(), planned);
        let other = InstanceId::parse("staging").unwrap();
        let theirs = objects(&req, &policy(), &other).unwrap();
        assert!(theirs.iter().all(|o| !planned.contains(o)), "{theirs:?}");
    }

    #[test]
    fn foreign_objects_are_not_ours() {
        let labels = BTreeMap::from([(REQUEST_ID_LABEL.to_string(), "7".to_string())]);
        assert_eq!(request_id_of(&labels), None);
    }
}
