//! The cluster port on a real Kubernetes API, with kube-rs: server-side apply of RoleBindings
//! (and resource-scoped Roles), deletion by name, listing of one instance's objects for the
//! reconcile sweep. `ingress_watch.rs` watches Ingresses for the change feed; `token_review.rs`
//! verifies bearer tokens with TokenReviews.

mod exists;
pub mod ingress_watch;
pub mod lazy;
pub mod token_review;

use crate::domain::grant::{
    EXPIRES_AT_ANNOTATION, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PlannedBinding,
    REQUEST_ID_LABEL, RoleRef, request_id_of,
};
use crate::domain::identity::ServiceAccountName;
use crate::domain::ids::{InstanceId, RequestId};
use crate::ports::{Cluster, ClusterError, ClusterObject, ManagedObject, ObjectKind, ObjectRef};
use async_trait::async_trait;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef as K8sRoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Objects per LIST page when jitpe lists its own objects (reconcile, break-glass revoke).
pub const LIST_PAGE: u32 = 500;

/// jitpe's cluster adapter.
#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    field_manager: String,
    list_page: u32,
}

impl KubeCluster {
    /// Uses `client` (jitpe's own identity) and writes with `field_manager` (e.g. `jitpe`).
    pub fn new(client: Client, field_manager: impl Into<String>) -> Self {
        Self {
            client,
            field_manager: field_manager.into(),
            list_page: LIST_PAGE,
        }
    }

    /// The same cluster listing `n` objects per page (tests use small pages to cross pages).
    pub fn with_list_page(mut self, n: u32) -> Self {
        self.list_page = n.max(1);
        self
    }

    async fn apply_one<K>(&self, ns: &str, name: &str, obj: &K) -> Result<(), ClusterError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Serialize
            + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        // NB: force: jitpe owns these objects; a retry or an extension re-applies the same fields.
        let params = PatchParams::apply(&self.field_manager).force();
        api.patch(name, &params, &Patch::Apply(obj))
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    /// Lists a kind cluster-wide by label, in pages ([`LIST_PAGE`] objects unless set otherwise) so neither the apiserver
    /// nor jitpe builds one response the size of every managed object.
    async fn list_kind<K>(&self, selector: &str) -> Result<Vec<K>, ClusterError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::all(self.client.clone());
        let mut params = ListParams::default().labels(selector).limit(self.list_page);
        let mut items = Vec::new();
        loop {
            let page = api.list(&params).await.map_err(map_err)?;
            items.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => return Ok(items),
            }
        }
    }

    async fn delete_kind<K>(&self, ns: &str, name: &str) -> Result<bool, ClusterError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), ns);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(true),
            // Already gone is what we wanted.
            Err(kube::Error::Api(ae)) if ae.code == 404 => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn managed(&self, selector: &str) -> Result<Vec<ManagedObject>, ClusterError> {
        let mut out: Vec<ManagedObject> = self
            .list_kind::<RoleBinding>(selector)
            .await?
            .iter()
            .map(|o| managed(ObjectKind::RoleBinding, o))
            .collect();
        let roles = self.list_kind::<Role>(selector).await?;
        out.extend(roles.iter().map(|o| managed(ObjectKind::Role, o)));
        Ok(out)
    }
}

fn managed<K: Resource>(kind: ObjectKind, o: &K) -> ManagedObject {
    ManagedObject {
        kind,
        namespace: o.namespace().unwrap_or_default(),
        name: o.name_any(),
        request_id: request_id_of(o.labels()),
        expires_at: o
            .annotations()
            .get(EXPIRES_AT_ANNOTATION)
            .and_then(|s| s.parse().ok()),
    }
}

fn meta(b: &PlannedBinding) -> ObjectMeta {
    ObjectMeta {
        name: Some(b.name.clone()),
        namespace: Some(b.namespace.to_string()),
        labels: Some(b.labels.clone()),
        annotations: Some(b.annotations.clone()),
        ..ObjectMeta::default()
    }
}

