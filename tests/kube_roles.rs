//! The role check on the real apiserver, as jitpe's own identity with the shipped RBAC: a role
//! whose ClusterRole is not installed or whose fixed namespace does not exist (the example's
//! `ingress-nginx`) is reported by the role-check worker and shown by `/readyz` as a warning,
//! while jitpe stays ready for the other roles. In its own test binary (so its own apiserver):
//! it deletes a grantable ClusterRole that other tests need.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::grants::{Spaces, jitpe_cluster, policy_with_logs_in};
use common::kube::{Who, cluster};
use http_body_util::BodyExt;
use jitpe::domain::policy::Policy;
use jitpe::metrics::Metrics;
use jitpe::ports::Cluster;
use jitpe::service::{ChatTargets, Service};
use jitpe::store::memory::MemStore;
use jitpe::testing::ManualClock;
use jitpe::web::{HealthState, router};
use jitpe::workers::probe::StoreStatus;
use jitpe::workers::role_check::{RoleCheck, RoleStatus, check};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tower::ServiceExt;

/// Runs the check until the RBAC just applied has settled (jitpe may read its ClusterRoles).
async fn settled_check(cluster: &dyn Cluster, policy: &Policy) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let problems = check(cluster, policy).await.expect("the cluster answers");
        if !problems.iter().any(|p| p.contains("may not read")) || Instant::now() > deadline {
            return problems;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `/readyz` of a jitpe whose role-check worker runs `policy` against the cluster as jitpe.
async fn readyz_with_worker(policy: Policy) -> (u16, String) {
    let service = Service::new(
        Arc::new(MemStore::new()),
        jitpe_cluster(),
        Arc::new(ManualClock::at(jiff::Timestamp::now())),
        Arc::new(policy),
        ChatTargets::default(),
    );
    let (store, roles) = (
        Arc::new(StoreStatus::default()),
        Arc::new(RoleStatus::default()),
    );
    store.probe(&service).await;
    let (stop, stopped) = watch::channel(false);
    let every = Duration::from_secs(3600);
    let worker = jitpe::workers::spawn(
        RoleCheck::new(service.clone(), roles.clone(), every),
        stopped,
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while roles.problems().is_none() {
        assert!(Instant::now() < deadline, "the role check never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    let _ = worker.await;
    let health = HealthState {
        service,
        metrics: Arc::new(Metrics::default()),
        cluster: Arc::new(jitpe::workers::reconcile::ClusterStatus::reached()),
        store,
        roles,
    };
    let app = router(health, Vec::new(), 16 * 1024);
    let get = Request::get("/readyz").body(Body::empty()).unwrap();
    let response = app.oneshot(get).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn roles_whose_cluster_objects_are_missing_are_warned_about_and_the_rest_stay_ready() {
    let s = Spaces::new().await;
    let jitpe = jitpe_cluster();
    // Everything there: no problem.
    let fine = settled_check(jitpe.as_ref(), &policy_with_logs_in(&s, &s.ctrl)).await;
    assert_eq!(fine, Vec::<String>::new());

    // The example's `ingress-nginx`, absent from this cluster.
    let (status, body) = readyz_with_worker(policy_with_logs_in(&s, "ingress-nginx")).await;
    assert_eq!(status, 200, "{body}");
    let warning = "warning: role `debug` cannot be granted: namespace `ingress-nginx` \
                   (policy.roles.debug.bindings[1].namespace) does not exist";
    assert!(
        body.starts_with("ready\n") && body.contains(warning),
        "{body}"
    );
    assert!(
        !body.contains("`change`"),
        "only the broken role is named: {body}"
    );

    // A grantable ClusterRole that is not installed.
    let roles: Api<ClusterRole> = Api::all(cluster().client(Who::Admin));
    roles
        .delete("jitpe-ingress-controller-logs", &DeleteParams::default())
        .await
        .expect("deleting the logs ClusterRole");
    let problems = check(jitpe.as_ref(), &policy_with_logs_in(&s, &s.ctrl))
        .await
        .unwrap();
    let missing = "role `debug` cannot be granted: ClusterRole `jitpe-ingress-controller-logs` \
                   (policy.roles.debug.bindings[1].cluster_role) does not exist";
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].starts_with(missing), "{problems:#?}");
}
