//! What a stolen jitpe token can and cannot do, as one table: every write jitpe's RBAC allows,
//! tried as jitpe's own identity on a real apiserver with the shipped manifests. RBAC alone
//! would allow every row; the admission policies (`manifests/admission-policy.yaml`) refuse all
//! but jitpe's own shapes.

mod common;

use common::kube::{Who, cluster};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::{
    Ingress, IngressBackend, IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const MANAGED: (&str, &str) = ("app.kubernetes.io/managed-by", "jitpe");

fn meta(name: &str, managed: bool) -> ObjectMeta {
    let labels = managed.then(|| BTreeMap::from([(MANAGED.0.into(), MANAGED.1.into())]));
    ObjectMeta {
        name: Some(name.into()),
        labels,
        ..ObjectMeta::default()
    }
}

fn subject(kind: &str, name: &str) -> Subject {
    Subject {
        kind: kind.into(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        name: name.into(),
        namespace: None,
    }
}

fn binding(name: &str, managed: bool, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, managed),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "jitpe-ingress-debug".into(),
        },
        subjects: Some(subjects),
    }
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        resource_names: (!names.is_empty()).then(|| strings(names)),
        non_resource_urls: None,
    }
}

fn role(name: &str, managed: bool, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: meta(name, managed),
        rules: Some(rules),
    }
}

fn ingress(name: &str) -> Ingress {
    let backend = IngressServiceBackend {
        name: "web".into(),
        port: Some(ServiceBackendPort {
            number: Some(80),
            name: None,
        }),
    };
    Ingress {
        metadata: meta(name, false),
        spec: Some(IngressSpec {
            default_backend: Some(IngressBackend {
                service: Some(backend),
                resource: None,
            }),
            ..IngressSpec::default()
        }),
        status: None,
    }
}

