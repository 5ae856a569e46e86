//! The Ingress change feed, the pure part: a small neutral model of an Ingress (what routes
//! traffic: class, hosts, paths and their backends, default backend, TLS, annotation keys) and
//! the diff between two versions of one, as a compact, deterministic and bounded summary for the
//! audit chain (`hosts +a.example.com -b.example.com; paths ~/api (svc-a:80 -> svc-b:80)`).
//!
//! The kube adapter (`kube::ingress_watch`) turns `networking.k8s.io/v1` Ingresses into
//! [`IngressShape`]s; the feed worker (`workers::ingress_feed`) diffs and audits them. Status
//! (the load balancer addresses a controller writes) is not part of the shape, so a status-only
//! update diffs as [`ChangeKind::Unchanged`] and is not posted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The longest summary, in bytes. An audit line stays readable in a chat message, and an Ingress
/// with thousands of paths cannot grow one audit record without bound.
pub const MAX_SUMMARY: usize = 600;

/// The longest single item of a summary (one host, one path and its backends), in bytes.
pub const MAX_ITEM: usize = 160;

/// The annotation `kubectl apply` keeps the whole last applied object in. It changes with every
/// apply and repeats the spec the summary already shows, so it is left out of the shape.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What the change feed compares of one Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngressShape {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `metadata.resourceVersion`, to name the writer from the audit stream; not compared.
    pub resource_version: String,
    /// `spec.ingressClassName`.
    pub class: Option<String>,
    /// Every host its rules name.
    pub hosts: BTreeSet<String>,
    /// Every HTTP path of every rule.
    pub paths: Vec<IngressPath>,
    /// `spec.defaultBackend`, written as a backend (see [`IngressPath::backend`]).
    pub default_backend: Option<String>,
    /// `spec.tls`.
    pub tls: Vec<IngressTls>,
    /// `metadata.annotations` without [`LAST_APPLIED_ANNOTATION`]. Only the keys ever reach a
    /// summary (see [`diff`]).
    pub annotations: BTreeMap<String, String>,
    /// The field manager of the newest `metadata.managedFields` entry that is not a status
    /// write (`kubectl-edit`, `kubectl-client-side-apply`, `helm`): who wrote it last when the
    /// audit stream names nobody. Not compared.
    pub field_manager: Option<String>,
}

/// One HTTP path of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngressPath {
    /// The rule's host, empty for a rule that matches every host.
    pub host: String,
    /// The path, as written (may be empty for `ImplementationSpecific`).
    pub path: String,
    /// `pathType`: `Exact`, `Prefix` or `ImplementationSpecific`.
    pub path_type: String,
    /// `service:port` (port number or name), or `Kind/name` for a resource backend.
    pub backend: String,
}

/// One TLS entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngressTls {
    /// The hosts the certificate is for.
    pub hosts: Vec<String>,
    /// The Secret holding the certificate (its name only, never its contents).
    pub secret_name: Option<String>,
}

/// What happened to an Ingress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// It appeared.
    Created,
    /// Something the shape holds changed.
    Updated,
    /// It went away.
    Deleted,
    /// Nothing the shape holds changed (a status write, a label, a new resourceVersion only).
    Unchanged,
}

impl ChangeKind {
    /// The word in audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Unchanged => "unchanged",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The difference between two versions of one Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressChange {
    /// Created, updated, deleted or unchanged.
    pub kind: ChangeKind,
    /// What changed, at most [`MAX_SUMMARY`] bytes; empty when unchanged.
    pub summary: String,
}

impl IngressChange {
    /// Whether this is worth posting.
    pub fn is_change(&self) -> bool {
        self.kind != ChangeKind::Unchanged
    }
}

/// What changed from `before` to `after` (`None`: the Ingress did not exist).
///
/// The summary lists, in this order, `class`, `hosts`, `paths`, `default-backend`, `tls` and
/// `annotations`, each item `+added`, `-removed` or `~changed (old -> new)`, sorted, and is
/// clipped to [`MAX_SUMMARY`] bytes with a count of what was left out. Annotation values are
/// never shown, only their keys: annotations carry free text such as basic-auth realms,
/// configuration snippets or tokens for external auth, and the audit channel is read by more
/// people than may read the Ingress.
pub fn diff(before: Option<&IngressShape>, after: Option<&IngressShape>) -> IngressChange {
    let empty = IngressShape::default();
    let kind = match (before, after) {
        (None, None) => ChangeKind::Unchanged,
        (None, Some(_)) => ChangeKind::Created,
        (Some(_), None) => ChangeKind::Deleted,
        (Some(_), Some(_)) => ChangeKind::Updated,
    };
    let items = items(before.unwrap_or(&empty), after.unwrap_or(&empty));
    let kind = match kind {
        ChangeKind::Updated if items.is_empty() => ChangeKind::Unchanged,
        k => k,
    };
    let summary = match (kind, items.is_empty()) {
        (ChangeKind::Unchanged, _) => String::new(),
        (_, true) => "no rules".to_string(),
        (_, false) => render(&items),
    };
    IngressChange { kind, summary }
}

