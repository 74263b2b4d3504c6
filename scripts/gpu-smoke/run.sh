#!/usr/bin/env bash
# GPU smoke test of the dqn crate's `wgpu` and `cuda` features (crates/dqn/tests/dqn/gpu_smoke.rs),
# from prebuilt test binaries next to this script. No cargo, no network needed.
#
#   bash gpu-smoke/run.sh            # from the repository root (or any directory)
#
# Environment (all optional):
#   OUT               folder for gpu-smoke.log (default: gpu-smoke/out)
#   BACKENDS          which binaries to run, in order (default: "wgpu cuda")
#   SMOKE_TIMEOUT     seconds for each <backend>_smoke test (default 90)
#   CARTPOLE_TIMEOUT  seconds for each <backend>_cartpole test, 0 skips it (default 150)
#   GPU_SMOKE_CARTPOLE_STEPS  CartPole training steps (default 50000)
#   FORCE_CARTPOLE    set to run wgpu_cartpole even when wgpu finds only a software adapter
# Worst case with the defaults: 2 x (90 + 150) s = 8 min, plus a few seconds of diagnostics.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE/out}"
mkdir -p "$OUT"
LOG="$OUT/gpu-smoke.log"
BACKENDS="${BACKENDS:-wgpu cuda}"
SMOKE_TIMEOUT="${SMOKE_TIMEOUT:-90}"
CARTPOLE_TIMEOUT="${CARTPOLE_TIMEOUT:-150}"
export GPU_SMOKE_CARTPOLE_STEPS="${GPU_SMOKE_CARTPOLE_STEPS:-50000}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-0}"

# The lent GPU machines have NVIDIA's driver (its Vulkan ICD is libGLX_nvidia.so.0) but neither
# the Vulkan loader nor libglvnd, which that ICD needs: build.sh ships both from Debian in lib/.
if [ -d "$HERE/lib" ]; then
    export LD_LIBRARY_PATH="$HERE/lib:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export __EGL_VENDOR_LIBRARY_FILENAMES="${__EGL_VENDOR_LIBRARY_FILENAMES:-$HERE/10_nvidia.json}"
    export EGL_PLATFORM="${EGL_PLATFORM:-surfaceless}"
fi

section() { printf '\n===== %s =====\n' "$*"; }

diagnostics() {
    section "host"
    date -u; uname -a; nproc
    section "nvidia-smi"
    if command -v nvidia-smi >/dev/null 2>&1; then
        timeout 30 nvidia-smi
        timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
    else
        echo "nvidia-smi: not found"
    fi
    section "Vulkan ICDs"
    for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
        if [ -d "$d" ]; then
            echo "$d:"; ls -l "$d"
            for f in "$d"/*.json; do [ -f "$f" ] && { echo "--- $f"; head -c 400 "$f"; echo; }; done
        else
            echo "$d: (absent)"
        fi
    done
    echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-} VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
    if command -v vulkaninfo >/dev/null 2>&1; then timeout 20 vulkaninfo --summary 2>&1 | head -40; else echo "vulkaninfo: not found"; fi
    section "shared libraries (ldconfig -p)"
    for lib in libvulkan.so.1 libcuda.so.1 libnvrtc libnvidia-ptxjitcompiler libEGL.so.1 libEGL_nvidia libGLX_nvidia libnvidia-glcore; do
        hits="$(ldconfig -p 2>/dev/null | grep -F "$lib" | head -3)"
        if [ -n "$hits" ]; then echo "$hits"; else echo "$lib: NOT in ldconfig cache"; fi
    done
    section "CUDA toolkit (the cuda backend compiles kernels with NVRTC and needs \$CUDA_PATH/include)"
    echo "CUDA_PATH=${CUDA_PATH:-} CUDA_HOME=${CUDA_HOME:-}"
    ls -d /usr/local/cuda* /opt/cuda* 2>/dev/null || echo "no /usr/local/cuda* or /opt/cuda*"
    command -v nvcc && timeout 10 nvcc --version | tail -2
    # Where libnvrtc lives, if the loader does not know it (pip wheels, toolkit without ldconfig).
    nvrtc_found="$(find /usr/local/cuda*/ /opt/cuda*/ /usr/lib /usr/lib64 /usr/local/lib \
        -maxdepth 6 -name 'libnvrtc.so*' 2>/dev/null | grep -v builtins | head -5)"
    echo "libnvrtc files: ${nvrtc_found:-none found}"
}

