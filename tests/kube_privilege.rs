//! jitpe's own least privilege on a real apiserver, with the shipped manifests: it can bind
//! its own roles with the managed-by label, and nothing else. Two tables a reviewer can read:
//! every rule jitpe's ClusterRole holds, with why (a rule added to `manifests/rbac.yaml` without
//! a row here fails), and what RBAC lets a stolen jitpe token do, asked of the apiserver with
//! SubjectAccessReviews. `tests/kube_admission.rs` shows how the admission policies narrow the
//! writes further.

mod common;

use common::grants::{Spaces, jitpe_cluster};
use common::install::binding;
use common::kube::{Access, Who, cluster};
use jitpe::domain::policy::{GRANTABLE_CLUSTER_ROLES, SCOPED_VERBS, SYSTEM_NAMESPACES};
use jitpe::ports::{ClusterError, ClusterObject};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, PostParams};
use serde_json::Value;
use std::time::{Duration, Instant};

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
#[tokio::test]
async fn jitpe_may_look_up_only_its_own_cluster_roles_and_namespaces_by_name() {
    let s = Spaces::new().await;
    let jitpe = jitpe_cluster();
    let deadline = Instant::now() + Duration::from_secs(15);
    let own = ClusterObject::ClusterRole("jitpe-ingress-debug".into());
    while jitpe.exists(&own).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "jitpe never could read its own role"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ns = |n: &str| ClusterObject::Namespace(n.into());
    assert!(matches!(jitpe.exists(&ns(&s.ctrl)).await, Ok(true)));
    assert!(matches!(
        jitpe.exists(&ns("ingress-nginx")).await,
        Ok(false)
    ));
    // Any other ClusterRole, installed or not, is none of jitpe's business.
    for other in ["cluster-admin", "jitpe-ingres-debug"] {
        let r = jitpe
            .exists(&ClusterObject::ClusterRole(other.into()))
            .await;
        assert!(
            matches!(r, Err(ClusterError::Forbidden(_))),
            "{other}: {r:?}"
        );
    }
}

/// `(api group, resource, verbs, resourceNames)` of one rule, from the manifest.
fn rule_of(r: &Value) -> (String, String, Vec<String>, Vec<String>) {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let one = |k: &str| {
        let v = strings(&r[k]);
        assert_eq!(v.len(), 1, "one {k} per rule keeps the table readable: {r}");
        v[0].clone()
    };
    (
        one("apiGroups"),
        one("resources"),
        strings(&r["verbs"]),
        strings(&r["resourceNames"]),
    )
}

fn controller_rules() -> Vec<(String, String, Vec<String>, Vec<String>)> {
    let docs = common::manifests::documents("rbac.yaml");
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "jitpe-controller")
        .expect("rbac.yaml holds the jitpe-controller ClusterRole");
    let mut rules = Vec::new();
    for r in role["rules"].as_array().expect("rules") {
        for resource in r["resources"].as_array().expect("resources") {
            let mut r = r.clone();
            r["resources"] = Value::Array(vec![resource.clone()]);
            rules.push(rule_of(&r));
        }
    }
    rules
}

#[test]
fn jitpe_holds_exactly_these_rules_each_for_a_reason() {
    let grantable: Vec<String> = GRANTABLE_CLUSTER_ROLES.map(String::from).to_vec();
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let rbac = "rbac.authorization.k8s.io";
    let writes = v(&[
        "get", "list", "watch", "create", "update", "patch", "delete",
    ]);
    // (group, resource, verbs, resourceNames) — why
    let expected = vec![
        // the grants themselves; the admission policy limits them to jitpe's own, in its shapes
        ((rbac, "rolebindings"), writes.clone(), vec![]),
        ((rbac, "roles"), writes, vec![]),
        // bind: reference them in a RoleBinding; get: the role check (/readyz)
        (
            (rbac, "clusterroles"),
            v(&["bind", "get"]),
            grantable.clone(),
        ),
        // the role check looks up fixed binding namespaces by name
        (("", "namespaces"), v(&["get"]), vec![]),
        // RBAC lets jitpe create a Role over one Ingress only with these; list and watch are
        // also the Ingress change feed's; it never writes one (admission refuses it)
        (
            ("networking.k8s.io", "ingresses"),
            SCOPED_VERBS.map(String::from).to_vec(),
            vec![],
        ),
        // the API's callers are verified with a TokenReview of their own token
        (
            ("authentication.k8s.io", "tokenreviews"),
            v(&["create"]),
            vec![],
        ),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|((g, r), verbs, names)| (g.to_string(), r.to_string(), verbs, names))
        .collect();
    assert_eq!(controller_rules(), expected);
}

