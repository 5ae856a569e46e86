//! The parts of a revocation rule that match one API call: a resource pattern
//! (`[group/]resource[/subresource]`, `*` for any) and where the call's namespace is relative to
//! the grant's.

use super::observation::ApiCall;
use std::fmt;
use std::str::FromStr;

/// `[group/]resource[/subresource]`. A pattern without a subresource matches the resource
/// itself, not its subresources (`pods` is not `pods/exec`); `*` matches any resource of the
/// group, or any subresource. A name without a group is the core group (`secrets`); a group has
/// a dot (`networking.k8s.io/ingresses`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePattern {
    /// API group, `""` for the core group.
    pub group: String,
    /// Resource, or `*`.
    pub resource: String,
    /// Subresource, `*`, or `None` for the resource itself.
    pub subresource: Option<String>,
}

/// A resource pattern that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a resource pattern: write `[group/]resource[/subresource]`, for example \
     `secrets`, `pods/exec` or `rbac.authorization.k8s.io/*`"
)]
pub struct PatternError(pub String);

impl FromStr for ResourcePattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, PatternError> {
        let bad = || PatternError(s.to_string());
        let word = |w: &str| {
            w == "*"
                || (!w.is_empty()
                    && w.len() <= 253
                    && w.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    }))
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !parts.iter().all(|p| word(p)) {
            return Err(bad());
        }
        let (group, resource, sub) = match parts.as_slice() {
            [r] => ("", *r, None),
            [g, r] if g.contains('.') => (*g, *r, None),
            [r, sub] => ("", *r, Some(*sub)),
            [g, r, sub] if g.contains('.') => (*g, *r, Some(*sub)),
            _ => return Err(bad()),
        };
        if group == "*" || resource.contains('.') || sub.is_some_and(|s| s.contains('.')) {
            return Err(bad());
        }
        Ok(Self {
            group: group.to_string(),
            resource: resource.to_string(),
            subresource: sub.map(str::to_string),
        })
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        f.write_str(&self.resource)?;
        match &self.subresource {
            Some(sub) => write!(f, "/{sub}"),
            None => Ok(()),
        }
    }
}

impl ResourcePattern {
    /// Whether `call` is on a resource this pattern names.
    pub fn matches(&self, call: &ApiCall) -> bool {
        if call.resource.is_empty() || call.group != self.group {
            return false;
        }
        let resource = self.resource == "*" || self.resource == call.resource;
        let sub = match &self.subresource {
            None => call.subresource.is_empty(),
            Some(s) if s == "*" => !call.subresource.is_empty(),
            Some(s) => *s == call.subresource,
        };
        resource && sub
    }
}

/// Where a call's namespace must be, relative to the namespace of the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Anywhere, cluster-scoped calls included.
    Any,
    /// In the grant's namespace.
    Inside,
    /// Anywhere else (another namespace, or cluster-scoped).
    Outside,
}

/// A namespace scope that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a namespace scope: write `any`, `inside` or `outside` (the grant's namespace)"
)]
pub struct ScopeError(pub String);

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, ScopeError> {
        match s {
            "any" => Ok(Self::Any),
            "inside" => Ok(Self::Inside),
            "outside" => Ok(Self::Outside),
            _ => Err(ScopeError(s.to_string())),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Any => "any",
            Self::Inside => "inside the grant's",
            Self::Outside => "outside the grant's",
        })
    }
}

impl Scope {
    /// Whether a call in `call_ns` is in scope for a grant in `grant_ns`.
    pub fn admits(self, call_ns: Option<&str>, grant_ns: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Inside => call_ns == Some(grant_ns),
            Self::Outside => call_ns != Some(grant_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::anomaly::fixtures::call;

    #[test]
    fn patterns_read_core_group_named_group_and_subresources() {
        let p: ResourcePattern = "secrets".parse().unwrap();
        assert!(p.matches(&call("get", "", "secrets", "")));
        assert!(!p.matches(&call("get", "", "configmaps", "")));
        let p: ResourcePattern = "pods/exec".parse().unwrap();
        assert!(p.matches(&call("create", "", "pods", "exec")));
        assert!(!p.matches(&call("get", "", "pods", "")));
        let p: ResourcePattern = "rbac.authorization.k8s.io/*".parse().unwrap();
        assert!(p.matches(&call(
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            ""
        )));
        assert!(!p.matches(&call("create", "", "rolebindings", "")));
        let p: ResourcePattern = "pods/*".parse().unwrap();
        assert!(p.matches(&call("get", "", "pods", "log")));
        assert!(!p.matches(&call("get", "", "pods", "")));
        assert_eq!(p.to_string(), "pods/*");
    }

    #[test]
    fn malformed_patterns_and_scopes_say_what_to_write() {
        for bad in [
            "", "/secrets", "Secrets", "a/b/c/d", "*.io/x", "a b", "x/y.z",
        ] {
            let e = bad.parse::<ResourcePattern>().unwrap_err();
            assert!(e.to_string().contains("[group/]resource"), "{bad}");
        }
        assert!(
            "within"
                .parse::<Scope>()
                .unwrap_err()
                .to_string()
                .contains("inside")
        );
    }

    #[test]
    fn scopes_compare_the_call_namespace_with_the_grant() {
        assert!(Scope::Inside.admits(Some("shop"), "shop"));
        assert!(!Scope::Inside.admits(None, "shop"));
        assert!(Scope::Outside.admits(None, "shop"));
        assert!(Scope::Outside.admits(Some("pay"), "shop"));
        assert!(Scope::Any.admits(None, "shop"));
    }
}
