//! The reconcile sweep on a real apiserver, and two jitpe instances on one cluster. Each test
//! runs as an instance of its own (`Spaces::instance`), so a sweep over an empty store deletes
//! that instance's bindings only and the tests are independent of each other.

mod common;

use common::grants::{Spaces, approve, jitpe_cluster, request, service_with};
use common::kube::{Access, Who, cluster};
use jitpe::domain::ids::InstanceId;
use jitpe::domain::request::State;
use jitpe::kube::KubeCluster;
use jitpe::ports::Cluster;
use jitpe::store::memory::MemStore;
use jitpe::store::sled::SledStore;
use jitpe::testing::ManualClock;
use jitpe::workers::breakglass::Spool;
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
    let left = jitpe_cluster().list_managed(&s.instance, None).await;
    assert_eq!(left.unwrap(), []);
}

#[tokio::test]
async fn listing_managed_objects_crosses_pages_and_finds_every_one() {
    let s = Spaces::new().await;
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let svc = service_with(Arc::new(MemStore::new()), jitpe_cluster(), &s, clock);
    let id = request(&svc, "debug", &s.ns, None, 15).await;
    approve(&svc, id).await;
    let whole = jitpe_cluster()
        .list_managed(&s.instance, None)
        .await
        .unwrap();
    assert!(
        whole.len() >= 2,
        "the debug grant has several objects: {whole:?}"
    );
    let jitpe = cluster().client(Who::Jitpe);
    let paged = KubeCluster::new(jitpe, "jitpe").with_list_page(1);
    let mut found = paged.list_managed(&s.instance, None).await.unwrap();
    let key = |o: &jitpe::ports::ManagedObject| (o.namespace.clone(), o.name.clone(), o.kind);
    found.sort_by_key(key);
    let mut expected = whole;
    expected.sort_by_key(key);
    assert_eq!(found, expected, "one object per page, none lost");
}

#[tokio::test]
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
    rbs.delete(&format!("jitpe-{}-{id}-0", s.instance), &Default::default())
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

#[tokio::test]
async fn one_instances_expiry_and_sweep_leave_another_instances_grant_in_place() {
    let c = cluster();
    let s = Spaces::new().await;
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let blue = service_with(
        Arc::new(MemStore::new()),
        jitpe_cluster(),
        &s,
        clock.clone(),
    );
    // The same namespaces and the same request id, in another installation with its own store.
    let green_spaces = Spaces {
        instance: InstanceId::parse(&format!("{}-green", s.ns)).unwrap(),
        ..s.clone()
    };
    let green_clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let green = service_with(
        Arc::new(MemStore::new()),
        jitpe_cluster(),
        &green_spaces,
        green_clock.clone(),
    );
    let blue_id = request(&blue, "debug", &s.ns, None, 15).await;
    approve(&blue, blue_id).await;
    let green_id = request(&green, "debug", &s.ns, None, 15).await;
    approve(&green, green_id).await;
    assert_eq!(blue_id, green_id, "both stores start at #1");
    let blue_objects = jitpe_cluster()
        .list_managed(&s.instance, None)
        .await
        .unwrap();
    assert_eq!(blue_objects.len(), 2, "{blue_objects:?}");

    green_clock.advance(Duration::from_secs(15 * 60));
    green.run_due().await.unwrap();
    assert_eq!(
        green.store().get(green_id).unwrap().unwrap().value.state,
        State::Expired
    );
    let swept = green.reconcile(false).await.unwrap();
    assert_eq!(swept.actions, [], "green sees none of blue's objects");
    let green_left = jitpe_cluster()
        .list_managed(&green_spaces.instance, None)
        .await;
    assert_eq!(green_left.unwrap(), []);

    let after = jitpe_cluster()
        .list_managed(&s.instance, None)
        .await
        .unwrap();
    assert_eq!(after, blue_objects, "blue's grant is untouched");
    c.eventually_sar(&alice_reads(&s.ns), true).await;
    let blue_sweep = blue.reconcile(false).await.unwrap();
    assert_eq!(blue_sweep.actions, [], "blue finds its grant complete");
    assert_eq!(
        blue.store().get(blue_id).unwrap().unwrap().value.state,
        State::Active
    );
}

/// Break glass while `serve` holds the store: `jitpe revoke` (the real binary) cannot write the
/// record, so it leaves a note and deletes the bindings itself. The running jitpe then records
/// the revocation as the operator with their reason, and its sweep never calls it "removed
/// outside jitpe".
#[tokio::test]
async fn break_glass_revoke_beside_a_running_serve_is_recorded_as_the_operator_with_the_reason() {
    let c = cluster();
    let s = Spaces::new().await;
    let dir = tempfile::TempDir::new().unwrap();
    let store_dir = dir.path().join("store");
    // Held open here, as `serve` holds it: the command line finds it locked.
    let store = Arc::new(SledStore::open(&store_dir).unwrap());
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let svc = service_with(store, jitpe_cluster(), &s, clock.clone());
    let id = request(&svc, "debug", &s.ns, None, 15).await;
    approve(&svc, id).await;
    c.eventually_sar(&alice_reads(&s.ns), true).await;

    let out = run_revoke(&store_dir, &s, id).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("deleted 2 object(s)"), "{said}");
    c.eventually_sar(&alice_reads(&s.ns), false).await;

    // The sweep runs first here, as it may in `serve`: it must not claim the deletion.
    clock.advance(Duration::from_secs(1));
    let spool = Spool::new(store_dir.clone());
    let reconcile = jitpe::workers::reconcile::Reconcile::new(
        svc.clone(),
        Duration::from_secs(300),
        Default::default(),
    )
    .with_spool(spool.clone());
    let mut reconcile = reconcile;
    jitpe::workers::Worker::work(&mut reconcile).await.unwrap();
    let req = svc.store().get(id).unwrap().unwrap().value;
    assert_eq!(req.state, State::Revoked);
    assert_eq!(req.end_reason.as_deref(), Some("INC-5 break glass"));
    let audit = svc.store().audit_from(1, 1000).unwrap();
    let revoked = audit
        .iter()
        .find(|r| r.action == "revoked")
        .expect("a revoked record");
    assert_eq!(revoked.actor.to_string(), "cli:carol");
    assert_eq!(
        revoked.details.get("reason").map(String::as_str),
        Some("INC-5 break glass")
    );
    assert!(
        !audit
            .iter()
            .any(|r| r.actor.to_string() == "system:jitpe" && r.action == "revoked"),
        "{audit:?}"
    );
    assert_eq!(spool.drain(&svc).await.unwrap(), 0, "the note is used once");
}

async fn run_revoke(
    store_dir: &std::path::Path,
    s: &Spaces,
    id: jitpe::domain::ids::RequestId,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jitpe"));
    cmd.args(["revoke", &id.to_string(), "--reason", "INC-5 break glass"])
        .args(["--operator", "carol", "--config"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/jitpe.toml"))
        .env("JITPE_STORE_PATH", store_dir)
        .env("JITPE_KUBECONFIG", cluster().admin_kubeconfig())
        .env("JITPE_INSTANCE", s.instance.as_str())
        .env_remove("JITPE_CONFIG");
    tokio::task::spawn_blocking(move || cmd.output().expect("the jitpe binary runs"))
        .await
        .unwrap()
}
