//! `POST /k8s/audit`: the kube-apiserver's audit webhook (`--audit-webhook-config-file`). Each
//! request is an `audit.k8s.io/v1` `EventList`; its fields are those of the Kubernetes
//! reference "kube-apiserver Audit Configuration (v1)" (`Event`, `ObjectReference`), decoded
//! into private wire types that keep only what the rules and the use report read. Request and
//! response objects are skipped, except `responseObject.metadata.resourceVersion` of a write.
//!
//! A request produces an event per stage it reaches (`RequestReceived`, `ResponseStarted` for
//! watches, `ResponseComplete`, `Panic`); only `ResponseComplete` and `Panic` are kept, so each
//! request counts once, with its response code.

use super::verify::Verified;
use super::{MAX_FIELD_CHARS, Refusal, RouteState, clip, clip_opt, kind};
use crate::domain::anomaly::{ApiCall, Observation};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::Deserialize;

/// The only API version and kind jitpe reads.
const API_VERSION: &str = "audit.k8s.io/v1";
const KIND: &str = "EventList";

/// `POST /k8s/audit`, once the token checked out.
pub(super) async fn receive(State(app): State<RouteState>, Verified(body): Verified) -> Response {
    let now = app.shared.service.clock().now();
    match decode(&body, now) {
        Ok(calls) => app.offer(calls).await,
        Err(refusal) => app.refuse(refusal).await,
    }
}

/// The completed calls of an `EventList`, oldest first as sent; `now` stands in for an event
/// without timestamps.
pub(super) fn decode(body: &[u8], now: Timestamp) -> Result<Vec<Observation>, Refusal> {
    let list: EventList = match serde_json::from_slice(body) {
        Ok(list) => list,
        Err(e) => {
            // A list of another version may not fit the v1 fields; say which version it is.
            if let Ok(head) = serde_json::from_slice::<Head>(body) {
                check_head(&head)?;
            }
            return Err(Refusal::malformed(format!(
                "not an {API_VERSION} {KIND}: {e}"
            )));
        }
    };
    check_head(&Head {
        api_version: list.api_version,
        kind: list.kind,
    })?;
    let mut calls = Vec::new();
    for event in list.items.unwrap_or_default() {
        if matches!(event.stage.as_str(), "ResponseComplete" | "Panic") {
            calls.push(Observation::Call(event.into_call(now)?));
        }
    }
    Ok(calls)
}

fn check_head(head: &Head) -> Result<(), Refusal> {
    let (version, kind) = (head.api_version.as_deref(), head.kind.as_deref());
    if version == Some(API_VERSION) && kind == Some(KIND) {
        return Ok(());
    }
    let shown =
        |v: Option<&str>| v.map_or("none".to_string(), |v| format!("`{}`", clip(v.into(), 64)));
    Err(Refusal::new(
        StatusCode::BAD_REQUEST,
        kind::API_VERSION,
        format!(
            "jitpe reads apiVersion `{API_VERSION}` kind `{KIND}`, not apiVersion {} kind {}: \
             set the webhook's --audit-webhook-version={API_VERSION}",
            shown(version),
            shown(kind)
        ),
    ))
}

/// `apiVersion` and `kind` of a body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    api_version: Option<String>,
    kind: Option<String>,
}

// NB: no `#[serde(flatten)]` here or below: it would buffer the whole body before decoding.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventList {
    api_version: Option<String>,
    kind: Option<String>,
    items: Option<Vec<Event>>,
}

/// One `audit.k8s.io/v1` `Event`; what is not named here is skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "auditID", default)]
    audit_id: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    verb: String,
    #[serde(default)]
    user: UserInfo,
    impersonated_user: Option<UserInfo>,
    object_ref: Option<ObjectRef>,
    response_status: Option<Status>,
    request_received_timestamp: Option<String>,
    stage_timestamp: Option<String>,
    response_object: Option<ResponseObject>,
}

#[derive(Deserialize, Default)]
struct UserInfo {
    #[serde(default)]
    username: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ObjectRef {
    #[serde(default)]
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    #[serde(default)]
    api_group: String,
    #[serde(default)]
    subresource: String,
}

#[derive(Deserialize)]
struct Status {
    code: Option<i64>,
}

/// Of the response object only its metadata's resourceVersion is read.
#[derive(Deserialize)]
struct ResponseObject {
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    resource_version: Option<String>,
}

/// Verbs after which the response object is the object as written.
const WRITES: [&str; 4] = ["create", "update", "patch", "delete"];

impl Event {
    fn into_call(self, now: Timestamp) -> Result<ApiCall, Refusal> {
        let at = match self.request_received_timestamp.or(self.stage_timestamp) {
            Some(t) => t.parse::<Timestamp>().map_err(|e| {
                Refusal::malformed(format!(
                    "event {}: timestamp `{}` is not RFC 3339: {e}",
                    clip(self.audit_id.clone(), 64),
                    clip(t, 64)
                ))
            })?,
            None => now,
        };
        let object = self.object_ref.unwrap_or_default();
        let resource_version = match WRITES.contains(&self.verb.as_str()) {
            true => self
                .response_object
                .and_then(|o| o.metadata?.resource_version),
            false => None,
        };
        Ok(ApiCall {
            audit_id: clip(self.audit_id, MAX_FIELD_CHARS),
            at,
            user: clip(self.user.username, MAX_FIELD_CHARS),
            impersonated: clip_opt(self.impersonated_user.map(|u| u.username)),
            verb: clip(self.verb, MAX_FIELD_CHARS),
            group: clip(object.api_group, MAX_FIELD_CHARS),
            resource: clip(object.resource, MAX_FIELD_CHARS),
            subresource: clip(object.subresource, MAX_FIELD_CHARS),
            namespace: clip_opt(object.namespace),
            name: clip_opt(object.name),
            code: self
                .response_status
                .and_then(|s| s.code)
                .and_then(|c| u16::try_from(c).ok()),
            resource_version: clip_opt(resource_version),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    fn list(items: &str) -> String {
        format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{items}]}}"#
        )
    }

