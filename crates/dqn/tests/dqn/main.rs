//! The dqn crate's integration tests, as one test binary (one link against burn instead of one
//! per file): each module covers one area.

mod agent;
// Compiled only with the `wgpu` or `cuda` feature; every test in it is ignored (CI has no GPU).
mod gpu_smoke;
mod node_scoring;
