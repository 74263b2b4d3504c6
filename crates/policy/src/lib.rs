//! Runtime for exported cluster-rl policies, without burn.
//!
//! An export directory holds `policy.json` (metadata), `policy.safetensors` (weights) and
//! `policy.onnx` (the same network for other runtimes).

pub mod network;

pub use network::{Activation, Dense, Mlp, Normalization};
