//! The reconcile sweep on a real apiserver. In its own test binary (so its own apiserver):
//! a sweep over an empty store deletes every managed binding in the cluster, which would
//! disturb other tests.

mod common;

use common::grants::{Spaces, approve, jitpe_cluster, request, service_with};
use common::kube::{Access, Who, cluster};
use jitpe::adapters::clock::ManualClock;
use jitpe::adapters::memory::MemStore;
use jitpe::domain::request::State;
use std::sync::Arc;
use std::time::Duration;

fn alice_reads(ns: &str) -> Access {
    Access::new(Who::Alice, "get", "networking.k8s.io", "ingresses").in_namespace(ns)
}

#[tokio::test]
async fn reconcile_deletes_lost_bindings_and_ends_grants_whose_bindings_vanished() {
    let c = cluster();
    let s = Spaces::new().await;
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let svc = service_with(
        Arc::new(MemStore::new()),
        jitpe_cluster(),
        &s,
        clock.clone(),
    );
    let id = request(&svc, "debug", &s.ns, None, 15).await;
    approve(&svc, id).await;
    c.eventually_sar(&alice_reads(&s.ns), true).await;

    let fresh = service_with(Arc::new(MemStore::new()), jitpe_cluster(), &s, clock);
    let dry = fresh.reconcile(true).await.unwrap();
    assert_eq!(dry.actions.len(), 2, "{:?}", dry.actions);
    assert!(
        c.sar(&alice_reads(&s.ns)).await,
        "a dry run deletes nothing"
    );
    let report = fresh.reconcile(false).await.unwrap();
    assert_eq!(report.actions.len(), 2, "{:?}", report.actions);
    c.eventually_sar(&alice_reads(&s.ns), false).await;
    let audited = fresh.store().audit_from(1, 100).unwrap();
    assert_eq!(
        audited
            .iter()
            .filter(|r| r.action == "reconcile_deleted")
            .count(),
        2
    );
    assert!(jitpe_cluster().list_managed().await.unwrap().is_empty());
    an_active_grant_whose_binding_was_removed_by_hand_is_ended_and_audited().await;
}

/// Runs after the sweep test, in the same test: request ids restart at 1 in every store, and a
/// concurrent sweep over another store would see this grant's bindings as orphans.
async fn an_active_grant_whose_binding_was_removed_by_hand_is_ended_and_audited() {
    let s = Spaces::new().await;
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let svc = service_with(
        Arc::new(MemStore::new()),
        jitpe_cluster(),
        &s,
        clock.clone(),
    );
    let id = request(&svc, "change", &s.ns, None, 15).await;
    approve(&svc, id).await;
    let admin = cluster().client(Who::Admin);
    let rbs: kube::Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        kube::Api::namespaced(admin, &s.ns);
    rbs.delete(&format!("jitpe-{id}-0"), &Default::default())
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    svc.reconcile(false).await.unwrap();
    let req = svc.store().get(id).unwrap().unwrap().value;
    assert_eq!(req.state, State::Revoked);
    assert_eq!(
        req.end_reason.as_deref(),
        Some("bindings removed outside jitpe")
    );
}
