//! Installing jitpe the way an operator would: `kubectl kustomize` of an overlay that moves the
//! shipped manifests to another namespace, checked with `kubectl apply --dry-run=server`, then
//! applied with `kubectl apply --server-side` to the real apiserver. The admission policies must
//! follow the install. In its own test binary (so its own apiserver): the overlay replaces the
//! cluster-scoped objects other tests rely on. The Helm chart's install: tests/helm_chart.rs.

mod common;

use common::install::{
    apply, apply_ok, documents, installed_identity_binds_only_as_the_policies_allow, kustomize,
};
use common::kube::{Access, cluster};

#[tokio::test]
async fn an_install_in_another_namespace_keeps_every_admission_policy_in_force() {
    let c = cluster();
    // Unique, so that on a cluster from JITPE_TEST_KUBECONFIG it is new on every run.
    let namespace = format!("security-tools-{}", std::process::id());
    let namespace = namespace.as_str();
    let yaml = kustomize(namespace);
    assert!(
        !yaml.contains("jitpe-system"),
        "the overlay moved everything:\n{yaml}"
    );
    // As README ("Kubernetes set-up") warns: on a fresh cluster a server-side dry run of the
    // whole install fails, since the namespace it creates does not exist yet...
    let fresh = apply(&yaml, true);
    let message = String::from_utf8_lossy(&fresh.stderr);
    assert!(
        !fresh.status.success()
            && message.contains(&format!("namespaces \"{namespace}\" not found")),
        "a dry run before the namespace exists: {message}"
    );
    // ...and passes once namespace.yaml is applied first.
    let namespaces: Vec<_> = documents(&yaml)
        .into_iter()
        .filter(|d| d["kind"] == "Namespace")
        .collect();
    assert_eq!(namespaces.len(), 1, "one Namespace in the install");
    apply_ok(&serde_json::to_string(&namespaces[0]).unwrap(), false);
    apply_ok(&yaml, true);
    apply_ok(&yaml, false);
    installed_identity_binds_only_as_the_policies_allow(namespace).await;
    let user = format!("system:serviceaccount:{namespace}:jitpe");
    let sa_group = format!("system:serviceaccounts:{namespace}");
    let groups = ["system:serviceaccounts", sa_group.as_str()];
    // The moved identity verifies API callers' tokens, and still mints none.
    let with_auth = [groups[0], groups[1], "system:authenticated"];
    let may = |verb: &str, group: &str, resource: &str| {
        Access::user(&user, &with_auth, verb, group, resource)
    };
    c.eventually_sar(
        &may("create", "authentication.k8s.io", "tokenreviews"),
        true,
    )
    .await;
    let mint = may("create", "", "serviceaccounts").subresource("token");
    assert!(!c.sar(&mint).await, "the moved jitpe may mint tokens");
}
