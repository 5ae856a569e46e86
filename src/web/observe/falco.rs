//! `POST /falco`: one Falco alert per request, as Falco's `http_output` (with `json_output:
//! true`) and Falcosidekick's webhook output post it: a JSON object with `time` (RFC 3339 with
//! nanoseconds), `rule`, `priority` (`Critical`, `Informational`, ...), `output`, `source`,
//! `hostname`, `tags` and `output_fields` (see Falco's `userspace/engine/formats.cpp` and
//! Falcosidekick's `types.FalcoPayload`). Neither sends arrays, so an array is refused.
//!
//! Falco's `http_output` has no setting for request headers (only the URL, TLS and user agent),
//! so it cannot send the bearer token: point Falco at Falcosidekick and Falcosidekick's
//! webhook output at jitpe with `webhook.customheaders: {Authorization: "Bearer <token>"}`.
//!
//! The Kubernetes user comes from the k8saudit plugin's `ka.user.name`, else its
//! `ka.impuser.name` (the impersonated user); the namespace from `ka.target.namespace`, else
//! `k8s.ns.name`. `user.name` is the Linux user of a syscall event, not a Kubernetes user, and
//! is not read. Falco writes `<NA>` (older versions) or `null` for a field without a value.

use super::verify::Verified;
use super::{MAX_FIELD_CHARS, MAX_OUTPUT_CHARS, Refusal, RouteState, clip};
use crate::domain::anomaly::{FalcoAlert, FalcoPriority, Observation};
use axum::extract::State;
use axum::response::Response;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

/// `POST /falco`, once the token checked out.
pub(super) async fn receive(State(app): State<RouteState>, Verified(body): Verified) -> Response {
    match decode(&body) {
        Ok(alert) => app.offer(vec![alert]).await,
        Err(refusal) => app.refuse(refusal).await,
    }
}

/// The alert in a body.
pub(super) fn decode(body: &[u8]) -> Result<Observation, Refusal> {
    if body.trim_ascii_start().starts_with(b"[") {
        return Err(Refusal::malformed(
            "one alert per request: Falco's http_output and Falcosidekick's webhook send one \
             JSON object, not an array",
        ));
    }
    let alert: Alert = serde_json::from_slice(body)
        .map_err(|e| Refusal::malformed(format!("not a Falco JSON alert: {e}")))?;
    alert.into_alert().map(Observation::Falco)
}

/// A Falco alert as sent; what is not named here is skipped unread.
#[derive(Deserialize)]
struct Alert {
    rule: String,
    priority: String,
    time: String,
    #[serde(default)]
    output: String,
    #[serde(default)]
    output_fields: Fields,
}

/// The output fields jitpe reads. Values are any JSON (Falco writes numbers, lists and null
/// too); only strings are used.
#[derive(Deserialize, Default)]
struct Fields {
    #[serde(rename = "ka.user.name")]
    user: Option<Value>,
    #[serde(rename = "ka.impuser.name")]
    impersonated: Option<Value>,
    #[serde(rename = "ka.target.namespace")]
    target_namespace: Option<Value>,
    #[serde(rename = "k8s.ns.name")]
    namespace: Option<Value>,
}

impl Alert {
    fn into_alert(self) -> Result<FalcoAlert, Refusal> {
        if self.rule.trim().is_empty() {
            return Err(Refusal::malformed("the alert names no rule"));
        }
        let priority = self
            .priority
            .parse::<FalcoPriority>()
            .map_err(|e| Refusal::malformed(e.to_string()))?;
        let at = self.time.parse::<Timestamp>().map_err(|e| {
            Refusal::malformed(format!(
                "time `{}` is not RFC 3339: {e}",
                clip(self.time.clone(), 64)
            ))
        })?;
        let f = self.output_fields;
        Ok(FalcoAlert {
            rule: clip(self.rule, MAX_FIELD_CHARS),
            priority,
            at,
            user: text(f.user).or_else(|| text(f.impersonated)),
            namespace: text(f.target_namespace).or_else(|| text(f.namespace)),
            output: clip(self.output, MAX_OUTPUT_CHARS),
        })
    }
}

/// A field's text, clipped; `None` for a missing, empty, `<NA>` or non-string value.
fn text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() && s != "<NA>" => Some(clip(s, MAX_FIELD_CHARS)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::observe::kind;
    use axum::http::StatusCode;

    /// As Falco's http_output posts it (k8saudit plugin, json_output: true).
    const FALCO: &str = r#"{"hostname":"falco-0","output":"13:00:00.123456789: Warning K8s Secret read (user=alice)",
        "output_fields":{"ka.user.name":"alice","ka.target.namespace":"shop","ka.verb":"get",
        "evt.time":1764766800123456789,"k8s.ns.name":null},
        "priority":"Warning","rule":"Read Secret","source":"k8saudit",
        "tags":["k8s"],"time":"2026-12-03T13:00:00.123456789Z"}"#;

    fn alert(body: &str) -> FalcoAlert {
        match decode(body.as_bytes()).unwrap() {
            Observation::Falco(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_http_output_alert_names_the_user_namespace_rule_and_priority() {
        let a = alert(FALCO);
        assert_eq!(
            (a.rule.as_str(), a.priority),
            ("Read Secret", FalcoPriority::Warning)
        );
        assert_eq!(
            (a.user.as_deref(), a.namespace.as_deref()),
            (Some("alice"), Some("shop"))
        );
        assert_eq!(a.at.to_string(), "2026-12-03T13:00:00.123456789Z");
        assert!(a.output.contains("K8s Secret read"));
    }

    #[test]
    fn a_syscall_alert_has_a_namespace_but_no_kubernetes_user() {
        let body = r#"{"uuid":"4e2f","output":"shell","priority":"Notice",
            "rule":"Terminal shell in container","time":"2026-12-03T13:00:00.5Z",
            "output_fields":{"user.name":"root","k8s.ns.name":"shop","k8s.pod.name":"web-1",
            "proc.tty":34816},"source":"syscall","hostname":"node-1"}"#;
        let a = alert(body);
        assert_eq!((a.user, a.namespace.as_deref()), (None, Some("shop")));
        let na = body.replace("\"shop\"", "\"<NA>\"");
        assert_eq!(alert(&na).namespace, None);
    }

    #[test]
    fn the_impersonated_user_stands_in_when_no_user_is_named() {
        let body = FALCO.replace("\"ka.user.name\":\"alice\"", "\"ka.impuser.name\":\"bob\"");
        assert_eq!(alert(&body).user.as_deref(), Some("bob"));
    }

    #[test]
    fn arrays_unknown_priorities_and_missing_fields_are_refused_with_the_reason() {
        let missing_time = FALCO.replace("\"time\"", "\"when\"");
        for (body, needle) in [
            (format!("[{FALCO}]"), "one alert per request"),
            (
                FALCO.replace("\"Warning\"", "\"Severe\""),
                "not a Falco priority",
            ),
            (missing_time, "missing field `time`"),
            (FALCO.replace("\"Read Secret\"", "\" \""), "names no rule"),
            (FALCO.replace("2026-12-03T", "Dec 3 "), "is not RFC 3339"),
            ("{\"rule\":".to_string(), "not a Falco JSON alert"),
        ] {
            let err = decode(body.as_bytes()).unwrap_err();
            assert_eq!(
                (err.status, err.kind),
                (StatusCode::BAD_REQUEST, kind::MALFORMED)
            );
            assert!(err.why.contains(needle), "{body}: {err}");
        }
    }
}
