//! Keeps docs/policy-reference.md honest: every key the config file can hold (every field of the
//! raw config types, outside which every key is refused) and every key of examples/jitpe.toml is
//! documented there. A key added to the code without a line in the reference fails here.

use regex::Regex;
use std::collections::BTreeSet;

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Whether the reference documents `key`: a row of a key table, or a table heading naming it.
fn documented(reference: &str, key: &str) -> bool {
    [
        format!("| `{key}` |"),
        format!("[{key}]"),
        format!(".{key}]"),
        format!(".{key}."),
    ]
    .iter()
    .any(|form| reference.contains(form.as_str()))
}

/// The field names of every `Raw*` struct in `source`, leaving out the inline forms of secrets
/// (`bot_token` beside `bot_token_file`), which exist only so jitpe can refuse them by name.
fn raw_fields(source: &str) -> BTreeSet<String> {
    let structs = Regex::new(r"(?s)pub struct Raw\w+ \{(.*?)\n\}").unwrap();
    let field = Regex::new(r"(?m)^\s*pub (\w+): (.*),$").unwrap();
    let mut keys = BTreeSet::new();
    for body in structs.captures_iter(source) {
        let body = &body[1];
        let names: BTreeSet<&str> = field
            .captures_iter(body)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        for c in field.captures_iter(body) {
            let (name, ty) = (&c[1], &c[2]);
            let inline_secret =
                ty.contains("Written") && names.contains(format!("{name}_file").as_str());
            if !inline_secret {
                keys.insert(name.to_string());
            }
        }
    }
    keys
}

#[test]
fn every_key_of_the_raw_config_types_is_in_the_reference() {
    let reference = read("docs/policy-reference.md");
    let mut keys = BTreeSet::new();
    for file in [
        "src/config/raw.rs",
        "src/domain/policy/raw.rs",
        "src/domain/anomaly/rules.rs",
        "src/domain/anomaly/falco.rs",
    ] {
        let found = raw_fields(&read(file));
        assert!(!found.is_empty(), "{file} has no Raw* struct fields");
        keys.extend(found);
    }
    // The parse found the whole config, not a part: a key of each level.
    for key in ["listen", "cache_mb", "per_day", "match_namespace", "window"] {
        assert!(keys.contains(key), "{key} not found in the raw types");
    }
    let missing: Vec<_> = keys.iter().filter(|k| !documented(&reference, k)).collect();
    assert!(
        missing.is_empty(),
        "keys of the config file missing from docs/policy-reference.md: {missing:?}"
    );
}

/// Tables whose keys are names the operator chooses (roles, groups, tiers, rules, platforms).
const NAMED: [&str; 5] = [
    "policy.groups",
    "policy.roles",
    "policy.tiers",
    "policy.revocation.rules",
    "approvers_channel",
];

fn walk(path: &str, value: &toml::Value, keys: &mut BTreeSet<String>) {
    let named = NAMED
        .iter()
        .any(|n| path == *n || path.ends_with(&format!(".{n}")));
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table {
                // A chosen name is not a key; what is under it is.
                if !named {
                    keys.insert(key.clone());
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(&child, v, keys);
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|v| walk(path, v, keys)),
        _ => {}
    }
}

#[test]
fn every_key_of_the_example_is_in_the_reference() {
    let reference = read("docs/policy-reference.md");
    let example: toml::Value = toml::from_str(&read("examples/jitpe.toml")).expect("TOML");
    let mut keys = BTreeSet::new();
    walk("", &example, &mut keys);
    assert!(keys.contains("reason_pattern") && !keys.contains("debug"));
    let missing: Vec<_> = keys.iter().filter(|k| !documented(&reference, k)).collect();
    assert!(
        missing.is_empty(),
        "keys of examples/jitpe.toml missing from docs/policy-reference.md: {missing:?}"
    );
}
