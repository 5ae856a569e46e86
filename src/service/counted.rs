//! The Kubernetes ports as the service sees them: every call goes to the adapter unchanged, and
//! each failure is counted by operation in `jitpe_kubernetes_api_errors_total`, so an operator
//! can alert on a cluster that refuses or fails jitpe's calls whichever adapter is in use. (The
//! Ingress watch retries inside its adapter and never fails at the port, so it is not counted.)

use crate::config::Secret;
use crate::domain::grant::PlannedBinding;
use crate::domain::ids::{InstanceId, RequestId};
use crate::metrics::Metrics;
use crate::ports::{
    Cluster, ClusterError, ClusterObject, ManagedObject, ObjectRef, Reviewed, TokenError,
    TokenReviewer,
};
use async_trait::async_trait;
use std::sync::Arc;

/// A [`Cluster`] that counts the failures of the one it wraps.
pub(crate) struct CountedCluster {
    inner: Arc<dyn Cluster>,
    metrics: Arc<Metrics>,
}

impl CountedCluster {
    /// Wraps `inner`, counting into `metrics`.
    pub(crate) fn new(inner: Arc<dyn Cluster>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn counted<T>(
        &self,
        operation: &'static str,
        r: Result<T, ClusterError>,
    ) -> Result<T, ClusterError> {
        if r.is_err() {
            self.metrics.kube_error(operation);
        }
        r
    }
}

#[async_trait]
impl Cluster for CountedCluster {
    async fn apply(&self, plan: &[PlannedBinding]) -> Result<(), ClusterError> {
        self.counted("apply", self.inner.apply(plan).await)
    }

    async fn delete_objects(&self, objects: &[ObjectRef]) -> Result<usize, ClusterError> {
        self.counted("delete", self.inner.delete_objects(objects).await)
    }

    async fn list_managed(
        &self,
        instance: &InstanceId,
        request: Option<RequestId>,
    ) -> Result<Vec<ManagedObject>, ClusterError> {
        self.counted("list", self.inner.list_managed(instance, request).await)
    }

    async fn exists(&self, object: &ClusterObject) -> Result<bool, ClusterError> {
        self.counted("get", self.inner.exists(object).await)
    }
}

/// A [`TokenReviewer`] that counts the reviews it could not get (`token_review`); a refused
/// token is an answer, not an API error.
pub struct CountedReviewer<R> {
    inner: R,
    metrics: Arc<Metrics>,
}

impl<R: TokenReviewer> CountedReviewer<R> {
    /// Wraps `inner`, counting into `metrics`.
    pub fn new(inner: R, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl<R: TokenReviewer> TokenReviewer for CountedReviewer<R> {
    async fn review(&self, token: &Secret, audiences: &[String]) -> Result<Reviewed, TokenError> {
        let r = self.inner.review(token, audiences).await;
        if matches!(r, Err(TokenError::Unavailable(_))) {
            self.metrics.kube_error("token_review");
        }
        r
    }
}
