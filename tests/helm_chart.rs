//! The Helm chart (charts/jitpe) against the kustomize manifests it mirrors, and installed with
//! helm on the real apiserver. helm comes from `.ci/build-helm` through `JITPE_TEST_HELM`; the
//! tests fail without it. In its own test binary (so its own apiserver): the install replaces
//! the cluster-scoped objects other tests rely on.

mod common;

use common::install::{
    apply_ok, documents, find, helm, helm_template,
    installed_identity_binds_only_as_the_policies_allow, kustomize, root, run_ok,
};
use common::kube::cluster;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Command;

/// The values that turn every optional part on.
const ALL_ON: [&str; 5] = [
    "ingress.enabled=true",
    "ingress.api=true",
    "serviceMonitor.enabled=true",
    "prometheusRule.enabled=true",
    "networkPolicy.enabled=true",
];

/// The cluster-scoped kinds jitpe's security rests on, which must not differ between the two.
const RBAC_KINDS: [&str; 4] = [
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
];

fn of_kinds(docs: &[Value], kinds: &[&str]) -> Vec<Value> {
    let mut picked: Vec<Value> = docs
        .iter()
        .filter(|d| kinds.iter().any(|k| d["kind"] == *k))
        .cloned()
        .collect();
    picked.sort_by_key(|d| format!("{}/{}", d["kind"], d["metadata"]["name"]));
    picked
}

/// `value` with every run of whitespace in its strings made one space, and no namespace on the
/// (cluster-scoped) objects: kubectl's kustomize sets `metadata.namespace` on kinds it does not
/// know to be cluster-scoped (the admission policies), which the apiserver drops, and its YAML
/// writer re-folds `>-` blocks with more-indented lines with an extra blank line, which CEL
/// does not see.
fn normalized(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.split_whitespace().collect::<Vec<_>>().join(" ")),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(map) => {
            let mut map = map.clone();
            if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                meta.remove("namespace");
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), normalized(v)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

#[test]
fn the_chart_renders_exactly_the_rbac_and_admission_policies_of_the_manifests() {
    let ns = "tools";
    let chart = of_kinds(&documents(&helm_template("jitpe", ns, &[])), &RBAC_KINDS);
    // The files themselves, to the byte of every string, with only the ServiceAccount of the
    // ClusterRoleBinding in the release namespace.
    let mut files: Vec<Value> = common::manifests::RBAC_FILES
        .iter()
        .flat_map(|f| common::manifests::documents(f))
        .collect();
    for doc in &mut files {
        if doc["kind"] == "ClusterRoleBinding" {
            doc["subjects"][0]["namespace"] = json!(ns);
        }
    }
    let files = of_kinds(&files, &RBAC_KINDS);
    assert_eq!(files.len(), 11, "{files:#?}");
    assert_eq!(chart, files);
    let binding = find(&chart, "ClusterRoleBinding", "jitpe-controller");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "jitpe", "namespace": ns}])
    );
    // And what `kubectl apply -k` sends for an install in the same namespace.
    let kustomized = of_kinds(&documents(&kustomize(ns)), &RBAC_KINDS);
    let normal = |docs: &[Value]| docs.iter().map(normalized).collect::<Vec<_>>();
    assert_eq!(normal(&chart), normal(&kustomized));
}

