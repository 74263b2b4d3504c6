//! The `cluster-rl` binary's integration tests, as one test binary: each module is one area.
//! They live beside the binary's package because Cargo gives `CARGO_BIN_EXE_cluster-rl` only to
//! its own package's tests.

mod checkpoints;
mod cli;
mod common;
mod export;
mod node_scoring;
mod resume;
mod sweep;
mod tensorboard_interop;
