//! Dynamic revocation, the pure part: what jitpe observes of a grantee while access is live (a
//! completed Kubernetes API call from the audit webhook, a Falco alert), the revocation rules of
//! the policy (`rules.rs`, `pattern.rs`, `falco.rs`), the matching that decides which grant a
//! rule revokes (`matcher.rs`), and the use report of a grant (`usage.rs`). The HTTP intake
//! (`web::observe`) turns the wire formats into these types; the watch worker
//! (`workers::watch`) feeds them to the matcher and has the service revoke.

mod falco;
mod ingress;
mod matcher;
mod observation;
mod pattern;
mod rules;
mod usage;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

pub use falco::{FalcoRules, RawFalco};
pub use ingress::{
    ChangeKind, IngressChange, IngressPath, IngressShape, IngressTls, LAST_APPLIED_ANNOTATION,
    MAX_ITEM, MAX_SUMMARY, diff as diff_ingress,
};
pub use matcher::{GrantIndex, Matcher, Verdict, WatchedGrant, evidence};
pub use observation::{ApiCall, FalcoAlert, FalcoPriority, Observation, PriorityError};
pub use pattern::{PatternError, ResourcePattern, Scope, ScopeError};
pub use rules::{RawRevocation, RawRule, RevocationRules, Rule, shipped};
pub use usage::{MAX_INGRESSES, MAX_KINDS, Usage};