#[test]
fn the_chart_renders_the_pod_service_storage_and_network_policy_of_the_manifests() {
    let ns = "tools";
    let chart = documents(&helm_template("jitpe", ns, &[]));
    let manifests = documents(&kustomize(ns));
    let (c, m) = (
        find(&chart, "Deployment", "jitpe"),
        find(&manifests, "Deployment", "jitpe"),
    );
    for key in ["replicas", "strategy"] {
        assert_eq!(c["spec"][key], m["spec"][key], "{key}");
    }
    let (cp, mp) = (
        &c["spec"]["template"]["spec"],
        &m["spec"]["template"]["spec"],
    );
    for key in ["serviceAccountName", "securityContext", "volumes"] {
        assert_eq!(cp[key], mp[key], "pod {key}");
    }
    let (cc, mc) = (&cp["containers"][0], &mp["containers"][0]);
    for key in [
        "image",
        "args",
        "env",
        "ports",
        "readinessProbe",
        "livenessProbe",
        "resources",
        "securityContext",
        "volumeMounts",
    ] {
        assert_eq!(cc[key], mc[key], "container {key}");
    }
    // The pinned image and the metrics contract.
    assert_eq!(mc["image"], "ghcr.io/jitpe/jitpe:0.1.0");
    let env: BTreeMap<&str, &Value> = mc["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), &e["value"]))
        .collect();
    assert_eq!(env["JITPE_METRICS_LISTEN"], "0.0.0.0:9090");
    assert!(
        mc["ports"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "metrics", "containerPort": 9090}))
    );
    assert_eq!(
        find(&chart, "Service", "jitpe")["spec"]["ports"],
        find(&manifests, "Service", "jitpe")["spec"]["ports"]
    );
    assert_eq!(
        find(&chart, "PersistentVolumeClaim", "jitpe-data")["spec"],
        find(&manifests, "PersistentVolumeClaim", "jitpe-data")["spec"]
    );
    // The chart's NetworkPolicy splits the ports so each group can get its own sources; the
    // ports and the egress are the manifests'.
    let (cn, mn) = (
        &find(&chart, "NetworkPolicy", "jitpe")["spec"],
        &find(&manifests, "NetworkPolicy", "jitpe")["spec"],
    );
    assert_eq!(cn["egress"], mn["egress"]);
    assert_eq!(cn["policyTypes"], mn["policyTypes"]);
    let ports = |spec: &Value| -> Vec<Value> {
        let mut ports: Vec<Value> = spec["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|rule| {
                assert!(rule.get("from").is_none(), "any source by default");
                rule["ports"].as_array().unwrap().clone()
            })
            .collect();
        ports.sort_by_key(|p| p.to_string());
        ports
    };
    assert_eq!(ports(cn), ports(mn));
    assert_eq!(ports(mn).len(), 3, "http, https and metrics only");
}

#[test]
fn the_chart_renders_the_shipped_prometheus_rule() {
    let chart = documents(&helm_template("jitpe", "tools", &ALL_ON));
    let text = std::fs::read_to_string(root().join("manifests/monitoring/prometheusrule.yaml"))
        .expect("the shipped rule");
    let shipped = documents(&text);
    assert_eq!(
        find(&chart, "PrometheusRule", "jitpe")["spec"],
        shipped[0]["spec"]
    );
    // The alerts of the contract with jitpe's metrics, by name.
    let alerts: Vec<&str> = shipped[0]["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert_eq!(
        alerts,
        [
            "JitpeExpiryLate",
            "JitpeOutboxStuck",
            "JitpeReconcileFailing",
            "JitpeAuthFailureBurst"
        ]
    );
    let monitor = find(&chart, "ServiceMonitor", "jitpe");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    // Off by default: the CRDs may be absent.
    let default = documents(&helm_template("jitpe", "tools", &[]));
    for kind in ["PrometheusRule", "ServiceMonitor", "Ingress"] {
        assert!(
            default.iter().all(|d| d["kind"] != kind),
            "{kind} is optional"
        );
    }
}

