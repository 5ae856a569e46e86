//! The store port's adapters: [`sled::SledStore`], the production store on an embedded sled
//! database, and [`memory::MemStore`], the same contract in memory for service tests and
//! benchmarks. Both pass the one contract suite in `tests/store_contract.rs`, so a later move away
//! from sled is one new adapter checked by the same tests. [`threads::StoreThreads`] runs either
//! on dedicated threads for async callers.

pub mod breakglass;
pub mod memory;
pub mod sled;
pub mod threads;
