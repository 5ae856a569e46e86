//! The `/jit` grammar: the text after the slash command becomes a [`Command`] or a
//! [`CommandError`] that tells the user what to type instead. Same grammar on Slack and Mattermost.
//!
//! ```text
//! /jit request <role> <namespace>[/<ingress-name>] [<duration>] <reason...>
//! /jit list | status <id> | revoke <id> | extend <id> <duration> <reason...> | cancel <id> | help
//! ```
//!
//! Only syntax is checked here. Whether the role exists, the namespace is allowed or the duration
//! is within the role's maximum is decided by the policy.
//!
//! Decisions worth knowing:
//! - Empty text is [`Command::Help`]: people type a bare `/jit` to see how it works.
//! - The subcommand is case-insensitive (`List`, phone keyboards); names and durations are not,
//!   because Kubernetes names are lowercase and a silent rewrite would hide a typo.
//! - In `request`, the word after the namespace is the duration if it starts with a digit. If it
//!   then does not parse (`15x`, `404`) that is an error, not the start of the reason, so a typo
//!   cannot silently fall back to the role's default duration.
//! - The reason keeps inner whitespace as typed; line breaks become spaces, so it stays one line
//!   in cards and audit records; other control characters and bidirectional overrides are refused.

use std::fmt;
use std::time::Duration;

use super::duration::{DurationError, format_duration, parse_duration};
use super::ids::{IdError, Namespace, RequestId, ResourceName, RoleName, quote};

/// Longest reason accepted, in characters: a ticket id and a sentence, not an incident report.
pub const MAX_REASON_CHARS: usize = 500;

/// A parsed `/jit` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Ask for `role` in `namespace`, optionally on one Ingress, for `duration` (the role's
    /// default when `None`).
    Request {
        role: RoleName,
        namespace: Namespace,
        resource: Option<ResourceName>,
        duration: Option<Duration>,
        reason: String,
    },
    /// Show pending and active requests.
    List,
    /// Show one request.
    Status { id: RequestId },
    /// End access now.
    Revoke { id: RequestId },
    /// Ask for more time on an active request.
    Extend {
        id: RequestId,
        duration: Duration,
        reason: String,
    },
    /// Withdraw a pending request.
    Cancel { id: RequestId },
    /// Show the usage.
    Help,
}

/// The first word of a command, used to point error messages at the right form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subcommand {
    Request,
    List,
    Status,
    Revoke,
    Extend,
    Cancel,
    Help,
}

impl Subcommand {
    /// Every subcommand, in the order the help text lists them.
    pub const ALL: [Subcommand; 7] = [
        Self::Request,
        Self::List,
        Self::Status,
        Self::Revoke,
        Self::Extend,
        Self::Cancel,
        Self::Help,
    ];

    /// Recognises a subcommand word, ignoring ASCII case.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|sub| sub.name().eq_ignore_ascii_case(word))
    }

    /// The word users type.
    pub fn name(self) -> &'static str {
        self.forms().0
    }

    /// The full form, e.g. `/jit status <id>`.
    pub fn usage(self) -> &'static str {
        self.forms().1
    }

    /// A complete example of the form.
    pub fn example(self) -> &'static str {
        self.forms().2
    }

    /// `` `usage`, for example `example` ``, without the example when it would repeat the usage.
    fn hint(self) -> String {
        if self.usage() == self.example() {
            format!("`{}`", self.usage())
        } else {
            format!("`{}`, for example `{}`", self.usage(), self.example())
        }
    }

    /// (name, usage, example): kept together so the help text and the errors cannot disagree.
    fn forms(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Request => (
                "request",
                "/jit request <role> <namespace>[/<ingress-name>] [<duration>] <reason...>",
                "/jit request debug shop 15m 502s on /checkout INC-4411",
            ),
            Self::List => ("list", "/jit list", "/jit list"),
            Self::Status => ("status", "/jit status <id>", "/jit status 42"),
            Self::Revoke => ("revoke", "/jit revoke <id>", "/jit revoke 42"),
            Self::Extend => (
                "extend",
                "/jit extend <id> <duration> <reason...>",
                "/jit extend 42 30m still debugging INC-4411",
            ),
            Self::Cancel => ("cancel", "/jit cancel <id>", "/jit cancel 42"),
            Self::Help => ("help", "/jit help", "/jit help"),
        }
    }
}

