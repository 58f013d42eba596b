//! The test registry's integration tests, in one target to keep linking cheap.

mod auth_log;
mod client;
mod faults;
mod mirror_shaping;
mod packument;
mod pnpm;
