#!/usr/bin/env bash
# Builds the GPU smoke-test bundle in gpu-smoke/ (git-ignored), to carry to a GPU machine that
# has no cargo and no network: the dqn crate's ignored GPU tests (crates/dqn/tests/dqn/gpu_smoke.rs)
# built with the `wgpu` feature, stripped and gzipped; the Vulkan loader and libglvnd from
# Debian (the lent machines have NVIDIA's driver but not these); and run.sh. Then, on the GPU
# machine, from the repository root: `bash gpu-smoke/run.sh` (log in $OUT or gpu-smoke/out).
#
# The `cuda` feature cannot be built offline: cubecl-cuda's build script downloads an LLVM
# bundle from GitHub.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=gpu-smoke
mkdir -p "$out/lib"
exe="$(cargo test -p dqn --features wgpu --test dqn --no-run --message-format=json \
  | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')"
strip -o "$out/gpu_smoke-wgpu" "$exe"
gzip -f "$out/gpu_smoke-wgpu"
debs="$(mktemp -d)"
(cd "$debs" && apt-get download libvulkan1 libegl1 libglvnd0)
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$debs/x"; done
for lib in libvulkan.so.1 libEGL.so.1 libGLdispatch.so.0; do
  cp -L "$debs/x/usr/lib/x86_64-linux-gnu/$lib" "$out/lib/$lib"
done
rm -rf "$debs"
cp scripts/gpu-smoke/run.sh scripts/gpu-smoke/10_nvidia.json "$out/"
du -sh "$out"
