//! The request and extension of the systems API, field by field (JSON instead of a line of
//! words), with exactly the checks of the chat grammar: the same role, namespace, ingress,
//! duration and reason rules and the same messages.

use super::{Command, CommandError, parse_reason, parse_target};
use crate::domain::duration::parse_duration;
use crate::domain::ids::{RequestId, RoleName};
use std::time::Duration;

/// A `request` from its fields: `target` is `<namespace>[/<ingress-name>]`, `duration` as in chat
/// (`15m`, `1h30m`; `None` for the role's default).
pub fn request_fields(
    role: &str,
    target: &str,
    duration: Option<&str>,
    reason: &str,
) -> Result<Command, CommandError> {
    let role = RoleName::parse(role)?;
    let (namespace, resource) = parse_target(target)?;
    let duration = duration.map(parse_duration).transpose()?;
    let reason = parse_reason(reason.trim(), || format!("request {role} {target}"))?;
    Ok(Command::Request {
        role,
        namespace,
        resource,
        duration,
        reason,
    })
}

/// An `extend` of request `id` from its fields.
pub fn extend_fields(
    id: RequestId,
    duration: &str,
    reason: &str,
) -> Result<(Duration, String), CommandError> {
    let duration = parse_duration(duration)?;
    let reason = parse_reason(reason.trim(), || format!("extend {id} {duration:?}"))?;
    Ok((duration, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_pass_the_chat_grammar_checks() {
        let cmd = request_fields("debug", "shop/web", Some("15m"), " INC-1 502s ").unwrap();
        let Command::Request {
            role,
            namespace,
            resource,
            duration,
            reason,
        } = cmd
        else {
            panic!("a request");
        };
        assert_eq!(
            (role.as_str(), namespace.as_str(), reason.as_str()),
            ("debug", "shop", "INC-1 502s")
        );
        assert_eq!(resource.unwrap().as_str(), "web");
        assert_eq!(duration, Some(Duration::from_secs(900)));
        assert!(request_fields("debug", "shop", None, "x").is_ok());
    }

    #[test]
    fn bad_fields_get_the_chat_grammars_messages() {
        let e = |r: Result<Command, CommandError>| r.unwrap_err().to_string();
        assert!(e(request_fields("De bug", "shop", None, "x")).contains("role"));
        assert!(e(request_fields("debug", "shop/", None, "x")).contains("missing ingress name"));
        assert!(e(request_fields("debug", "Shop", None, "x")).contains("namespace"));
        assert!(e(request_fields("debug", "shop", Some("15 minutes"), "x")).contains("15 minutes"));
        assert!(e(request_fields("debug", "shop", None, "  ")).contains("missing reason"));
        let long = "x".repeat(501);
        assert!(e(request_fields("debug", "shop", None, &long)).contains("500 or fewer"));
        assert!(e(request_fields("debug", "shop", None, "a\u{202E}b")).contains("U+202E"));
        assert!(extend_fields(RequestId(3), "0s", "x").is_err());
        assert_eq!(
            extend_fields(RequestId(3), "10m", "more").unwrap(),
            (Duration::from_secs(600), "more".to_string())
        );
    }
}
