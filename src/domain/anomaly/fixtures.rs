//! Test helpers: observations and grants for the anomaly tests.

use super::observation::ApiCall;
use jiff::Timestamp;

/// A call by alice at t=1000 s in `shop`, answered 403.
pub fn call(verb: &str, group: &str, resource: &str, sub: &str) -> ApiCall {
    ApiCall {
        audit_id: "0123456789abcdef".into(),
        at: Timestamp::from_second(1_000).unwrap(),
        user: "alice".into(),
        impersonated: None,
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: sub.into(),
        namespace: Some("shop".into()),
        name: Some("web".into()),
        code: Some(403),
        resource_version: None,
    }
}
