//! Helpers shared by the trainer's integration tests.

use std::path::PathBuf;

/// The Python that has the interop tests' packages (`tensorboard`, `onnx`, `onnxruntime`):
/// `$CLUSTER_RL_PYTHON`, or the workspace's `.venv` that `scripts/test.sh` creates. Without
/// one the calling test fails, naming what to install.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CLUSTER_RL_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "interop test: no Python with the interop packages: set CLUSTER_RL_PYTHON or create {} \
         (python3 -m venv .venv && .venv/bin/pip install tensorboard onnx onnxruntime, as scripts/test.sh does)",
        venv.display()
    );
    venv
}