    const DELETE: &str = r#"{"level":"RequestResponse","auditID":"a-1","stage":"ResponseComplete",
        "requestURI":"/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web","verb":"delete",
        "user":{"username":"admin","groups":["system:masters"]},
        "impersonatedUser":{"username":"alice"},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl",
        "objectRef":{"resource":"ingresses","namespace":"shop","name":"web",
        "apiGroup":"networking.k8s.io","apiVersion":"v1"},
        "responseStatus":{"metadata":{},"code":200},
        "requestObject":{"kind":"DeleteOptions","huge":[1,2,3]},
        "responseObject":{"kind":"Ingress","metadata":{"name":"web","resourceVersion":"4242"}},
        "requestReceivedTimestamp":"2026-12-03T13:00:00.123456Z",
        "stageTimestamp":"2026-12-03T13:00:00.200000Z","annotations":{"a":"b"}}"#;

    fn one(items: &str) -> ApiCall {
        match decode(list(items).as_bytes(), NOW).unwrap().as_slice() {
            [Observation::Call(c)] => c.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_completed_call_keeps_who_what_where_and_the_outcome() {
        let c = one(DELETE);
        assert_eq!((c.audit_id.as_str(), c.user.as_str()), ("a-1", "admin"));
        assert_eq!(c.impersonated.as_deref(), Some("alice"));
        assert_eq!(c.resource_path(), "networking.k8s.io/ingresses");
        assert_eq!(
            (c.namespace.as_deref(), c.name.as_deref()),
            (Some("shop"), Some("web"))
        );
        assert_eq!((c.verb.as_str(), c.code), ("delete", Some(200)));
        assert_eq!(c.resource_version.as_deref(), Some("4242"));
        assert_eq!(c.at.to_string(), "2026-12-03T13:00:00.123456Z");
    }

    #[test]
    fn only_complete_and_panic_stages_count_so_a_request_counts_once() {
        let received = DELETE.replace("ResponseComplete", "RequestReceived");
        let started = DELETE.replace("ResponseComplete", "ResponseStarted");
        let panic = DELETE.replace("ResponseComplete", "Panic");
        let items = [received.as_str(), DELETE, started.as_str(), panic.as_str()].join(",");
        assert_eq!(decode(list(&items).as_bytes(), NOW).unwrap().len(), 2);
        assert!(decode(list("").as_bytes(), NOW).unwrap().is_empty());
    }

    #[test]
    fn reads_keep_no_resource_version_and_cluster_scoped_calls_no_namespace() {
        let get = r#"{"auditID":"g","stage":"ResponseComplete","verb":"get",
            "user":{"username":"alice"},"objectRef":{"resource":"namespaces","name":"shop"},
            "responseStatus":{"code":403},"responseObject":{"metadata":{"resourceVersion":"9"}}}"#;
        let c = one(get);
        assert_eq!(
            (c.resource_path().as_str(), c.namespace),
            ("namespaces", None)
        );
        assert_eq!(
            (c.code, c.resource_version, c.impersonated),
            (Some(403), None, None)
        );
        assert_eq!(c.at, NOW, "no timestamp: the time jitpe received it");
    }

    #[test]
    fn strings_are_clipped() {
        let long = "x".repeat(10_000);
        let c = one(&DELETE.replace("\"alice\"", &format!("\"{long}\"")));
        assert_eq!(c.impersonated.unwrap().chars().count(), MAX_FIELD_CHARS);
    }

    #[test]
    fn another_version_or_kind_is_refused_naming_the_one_jitpe_reads() {
        let beta = list(DELETE).replace("audit.k8s.io/v1\"", "audit.k8s.io/v1beta1\"");
        let err = decode(beta.as_bytes(), NOW).unwrap_err();
        assert_eq!(err.kind, kind::API_VERSION);
        assert!(err.why.contains("`audit.k8s.io/v1beta1`"), "{err}");
        let event = decode(DELETE.as_bytes(), NOW).unwrap_err();
        assert_eq!(
            event.kind,
            kind::API_VERSION,
            "a lone Event is not a list: {event}"
        );
        let odd =
            r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[{"user":7}]}"#;
        assert_eq!(
            decode(odd.as_bytes(), NOW).unwrap_err().kind,
            kind::API_VERSION
        );
    }

    #[test]
    fn malformed_json_and_bad_timestamps_are_refused_with_the_reason() {
        for (body, needle) in [
            ("{\"kind\":", "EOF"),
            ("[]", "not an audit.k8s.io/v1 EventList"),
            (&list(r#"{"stage":"Panic","user":"alice"}"#), "invalid type"),
            (
                &list(r#"{"stage":"Panic","stageTimestamp":"yesterday"}"#),
                "is not RFC 3339",
            ),
        ] {
            let err = decode(body.as_bytes(), NOW).unwrap_err();
            assert_eq!(
                (err.status, err.kind),
                (StatusCode::BAD_REQUEST, kind::MALFORMED)
            );
            assert!(err.why.contains(needle), "{body}: {err}");
        }
    }
}