#[test]
fn the_ingress_routes_only_the_chat_callbacks_and_the_api_when_asked() {
    let paths = |set: &[&str]| -> Vec<(String, String)> {
        let docs = documents(&helm_template("jitpe", "tools", set));
        let ingress = find(&docs, "Ingress", "jitpe");
        assert_eq!(ingress["spec"]["tls"][0]["secretName"], "jitpe-ingress-tls");
        ingress["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p["backend"]["service"]["port"]["name"], "http");
                (
                    p["path"].as_str().unwrap().to_string(),
                    p["pathType"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let exact = |p: &str| (p.to_string(), "Exact".to_string());
    let callbacks = vec![
        exact("/slack/commands"),
        exact("/slack/interactions"),
        exact("/mattermost/commands"),
        exact("/mattermost/actions"),
    ];
    assert_eq!(paths(&["ingress.enabled=true"]), callbacks);
    let mut with_api = callbacks.clone();
    with_api.push(("/api/v1".into(), "Prefix".into()));
    assert_eq!(
        paths(&["ingress.enabled=true", "ingress.api=true"]),
        with_api
    );
    assert_eq!(
        paths(&["ingress.enabled=true", "ingress.mattermost=false"]),
        callbacks[..2]
    );
}

#[test]
fn secrets_and_config_come_from_the_chart_or_from_existing_objects() {
    let docs = documents(&helm_template(
        "jitpe",
        "tools",
        &[
            "secrets.slackBotToken=xoxb-1",
            "secrets.slackSigningSecret=s3cret",
        ],
    ));
    let secret = find(&docs, "Secret", "jitpe-secrets");
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["slack-bot-token", "slack-signing-secret"]);
    assert_eq!(secret["data"]["slack-bot-token"], "eG94Yi0x"); // base64 of xoxb-1
    assert!(find(&docs, "ConfigMap", "jitpe-config")["data"]["jitpe.toml"].is_string());

    let docs = documents(&helm_template(
        "jitpe",
        "tools",
        &["existingSecret=mine", "existingConfigMap=my-config"],
    ));
    for kind in ["Secret", "ConfigMap"] {
        assert!(docs.iter().all(|d| d["kind"] != kind), "no {kind} made");
    }
    let volumes = &find(&docs, "Deployment", "jitpe")["spec"]["template"]["spec"]["volumes"];
    assert!(volumes.as_array().unwrap().contains(&json!({
        "name": "secrets", "secret": {"secretName": "mine"}
    })));
    assert!(volumes.as_array().unwrap().contains(&json!({
        "name": "config", "configMap": {"name": "my-config"}
    })));
}

/// Runs `jitpe check-config` on `config` with the environment of the chart's container, its
/// secret files from `secrets` (name → contents) in a temporary directory standing in for
/// /etc/jitpe/secrets.
fn check_config_in_the_pod(config: &str, secrets: &[(&str, &str)]) -> (bool, String) {
    let docs = documents(&helm_template("jitpe", "tools", &[]));
    let container =
        &find(&docs, "Deployment", "jitpe")["spec"]["template"]["spec"]["containers"][0];
    let dir = tempfile::TempDir::new().unwrap();
    let secrets_dir = dir.path().join("secrets");
    std::fs::create_dir(&secrets_dir).unwrap();
    for (name, value) in secrets {
        std::fs::write(secrets_dir.join(name), value).unwrap();
    }
    let path = dir.path().join("jitpe.toml");
    std::fs::write(&path, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_jitpe"));
    command
        .arg("check-config")
        .arg(&path)
        .env_remove("JITPE_CONFIG");
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        let value = match var["value"].as_str() {
            Some(_) if name == "JITPE_STORE_PATH" => dir.path().join("store").display().to_string(),
            Some(v) => v.replace("/etc/jitpe/secrets", &secrets_dir.display().to_string()),
            // The only one from the downward API: the namespace.
            None => "tools".to_string(),
        };
        command.env(name, value);
    }
    let out = command.output().expect("the jitpe binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_charts_default_config_passes_check_config_in_the_pods_environment() {
    let docs = documents(&helm_template("jitpe", "tools", &[]));
    let config = find(&docs, "ConfigMap", "jitpe-config")["data"]["jitpe.toml"]
        .as_str()
        .unwrap()
        .to_string();
    // No chat platform: the secret files the environment names are never read.
    let (ok, text) = check_config_in_the_pod(&config, &[]);
    assert!(ok, "{text}");
}

#[test]
fn an_enabled_platforms_secrets_are_read_from_the_secret_files() {
    // The example with Mattermost switched on.
    let example = std::fs::read_to_string(root().join("examples/jitpe.toml")).unwrap();
    let off = "enabled = false\nurl = \"https://mattermost.example.com\"";
    assert!(example.contains(off), "the example's [mattermost] table");
    let mattermost = &example.replace(
        off,
        "enabled = true\nurl = \"https://mattermost.example.com\"",
    );
    // Without the Mattermost keys in the Secret, start-up stops naming the missing file.
    let (ok, text) = check_config_in_the_pod(mattermost, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("mattermost-bot-token"), "{text}");
    assert!(text.contains("JITPE_MATTERMOST_BOT_TOKEN_FILE"), "{text}");
    // With them, the config is complete.
    let secret = "0123456789abcdef0123456789abcdef";
    let files = [
        ("mattermost-bot-token", "bot"),
        ("mattermost-command-token", "command"),
        ("mattermost-action-secret", secret),
    ];
    let (ok, text) = check_config_in_the_pod(mattermost, &files);
    assert!(ok, "{text}");
}

/// Just enough of the Prometheus Operator's CRDs for the apiserver to store a ServiceMonitor
/// and a PrometheusRule (no schema: the operator's own is not checked here).
fn monitoring_crds() -> String {
    let crd = |kind: &str, plural: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.monitoring.coreos.com")},
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                          "listKind": format!("{kind}List")},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": true
                    }}
                }]
            }
        })
    };
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [crd("ServiceMonitor", "servicemonitors"), crd("PrometheusRule", "prometheusrules")]
    })
    .to_string()
}