/// Exactly the requester: a person as a `User`, a system (a ServiceAccount's username) as that
/// `ServiceAccount`. A group subject would grant every member of the group, so the identity's
/// groups never appear here (the admission policy refuses them as well).
fn subjects(b: &PlannedBinding) -> Vec<Subject> {
    let subject = match ServiceAccountName::parse(&b.subject.user) {
        Ok(sa) => Subject {
            kind: "ServiceAccount".into(),
            api_group: None,
            name: sa.name,
            namespace: Some(sa.namespace),
        },
        Err(_) => Subject {
            kind: "User".into(),
            api_group: Some(RBAC_GROUP.into()),
            name: b.subject.user.clone(),
            namespace: None,
        },
    };
    vec![subject]
}

fn role_binding(b: &PlannedBinding) -> RoleBinding {
    let (kind, name) = match &b.role_ref {
        RoleRef::ClusterRole(n) => ("ClusterRole", n.clone()),
        RoleRef::Role(n) => ("Role", n.clone()),
    };
    RoleBinding {
        metadata: meta(b),
        role_ref: K8sRoleRef {
            api_group: RBAC_GROUP.into(),
            kind: kind.into(),
            name,
        },
        subjects: Some(subjects(b)),
    }
}

fn scoped_role(b: &PlannedBinding) -> Option<Role> {
    let rules = b.scoped_rules.as_ref()?;
    let resource = b.resource_name.clone()?;
    let rules = rules
        .iter()
        .map(|r| PolicyRule {
            api_groups: Some(r.api_groups.clone()),
            resources: Some(r.resources.clone()),
            verbs: r.verbs.clone(),
            resource_names: Some(vec![resource.clone()]),
            non_resource_urls: None,
        })
        .collect();
    Some(Role {
        metadata: meta(b),
        rules: Some(rules),
    })
}

fn map_err(e: kube::Error) -> ClusterError {
    match e {
        kube::Error::Api(ae) => match ae.code {
            403 => ClusterError::Forbidden(ae.message),
            400 | 404 | 409 | 422 => ClusterError::Invalid(ae.message),
            _ => ClusterError::Unavailable(format!("{} ({})", ae.message, ae.code)),
        },
        other => ClusterError::Unavailable(other.to_string()),
    }
}

/// The label selector of `instance`'s objects (of one request, if given). The instance is always
/// part of it, so a sweep can never see another installation's grants.
fn selector(instance: &InstanceId, request: Option<RequestId>) -> String {
    let base = format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{INSTANCE_LABEL}={instance}");
    match request {
        Some(id) => format!("{base},{REQUEST_ID_LABEL}={id}"),
        None => base,
    }
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn apply(&self, plan: &[PlannedBinding]) -> Result<(), ClusterError> {
        for b in plan {
            let ns = b.namespace.as_str();
            // The Role first: a binding to a missing Role would grant nothing but still exist.
            if let Some(role) = scoped_role(b) {
                self.apply_one(ns, &b.name, &role).await?;
            }
            self.apply_one(ns, &b.name, &role_binding(b)).await?;
        }
        Ok(())
    }

    async fn delete_objects(&self, objects: &[ObjectRef]) -> Result<usize, ClusterError> {
        let mut deleted = 0;
        for o in objects {
            if self.delete(o).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn list_managed(
        &self,
        instance: &InstanceId,
        request: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError> {
        self.managed(&selector(instance, request)).await
    }

    async fn exists(&self, object: &ClusterObject) -> Result<bool, ClusterError> {
        self.get_by_name(object).await
    }
}

impl KubeCluster {
    async fn delete(&self, o: &ObjectRef) -> Result<bool, ClusterError> {
        match o.kind {
            ObjectKind::RoleBinding => self.delete_kind::<RoleBinding>(&o.namespace, &o.name).await,
            ObjectKind::Role => self.delete_kind::<Role>(&o.namespace, &o.name).await,
        }
    }
}