impl fmt::Display for Subcommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Text after `/jit` that is not a valid command. Each message says what is wrong and what to type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The first word is not a subcommand.
    #[error(
        "unknown command {}: use one of request, list, status, revoke, extend, cancel or help \
         (`/jit help` shows how)",
        quote(word)
    )]
    UnknownSubcommand { word: String },
    /// `request` with nothing after it.
    #[error("missing role: write `{}`, for example `{}`", Subcommand::Request.usage(), Subcommand::Request.example())]
    MissingRole,
    /// `request <role>` with nothing after it.
    #[error("missing namespace: write `{}`, for example `{}`", Subcommand::Request.usage(), Subcommand::Request.example())]
    MissingNamespace,
    /// `shop/` with nothing after the slash.
    #[error(
        "missing ingress name after `{namespace}/`: write `{namespace}/<ingress-name>`, for \
         example `{namespace}/web-frontend`, or just `{namespace}` for the whole namespace"
    )]
    MissingIngress { namespace: String },
    /// A subcommand that needs a request number has none.
    #[error("missing request number: write `{}`, for example `{}`", .subcommand.usage(), .subcommand.example())]
    MissingId { subcommand: Subcommand },
    /// `extend` needs a duration; `request` falls back to the role's default.
    #[error("missing duration: write `{}`, for example `{}`", Subcommand::Extend.usage(), Subcommand::Extend.example())]
    MissingDuration,
    /// `command` is what the user typed so far, in canonical form.
    #[error(
        "missing reason: write `{command} <reason>` (for example a ticket id such as INC-4411)"
    )]
    MissingReason { command: String },
    /// A word after a complete command that takes no more arguments.
    #[error(
        "unexpected {} after `/jit {subcommand}`: write {}",
        quote(word), .subcommand.hint()
    )]
    UnexpectedArgument {
        subcommand: Subcommand,
        word: String,
    },
    /// A role, namespace, ingress name or request number with the wrong syntax.
    #[error(transparent)]
    InvalidId(#[from] IdError),
    /// The duration of `extend`.
    #[error(transparent)]
    InvalidDuration(#[from] DurationError),
    /// In `request`, a word after the namespace that starts with a digit but is not a duration.
    #[error(
        "{source}; if {} is the start of your reason, put a duration such as `15m` before it",
        quote(word)
    )]
    DurationOrReason { word: String, source: DurationError },
    /// The reason has more than [`MAX_REASON_CHARS`] characters.
    #[error(
        "the reason is {chars} characters long: keep it to {MAX_REASON_CHARS} or fewer, for \
         example a ticket id and a short note"
    )]
    ReasonTooLong { chars: usize },
    /// The reason contains a control character (other than tab or line break) or a
    /// bidirectional override.
    #[error(
        "the reason contains the invisible character U+{code:04X}: use plain text, for example \
         `INC-4411 checkout returns 502`"
    )]
    ReasonControlCharacter { code: u32 },
}

/// Parses the text after `/jit`, e.g. `request debug shop 15m 502s on /checkout INC-4411`.
///
/// Words are separated by any whitespace. Empty text is [`Command::Help`].
pub fn parse(text: &str) -> Result<Command, CommandError> {
    let mut words = Words { rest: text };
    let Some(first) = words.next() else {
        return Ok(Command::Help);
    };
    let sub = Subcommand::from_word(first).ok_or_else(|| CommandError::UnknownSubcommand {
        word: first.to_owned(),
    })?;
    let mut id = || parse_id(&mut words, sub);
    let command = match sub {
        Subcommand::Request => return parse_request(&mut words),
        Subcommand::Extend => return parse_extend(&mut words),
        Subcommand::List => Command::List,
        Subcommand::Help => Command::Help,
        Subcommand::Status => Command::Status { id: id()? },
        Subcommand::Revoke => Command::Revoke { id: id()? },
        Subcommand::Cancel => Command::Cancel { id: id()? },
    };
    match words.next() {
        Some(extra) => Err(CommandError::UnexpectedArgument {
            subcommand: sub,
            word: extra.to_owned(),
        }),
        None => Ok(command),
    }
}

/// The help text listing every subcommand with its form, as Markdown both platforms render.
pub fn help_text() -> &'static str {
    HELP
}

const HELP: &str = "\
*jitpe* grants temporary Kubernetes access after approval.
```
/jit request <role> <namespace>[/<ingress-name>] [<duration>] <reason...>
/jit list                                pending and active requests
/jit status <id>                         one request
/jit revoke <id>                         end access now
/jit extend <id> <duration> <reason...>  more time, approved like a new request
/jit cancel <id>                         withdraw a pending request
/jit help                                this text
```
Durations look like `90s`, `15m` or `1h30m`; without one a request gets the role's default. \
The reason (for example a ticket id) is required.
Example: `/jit request debug shop 15m 502s on /checkout INC-4411`";

