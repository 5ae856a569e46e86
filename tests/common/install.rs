//! Installing jitpe as an operator would: the kustomize manifests rendered by `kubectl
//! kustomize`, the Helm chart rendered by `helm template` (helm from `.ci/build-helm`, found
//! through `JITPE_TEST_HELM`), both applied with kubectl to the test apiserver.

use super::kube::cluster;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the helm binary built by `.ci/build-helm`; `bash .ci/test` sets it.
pub const HELM_ENV: &str = "JITPE_TEST_HELM";

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The helm binary. Panics when it is missing: the chart tests never skip silently.
pub fn helm() -> PathBuf {
    let path = std::env::var_os(HELM_ENV).map(PathBuf::from);
    match path.filter(|p| p.is_file()) {
        Some(path) => path,
        None => panic!(
            "{HELM_ENV} is unset or does not name a file. Build helm with `bash .ci/build-helm` \
             and set {HELM_ENV} to the path it prints last (`bash .ci/test` does both)."
        ),
    }
}

/// Runs a command with `stdin` and returns its output (whatever its status).
pub fn run(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} runs: {e}"));
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs a command and returns its stdout; panics with its stderr when it fails.
pub fn run_ok(command: &mut Command, stdin: &str) -> String {
    let out = run(command, stdin);
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("text output")
}

/// kubectl as the admin of the test cluster.
pub fn kubectl() -> Command {
    let mut command = Command::new("kubectl");
    command
        .arg("--kubeconfig")
        .arg(cluster().admin_kubeconfig());
    command
}

/// `kubectl apply` of `yaml` as the admin, server-side, optionally as a server-side dry run;
/// returns the output, whatever its status.
pub fn apply(yaml: &str, dry_run: bool) -> Output {
    let mut command = kubectl();
    command.args([
        "apply",
        "--server-side",
        "--field-manager=jitpe-tests",
        "-f",
        "-",
    ]);
    if dry_run {
        command.arg("--dry-run=server");
    }
    run(&mut command, yaml)
}

/// Like [`apply`], panicking with kubectl's message when it fails.
pub fn apply_ok(yaml: &str, dry_run: bool) {
    let out = apply(yaml, dry_run);
    assert!(
        out.status.success(),
        "kubectl apply (dry run: {dry_run}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped manifests under an overlay setting `namespace`, rendered by kubectl's kustomize.
/// The files only: audit/ goes on the control plane and monitoring/ needs the Prometheus
/// Operator, neither is in kustomization.yaml.
pub fn kustomize(namespace: &str) -> String {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let base = dir.path().join("base");
    std::fs::create_dir(&base).unwrap();
    for entry in std::fs::read_dir(root().join("manifests")).unwrap() {
        let path = entry.unwrap().path();
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
    run_ok(Command::new("kubectl").arg("kustomize").arg(dir.path()), "")
}

/// `helm template` of charts/jitpe as release `release` in `namespace`, with `--set` values.
pub fn helm_template(release: &str, namespace: &str, set: &[&str]) -> String {
    let mut command = Command::new(helm());
    command
        .args(["template", release])
        .arg(root().join("charts/jitpe"))
        .args(["--namespace", namespace]);
    for value in set {
        command.args(["--set", value]);
    }
    run_ok(&mut command, "")
}

/// Every document of a multi-document YAML text, as JSON values (empty ones left out).
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| {
            let v: serde_yaml_ng::Value =
                serde::Deserialize::deserialize(d).expect("rendered YAML parses");
            serde_json::to_value(v).expect("YAML maps to JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The one document of `kind` named `name`.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let mut found = docs
        .iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name);
    let doc = found
        .next()
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"));
    assert!(found.next().is_none(), "two {kind} {name} rendered");
    doc
}

/// A RoleBinding of `role` for user alice, labelled managed-by jitpe when `managed`.
pub fn binding(name: &str, role: &str, managed: bool) -> RoleBinding {
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

/// What an installed jitpe (ServiceAccount `jitpe` in `installed`) may do with RoleBindings,
/// once RBAC and the admission policies have settled: bind its debug role, labelled, in another
/// namespace; never an unlabelled binding, never one in its own namespace.
pub async fn installed_identity_binds_only_as_the_policies_allow(installed: &str) {
    let c = cluster();
    let user = format!("system:serviceaccount:{installed}:jitpe");
    let sa_group = format!("system:serviceaccounts:{installed}");
    let groups = ["system:serviceaccounts", sa_group.as_str()];
    let grants = c.temp_namespace("grants").await;
    let here: Api<RoleBinding> = Api::namespaced(c.client_as(&user, &groups), &grants);
    let own: Api<RoleBinding> = Api::namespaced(c.client_as(&user, &groups), installed);
    let pp = PostParams::default();
    let debug = "jitpe-ingress-debug";
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = here.create(&pp, &binding("jitpe-ok-0", debug, true)).await {
        assert!(
            Instant::now() < deadline,
            "the installed jitpe cannot bind: {e}"
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
        match here.create(&pp, &binding(&name, debug, false)).await {
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(300)).await
            }
            other => break other,
        }
    };
    refused(unlabelled, "labelled");
    refused(
        own.create(&pp, &binding("jitpe-own-0", debug, true)).await,
        &format!("never grants access in namespace {installed}"),
    );
}
