//! jitpe's own least privilege on a real apiserver, with the shipped manifests: it can bind
//! its own roles with the managed-by label, and nothing else.

mod common;

use common::kube::{Who, cluster};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn binding(name: &str, role: &str, labelled: bool) -> RoleBinding {
    let labels = labelled.then(|| {
        BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "jitpe".to_string(),
        )])
    });
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels,
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            name: "alice".into(),
            namespace: None,
        }]),
    }
}

async fn create_as_jitpe(ns: &str, b: &RoleBinding) -> Result<(), kube::Error> {
    Api::<RoleBinding>::namespaced(cluster().client(Who::Jitpe), ns)
        .create(&PostParams::default(), b)
        .await
        .map(|_| ())
}

fn status(r: &Result<(), kube::Error>) -> Option<u16> {
    match r {
        Err(kube::Error::Api(ae)) => Some(ae.code),
        _ => None,
    }
}

#[tokio::test]
async fn jitpe_cannot_bind_cluster_admin_or_edit() {
    let c = cluster();
    common::manifests::apply_rbac(&c.client(Who::Admin)).await;
    let ns = c.temp_namespace("priv").await;
    // The labelled binding to a jitpe role proves the RBAC has settled before the refusals count.
    let ok = binding("jitpe-1-0", "jitpe-ingress-debug", true);
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(e) = create_as_jitpe(&ns, &ok).await {
        assert!(
            Instant::now() < deadline,
            "jitpe could not bind its own role: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // NB: `edit` and `admin` get their rules from aggregation by kube-controller-manager, which
    // the test apiserver does not run; `system:aggregate-to-edit` holds the rules of `edit`.
    for role in [
        "cluster-admin",
        "system:aggregate-to-edit",
        "system:aggregate-to-admin",
    ] {
        let name = format!("jitpe-x-{}", role.replace(':', "-"));
        let r = create_as_jitpe(&ns, &binding(&name, role, true)).await;
        assert_eq!(
            status(&r),
            Some(403),
            "binding {role} must be forbidden: {r:?}"
        );
    }
}

#[tokio::test]
async fn the_admission_policy_rejects_an_unlabelled_binding_to_a_jitpe_role() {
    let c = cluster();
    common::manifests::apply_rbac(&c.client(Who::Admin)).await;
    let ns = c.temp_namespace("vap").await;
    // The policy is enforced once the apiserver has compiled it; poll until it bites.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    let err = loop {
        n += 1;
        match create_as_jitpe(
            &ns,
            &binding(
                &format!("jitpe-unlabelled-{n}"),
                "jitpe-ingress-debug",
                false,
            ),
        )
        .await
        {
            Err(kube::Error::Api(ae)) if ae.message.contains("managed-by") => break ae,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "the admission policy never rejected: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert!(err.code == 422 || err.code == 403, "{err:?}");
    // Even a role RBAC would let it bind (here `edit`, empty without aggregation) is refused.
    match create_as_jitpe(&ns, &binding("jitpe-3-0", "edit", true)).await {
        Err(kube::Error::Api(ae)) => {
            assert!(ae.message.contains("may only bind its own roles"), "{ae:?}")
        }
        ok => panic!("binding edit was admitted: {ok:?}"),
    }
    let labelled = create_as_jitpe(&ns, &binding("jitpe-2-0", "jitpe-ingress-debug", true)).await;
    assert!(labelled.is_ok(), "{labelled:?}");
}
