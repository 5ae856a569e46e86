//! The Ingress change feed on a real kube-apiserver, watching as jitpe's own identity with the
//! shipped RBAC: while a grant is Active in a namespace, an admin's create, update and delete of
//! an Ingress there reach the audit chain with what changed; a status write, a namespace
//! without a grant, and changes after the grant ended do not. There is no audit stream here,
//! so the writer is the field manager (and `unknown` for the deletion).
//!
//! The test drives the worker's units of work itself, so it can see which namespaces are
//! watched; the watches are the real ones, on their own tasks.

mod common;

use common::grants::{Spaces, approve, request, requester, service_with};
use common::kube::{Who, cluster};
use jitpe::domain::audit::AuditRecord;
use jitpe::domain::command::Command;
use jitpe::kube::ingress_watch::KubeIngressWatch;
use jitpe::ports::{IngressSink, IngressWatch};
use jitpe::service::Service;
use jitpe::store::memory::MemStore;
use jitpe::testing::ManualClock;
use jitpe::workers::Worker;
use jitpe::workers::ingress_feed::{IngressFeed, RecentWriters};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ingress(name: &str, host: &str, service: &str) -> Ingress {
    serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": { "name": name },
        "spec": { "rules": [{ "host": host, "http": { "paths": [{
            "path": "/api", "pathType": "Prefix",
            "backend": { "service": { "name": service, "port": { "number": 80 } } }
        }]}}]}
    }))
    .expect("a valid Ingress")
}

fn created_by(manager: &str) -> PostParams {
    PostParams {
        field_manager: Some(manager.into()),
        ..PostParams::default()
    }
}

/// The feed's records, oldest first.
fn records(svc: &Service, ns: &str, name: &str) -> Vec<AuditRecord> {
    svc.store()
        .audit_from(1, 100_000)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "ingress_changed")
        .filter(|r| r.details["namespace"] == ns && r.details["ingress"] == name)
        .collect()
}

