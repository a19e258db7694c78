#![allow(clippy::unwrap_used, unreachable_pub)] // tests: a failed unwrap is a failed test
//! The one integration-test binary: every end-to-end test runs the real `weir` binary on a copy
//! of a real project (delta-rs' habit: one `tests/it/main.rs` made of `mod` lines).

mod bad_input;
mod build;
mod common;
mod compile;
mod decimals;
mod deps;
mod engine;
mod errors;
mod house;
mod ls;
mod memory;
mod secrets;
mod testing;