setup_cuda_env() {
    # cubecl-cuda looks for $CUDA_PATH, else /usr/local/cuda, /opt/cuda, or /usr if /usr/bin/nvcc.
    if [ -z "${CUDA_PATH:-}" ] && [ ! -e /usr/local/cuda ] && [ ! -e /opt/cuda ] && [ ! -e /usr/bin/nvcc ]; then
        for d in ${CUDA_HOME:-} /usr/local/cuda-*; do
            if [ -d "$d/include" ]; then export CUDA_PATH="$d"; echo "setting CUDA_PATH=$d"; break; fi
        done
    fi
    # cudarc dlopens libnvrtc.so / libnvrtc.so.12 / .13 ... by name: make a toolkit's lib dir visible.
    if ! ldconfig -p 2>/dev/null | grep -q libnvrtc; then
        for d in ${CUDA_PATH:-} /usr/local/cuda /usr/local/cuda-* /opt/cuda; do
            for sub in lib64 lib targets/x86_64-linux/lib; do
                if ls "$d/$sub"/libnvrtc.so* >/dev/null 2>&1; then
                    export LD_LIBRARY_PATH="$d/$sub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
                    echo "adding $d/$sub to LD_LIBRARY_PATH"; return
                fi
            done
        done
    fi
}

# The binaries ship gzip-compressed (stripped they are ~57 MB each): unpack them under $TMPDIR
# (default /tmp), not into the checkout, which may be read-only.
BIN_DIR="${TMPDIR:-/tmp}/gpu-smoke-bin.$$"
unpack() { # backend -> prints the executable's path, or nothing
    local gz="$HERE/gpu_smoke-$1.gz" plain="$HERE/gpu_smoke-$1"
    if [ -x "$plain" ]; then echo "$plain"; return; fi
    [ -f "$gz" ] || return
    mkdir -p "$BIN_DIR" && gzip -dc "$gz" > "$BIN_DIR/gpu_smoke-$1" && chmod +x "$BIN_DIR/gpu_smoke-$1" \
        && echo "$BIN_DIR/gpu_smoke-$1"
}

run_test() { # binary test timeout
    local bin="$1" name="$2" limit="$3" rc
    section "$name (timeout ${limit}s)"
    local start=$SECONDS
    timeout -k 10 "$limit" "$bin" --ignored --nocapture --test-threads=1 --exact "gpu_smoke::$name"
    rc=$?
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "!!! $name TIMED OUT after ${limit}s"
    RESULTS+=("$name: rc=$rc ($((SECONDS - start)) s)")
}

main() {
    diagnostics
    RESULTS=()
    for backend in $BACKENDS; do
        bin="$(unpack "$backend")"
        if [ -z "$bin" ]; then
            section "$backend"; echo "no binary gpu_smoke-$backend(.gz) in $HERE: skipped"
            RESULTS+=("$backend: no binary"); continue
        fi
        software_only=0
        [ "$backend" = cuda ] && { section "cuda environment"; setup_cuda_env; }
        if [ "$backend" = wgpu ]; then
            # Asking for a 100th discrete GPU fails at once with the list of adapters on the graphics
            # API wgpu settles on (Vulkan if it has a real GPU, else GL, else a software rasterizer).
            section "wgpu adapters (probe)"
            probe="$(CUBECL_WGPU_DEFAULT_DEVICE='DiscreteGpu(99)' timeout -k 5 30 "$bin" --ignored --exact gpu_smoke::wgpu_smoke 2>&1)"
            adapters="$(printf '%s\n' "$probe" | grep -o 'adapters \[.*' | head -1)"
            if [ -n "$adapters" ]; then
                printf '%s\n' "$adapters" | sed 's/\\"/"/g; s/AdapterInfo {/\n  AdapterInfo {/g'
            else
                printf '%s\n' "$probe" | grep -E "panicked|Unable|adapter" | head -5
            fi
            if printf '%s' "$adapters" | grep -q 'device_type: Cpu' && ! printf '%s' "$adapters" | grep -qE 'device_type: (DiscreteGpu|IntegratedGpu|VirtualGpu|Other)'; then
                software_only=1
                echo "!!! wgpu sees only a software (CPU) adapter: the wgpu numbers below are not the GPU's"
            fi
        fi
        run_test "$bin" "${backend}_smoke" "$SMOKE_TIMEOUT"
        if [ "$CARTPOLE_TIMEOUT" = 0 ]; then
            :
        elif [ "$software_only" = 1 ] && [ -z "${FORCE_CARTPOLE:-}" ]; then
            echo "skipping ${backend}_cartpole on a software adapter (FORCE_CARTPOLE=1 runs it)"
            RESULTS+=("${backend}_cartpole: skipped (software adapter)")
        else
            run_test "$bin" "${backend}_cartpole" "$CARTPOLE_TIMEOUT"
        fi
    done
    section "results (rc 0 = passed, 101 = failed/panicked, 124/137 = timed out)"
    printf '%s\n' "${RESULTS[@]}"
    section "summary lines"
    grep -h "SUMMARY" "$LOG" 2>/dev/null | grep -v "grep" || true
}

: > "$LOG"
main 2>&1 | tee -a "$LOG"
rm -rf "$BIN_DIR"
echo "log: $LOG"
