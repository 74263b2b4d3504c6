#!/usr/bin/env bash
# Builds and runs the cargo-fuzz (libFuzzer) targets in fuzz/, one after the other, and prints
# the executions of each. Exits 1 if a target crashed, hung, ran out of memory or failed to
# build; the input that did it is in fuzz/artifacts/<target>/ (reproduce it with
# `cargo +nightly fuzz run -s none <target> <file>`).
#
# Usage: scripts/fuzz.sh [--time SECONDS] [--runs N] [--cmin] [TARGET...]
#   --time SECONDS  run each target for at most SECONDS (default without --runs: 10, a smoke run)
#   --runs N        run each target for at most N executions (e.g. --runs 1000000 --time 600:
#                   a million executions or ten minutes, whichever comes first)
#   --cmin          afterwards, minimise each target's committed seed corpus (fuzz/corpus/<target>)
#                   together with what this run found (cargo fuzz cmin)
#   TARGET...       only these targets (default: all of them, `cargo fuzz list`)
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz`); without them it says so and exits 0, so CI without them is not
# red. Targets are built without a sanitizer (`-s none`: the code is safe Rust, and burn builds
# much faster without ASan); panics, aborts, overflow checks, debug assertions, hangs
# (-timeout=10 s per input) and memory over -rss_limit_mb=2048 are all caught. What a run finds
# is kept in fuzz/target/corpus/<target>/, beside the committed seeds, which are never written.
set -euo pipefail

cd "$(dirname "$0")/.."

time_limit=""
runs_limit=""
cmin=0
targets=()
while (($#)); do
    case "$1" in
    --time)
        time_limit="${2:?--time needs a number of seconds}"
        shift 2
        ;;
    --runs)
        runs_limit="${2:?--runs needs a number of executions}"
        shift 2
        ;;
    --cmin)
        cmin=1
        shift
        ;;
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "fuzz.sh: unknown option $1 (see --help)" >&2
        exit 2
        ;;
    *)
        targets+=("$1")
        shift
        ;;
    esac
done
if [[ -z $time_limit && -z $runs_limit ]]; then
    time_limit=10
fi
limit=()
for value in "$time_limit" "$runs_limit"; do
    if [[ -n $value ]] && { ! [[ $value =~ ^[0-9]+$ ]] || ((value == 0)); }; then
        echo "fuzz.sh: --time and --runs take a positive whole number, not '$value'" >&2
        exit 2
    fi
done
[[ -n $time_limit ]] && limit+=(-max_total_time="$time_limit")
[[ -n $runs_limit ]] && limit+=(-runs="$runs_limit")

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: skipped: no nightly Rust toolchain (cargo-fuzz needs one): rustup toolchain install nightly"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: skipped: cargo-fuzz is not installed: cargo install cargo-fuzz"
    exit 0
fi

# The same build flags for build, run and cmin, so nothing is rebuilt in between.
build_flags=(--sanitizer none --codegen-units 16)
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

echo "fuzz.sh: building ${#targets[@]} targets (the first build compiles burn: several minutes)"
if ! (cd fuzz && cargo +nightly fuzz build "${build_flags[@]}"); then
    echo "fuzz.sh: the fuzz targets failed to build" >&2
    exit 1
fi

failed=()
summary=()
for target in "${targets[@]}"; do
    scratch="fuzz/target/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    log="fuzz/target/logs/$target.log"
    mkdir -p "$scratch" "$artifacts" "fuzz/target/logs" "fuzz/corpus/$target"
    echo "fuzz.sh: $target (${limit[*]})"
    start=$SECONDS
    status=0
    (cd fuzz && cargo +nightly fuzz run "${build_flags[@]}" "$target" \
        "../$scratch" "corpus/$target" -- \
        "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="../$artifacts/") >"$log" 2>&1 || status=$?
    seconds=$((SECONDS - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(find "$scratch" "fuzz/corpus/$target" -type f | wc -l)
    if ((status == 0)); then
        result=ok
    else
        result="FAILED (exit $status; see $log and $artifacts/)"
        failed+=("$target")
        tail -n 30 "$log" >&2
    fi
    summary+=("$(printf '%-22s %12s %8s %10s %8s  %s' "$target" "${execs:-?}" "${seconds}s" "${rate:-?}" "$corpus" "$result")")
    if ((cmin)) && ((status == 0)); then
        cp -n "$scratch"/* "fuzz/corpus/$target/" 2>/dev/null || true
        (cd fuzz && cargo +nightly fuzz cmin "${build_flags[@]}" "$target" "corpus/$target" -- -use_counters=0) \
            >>"$log" 2>&1
    fi
done

echo
printf '%-22s %12s %8s %10s %8s  %s\n' target executions time exec/s corpus result
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
