//! Adapters: one file per implementation of a port.

pub mod clock;
pub mod fakes;
pub mod kube;
pub mod slack_respond;
