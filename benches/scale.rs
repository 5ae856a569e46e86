//! placeholder
mod common;
fn main() {}
