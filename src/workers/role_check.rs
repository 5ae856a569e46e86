//! The role check: at start-up and then every interval, looks up in the cluster what each role
//! needs (its ClusterRoles and fixed namespaces, from [`Policy::prerequisites`]) and keeps what
//! is missing, so `/readyz` shows it and the log says when it appears or is fixed.
//!
//! A role that can never be granted is a warning, not unreadiness: the other roles keep working
//! (an unready pod would drop out of its Service and take every role down), and the operator
//! still sees the broken one in `/readyz`, the log and the requester's Failed grant.

use super::{Worker, WorkerError, WorkerState};
use crate::domain::policy::Policy;
use crate::ports::{Cluster, ClusterError, ClusterObject};
use crate::service::Service;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tracing::{info, warn};

/// A check that takes longer than this counts as a cluster that does not answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// What the last check found: one line per role prerequisite that is missing or unreadable.
#[derive(Debug, Default)]
pub struct RoleStatus {
    last: Mutex<Option<Vec<String>>>,
}

impl RoleStatus {
    /// The problems of the last check; `None` before the first one finished.
    pub fn problems(&self) -> Option<Vec<String>> {
        self.lock().clone()
    }

    /// Keeps `problems` and returns what was kept before.
    pub fn replace(&self, problems: Vec<String>) -> Option<Vec<String>> {
        self.lock().replace(problems)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<String>>> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Looks up every prerequisite of `policy` (each object once) and words what is missing or
/// unreadable. An unreachable cluster is an error: it says nothing about the roles.
pub async fn check(cluster: &dyn Cluster, policy: &Policy) -> Result<Vec<String>, ClusterError> {
    let mut found: BTreeMap<ClusterObject, Result<bool, ClusterError>> = BTreeMap::new();
    let mut problems = Vec::new();
    for p in policy.prerequisites() {
        if !found.contains_key(&p.object) {
            let answer = cluster.exists(&p.object).await;
            found.insert(p.object.clone(), answer);
        }
        match &found[&p.object] {
            Ok(true) => {}
            Ok(false) => problems.push(p.missing()),
            Err(ClusterError::Forbidden(why)) => problems.push(p.unreadable(why)),
            Err(e) => return Err(e.clone()),
        }
    }
    Ok(problems)
}

/// Logs the problems that appeared since `before` as warnings and those that went away as info.
fn log_changes(before: Option<&[String]>, now: &[String]) {
    let old = before.unwrap_or_default();
    for p in now.iter().filter(|p| !old.contains(p)) {
        warn!(problem = %p, "a role cannot be granted");
    }
    for p in old.iter().filter(|p| !now.contains(p)) {
        info!(resolved = %p, "a role can be granted again");
    }
    if before.is_none() && now.is_empty() {
        info!("every role's ClusterRoles and namespaces exist");
    }
}

/// Checks the roles of `service`'s policy into a [`RoleStatus`] every interval.
pub struct RoleCheck {
    service: Service,
    status: Arc<RoleStatus>,
    interval: Duration,
}

impl RoleCheck {
    /// Checks every `interval` (the reconcile interval in `serve`) into `status`.
    pub fn new(service: Service, status: Arc<RoleStatus>, interval: Duration) -> Self {
        Self {
            service,
            status,
            interval,
        }
    }
}

#[async_trait]
impl Worker for RoleCheck {
    fn name(&self) -> &'static str {
        "role-check"
    }

    async fn work(&mut self) -> Result<WorkerState, WorkerError> {
        let checked = check(self.service.cluster.as_ref(), self.service.policy());
        let problems = tokio::time::timeout(CHECK_TIMEOUT, checked)
            .await
            .map_err(|_| {
                ClusterError::Unavailable(format!(
                    "the role check got no answer within {}s",
                    CHECK_TIMEOUT.as_secs()
                ))
            })??;
        let before = self.status.replace(problems.clone());
        log_changes(before.as_deref(), &problems);
        Ok(WorkerState::Idle {
            until: self.interval,
        })
    }

    /// A failing check is retried no later than the next regular one would run.
    fn max_backoff(&self) -> Duration {
        self.interval
    }
}
