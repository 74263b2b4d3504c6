#!/usr/bin/env bash
# The project's test command (see README): installs what the tests need, then runs every check.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