/// Runs units of work until `done` holds or `within` has passed; whether it held.
async fn pump(
    feed: &mut IngressFeed,
    within: Duration,
    done: impl Fn(&IngressFeed) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        feed.work().await.expect("a unit of work");
        if done(feed) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Until the feed records a change of `name` that a write made (so the watch is listening).
async fn until_watch_is_live(feed: &mut IngressFeed, svc: &Service, api: &Api<Ingress>, ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in 0.. {
        let patch = json!({ "metadata": { "annotations": { "probe": n.to_string() } } });
        api.patch("canary", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        let seen = pump(feed, Duration::from_secs(1), |_| {
            !records(svc, ns, "canary").is_empty()
        })
        .await;
        if seen {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the Ingress watch never reported a change"
        );
    }
}

/// A feed watching as jitpe, over a service with the test's policy, and the admin's Ingresses.
struct Rig {
    s: Spaces,
    svc: Service,
    feed: IngressFeed,
    api: Api<Ingress>,
}

async fn rig() -> Rig {
    let c = cluster();
    let s = Spaces::new().await;
    let clock = Arc::new(ManualClock::at(jiff::Timestamp::now()));
    let jitpe = common::grants::jitpe_cluster();
    let svc = service_with(Arc::new(MemStore::new()), jitpe, &s, clock);
    let watch = KubeIngressWatch::new(c.client(Who::Jitpe));
    let feed = IngressFeed::new(svc.clone(), Arc::new(watch), RecentWriters::default());
    let api = Api::namespaced(c.client(Who::Admin), &s.ns);
    Rig { s, svc, feed, api }
}

impl Rig {
    /// Until the feed holds `n` records of Ingress `web`.
    async fn web_records(&mut self, n: usize, what: &str) {
        let (svc, ns) = (self.svc.clone(), self.s.ns.clone());
        let done = move |_: &IngressFeed| records(&svc, &ns, "web").len() >= n;
        assert!(
            pump(&mut self.feed, Duration::from_secs(20), done).await,
            "{what}"
        );
    }

    /// Creates, updates (host, backend, annotation), status-writes and deletes `web`.
    async fn create_update_delete(&mut self) {
        let pp = created_by("kubectl-create");
        let web = ingress("web", "a.example.com", "svc-a");
        self.api.create(&pp, &web).await.unwrap();
        self.web_records(1, "the create").await;
        let edit = PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..PatchParams::default()
        };
        let patch = json!({
            "metadata": { "annotations": {
                "nginx.ingress.kubernetes.io/rewrite-target": "/s3cr3t-looking-value" } },
            "spec": { "rules": [{ "host": "b.example.com", "http": { "paths": [{
                "path": "/api", "pathType": "Prefix",
                "backend": { "service": { "name": "svc-b", "port": { "number": 80 } } }
            }]}}]}
        });
        self.api
            .patch("web", &edit, &Patch::Merge(&patch))
            .await
            .unwrap();
        self.web_records(2, "the update").await;
        // The controller's status write changes nothing the feed shows.
        let status =
            json!({ "status": { "loadBalancer": { "ingress": [{ "ip": "192.0.2.7" }] } } });
        let pp = PatchParams::default();
        self.api
            .patch_status("web", &pp, &Patch::Merge(&status))
            .await
            .unwrap();
        self.api
            .delete("web", &DeleteParams::default())
            .await
            .unwrap();
        self.web_records(3, "the delete").await;
    }
}

#[tokio::test]
async fn an_admin_s_ingress_changes_are_audited_while_a_grant_is_active_and_only_then() {
    let mut r = rig().await;
    let pp = created_by("kubectl-create");
    let canary = ingress("canary", "canary.example.com", "svc");
    r.api.create(&pp, &canary).await.unwrap();
    assert!(pump(&mut r.feed, Duration::ZERO, |f| f.watched().is_empty()).await);
    let id = request(&r.svc, "debug", &r.s.ns, None, 15).await;
    approve(&r.svc, id).await;
    let ns = r.s.ns.clone();
    let watched = pump(&mut r.feed, Duration::from_secs(5), |f| {
        f.watched() == [ns.clone()]
    });
    assert!(watched.await);
    until_watch_is_live(&mut r.feed, &r.svc, &r.api, &r.s.ns).await;
    let other: Api<Ingress> = Api::namespaced(cluster().client(Who::Admin), &r.s.other);
    let web = ingress("web", "a.example.com", "svc-a");
    other.create(&pp, &web).await.unwrap();

    r.create_update_delete().await;
    assert_web_records(&records(&r.svc, &r.s.ns, "web"));
    assert!(
        records(&r.svc, &r.s.other, "web").is_empty(),
        "no grant there"
    );

    // The grant ends: the watch stops, and a later change is not recorded.
    let revoke = Command::Revoke { id };
    r.svc.command(&requester(), revoke, None).await.unwrap();
    let stopped = pump(&mut r.feed, Duration::from_secs(5), |f| {
        f.watched().is_empty()
    });
    assert!(stopped.await);
    let late = ingress("late", "late.example.com", "svc");
    r.api.create(&pp, &late).await.unwrap();
    let (svc, ns) = (r.svc.clone(), r.s.ns.clone());
    let recorded = pump(&mut r.feed, Duration::from_secs(2), move |_| {
        !records(&svc, &ns, "late").is_empty()
    });
    assert!(
        !recorded.await,
        "nothing is watched once the last grant ended"
    );
}

/// The three records of `web`, in order, with their writers and summaries.
fn assert_web_records(recs: &[AuditRecord]) {
    let seen: Vec<(&str, &str, &str)> = recs
        .iter()
        .map(|r| {
            let d = &r.details;
            (
                d["change"].as_str(),
                d["by"].as_str(),
                d["summary"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "created",
                "field manager kubectl-create",
                "hosts +a.example.com; paths +a.example.com/api (svc-a:80)"
            ),
            (
                "updated",
                "field manager kubectl-edit",
                "hosts +b.example.com -a.example.com; paths +b.example.com/api (svc-b:80) \
                 -a.example.com/api (svc-a:80); annotations \
                 +nginx.ingress.kubernetes.io/rewrite-target"
            ),
            (
                "deleted",
                "unknown",
                "hosts -b.example.com; paths -b.example.com/api (svc-b:80); annotations \
                 -nginx.ingress.kubernetes.io/rewrite-target"
            ),
        ],
        "the status write is not among them"
    );
    // No audit stream here: nobody is named, so no grant either; annotation values never show.
    for r in recs {
        assert!(
            r.request_id.is_none() && !r.line().contains("s3cr3t"),
            "{}",
            r.line()
        );
    }
}

#[tokio::test]
async fn the_watch_connects_from_a_kubeconfig_and_sends_nothing_for_its_baseline() {
    let c = cluster();
    let ns = c.temp_namespace("feed").await;
    let api: Api<Ingress> = Api::namespaced(c.client(Who::Admin), &ns);
    let pp = created_by("kubectl-create");
    api.create(&pp, &ingress("old", "old.example.com", "svc"))
        .await
        .unwrap();
    api.create(&pp, &ingress("canary", "canary.example.com", "svc"))
        .await
        .unwrap();
    let (sink, mut changes, _) = IngressSink::new(16);
    let watch = KubeIngressWatch::lazy(Some(c.admin_kubeconfig()));
    let task = tokio::spawn(watch.watch(ns.clone(), sink));
    // Touch the canary until the watch, once listed, reports it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = 'seen: {
        for n in 0.. {
            let patch = json!({ "metadata": { "annotations": { "probe": n.to_string() } } });
            api.patch("canary", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
            let wait = tokio::time::timeout(Duration::from_millis(500), changes.recv()).await;
            if let Ok(Some(event)) = wait {
                break 'seen event;
            }
            assert!(Instant::now() < deadline, "the watch never reported");
        }
        unreachable!("the loop only ends by a break")
    };
    assert_eq!(first.name, "canary", "nothing for the baseline: {first:?}");
    assert!(first.before.is_some() && first.after.is_some());
    api.delete("old", &DeleteParams::default()).await.unwrap();
    let gone = loop {
        let e = tokio::time::timeout(Duration::from_secs(20), changes.recv())
            .await
            .expect("the deletion is reported")
            .expect("the watch runs");
        if e.name == "old" {
            break e;
        }
    };
    assert_eq!(gone.after, None);
    assert_eq!(
        gone.before.unwrap().hosts.len(),
        1,
        "known from the baseline"
    );
    task.abort();
}

#[tokio::test]
async fn a_forbidden_watch_keeps_retrying_and_works_once_allowed() {
    let c = cluster();
    let s = Spaces::new().await;
    let api: Api<Ingress> = Api::namespaced(c.client(Who::Admin), &s.ns);
    let pp = created_by("kubectl-create");
    let canary = ingress("canary", "canary.example.com", "svc");
    api.create(&pp, &canary).await.unwrap();
    let user = format!("feed-{}", s.ns);
    let (sink, mut changes, _) = IngressSink::new(16);
    let watch = KubeIngressWatch::new(c.client_as(&user, &[]));
    let task = tokio::spawn(watch.watch(s.ns.clone(), sink));
    // NB: the one fixed pause: the forbidden list must have failed before access is given.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!task.is_finished(), "a forbidden watch does not end");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": "feed-reader" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "jitpe-ingress-debug" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user }]
    }))
    .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(c.client(Who::Admin), &s.ns);
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in 0.. {
        let patch = json!({ "metadata": { "annotations": { "probe": n.to_string() } } });
        let pp = PatchParams::default();
        api.patch("canary", &pp, &Patch::Merge(&patch))
            .await
            .unwrap();
        let wait = tokio::time::timeout(Duration::from_millis(500), changes.recv()).await;
        if let Ok(Some(event)) = wait {
            assert_eq!(event.name, "canary");
            break;
        }
        assert!(Instant::now() < deadline, "the watch never recovered");
    }
    task.abort();
}
