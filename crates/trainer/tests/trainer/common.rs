//! Helpers shared by the trainer's integration tests.

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Sends `lines` to one `cluster-rl infer --policy <policy>` session, closes its stdin and
/// returns its output with the replies parsed, one per stdout line.
pub fn infer_session(policy: &Path, lines: &[impl Display]) -> (Output, Vec<serde_json::Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cluster-rl"))
        .args(["infer", "--policy", policy.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let replies = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (o, replies)
}

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