/// The APIs of one namespace, as jitpe; and its bindings in the namespaces closed to it.
struct As {
    bindings: Api<RoleBinding>,
    roles: Api<Role>,
    ingresses: Api<Ingress>,
    closed: Vec<(&'static str, Api<RoleBinding>)>,
}

fn apis(who: Who, ns: &str, denied: &str) -> As {
    let client = cluster().client(who);
    let closed = [
        ("bind in kube-system", "kube-system".to_string()),
        ("bind in jitpe's own namespace", "jitpe-system".to_string()),
        (
            "bind in a namespace labelled jitpe.io/access=denied",
            denied.to_string(),
        ),
    ];
    As {
        bindings: Api::namespaced(client.clone(), ns),
        roles: Api::namespaced(client.clone(), ns),
        ingresses: Api::namespaced(client.clone(), ns),
        closed: closed
            .into_iter()
            .map(|(what, ns)| (what, Api::namespaced(client.clone(), &ns)))
            .collect(),
    }
}

/// A namespace labelled closed to jitpe, and jitpe's own namespace (created if missing).
async fn closed_namespaces() -> String {
    let c = cluster();
    let denied = c.temp_namespace("denied").await;
    let namespaces: Api<Namespace> = Api::all(c.client(Who::Admin));
    let label = json!({"metadata": {"labels": {"jitpe.io/access": "denied"}}});
    let pp = PatchParams::default();
    namespaces
        .patch(&denied, &pp, &Patch::Merge(label))
        .await
        .unwrap();
    let own = Namespace {
        metadata: meta("jitpe-system", false),
        ..Namespace::default()
    };
    match namespaces.create(&PostParams::default(), &own).await {
        Ok(_) => {}
        Err(kube::Error::Api(ae)) if ae.code == 409 => {}
        Err(e) => panic!("creating jitpe-system: {e}"),
    }
    denied
}

/// A namespace holding objects that are not jitpe's, with jitpe's RBAC and admission policies
/// applied and in force.
async fn setup() -> (String, As) {
    let c = cluster();
    common::manifests::apply_rbac(&c.client(Who::Admin)).await;
    let ns = c.temp_namespace("adm").await;
    let denied = closed_namespaces().await;
    let admin = apis(Who::Admin, &ns, &denied);
    let pp = PostParams::default();
    let theirs = binding("theirs", false, vec![subject("User", "mallory")]);
    admin.bindings.create(&pp, &theirs).await.unwrap();
    // In a shape jitpe's RBAC could write, so only ownership stands in the way of a takeover.
    let their_rule = rule(&["networking.k8s.io"], &["ingresses"], &["get"], &["web"]);
    let their_role = role("theirs", false, vec![their_rule]);
    admin.roles.create(&pp, &their_role).await.unwrap();
    admin.ingresses.create(&pp, &ingress("web")).await.unwrap();
    let jitpe = apis(Who::Jitpe, &ns, &denied);
    // The policies bite once the apiserver has compiled them, and RBAC has settled once jitpe
    // can create its own binding: wait for both before the table counts.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let probe = binding("probe", false, vec![subject("User", "alice")]);
        match jitpe.bindings.create(&pp, &probe).await {
            Err(kube::Error::Api(ae)) if ae.message.contains("labelled") => break,
            other => assert!(Instant::now() < deadline, "policy not in force: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let own = binding("jitpe-own-0", true, vec![subject("User", "alice")]);
    while let Err(e) = jitpe.bindings.create(&pp, &own).await {
        assert!(
            Instant::now() < deadline,
            "jitpe cannot bind its own role: {e}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    label_in_force(&jitpe, Instant::now() + Duration::from_secs(30)).await;
    (ns, jitpe)
}

/// Waits until the admission policy sees the `jitpe.io/access=denied` label: it reads namespaces
/// from an informer, so a label set a moment ago may not count yet (seen on a loaded machine). A
/// probe that got through is deleted before the next try.
async fn label_in_force(jitpe: &As, deadline: Instant) {
    let labelled = jitpe
        .closed
        .iter()
        .find(|(what, _)| what.contains("labelled"));
    let (_, api) = labelled.expect("the table has the labelled namespace");
    let probe = binding("jitpe-label-probe", true, vec![subject("User", "alice")]);
    loop {
        match api.create(&PostParams::default(), &probe).await {
            Err(kube::Error::Api(ae)) if ae.message.contains("jitpe.io/access=denied") => return,
            Ok(_) => {
                let _ = api.delete("jitpe-label-probe", &Default::default()).await;
            }
            Err(e) => panic!("probing the labelled namespace: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the namespace label is not in force"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

type Attempt = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), kube::Error>>>>;

fn ok<T>(r: Result<T, kube::Error>) -> Result<(), kube::Error> {
    r.map(|_| ())
}

/// Every row: what jitpe tries, and the admission message that must refuse it (`None`: allowed).
fn table(j: &As) -> Vec<(&'static str, Attempt, Option<&'static str>)> {
    let pp = PostParams::default();
    let dp = DeleteParams::default();
    let (b, r, i) = (j.bindings.clone(), j.roles.clone(), j.ingresses.clone());
    let one = |user| vec![subject("User", user)];
    let hijack = json!({"metadata": {"labels": {MANAGED.0: MANAGED.1}}});
    let annotate = json!({"metadata": {"annotations": {"x": "y"}}});
    let scoped = vec![rule(
        &["networking.k8s.io"],
        &["ingresses"],
        &["get", "update", "patch"],
        &["web"],
    )];
    let rows: Vec<(&str, Attempt, Option<&str>)> = vec![
        (
            "bind its own role for one user",
            Box::pin({
                let (b, pp, x) = (
                    b.clone(),
                    pp.clone(),
                    binding("jitpe-a-0", true, one("alice")),
                );
                async move { ok(b.create(&pp, &x).await) }
            }),
            None,
        ),
        (
            "bind a Group",
            Box::pin({
                let (b, pp) = (b.clone(), pp.clone());
                let x = binding("jitpe-g-0", true, vec![subject("Group", "shop-developers")]);
                async move { ok(b.create(&pp, &x).await) }
            }),
            Some("never a Group"),
        ),
        (
            "bind two subjects at once",
            Box::pin({
                let (b, pp) = (b.clone(), pp.clone());
                let x = binding(
                    "jitpe-t-0",
                    true,
                    vec![subject("User", "alice"), subject("User", "bob")],
                );
                async move { ok(b.create(&pp, &x).await) }
            }),
            Some("exactly one requester"),
        ),
        (
            "delete a RoleBinding that is not jitpe's",
            Box::pin({
                let (b, dp) = (b.clone(), dp.clone());
                async move { ok(b.delete("theirs", &dp).await) }
            }),
            Some("labelled"),
        ),
        (
            "delete a Role that is not jitpe's",
            Box::pin({
                let (r, dp) = (r.clone(), dp.clone());
                async move { ok(r.delete("theirs", &dp).await) }
            }),
            Some("labelled"),
        ),
        (
            "take over a Role by adding jitpe's label",
            Box::pin({
                let (r, p) = (r.clone(), Patch::Merge(hijack));
                async move { ok(r.patch("theirs", &PatchParams::default(), &p).await) }
            }),
            Some("did not create"),
        ),
        (
            "write a Role that creates RoleBindings",
            Box::pin({
                let (r, pp) = (r.clone(), pp.clone());
                let x = role(
                    "jitpe-d-0",
                    true,
                    vec![rule(
                        &["rbac.authorization.k8s.io"],
                        &["rolebindings"],
                        &["create"],
                        &["x"],
                    )],
                );
                async move { ok(r.create(&pp, &x).await) }
            }),
            Some("named Ingresses"),
        ),
        (
            "write a Role that may bind jitpe-ingress-change",
            Box::pin({
                let (r, pp) = (r.clone(), pp.clone());
                let x = role(
                    "jitpe-e-0",
                    true,
                    vec![rule(
                        &["rbac.authorization.k8s.io"],
                        &["clusterroles"],
                        &["bind"],
                        &["jitpe-ingress-change"],
                    )],
                );
                async move { ok(r.create(&pp, &x).await) }
            }),
            Some("named Ingresses"),
        ),
        (
            "write a Role over every Ingress (no resourceNames)",
            Box::pin({
                let (r, pp) = (r.clone(), pp.clone());
                let x = role(
                    "jitpe-f-0",
                    true,
                    vec![rule(
                        &["networking.k8s.io"],
                        &["ingresses"],
                        &["update"],
                        &[],
                    )],
                );
                async move { ok(r.create(&pp, &x).await) }
            }),
            Some("named Ingresses"),
        ),
        (
            "write a Role over one named Ingress",
            Box::pin({
                let (r, pp, x) = (r.clone(), pp.clone(), role("jitpe-s-0", true, scoped));
                async move { ok(r.create(&pp, &x).await) }
            }),
            None,
        ),
        (
            "delete its own binding",
            Box::pin({
                let (b, dp) = (b.clone(), dp.clone());
                async move { ok(b.delete("jitpe-own-0", &dp).await) }
            }),
            None,
        ),
        (
            "patch an Ingress",
            Box::pin({
                let (i, p) = (i.clone(), Patch::Merge(annotate));
                async move { ok(i.patch("web", &PatchParams::default(), &p).await) }
            }),
            Some("never writes Ingresses"),
        ),
        (
            "read an Ingress",
            Box::pin({
                let i = i.clone();
                async move { ok(i.get("web").await) }
            }),
            None,
        ),
    ];
    let mut rows = rows;
    for (what, api) in &j.closed {
        let (api, pp) = (api.clone(), pp.clone());
        let x = binding("jitpe-n-0", true, vec![subject("User", "alice")]);
        let attempt: Attempt = Box::pin(async move { ok(api.create(&pp, &x).await) });
        let why = if what.contains("labelled") {
            "labelled jitpe.io/access=denied"
        } else {
            "never grants access in namespace"
        };
        rows.push((what, attempt, Some(why)));
    }
    rows
}

#[tokio::test]
async fn jitpe_may_write_and_delete_only_its_own_objects_in_its_own_shapes() {
    let (_ns, jitpe) = setup().await;
    let mut wrong = Vec::new();
    for (what, attempt, refusal) in table(&jitpe) {
        let result = attempt.await;
        let fine = match (&result, refusal) {
            (Ok(()), None) => true,
            (Err(kube::Error::Api(ae)), Some(why)) => ae.message.contains(why),
            _ => false,
        };
        if !fine {
            wrong.push(format!("{what}: expected {refusal:?}, got {result:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
