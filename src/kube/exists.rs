//! Looking up the cluster-scoped objects a role needs (its ClusterRoles and fixed namespaces) by
//! name, for the check behind `/readyz`. A GET, never a list: jitpe may read only the
//! ClusterRoles it may bind, by name.

use super::{KubeCluster, map_err};
use crate::ports::{ClusterError, ClusterObject};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::Api;

impl KubeCluster {
    /// Whether `object` exists: `Ok(false)` on 404; a 403 is `Forbidden`.
    pub(super) async fn get_by_name(&self, object: &ClusterObject) -> Result<bool, ClusterError> {
        let found = match object {
            ClusterObject::ClusterRole(name) => Api::<ClusterRole>::all(self.client.clone())
                .get_opt(name)
                .await
                .map(|o| o.is_some()),
            ClusterObject::Namespace(name) => Api::<Namespace>::all(self.client.clone())
                .get_opt(name)
                .await
                .map(|o| o.is_some()),
        };
        found.map_err(map_err)
    }
}
