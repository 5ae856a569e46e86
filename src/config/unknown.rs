//! Reading the config text into [`RawConfig`] with every key jitpe does not know reported, each
//! with its full dotted path and line (`policy.roles.debug.max_duraton`, line 12), not only the
//! first: serde's `deny_unknown_fields` stops at one, and an operator fixing a security config
//! should see every typo in one pass. An unknown key is never ignored: the caller turns each one
//! into an issue that makes the config invalid, for `serve` and every other command alike.
//!
//! `serde_ignored` wraps the TOML deserializer and names each value that no field took; the line
//! comes from TOML's own spanned parse of the same text, walked along that path.

use super::raw::RawConfig;
use crate::domain::policy::ConfigIssue;
use serde_ignored::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a path into the document: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses `text`; besides the config, returns one issue per unknown key, in document order.
pub(super) fn read(text: &str) -> Result<(RawConfig, Vec<ConfigIssue>), toml::de::Error> {
    let mut unknown: Vec<Vec<Step>> = Vec::new();
    let deserializer = toml::Deserializer::parse(text)?;
    let raw = serde_ignored::deserialize(deserializer, |path| unknown.push(steps(&path)))?;
    if unknown.is_empty() {
        return Ok((raw, Vec::new()));
    }
    // Parsed once more only when something is wrong: for the lines.
    let root = DeTable::parse(text).ok();
    let mut located: Vec<(Option<usize>, Vec<Step>)> = unknown
        .into_iter()
        .map(|path| (root.as_ref().and_then(|r| line_of(text, r, &path)), path))
        .collect();
    located.sort_by_key(|(line, _)| line.unwrap_or(usize::MAX));
    Ok((raw, located.into_iter().map(issue).collect()))
}

fn issue((line, path): (Option<usize>, Vec<Step>)) -> ConfigIssue {
    let at = line.map_or(String::new(), |l| format!(" (line {l})"));
    ConfigIssue {
        key: dotted(&path),
        message: format!(
            "unknown key{at}: jitpe has no such setting, so it refuses the config rather than \
             run without what you meant; check the spelling and the table it is in \
             (examples/jitpe.toml shows every key)"
        ),
    }
}

/// The steps from the document's root to `path`, without the `Option` and newtype layers that
/// `serde_ignored` also records.
fn steps(path: &Path<'_>) -> Vec<Step> {
    let mut out = match path {
        Path::Root => return Vec::new(),
        Path::Seq { parent, .. }
        | Path::Map { parent, .. }
        | Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => steps(parent),
    };
    match path {
        Path::Seq { index, .. } => out.push(Step::Index(*index)),
        Path::Map { key, .. } => out.push(Step::Key(key.clone())),
        _ => {}
    }
    out
}

/// `policy.systems[0].auto_approve.per_dya`, the way validation names keys; a key that is not
/// a bare TOML key is quoted (`policy.roles."a.b".x`) so the path stays unambiguous.
fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                match bare {
                    true => out.push_str(key),
                    false => out.push_str(&format!("{key:?}")),
                }
            }
        }
    }
    out
}

/// The 1-based line of the last key on `path` in `text`, if the path leads to one.
fn line_of(text: &str, root: &Spanned<DeTable<'_>>, path: &[Step]) -> Option<usize> {
    let mut table = root.get_ref();
    let mut value: Option<&DeValue<'_>> = None;
    let mut start = None;
    for step in path {
        match (step, value) {
            (Step::Key(key), None | Some(DeValue::Table(_))) => {
                if let Some(DeValue::Table(t)) = value {
                    table = t;
                }
                let (k, v) = table.iter().find(|(k, _)| &**k.get_ref() == key.as_str())?;
                start = Some(k.span().start);
                value = Some(v.get_ref());
            }
            (Step::Index(i), Some(DeValue::Array(items))) => {
                value = Some(items.into_iter().nth(*i)?.get_ref());
            }
            _ => return None,
        }
    }
    let start = start?;
    Some(text.get(..start)?.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(text: &str) -> Vec<(String, String)> {
        let (_, issues) = read(text).expect("the text parses");
        issues.into_iter().map(|i| (i.key, i.message)).collect()
    }

    #[test]
    fn every_unknown_key_is_named_with_its_path_and_line_in_document_order() {
        let text = "\
[server]
listne = \"x\"

[polcy]
a = 1

[policy.roles.debug]
default_duration = \"15m\"
max_duration = \"1h\"
max_duraton = \"2h\"

[policy.tiers.prod]
namespaces = [\"payments\"]
extra_approval = 1

[[policy.systems]]
service_accounts = []

[[policy.systems]]
serviceaccounts = []
auto_approve = { max_duration = \"5m\", per_day = 1, per_dya = 2 }
";
        let found = unknown(text);
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.listne",
                "polcy",
                "policy.roles.debug.max_duraton",
                "policy.tiers.prod.extra_approval",
                "policy.systems[1].serviceaccounts",
                "policy.systems[1].auto_approve.per_dya",
            ]
        );
        for (line, (_, message)) in [2, 4, 10, 14, 20, 21].iter().zip(&found) {
            assert!(message.contains(&format!("(line {line})")), "{message}");
        }
    }

    #[test]
    fn an_inline_secret_or_a_retired_key_is_not_an_unknown_key() {
        let text = "[slack]\nbot_token = \"xoxb-1\"\n[outbox]\nmax_attempts = { a = [1, 2] }\n";
        assert_eq!(unknown(text), []);
    }

    #[test]
    fn a_key_that_is_not_bare_is_quoted() {
        let path = [
            Step::Key("policy".into()),
            Step::Key("roles".into()),
            Step::Key("a.b".into()),
            Step::Key("x".into()),
        ];
        assert_eq!(dotted(&path), "policy.roles.\"a.b\".x");
        assert_eq!(
            unknown("[policy.tiers.\"a b\"]\nx = 1\n")[0].0,
            "policy.tiers.\"a b\".x"
        );
    }
}
