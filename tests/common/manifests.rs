//! Applies the shipped RBAC and admission manifests to the test apiserver, as admin, so tests
//! run jitpe with exactly the permissions it ships with.

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The manifest files jitpe's cluster permissions come from.
pub const RBAC_FILES: [&str; 3] = [
    "grantable-clusterroles.yaml",
    "rbac.yaml",
    "admission-policy.yaml",
];

/// Every document of a manifest file, as JSON values.
pub fn documents(file: &str) -> Vec<Value> {
    let path = format!("{}/manifests/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            let v: serde_yaml_ng::Value =
                serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}"));
            serde_json::to_value(v).expect("YAML maps to JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

async fn apply<K>(client: &Client, doc: &Value)
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let obj: K = serde_json::from_value(doc.clone()).expect("manifest document matches its kind");
    let name = doc["metadata"]["name"]
        .as_str()
        .expect("manifest objects are named")
        .to_string();
    Api::<K>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply("jitpe-tests").force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {name}: {e}"));
}

/// Applies jitpe's cluster-scoped RBAC and admission objects (idempotent).
pub async fn apply_rbac(admin: &Client) {
    for file in RBAC_FILES {
        for doc in documents(file) {
            match doc["kind"].as_str() {
                Some("ClusterRole") => apply::<ClusterRole>(admin, &doc).await,
                Some("ClusterRoleBinding") => apply::<ClusterRoleBinding>(admin, &doc).await,
                Some("ValidatingAdmissionPolicy") => {
                    apply::<ValidatingAdmissionPolicy>(admin, &doc).await
                }
                Some("ValidatingAdmissionPolicyBinding") => {
                    apply::<ValidatingAdmissionPolicyBinding>(admin, &doc).await
                }
                other => panic!("{file}: unexpected kind {other:?}"),
            }
        }
    }
}
