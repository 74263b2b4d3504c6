#!/usr/bin/env bash
# The project's test command (see README): installs what the tests need, then runs every check.
set -euo pipefail
cd "$(dirname "$0")/.."

# Interop tests use the real clients of our files: `tensorboard` reads the event files,
# `onnx` checks and `onnxruntime` runs the exported policy.onnx.
if ! .venv/bin/python -c "import tensorboard, onnx, onnxruntime" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "tensorboard==2.21.0" "onnx==1.23.2" "onnxruntime==1.32.0"
fi
export CLUSTER_RL_PYTHON="$PWD/.venv/bin/python"

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
