//! `[slack]` and `[mattermost]`: required keys and secrets when enabled, id formats, and warnings
//! about approvers on a platform that is off.

use super::context::Ctx;
use super::raw::{RawMattermost, RawSlack};
use super::secret::{Secret, SecretSource};
use super::settings::{MattermostSettings, SlackSettings};
use crate::domain::identity::Platform;
use crate::domain::policy::Policy;
use crate::domain::policy::RawPolicy;
use reqwest::Url;

/// The least length of Mattermost's button-context HMAC key: HMAC-SHA256 is only as strong as
/// its key, so a key shorter than the 32-byte output would weaken the signature.
pub const MIN_ACTION_SECRET_BYTES: usize = 32;

/// Slack ids are uppercase letters and digits; channels start with `C` (or `G`, older private).
fn slack_channel_ok(id: &str) -> bool {
    id.len() >= 3
        && id.starts_with(['C', 'G'])
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Mattermost ids are 26 lowercase letters and digits.
fn mattermost_id_ok(id: &str) -> bool {
    id.len() == 26
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

const SLACK_CHANNEL_HINT: &str =
    "use the channel id (like `C0123ABCDEF`, from the channel's details), not its name";
const MATTERMOST_ID_HINT: &str =
    "use the 26-character id (like `j6j53p28k6urx15fpcgsr20psq`), not a name";

/// A required id: missing or malformed is an issue.
fn id(
    cx: &mut Ctx<'_>,
    key: &str,
    value: Option<String>,
    ok: fn(&str) -> bool,
    hint: &str,
) -> Option<String> {
    match value {
        None => {
            cx.issue(key, format!("missing: {hint}"));
            None
        }
        Some(v) if !ok(&v) => {
            cx.issue(key, format!("`{v}` is not an id: {hint}"));
            None
        }
        Some(v) => Some(v),
    }
}

/// `[slack]` with `enabled = true`; `None` if anything is wrong (the issues say what).
pub(super) fn slack(cx: &mut Ctx<'_>, raw: RawSlack) -> Option<SlackSettings> {
    let api = raw
        .api_base_url
        .as_deref()
        .unwrap_or("https://slack.com/api");
    let api_base_url = cx.base_url("slack.api_base_url", api, "");
    let approvers_channel = id(
        cx,
        "slack.approvers_channel",
        raw.approvers_channel,
        slack_channel_ok,
        SLACK_CHANNEL_HINT,
    );
    let audit_channel = id(
        cx,
        "slack.audit_channel",
        raw.audit_channel,
        slack_channel_ok,
        SLACK_CHANNEL_HINT,
    );
    let bot_token = cx.secret(SecretSource {
        section: "slack",
        name: "bot_token",
        file: raw.bot_token_file.as_deref(),
        inline: raw.bot_token.is_some(),
    });
    let signing_secret = cx.secret(SecretSource {
        section: "slack",
        name: "signing_secret",
        file: raw.signing_secret_file.as_deref(),
        inline: raw.signing_secret.is_some(),
    });
    Some(SlackSettings {
        api_base_url: api_base_url?,
        app_id: raw.app_id,
        team_id: raw.team_id,
        approvers_channel: approvers_channel?,
        audit_channel: audit_channel?,
        bot_token: bot_token?,
        signing_secret: signing_secret?,
    })
}

/// `[mattermost]` with `enabled = true`; `None` if anything is wrong (the issues say what).
pub(super) fn mattermost(
    cx: &mut Ctx<'_>,
    mut raw: RawMattermost,
    public_url: Option<&Url>,
) -> Option<MattermostSettings> {
    let url = match raw.url.as_deref() {
        Some(u) => cx.base_url("mattermost.url", u, ""),
        None => {
            cx.issue(
                "mattermost.url",
                "missing: the server's base URL, like `https://mattermost.example.com`",
            );
            None
        }
    };
    let actions_url = actions_url(cx, public_url);
    let mm_id = |cx: &mut Ctx<'_>, key: &str, v: Option<String>| {
        id(cx, key, v, mattermost_id_ok, MATTERMOST_ID_HINT)
    };
    let team_id = mm_id(cx, "mattermost.team_id", raw.team_id.take());
    let approvers_channel = mm_id(
        cx,
        "mattermost.approvers_channel",
        raw.approvers_channel.take(),
    );
    let audit_channel = mm_id(cx, "mattermost.audit_channel", raw.audit_channel.take());
    let bot_user_id = match raw.bot_user_id.take() {
        Some(v) => Some(mm_id(cx, "mattermost.bot_user_id", Some(v))?),
        None => None,
    };
    let time_zone = time_zone(cx, raw.time_zone.take());
    let (bot_token, command_token, action_secret) = mattermost_secrets(cx, &raw);
    Some(MattermostSettings {
        url: url?,
        team_id: team_id?,
        approvers_channel: approvers_channel?,
        audit_channel: audit_channel?,
        bot_user_id,
        time_zone: time_zone?,
        actions_url: actions_url?,
        bot_token: bot_token?,
        command_token: command_token?,
        action_secret: action_secret?,
    })
}

/// `mattermost.time_zone`, an IANA name jitpe knows (its zone database is built in, so an image
/// without /usr/share/zoneinfo knows the same names); UTC when absent.
fn time_zone(cx: &mut Ctx<'_>, name: Option<String>) -> Option<jiff::tz::TimeZone> {
    let Some(name) = name else {
        return Some(jiff::tz::TimeZone::UTC);
    };
    match jiff::tz::TimeZone::get(&name) {
        Ok(zone) => Some(zone),
        Err(_) => {
            cx.issue(
                "mattermost.time_zone",
                format!("`{name}` is not a time zone jitpe knows: use an IANA name like `Europe/Berlin` or `UTC`"),
            );
            None
        }
    }
}

/// The three Mattermost secrets; the action secret must be long enough for HMAC-SHA256.
fn mattermost_secrets(
    cx: &mut Ctx<'_>,
    raw: &RawMattermost,
) -> (Option<Secret>, Option<Secret>, Option<Secret>) {
    let source = |name, file, inline| SecretSource {
        section: "mattermost",
        name,
        file,
        inline,
    };
    let bot_token = cx.secret(source(
        "bot_token",
        raw.bot_token_file.as_deref(),
        raw.bot_token.is_some(),
    ));
    let command_token = cx.secret(source(
        "command_token",
        raw.command_token_file.as_deref(),
        raw.command_token.is_some(),
    ));
    let action_secret = cx.secret(source(
        "action_secret",
        raw.action_secret_file.as_deref(),
        raw.action_secret.is_some(),
    ));
    let action_secret = match action_secret {
        Some(s) if s.len() < MIN_ACTION_SECRET_BYTES => {
            cx.issue(
                "mattermost.action_secret",
                format!(
                    "is {} bytes; use at least {MIN_ACTION_SECRET_BYTES} random bytes (e.g. `openssl rand -hex 32`)",
                    s.len()
                ),
            );
            None
        }
        other => other,
    };
    (bot_token, command_token, action_secret)
}

/// Buttons call back `<public_url>mattermost/actions`, so Mattermost needs a public URL.
fn actions_url(cx: &mut Ctx<'_>, public_url: Option<&Url>) -> Option<Url> {
    let Some(base) = public_url else {
        // An invalid public_url already has its issue; do not report it twice.
        if !cx.issues.iter().any(|i| i.key == "server.public_url") {
            cx.issue(
                "server.public_url",
                "missing: Mattermost buttons call jitpe back there; set it (or JITPE_PUBLIC_URL) to the URL Mattermost reaches jitpe at, like `https://jitpe.example.com`",
            );
        }
        return None;
    };
    base.join("mattermost/actions").ok()
}

/// Validates per-role approvers channel ids against their platform's id format.
pub(super) fn role_channels(cx: &mut Ctx<'_>, policy: &Policy) {
    for role in policy.roles() {
        for (platform, ch) in &role.approvers_channels {
            let (ok, hint) = match platform {
                Platform::Slack => (slack_channel_ok(ch), SLACK_CHANNEL_HINT),
                _ => (mattermost_id_ok(ch), MATTERMOST_ID_HINT),
            };
            if !ok {
                let key = format!("policy.roles.{}.approvers_channel.{platform}", role.name);
                cx.issue(key, format!("`{ch}` is not a channel id: {hint}"));
            }
        }
    }
}

/// Warns about approvers and channels on a platform that is not enabled: allowed (a platform may
/// be switched on later) but those approvers cannot vote today.
pub(super) fn platform_warnings(cx: &mut Ctx<'_>, policy: &RawPolicy, slack: bool, mm: bool) {
    if !slack && !mm {
        cx.warn(
            "slack.enabled",
            "neither Slack nor Mattermost is enabled: jitpe takes no requests, it only expires and reconciles existing grants",
        );
        // The warning above covers every role; one per role would only repeat it.
        return;
    }
    for (name, role) in &policy.roles {
        let members = role
            .approver_groups
            .iter()
            .filter_map(|g| policy.groups.get(g))
            .flatten();
        let ids = role.approvers.iter().chain(members);
        let channels = role.approvers_channel.keys();
        for (platform, on) in [("slack", slack), ("mattermost", mm)] {
            let prefix = format!("{platform}:");
            let used = ids.clone().any(|a| a.starts_with(&prefix))
                || channels.clone().any(|c| c == platform);
            if used && !on {
                cx.warn(
                    format!("policy.roles.{name}.approvers"),
                    format!("has {platform} approvers or channels, but [{platform}] is not enabled: they cannot vote until it is"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_channel_ids_are_accepted_and_names_refused() {
        assert!(slack_channel_ok("C0123ABCDEF"));
        assert!(slack_channel_ok("G01PRIVATE"));
        assert!(!slack_channel_ok("#ingress-approvers"));
        assert!(!slack_channel_ok("U0123ABCDEF"));
    }

    #[test]
    fn mattermost_ids_are_26_lowercase_alphanumerics() {
        assert!(mattermost_id_ok("j6j53p28k6urx15fpcgsr20psq"));
        assert!(!mattermost_id_ok("ingress-approvers"));
    }
}
