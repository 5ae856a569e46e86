//! Installing jitpe the way an operator would: `kubectl kustomize` of an overlay that moves the
//! shipped manifests to another namespace, applied with `kubectl apply --server-side` to the real
//! apiserver. The admission policies must follow the install. In its own test binary (so its own
//! apiserver): the overlay replaces the cluster-scoped objects other tests rely on.

mod common;

use common::kube::{Access, cluster};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "security-tools";

/// The shipped manifests under an overlay setting `namespace`, rendered by kubectl's kustomize.
fn render(namespace: &str) -> String {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let base = dir.path().join("base");
    std::fs::create_dir(&base).unwrap();
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    for entry in std::fs::read_dir(&manifests).unwrap() {
        let path = entry.unwrap().path();
        // Not the subfolders: audit/ goes on the control plane, not into the cluster.
        if !path.is_file() {
            continue;
        }
        std::fs::copy(&path, base.join(path.file_name().unwrap())).unwrap();
    }
    let overlay = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         namespace: {namespace}\nresources:\n  - base\n"
    );
    std::fs::write(dir.path().join("kustomization.yaml"), overlay).unwrap();
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .expect("kubectl runs (it renders the kustomize overlay)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("YAML is text")
}

/// `kubectl apply --server-side` of `yaml` as the admin.
fn apply(yaml: &str) {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster().admin_kubeconfig())
        .args([
            "apply",
            "--server-side",
            "--field-manager=jitpe-tests",
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn binding(name: &str, managed: bool) -> RoleBinding {
    let labels = managed.then(|| {
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
            name: "jitpe-ingress-debug".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            name: "alice".into(),
            namespace: None,
        }]),
    }
}

#[tokio::test]
async fn an_install_in_another_namespace_keeps_every_admission_policy_in_force() {
    let c = cluster();
    let yaml = render(NAMESPACE);
    assert!(
        !yaml.contains("jitpe-system"),
        "the overlay moved everything:\n{yaml}"
    );
    apply(&yaml);
    let user = format!("system:serviceaccount:{NAMESPACE}:jitpe");
    let groups = [
        "system:serviceaccounts",
        "system:serviceaccounts:security-tools",
    ];
    let ns = c.temp_namespace("moved").await;
    let here: Api<RoleBinding> = Api::namespaced(c.client_as(&user, &groups), &ns);
    let own: Api<RoleBinding> = Api::namespaced(c.client_as(&user, &groups), NAMESPACE);
    let pp = PostParams::default();
    // RBAC and the policies settle: the moved identity can bind its role, labelled.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = here.create(&pp, &binding("jitpe-ok-0", true)).await {
        assert!(
            Instant::now() < deadline,
            "the moved jitpe cannot bind: {e}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let refused = |r: Result<RoleBinding, kube::Error>, why: &str| match r {
        Err(kube::Error::Api(ae)) => assert!(ae.message.contains(why), "{ae:?}"),
        ok => panic!("admitted, expected a refusal naming {why:?}: {ok:?}"),
    };
    // The policies bite once the apiserver has compiled them.
    let mut n = 0;
    let unlabelled = loop {
        n += 1;
        let name = format!("unlabelled-{n}");
        match here.create(&pp, &binding(&name, false)).await {
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(300)).await
            }
            other => break other,
        }
    };
    refused(unlabelled, "labelled");
    let own_ns = own.create(&pp, &binding("jitpe-own-0", true)).await;
    refused(own_ns, "never grants access in namespace security-tools");
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
