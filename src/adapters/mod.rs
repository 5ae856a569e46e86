//! Adapters: one file per implementation of a port.
//!
//! Stores: [`sled_store::SledStore`] is the production [`crate::ports::Store`] on an embedded sled
//! database; [`memory::MemStore`] keeps the same contract in memory for service tests. Both pass
//! the one contract suite in `tests/store_contract.rs`, so a later move away from sled is one new
//! adapter file checked by the same tests.

pub mod clock;
pub mod fakes;
pub mod kube;
pub mod kube_lazy;
pub mod mattermost;
pub mod mattermost_api;
pub mod mattermost_render;
pub mod mattermost_sign;
pub mod memory;
pub mod slack;
pub mod slack_blocks;
pub mod slack_respond;
mod sled_keys;
pub mod sled_store;
mod sled_tx;
