//! `[api]`: the systems API (`/api/v1`), which is served when `[[policy.systems]]` names
//! someone: the token audiences it accepts and its body limit.

use super::context::Ctx;
use super::raw::RawApi;
use super::settings::ApiSettings;
use crate::ports::DEFAULT_AUDIENCE;

/// Default `api.body_limit`: a request is a few hundred bytes, labels included.
pub const DEFAULT_API_BODY_LIMIT: usize = 16 * 1024;

/// `[api]` with its defaults.
pub(super) fn api(cx: &mut Ctx<'_>, raw: RawApi) -> ApiSettings {
    let audiences = raw
        .audiences
        .unwrap_or_else(|| vec![DEFAULT_AUDIENCE.to_string()]);
    let bad = |a: &String| a.is_empty() || a.len() > 253 || a.chars().any(char::is_whitespace);
    if audiences.is_empty() || audiences.iter().any(bad) {
        cx.issue(
            "api.audiences",
            "list the audiences a caller's token must be issued for (default [\"jitpe\"]), each \
             non-empty without spaces; never the apiserver's own, or any token of the cluster \
             would do",
        );
    }
    let body_limit = raw.body_limit.unwrap_or(DEFAULT_API_BODY_LIMIT);
    if !(1024..=1024 * 1024).contains(&body_limit) {
        cx.issue(
            "api.body_limit",
            format!("{body_limit} bytes is out of range: use 1024 to 1048576 (default 16384)"),
        );
    }
    ApiSettings {
        audiences,
        body_limit,
    }
}
