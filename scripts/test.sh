#!/usr/bin/env bash
# The project's test command (see README): installs what the tests need, then runs every check.
set -euo pipefail
cd "$(dirname "$0")/.."

# The TensorBoard interop test reads our event files with the real `tensorboard` package.
if ! .venv/bin/python -c "import tensorboard" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "tensorboard==2.21.0"
fi
export CLUSTER_RL_PYTHON="$PWD/.venv/bin/python"

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