/// Every changed item, as (section, item), sections in summary order.
fn items(a: &IngressShape, b: &IngressShape) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    single(&mut out, "class", &a.class, &b.class);
    let set = |s: &BTreeSet<String>| s.iter().map(|h| (h.clone(), String::new())).collect();
    section(&mut out, "hosts", changes(&set(&a.hosts), &set(&b.hosts)));
    section(&mut out, "paths", changes(&paths(a), &paths(b)));
    single(
        &mut out,
        "default-backend",
        &a.default_backend,
        &b.default_backend,
    );
    section(&mut out, "tls", changes(&tls(a), &tls(b)));
    let mut annotations = changes(&a.annotations, &b.annotations);
    // NB: values are compared but never shown: `~key` says only that the value changed.
    for c in &mut annotations {
        c.values = None;
    }
    section(&mut out, "annotations", annotations);
    out
}

/// A field with one value (`class nginx -> traefik`, `class +nginx`, `class -nginx`).
fn single(
    out: &mut Vec<(&'static str, String)>,
    name: &'static str,
    a: &Option<String>,
    b: &Option<String>,
) {
    let item = match (a, b) {
        (Some(old), Some(new)) if old != new => format!("{old} -> {new}"),
        (None, Some(new)) => format!("+{new}"),
        (Some(old), None) => format!("-{old}"),
        _ => return,
    };
    out.push((name, clip(&clean(&item), MAX_ITEM)));
}

/// `host+path` → its backends (several if the Ingress repeats a path).
fn paths(s: &IngressShape) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &s.paths {
        let path = if p.path.is_empty() { "(any)" } else { &p.path };
        let value = if p.path_type == "Prefix" {
            p.backend.clone()
        } else {
            format!("{} {}", p.backend, p.path_type)
        };
        out.entry(format!("{}{path}", p.host))
            .or_default()
            .push(value);
    }
    joined(out)
}

/// Secret name → the hosts it covers.
fn tls(s: &IngressShape) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &s.tls {
        let key = t
            .secret_name
            .clone()
            .unwrap_or_else(|| "(no secret)".into());
        let mut hosts = t.hosts.clone();
        hosts.sort();
        out.entry(key).or_default().push(hosts.join(","));
    }
    joined(out)
}

fn joined(m: BTreeMap<String, Vec<String>>) -> BTreeMap<String, String> {
    m.into_iter()
        .map(|(k, mut v)| {
            v.sort();
            (k, v.join("|"))
        })
        .collect()
}

/// One changed key: added, removed, or changed with (old, new) values.
struct Change {
    sign: char,
    key: String,
    values: Option<(String, String)>,
}

fn changes(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, v) in b {
        match a.get(k) {
            None => out.push(Change {
                sign: '+',
                key: k.clone(),
                values: (!v.is_empty()).then(|| (String::new(), v.clone())),
            }),
            Some(old) if old != v => out.push(Change {
                sign: '~',
                key: k.clone(),
                values: Some((old.clone(), v.clone())),
            }),
            Some(_) => {}
        }
    }
    for (k, v) in a {
        if !b.contains_key(k) {
            out.push(Change {
                sign: '-',
                key: k.clone(),
                values: (!v.is_empty()).then(|| (String::new(), v.clone())),
            });
        }
    }
    out
}

fn section(out: &mut Vec<(&'static str, String)>, name: &'static str, changes: Vec<Change>) {
    for c in changes {
        let item = match (&c.values, c.sign) {
            (Some((old, new)), '~') => format!("~{} ({old} -> {new})", c.key),
            (Some((_, v)), sign) => format!("{sign}{} ({v})", c.key),
            (None, sign) => format!("{sign}{}", c.key),
        };
        out.push((name, clip(&clean(&item), MAX_ITEM)));
    }
}

/// Sections joined by `; `, items by spaces, within [`MAX_SUMMARY`] bytes.
fn render(items: &[(&'static str, String)]) -> String {
    // Room for the longest "… N more" there can be.
    const RESERVE: usize = 24;
    let mut s = String::new();
    let mut last = "";
    for (i, (name, item)) in items.iter().enumerate() {
        let piece = if *name == last {
            format!(" {item}")
        } else if s.is_empty() {
            format!("{name} {item}")
        } else {
            format!("; {name} {item}")
        };
        if s.len() + piece.len() > MAX_SUMMARY - RESERVE {
            s.push_str(&format!(" … {} more", items.len() - i));
            return s;
        }
        s.push_str(&piece);
        last = name;
    }
    s
}

/// Control characters (newlines would break an audit line into two) as `?`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `s` cut to at most `max` bytes at a character boundary, marked with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
#[path = "ingress_tests.rs"]
mod tests;
