//! The policy-onnx crate's integration tests, as one test binary: each module is one area.

mod node_scoring;
mod onnxruntime;
mod shipped;
