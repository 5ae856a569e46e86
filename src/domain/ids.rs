//! Identifiers that users type into `/jit` and that jitpe stores: request numbers, namespaces,
//! Ingress names and role names.
//!
//! Each name is a newtype that can only be built by validating its syntax, so the rest of the
//! domain never sees a malformed one. Only syntax is checked here; whether a role exists or a
//! namespace is allowed is the policy's business.

use std::fmt;
use std::str::FromStr;

/// Longest part of a user's input echoed back in an error message, so a pasted novel stays short.
const SHOWN_CHARS: usize = 40;

/// A name or number that does not have the required syntax.
///
/// Messages say what was typed, what the rule is and give an example, so a user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a positive request number such as `42` or `#42`.
    #[error(
        "{} is not a request number: use the number shown as #42 in the request's messages, \
         for example `42` or `#42`",
        quote(input)
    )]
    RequestId { input: String },
    /// Not a DNS-1123 label.
    #[error(
        "{} is not a valid namespace name: use lowercase letters, digits and '-', starting and \
         ending with a letter or digit, at most 63 characters (for example `shop`)",
        quote(input)
    )]
    Namespace { input: String },
    /// Not a DNS-1123 subdomain.
    #[error(
        "{} is not a valid ingress name: use lowercase letters, digits, '-' and '.', each \
         dot-separated part starting and ending with a letter or digit, at most 253 characters \
         (for example `web-frontend`)",
        quote(input)
    )]
    ResourceName { input: String },
    /// Not a role name as the policy defines them.
    #[error(
        "{} is not a valid role name: use lowercase letters, digits and '-', starting with a \
         letter, at most 63 characters (for example `debug`)",
        quote(input)
    )]
    RoleName { input: String },
    /// Not a jitpe instance name.
    #[error(
        "{} is not a valid jitpe instance name: use lowercase letters, digits and '-', starting \
         and ending with a letter or digit, at most 40 characters (for example `jitpe-system`)",
        quote(input)
    )]
    Instance { input: String },
}

/// Sequential request number shown to users as `#42`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for RequestId {
    type Err = IdError;

    /// Accepts `42` or `#42`; rejects `0`, signs, spaces, other characters and overflow.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let digits = s.strip_prefix('#').unwrap_or(s);
        // NB: `u64::from_str` alone would accept a leading `+`, so insist on digits first.
        let valid = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        match digits.parse::<u64>() {
            Ok(n) if valid && n > 0 => Ok(Self(n)),
            _ => Err(IdError::RequestId {
                input: s.to_owned(),
            }),
        }
    }
}

/// Generates the shared API of a validated string newtype.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $valid:path) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks the syntax and wraps the name.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                Self::try_from(s.to_owned())
            }

            /// The name as typed.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, IdError> {
                if $valid(&s) {
                    Ok(Self(s))
                } else {
                    Err(IdError::$variant { input: s })
                }
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A Kubernetes namespace name: a DNS-1123 label (lowercase alphanumerics and '-', starting
    /// and ending with an alphanumeric, 1..=63 characters).
    Namespace,
    Namespace,
    is_dns1123_label
);

name_type!(
    /// An Ingress (resource) name: a DNS-1123 subdomain (dot-separated labels of lowercase
    /// alphanumerics and '-', each starting and ending with an alphanumeric, at most 253
    /// characters in all).
    ResourceName,
    ResourceName,
    is_dns1123_subdomain
);

name_type!(
    /// A role name from the policy: lowercase letters, digits and '-', 1..=63 characters,
    /// starting with a letter.
    RoleName,
    RoleName,
    is_role_name
);

name_type!(
    /// The identity of one jitpe installation in a cluster (`kubernetes.instance`). It is in the
    /// labels and names of every object jitpe manages, and in every selector it lists with, so
    /// two installations (or a restored store beside a fresh one) never touch each other's
    /// grants. A DNS-1123 label of at most 40 characters, so object names stay short.
    InstanceId,
    Instance,
    is_instance_name
);

impl Default for InstanceId {
    /// `jitpe`, for a single installation that sets nothing.
    fn default() -> Self {
        Self("jitpe".to_owned())
    }
}

/// One dot-free part of a DNS name; Kubernetes limits only the whole subdomain's length.
fn is_dns_part(s: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    matches!((bytes.first(), bytes.last()), (Some(first), Some(last)) if alnum(first) && alnum(last))
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_dns_part(s)
}

fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_part)
}

fn is_instance_name(s: &str) -> bool {
    s.len() <= 40 && is_dns_part(s)
}

