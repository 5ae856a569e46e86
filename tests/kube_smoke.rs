//! Proves that the test cluster is a real kube-apiserver with RBAC: unknown users are denied,
//! a RoleBinding grants exactly its namespace, deleting it takes the access away again, and the
//! bot identity starts with no rights. If RBAC were off or the server a stub, these would fail.

mod common;

use common::kube::{Access, Who, cluster};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

/// The bootstrap ClusterRole the tests grant. It holds the read rules of `view`; `view` itself is
/// aggregated, and only kube-controller-manager (not running here) fills in its rules.
const VIEW: &str = "system:aggregate-to-view";

/// Reading Ingresses in `namespace`, as a real request from `who` would ask.
fn read_ingresses(who: Who, namespace: &str) -> Access {
    Access::new(who, "list", "networking.k8s.io", "ingresses").in_namespace(namespace)
}

/// Lists Ingresses as `who` and returns the HTTP status: 200, or the error's code.
async fn list_ingresses_status(who: Who, namespace: &str) -> u16 {
    let ingresses = Api::<Ingress>::namespaced(cluster().client(who), namespace);
    match ingresses.list(&ListParams::default()).await {
        Ok(_) => 200,
        Err(kube::Error::Api(response)) => response.code,
        Err(other) => panic!("listing ingresses as {who:?} in {namespace}: {other}"),
    }
}

/// A RoleBinding of ClusterRole [`VIEW`] to `who` in `namespace`, created by admin.
async fn bind_view(who: Who, namespace: &str) -> Api<RoleBinding> {
    let bindings = Api::<RoleBinding>::namespaced(cluster().client(Who::Admin), namespace);
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some(format!("{}-view", who.user())),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: VIEW.into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "User".into(),
            name: who.user().into(),
            ..Subject::default()
        }]),
    };
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("admin creates a binding");
    bindings
}

#[tokio::test]
async fn alice_may_not_read_ingresses_in_a_fresh_namespace() {
    let cluster = cluster();
    let namespace = cluster.temp_namespace("smoke-deny").await;

    assert!(!cluster.sar(&read_ingresses(Who::Alice, &namespace)).await);
    assert_eq!(list_ingresses_status(Who::Alice, &namespace).await, 403);
}

#[tokio::test]
async fn a_view_binding_grants_alice_its_namespace_only_until_it_is_deleted() {
    let cluster = cluster();
    let granted = cluster.temp_namespace("smoke-granted").await;
    let other = cluster.temp_namespace("smoke-other").await;

    let bindings = bind_view(Who::Alice, &granted).await;
    cluster
        .eventually_sar(&read_ingresses(Who::Alice, &granted), true)
        .await;
    assert!(!cluster.sar(&read_ingresses(Who::Alice, &other)).await);
    assert!(
        !cluster.sar(&read_ingresses(Who::Bob, &granted)).await,
        "bob was not bound"
    );
    assert_eq!(list_ingresses_status(Who::Alice, &granted).await, 200);
    assert_eq!(list_ingresses_status(Who::Alice, &other).await, 403);

    bindings
        .delete("alice-view", &DeleteParams::default())
        .await
        .expect("admin deletes it");
    cluster
        .eventually_sar(&read_ingresses(Who::Alice, &granted), false)
        .await;
    assert_eq!(list_ingresses_status(Who::Alice, &granted).await, 403);
}

#[tokio::test]
async fn the_jitpe_identity_is_not_a_cluster_admin() {
    let cluster = cluster();
    let everything = Access::new(Who::Jitpe, "*", "*", "*");
    assert!(!cluster.sar(&everything).await);

    let namespaces = Api::<Namespace>::all(cluster.client(Who::Jitpe));
    match namespaces.list(&ListParams::default()).await {
        Err(kube::Error::Api(response)) => assert_eq!(response.code, 403),
        other => panic!("jitpe listed namespaces: {other:?}"),
    }
}

#[tokio::test]
async fn the_admin_may_do_everything_so_the_denials_above_mean_something() {
    let everything = Access::new(Who::Admin, "*", "*", "*");
    assert!(cluster().sar(&everything).await);
}

#[tokio::test]
async fn the_started_server_reports_kubernetes_1_34() {
    let cluster = cluster();
    if cluster.is_external() {
        return; // an existing cluster runs whatever version it runs
    }
    let version = cluster
        .client(Who::Carol)
        .apiserver_version()
        .await
        .expect("/version");
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "34")
    );
    assert!(
        version.git_version.starts_with("v1.34."),
        "{}",
        version.git_version
    );
}

#[tokio::test]
async fn the_aggregated_view_role_is_empty_because_no_controllers_run() {
    let cluster = cluster();
    if cluster.is_external() {
        return; // a full cluster runs the aggregation controller
    }
    let roles = Api::<ClusterRole>::all(cluster.client(Who::Admin));
    let view = roles.get("view").await.expect("bootstrap role view");
    assert!(view.aggregation_rule.is_some());
    assert!(
        view.rules.unwrap_or_default().is_empty(),
        "grant jitpe roles, not aggregated ones"
    );
}
