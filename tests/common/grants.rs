//! A jitpe service wired to the real test apiserver as jitpe's own identity, with a policy
//! over fresh namespaces.

use super::kube::{Who, cluster};
use jitpe::domain::command::Command;
use jitpe::domain::identity::{Actor, Platform};
use jitpe::domain::ids::{InstanceId, Namespace, RequestId, ResourceName, RoleName};
use jitpe::domain::policy::Policy;
use jitpe::domain::policy::RawPolicy;
use jitpe::domain::request::State;
use jitpe::domain::view::CardAction;
use jitpe::kube::KubeCluster;
use jitpe::ports::{CardRef, Cluster, Store};
use jitpe::service::{ChatTargets, Service};
use jitpe::testing::ManualClock;
use std::sync::Arc;
use std::time::Duration;

/// The requester (mapped to Kubernetes user `alice`) and the approver.
pub fn requester() -> Actor {
    Actor::new(Platform::Slack, "UREQ")
}

/// The approver of every role.
pub fn approver() -> Actor {
    Actor::new(Platform::Slack, "UAPP1")
}

/// Namespaces of one test, and the jitpe instance it runs as. Every test is an installation of
/// its own, so tests sharing one apiserver (whose stores all start at request #1) never delete
/// or reconcile each other's grants, whatever order they run in.
#[derive(Clone, Debug)]
pub struct Spaces {
    /// The jitpe instance of this test (named after `ns`, which is unique).
    pub instance: InstanceId,
    /// Where access is requested.
    pub ns: String,
    /// The ingress controller's namespace (logs grant).
    pub ctrl: String,
    /// A namespace nobody asked for.
    pub other: String,
}

impl Spaces {
    /// Three fresh namespaces, and jitpe's RBAC applied.
    pub async fn new() -> Self {
        let c = cluster();
        super::manifests::apply_rbac(&c.client(Who::Admin)).await;
        let ns = c.temp_namespace("shop").await;
        Spaces {
            instance: InstanceId::parse(&ns).expect("a namespace name is an instance name"),
            ns,
            ctrl: c.temp_namespace("ctrl").await,
            other: c.temp_namespace("other").await,
        }
    }
}

/// The policy for `spaces`: `debug` (1 approval, max 1h), `change` (scopable to one Ingress),
/// `pair` (two approvers).
pub fn policy(s: &Spaces) -> Policy {
    policy_with_logs_in(s, &s.ctrl)
}

/// [`policy`] with `debug`'s controller-logs binding in `logs_ns` instead of the spaces' own
/// controller namespace (a namespace that may not exist, for the role check).
pub fn policy_with_logs_in(s: &Spaces, logs_ns: &str) -> Policy {
    let text = format!(
        r#"
[namespaces]
allow = ["{ns}", "{other}"]
[[identities]]
kube_user = "alice"
chat = ["slack:UREQ"]
[roles.debug]
default_duration = "15m"
max_duration = "1h"
approvers = ["slack:UAPP1"]
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-debug"
[[roles.debug.bindings]]
cluster_role = "jitpe-ingress-controller-logs"
namespace = "{ctrl}"
[roles.change]
default_duration = "30m"
max_duration = "2h"
approvers = ["slack:UAPP1"]
[[roles.change.bindings]]
cluster_role = "jitpe-ingress-change"
[roles.pair]
default_duration = "15m"
max_duration = "1h"
approvals = 2
approvers = ["slack:UAPP1", "slack:UAPP2"]
[[roles.pair.bindings]]
cluster_role = "jitpe-ingress-debug"
[[roles.change.scoped_rules]]
api_groups = ["networking.k8s.io"]
resources = ["ingresses"]
verbs = ["get", "update", "patch"]
"#,
        ns = s.ns,
        other = s.other,
        ctrl = logs_ns
    );
    let raw: RawPolicy = toml::from_str(&text).expect("test policy is TOML");
    Policy::try_from(raw).expect("test policy is valid")
}

/// A service over `store` and `cluster` with a manual clock at the real current time.
pub fn service_with(
    store: Arc<dyn Store>,
    cluster: Arc<dyn Cluster>,
    spaces: &Spaces,
    clock: Arc<ManualClock>,
) -> Service {
    Service::new(
        store,
        cluster,
        clock,
        Arc::new(policy(spaces)),
        ChatTargets::default(),
    )
    .with_instance(spaces.instance.clone())
}

/// jitpe's cluster adapter, acting as jitpe's own identity (never as admin).
pub fn jitpe_cluster() -> Arc<dyn Cluster> {
    Arc::new(KubeCluster::new(cluster().client(Who::Jitpe), "jitpe"))
}

/// Submits a request as the requester through the service; returns its id.
pub async fn request(
    svc: &Service,
    role: &str,
    ns: &str,
    resource: Option<&str>,
    minutes: u64,
) -> RequestId {
    let cmd = Command::Request {
        role: RoleName::parse(role).unwrap(),
        namespace: Namespace::parse(ns).unwrap(),
        resource: resource.map(|r| ResourceName::parse(r).unwrap()),
        duration: Some(Duration::from_secs(minutes * 60)),
        reason: "INC-1 checkout 502s".into(),
    };
    svc.command(&requester(), cmd, None)
        .await
        .expect("request accepted");
    svc.store().list().unwrap().last().unwrap().value.id
}

/// Records a card for request `id`, as the outbox does once it posted one (clicks are accepted
/// only from the card jitpe posted), and returns it.
pub fn posted_card(svc: &Service, id: RequestId) -> CardRef {
    let card = CardRef {
        platform: Platform::Slack,
        channel: "CAPPROVERS".into(),
        message_id: format!("1700000000.{id}"),
    };
    svc.store().put_card(id, &card).expect("card stored");
    card
}

/// Approves as the approver and checks the grant became Active.
pub async fn approve(svc: &Service, id: RequestId) {
    let card = posted_card(svc, id);
    svc.click(&approver(), id, CardAction::Approve, &card)
        .await
        .expect("approved");
    let state = svc.store().get(id).unwrap().unwrap().value.state;
    assert_eq!(state, State::Active);
}