fn is_role_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Quotes user input for an error message: shortened, backticks and control characters
/// neutralised, so the echo can neither flood the chat nor break its code formatting.
pub(crate) fn quote(input: &str) -> String {
    if input.is_empty() {
        return "an empty value".to_owned();
    }
    let mut out = String::from("`");
    for c in input.chars().take(SHOWN_CHARS) {
        match c {
            '`' => out.push('\''),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    if input.chars().nth(SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out.push('`');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_accept_plain_and_hash_prefixed_numbers() {
        for (input, n) in [
            ("42", 42),
            ("#42", 42),
            ("1", 1),
            ("007", 7),
            ("#18446744073709551615", u64::MAX),
        ] {
            assert_eq!(input.parse::<RequestId>(), Ok(RequestId(n)), "{input}");
        }
        assert_eq!(RequestId(42).to_string(), "42");
    }

    #[test]
    fn request_ids_reject_zero_signs_junk_and_overflow() {
        let bad = "# 0 #0 -1 +1 42a ##42 #-3 0x10 ١٢ 18446744073709551616";
        for input in bad.split(' ').chain(["", "4 2"]) {
            let expected = IdError::RequestId {
                input: input.to_owned(),
            };
            assert_eq!(input.parse::<RequestId>(), Err(expected));
        }
    }

    /// Checks that every word of `good` parses back to itself, `bad` and the empty string are
    /// refused with `error`, and `max` is the longest accepted length.
    fn assert_syntax<T: fmt::Display>(
        parse: fn(&str) -> Result<T, IdError>,
        (good, bad): (&str, &str),
        error: fn(String) -> IdError,
        max: usize,
    ) {
        let (longest, too_long) = ("a".repeat(max), "a".repeat(max + 1));
        for input in good.split(' ').chain([longest.as_str()]) {
            let parsed = parse(input).map(|name| name.to_string());
            assert_eq!(parsed.as_deref(), Ok(input));
        }
        for input in bad.split(' ').chain(["", too_long.as_str()]) {
            let refused = parse(input).map(|name| name.to_string());
            assert_eq!(refused, Err(error(input.to_owned())), "{input}");
        }
    }

    #[test]
    fn namespaces_follow_dns_1123_labels() {
        let cases = (
            "shop a 0 shop-1 1-shop a-b-c",
            "Shop shop_1 -shop shop- sh.op shop/web shöp",
        );
        assert_syntax(
            Namespace::parse,
            cases,
            |input| IdError::Namespace { input },
            63,
        );
    }

    #[test]
    fn resource_names_follow_dns_1123_subdomains() {
        let cases = (
            "web web-frontend web.frontend a.b.c 0 a-1.b-2",
            "Web web_1 .web web. a..b web.-x web/x",
        );
        assert_syntax(
            ResourceName::parse,
            cases,
            |input| IdError::ResourceName { input },
            253,
        );
    }

    #[test]
    fn role_names_start_with_a_letter() {
        let cases = (
            "debug change a ingress-logs2 x-",
            "Debug 1debug -debug de_bug de.bug débug",
        );
        assert_syntax(
            RoleName::parse,
            cases,
            |input| IdError::RoleName { input },
            63,
        );
    }

    #[test]
    fn instance_names_are_short_dns_labels() {
        let cases = ("jitpe jitpe-system a 7 t-1-abc", "Jitpe -a a- a.b a_b é");
        assert_syntax(
            InstanceId::parse,
            cases,
            |input| IdError::Instance { input },
            40,
        );
        assert_eq!(InstanceId::default().as_str(), "jitpe");
    }

    #[test]
    fn names_convert_to_and_from_strings_for_serde() {
        let ns = Namespace::try_from("shop".to_owned()).expect("valid namespace");
        assert_eq!(String::from(ns.clone()), "shop");
        assert_eq!("shop".parse::<Namespace>(), Ok(ns));
        assert!(RoleName::try_from("Debug".to_owned()).is_err());
    }

    #[test]
    fn error_messages_name_the_input_the_rule_and_an_example() {
        let cases = [
            (
                IdError::RequestId {
                    input: "abc".into(),
                },
                "`abc` is not a request number",
                "`42`",
            ),
            (
                IdError::Namespace {
                    input: "Shop_1".into(),
                },
                "`Shop_1` is not a valid namespace",
                "`shop`",
            ),
            (
                IdError::ResourceName { input: "W".into() },
                "`W` is not a valid ingress",
                "`web-frontend`",
            ),
            (
                IdError::RoleName { input: "".into() },
                "an empty value is not a valid role",
                "`debug`",
            ),
        ];
        for (err, start, example) in cases {
            let msg = err.to_string();
            assert!(msg.starts_with(start) && msg.contains(example), "{msg}");
        }
    }

    #[test]
    fn quoted_input_is_short_and_cannot_break_formatting() {
        assert_eq!(quote("a`b\u{7}"), "`a'b\\u{7}`");
        let quoted = quote(&"x".repeat(100));
        assert!(quoted.ends_with("…`") && quoted.chars().count() == SHOWN_CHARS + 3);
    }
}
