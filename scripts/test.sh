#!/usr/bin/env bash
# The project's test command (see README): installs what the tests need, then runs every check.
set -euo pipefail
cd "$(dirname "$0")/.."

# Interop tests use the real clients of our files: `tensorboard` reads the event files,
# `onnx` checks and `onnxruntime` runs the exported policy.onnx, and `rliable` (Agarwal et al.'s
# reference implementation) checks the sweep statistics. rliable 1.2.0 needs pandas < 3 (its
# `arch` dependency fails to import with pandas 3), so the versions are pinned together.
if ! .venv/bin/python -c "import tensorboard, onnx, onnxruntime, rliable, scipy" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "tensorboard==2.21.0" "onnx==1.23.2" "onnxruntime==1.32.0" \
    "rliable==1.2.0" "arch==7.2.0" "pandas==2.3.3" "numpy==2.4.6" "scipy==1.17.1"
fi
export CLUSTER_RL_PYTHON="$PWD/.venv/bin/python"

# The sweep's Slurm backend is tested on a real Slurm: Debian's slurmctld, slurmd and munge
# (installed here when missing; the test starts its own one-node cluster on ports 6837/6838 and
# stops it). CLUSTER_RL_SKIP_SLURM=1 skips both, for machines without root or apt.
if [ "${CLUSTER_RL_SKIP_SLURM:-0}" != 1 ]; then
  scripts/slurm/install.sh
fi

# failpoints: the trainer's crash tests abort the binary at named steps of a checkpoint write.
cargo fmt --all --check
cargo clippy --workspace --all-targets --features trainer/failpoints -- -D warnings
cargo test --workspace --features trainer/failpoints