/// A cursor over whitespace-separated words that can hand back the untouched remainder.
#[derive(Clone)]
struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest.trim_start();
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        let (word, rest) = text.split_at(end);
        self.rest = rest;
        (!word.is_empty()).then_some(word)
    }

    /// Everything not yet consumed, trimmed but otherwise as typed.
    fn rest(&self) -> &'a str {
        self.rest.trim()
    }
}

fn parse_request(words: &mut Words<'_>) -> Result<Command, CommandError> {
    let role = RoleName::parse(words.next().ok_or(CommandError::MissingRole)?)?;
    let (namespace, resource) = parse_target(words.next().ok_or(CommandError::MissingNamespace)?)?;
    let before_duration = words.clone();
    let duration = match words.next() {
        Some(word) if word.starts_with(|c: char| c.is_ascii_digit()) => {
            let duration =
                parse_duration(word).map_err(|source| CommandError::DurationOrReason {
                    word: word.to_owned(),
                    source,
                })?;
            Some(duration)
        }
        _ => {
            *words = before_duration;
            None
        }
    };
    let reason = parse_reason(words.rest(), || {
        let target = render_target(&namespace, resource.as_ref());
        let duration = duration
            .map(|d| format!(" {}", format_duration(d)))
            .unwrap_or_default();
        format!("/jit request {role} {target}{duration}")
    })?;
    Ok(Command::Request {
        role,
        namespace,
        resource,
        duration,
        reason,
    })
}

fn parse_extend(words: &mut Words<'_>) -> Result<Command, CommandError> {
    let id = parse_id(words, Subcommand::Extend)?;
    let duration = parse_duration(words.next().ok_or(CommandError::MissingDuration)?)?;
    let reason = parse_reason(words.rest(), || {
        format!("/jit extend {id} {}", format_duration(duration))
    })?;
    Ok(Command::Extend {
        id,
        duration,
        reason,
    })
}

fn parse_id(words: &mut Words<'_>, subcommand: Subcommand) -> Result<RequestId, CommandError> {
    let word = words.next().ok_or(CommandError::MissingId { subcommand })?;
    Ok(word.parse()?)
}

/// `<namespace>[/<ingress-name>]`.
fn parse_target(word: &str) -> Result<(Namespace, Option<ResourceName>), CommandError> {
    let Some((namespace, resource)) = word.split_once('/') else {
        return Ok((Namespace::parse(word)?, None));
    };
    let namespace = Namespace::parse(namespace)?;
    if resource.is_empty() {
        return Err(CommandError::MissingIngress {
            namespace: namespace.into(),
        });
    }
    Ok((namespace, Some(ResourceName::parse(resource)?)))
}

/// Checks a reason; `so_far` renders the command typed so far, for the missing-reason message.
fn parse_reason(text: &str, so_far: impl FnOnce() -> String) -> Result<String, CommandError> {
    if text.is_empty() {
        return Err(CommandError::MissingReason { command: so_far() });
    }
    // NB: a bidirectional override can make an audit line read differently from what it stores.
    let is_bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let reason: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if let Some(bad) = reason
        .chars()
        .find(|&c| (c.is_control() && c != '\t') || is_bidi(c))
    {
        return Err(CommandError::ReasonControlCharacter { code: bad.into() });
    }
    let chars = reason.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(CommandError::ReasonTooLong { chars });
    }
    Ok(reason)
}

fn render_target(namespace: &Namespace, resource: Option<&ResourceName>) -> String {
    match resource {
        Some(resource) => format!("{namespace}/{resource}"),
        None => namespace.to_string(),
    }
}

/// Renders the canonical text after `/jit`, e.g. `request debug shop/web 15m INC-4411`.
///
/// NB: `parse` reads it back to the same command, except for a request without a duration
/// whose reason starts with a digit: the reason's first word would be read as the duration.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request {
                role,
                namespace,
                resource,
                duration,
                reason,
            } => {
                let target = render_target(namespace, resource.as_ref());
                write!(f, "request {role} {target} ")?;
                if let Some(duration) = duration {
                    write!(f, "{} ", format_duration(*duration))?;
                }
                f.write_str(reason)
            }
            Self::List => f.write_str("list"),
            Self::Status { id } => write!(f, "status {id}"),
            Self::Revoke { id } => write!(f, "revoke {id}"),
            Self::Extend {
                id,
                duration,
                reason,
            } => {
                write!(f, "extend {id} {} {reason}", format_duration(*duration))
            }
            Self::Cancel { id } => write!(f, "cancel {id}"),
            Self::Help => f.write_str("help"),
        }
    }
}

mod fields;
pub use fields::{extend_fields, request_fields};

#[cfg(test)]
mod tests;
