//! A cluster port that connects on first use and keeps trying until it can.
//!
//! jitpe must start (serve `/healthz`, take requests, keep its deadlines) even when no
//! Kubernetes configuration is reachable yet; calls fail as `Unavailable` until it is, and the
//! workers retry them.

use super::KubeCluster;
use crate::domain::grant::PlannedBinding;
use crate::domain::ids::{InstanceId, RequestId};
use crate::ports::{Cluster, ClusterError, ClusterObject, ManagedObject, ObjectRef};
use async_trait::async_trait;
use std::path::PathBuf;
use tokio::sync::Mutex;

/// Builds a [`KubeCluster`] from a kubeconfig file, or in-cluster / default config, on demand.
pub struct LazyKubeCluster {
    kubeconfig: Option<PathBuf>,
    field_manager: String,
    inner: Mutex<Option<KubeCluster>>,
}

impl LazyKubeCluster {
    /// `kubeconfig`: a file, or `None` for in-cluster config, then `$KUBECONFIG`/`~/.kube/config`.
    pub fn new(kubeconfig: Option<PathBuf>, field_manager: impl Into<String>) -> Self {
        Self {
            kubeconfig,
            field_manager: field_manager.into(),
            inner: Mutex::new(None),
        }
    }

    async fn get(&self) -> Result<KubeCluster, ClusterError> {
        let mut inner = self.inner.lock().await;
        if let Some(c) = inner.as_ref() {
            return Ok(c.clone());
        }
        let client = connect(self.kubeconfig.as_ref()).await?;
        let cluster = KubeCluster::new(client, self.field_manager.clone());
        *inner = Some(cluster.clone());
        Ok(cluster)
    }
}

/// A kube client for jitpe's own identity.
pub async fn connect(kubeconfig: Option<&PathBuf>) -> Result<kube::Client, ClusterError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        ClusterError::Unavailable(format!("no usable Kubernetes configuration: {e}"))
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| unavailable(&format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| unavailable(&e))?
        }
        None => kube::Config::infer().await.map_err(|e| unavailable(&e))?,
    };
    kube::Client::try_from(config).map_err(|e| unavailable(&e))
}

#[async_trait]
impl Cluster for LazyKubeCluster {
    async fn apply(&self, plan: &[PlannedBinding]) -> Result<(), ClusterError> {
        self.get().await?.apply(plan).await
    }

    async fn delete_objects(&self, objects: &[ObjectRef]) -> Result<usize, ClusterError> {
        self.get().await?.delete_objects(objects).await
    }

    async fn list_managed(
        &self,
        instance: &InstanceId,
        request: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError> {
        self.get().await?.list_managed(instance, request).await
    }

    async fn exists(&self, object: &ClusterObject) -> Result<bool, ClusterError> {
        self.get().await?.exists(object).await
    }
}