#[test]
fn the_config_checks_name_what_the_manifests_allow() {
    let policy = common::manifests::documents("admission-policy.yaml");
    let cel = serde_json::to_string(&policy).unwrap();
    let list = cel
        .split("object.roleRef.name in [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("the admission policy lists the ClusterRoles jitpe may bind");
    let admitted: Vec<&str> = list
        .split(',')
        .map(|n| n.trim().trim_matches('\''))
        .collect();
    assert_eq!(admitted, GRANTABLE_CLUSTER_ROLES);
    let installed: Vec<String> = common::manifests::documents("grantable-clusterroles.yaml")
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(installed, GRANTABLE_CLUSTER_ROLES);
    for ns in SYSTEM_NAMESPACES {
        assert!(
            cel.contains(&format!("'{ns}'")),
            "admission policy lacks {ns}"
        );
    }
    let verbs = SCOPED_VERBS.map(|v| format!("'{v}'")).join(", ");
    assert!(
        cel.contains(&format!("v in [{verbs}]")),
        "scoped verbs differ"
    );
}

#[tokio::test]
async fn a_stolen_jitpe_token_can_read_and_write_only_what_the_table_says() {
    let s = Spaces::new().await;
    let c = cluster();
    let ns = s.ns.as_str();
    let rbac = "rbac.authorization.k8s.io";
    let net = "networking.k8s.io";
    let auth = "authentication.k8s.io";
    let at =
        |verb: &str, group: &str, resource: &str| Access::new(Who::Jitpe, verb, group, resource);
    let rows: Vec<(&str, Access, bool)> = vec![
        (
            "get its own ClusterRole",
            at("get", rbac, "clusterroles").named("jitpe-ingress-change"),
            true,
        ),
        (
            "bind its own ClusterRole",
            at("bind", rbac, "clusterroles").named("jitpe-ingress-debug"),
            true,
        ),
        (
            "get cluster-admin",
            at("get", rbac, "clusterroles").named("cluster-admin"),
            false,
        ),
        ("list ClusterRoles", at("list", rbac, "clusterroles"), false),
        (
            "watch ClusterRoles",
            at("watch", rbac, "clusterroles"),
            false,
        ),
        (
            "bind cluster-admin",
            at("bind", rbac, "clusterroles").named("cluster-admin"),
            false,
        ),
        (
            "escalate a Role",
            at("escalate", rbac, "roles").in_namespace(ns),
            false,
        ),
        (
            "create a ClusterRole",
            at("create", rbac, "clusterroles"),
            false,
        ),
        (
            "create a ClusterRoleBinding",
            at("create", rbac, "clusterrolebindings"),
            false,
        ),
        (
            "get a namespace by name",
            at("get", "", "namespaces").named("kube-system"),
            true,
        ),
        ("list namespaces", at("list", "", "namespaces"), false),
        ("watch namespaces", at("watch", "", "namespaces"), false),
        ("create a namespace", at("create", "", "namespaces"), false),
        (
            "label a namespace",
            at("patch", "", "namespaces").named(ns),
            false,
        ),
        (
            "delete a namespace",
            at("delete", "", "namespaces").named(ns),
            false,
        ),
        (
            "read a Secret",
            at("get", "", "secrets").in_namespace(ns),
            false,
        ),
        ("list Secrets", at("list", "", "secrets"), false),
        (
            "read a ConfigMap",
            at("get", "", "configmaps").in_namespace(ns),
            false,
        ),
        (
            "exec into a pod",
            at("create", "", "pods")
                .subresource("exec")
                .in_namespace(ns),
            false,
        ),
        (
            "mint a token",
            at("create", "", "serviceaccounts")
                .subresource("token")
                .in_namespace(ns),
            false,
        ),
        ("impersonate a user", at("impersonate", "", "users"), false),
        // Read: every Ingress, cluster-wide (the change feed watches them; a scoped grant
        // needs the verbs). Spec, annotations and status, no more: Secrets stay unreadable.
        (
            "list Ingresses cluster-wide",
            at("list", net, "ingresses"),
            true,
        ),
        (
            "watch Ingresses cluster-wide",
            at("watch", net, "ingresses"),
            true,
        ),
        (
            "get an Ingress",
            at("get", net, "ingresses").in_namespace(ns).named("web"),
            true,
        ),
        // NB: RBAC allows these only so jitpe may create a Role over one Ingress; the admission
        // policy jitpe-never-writes-ingresses refuses every one (tests/kube_admission.rs).
        (
            "update an Ingress (admission refuses it)",
            at("update", net, "ingresses").in_namespace(ns).named("web"),
            true,
        ),
        (
            "patch an Ingress (admission refuses it)",
            at("patch", net, "ingresses").in_namespace(ns).named("web"),
            true,
        ),
        (
            "write an Ingress's status",
            at("update", net, "ingresses")
                .subresource("status")
                .in_namespace(ns),
            false,
        ),
        (
            "create an Ingress",
            at("create", net, "ingresses").in_namespace(ns),
            false,
        ),
        (
            "delete an Ingress",
            at("delete", net, "ingresses").in_namespace(ns),
            false,
        ),
        (
            "create a RoleBinding (admission narrows it)",
            at("create", rbac, "rolebindings").in_namespace(ns),
            true,
        ),
        // Verify a caller's token: reveals only whether it is valid (src/kube/token_review.rs).
        ("review a token", at("create", auth, "tokenreviews"), true),
        (
            "ask what another user may do",
            at("create", "authorization.k8s.io", "subjectaccessreviews"),
            false,
        ),
        (
            "mint a token cluster-wide",
            at("create", "", "serviceaccounts").subresource("token"),
            false,
        ),
        (
            "read a ServiceAccount",
            at("get", "", "serviceaccounts").in_namespace(ns),
            false,
        ),
        (
            "list Secrets in its own namespace",
            at("list", "", "secrets").in_namespace("jitpe-system"),
            false,
        ),
        (
            "request a certificate",
            at(
                "create",
                "certificates.k8s.io",
                "certificatesigningrequests",
            ),
            false,
        ),
    ];
    // The first row proves RBAC has settled before the others count.
    c.eventually_sar(&rows[0].1, true).await;
    let mut wrong = Vec::new();
    for (what, access, allowed) in &rows {
        if c.sar(access).await != *allowed {
            wrong.push(format!("{what}: expected allowed={allowed}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