fn helm_cmd() -> Command {
    let mut command = Command::new(helm());
    command
        .arg("--kubeconfig")
        .arg(cluster().admin_kubeconfig());
    command
}

#[tokio::test]
async fn the_chart_installs_upgrades_and_uninstalls_with_helm_and_its_policies_bite() {
    // Unique per run; the namespace is made by helm (--create-namespace) after the dry run.
    let ns = format!("jitpe-helm-{}", std::process::id());
    let release = "jitpe";
    let chart = root().join("charts/jitpe");
    apply_ok(&monitoring_crds(), false);
    run_ok(
        common::install::kubectl().args([
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/servicemonitors.monitoring.coreos.com",
            "crd/prometheusrules.monitoring.coreos.com",
        ]),
        "",
    );

    // Every optional part on, and a chart-made Secret: the server checks every object.
    let mut set: Vec<&str> = ALL_ON.to_vec();
    set.push("secrets.slackBotToken=xoxb-test");
    let yaml = helm_template(release, &ns, &set);
    run_ok(
        common::install::kubectl().args(["create", "namespace", &ns]),
        "",
    );
    apply_ok(&yaml, true);

    let mut install = helm_cmd();
    install
        .args(["install", release])
        .arg(&chart)
        .args(["--namespace", &ns, "--create-namespace"])
        // The cluster-scoped objects may exist already, applied by kubectl (on a cluster from
        // JITPE_TEST_KUBECONFIG, by other test binaries): helm adopts them instead of refusing.
        .arg("--take-ownership");
    for value in &set {
        install.args(["--set", value]);
    }
    run_ok(&mut install, "");
    let get = |kind: &str, name: &str| -> Value {
        let out = run_ok(
            common::install::kubectl().args(["-n", &ns, "get", kind, name, "-o", "json"]),
            "",
        );
        serde_json::from_str(&out).unwrap()
    };
    for (kind, name) in [
        ("servicemonitor", "jitpe"),
        ("prometheusrule", "jitpe"),
        ("ingress", "jitpe"),
        ("networkpolicy", "jitpe"),
        ("persistentvolumeclaim", "jitpe-data"),
        ("secret", "jitpe-secrets"),
    ] {
        get(kind, name);
    }
    let checksum = |d: &Value| {
        d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = checksum(&get("deployment", "jitpe"));

    // The installed identity can bind its role, labelled, elsewhere; the policies refuse the
    // rest (as for the kustomize install in tests/kube_install.rs).
    installed_identity_binds_only_as_the_policies_allow(&ns).await;

    // An upgrade with another config changes the ConfigMap and rolls the pod (its checksum).
    let values = tempfile::TempDir::new().unwrap();
    let new_config = values.path().join("jitpe.toml");
    std::fs::write(&new_config, "[policy]\npending_ttl = \"30m\"\n").unwrap();
    let mut upgrade = helm_cmd();
    upgrade
        .args(["upgrade", release])
        .arg(&chart)
        .args(["--namespace", &ns, "--reuse-values", "--set-file"])
        .arg(format!("config={}", new_config.display()));
    run_ok(&mut upgrade, "");
    let config = get("configmap", "jitpe-config");
    assert!(
        config["data"]["jitpe.toml"]
            .as_str()
            .unwrap()
            .contains("pending_ttl = \"30m\""),
        "{config}"
    );
    assert_ne!(checksum(&get("deployment", "jitpe")), before);

    // Uninstalling removes the cluster-scoped objects and keeps the store's claim.
    run_ok(
        helm_cmd().args(["uninstall", release, "--namespace", &ns]),
        "",
    );
    get("persistentvolumeclaim", "jitpe-data");
    for what in [
        "clusterrole/jitpe-controller",
        "clusterrolebinding/jitpe-controller",
        "validatingadmissionpolicy/jitpe-managed-bindings-only",
    ] {
        let out = common::install::run(
            common::install::kubectl().args(["get", what, "--ignore-not-found", "-o", "name"]),
            "",
        );
        assert!(out.status.success());
        assert!(out.stdout.is_empty(), "{what} is left after uninstall");
    }
}
