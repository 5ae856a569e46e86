//! The pure domain of jitpe: command grammar, policy, the request lifecycle, grants and audit.
//!
//! Nothing here does I/O or reads a clock: every function that needs the time takes `now`.
//! (`tests/boundaries.rs` fails if this module imports tokio, kube, sled, axum or reqwest.)
//!
//! ```text
//!             approve (quorum)          bindings created
//! Pending ─────────────────────▶ Approved ─────────────▶ Active ──expiry──▶ Expired
//!    │ deny (any) / pending TTL / cancel          │ create failed            │ revoke (manual, anomaly)
//!    ▼                                            ▼                          ▼
//! Denied | TimedOut | Cancelled                 Failed                     Revoked
//! ```
//!
//! Glossary: a *request* asks for a *role* in a *namespace*; *approvers* vote; an approved request
//! becomes *bindings* (RoleBindings, plus a Role for resource-scoped grants); an *effect* is work
//! for adapters; an *audit draft* becomes a chained *audit record* in the store.

pub mod anomaly;
pub mod audit;
pub mod command;
pub mod duration;
pub mod error;
pub mod grant;
pub mod help;
pub mod identity;
pub mod ids;
pub mod policy;
pub mod request;
pub mod text;
pub mod view;

pub use error::DomainError;
/// The request state machine, under its short path.
pub use request::lifecycle;

/// The raw policy types under their earlier path; [`policy`] is where they live.
pub mod policy_config {
    pub use super::policy::{
        ConfigIssue, PolicyErrors, RawAutoApprove, RawBinding, RawIdentity, RawNamespaces,
        RawPolicy, RawRole, RawScopedRule,
    };
}

#[cfg(test)]
pub(crate) mod fixtures;
