#!/usr/bin/env bash
# Self-test of the local test Slurm (install.sh / start.sh / stop.sh): starts a cluster,
# proves the Slurm features the `cluster-rl sweep` Slurm backend relies on, prints how
# long each step took, and stops the cluster again (also on failure).
#
#   scripts/slurm/selftest.sh [STATE_DIR]   (default /tmp/cluster-rl-slurm-selftest)
#
# It uses its own ports (SLURMCTLD_PORT=6827, SLURMD_PORT=6828 unless set) so it can run
# next to a cluster started with the defaults. Needs root; runs install.sh first.
#
# What is checked:
#   a) a 4-task job array with %2 throttle, task 2 exits 3: at most (and, on >= 2 CPUs,
#      exactly) 2 tasks run at once; completion is detected by polling `squeue -h -j ID`
#      (never `sbatch --wait`, which does not report array tasks' exit codes reliably);
#      each task's exit code and state are read from the jobcomp/filetxt log.
#   b) signals: `--signal=B:USR1@30` with `--time=1` reaches the batch shell, which traps
#      it (writes a marker) and requeues itself with scontrol; the rerun sees
#      SLURM_RESTART_COUNT=1. `scancel --signal=USR1 --batch ID_IDX` signals one running
#      array task; a plain `scancel ID_IDX` cancels another.
#   c) `scontrol requeue ID_IDX` on a running array task kills it (SIGTERM to the batch
#      shell) and runs it again with SLURM_RESTART_COUNT=1; with --open-mode=append the
#      output file keeps both runs, with the default (truncate) only the last run.
# Every wait is bounded; the whole run takes about a minute.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE_DIR=${1:-/tmp/cluster-rl-slurm-selftest}
export SLURMCTLD_PORT=${SLURMCTLD_PORT:-6827} SLURMD_PORT=${SLURMD_PORT:-6828}

T0=$(date +%s.%N)
STEP_T=$T0
TIMINGS=()
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step_done() { # step_done LABEL
  TIMINGS+=("$(printf '%-58s %6ss' "$1" "$(elapsed "$STEP_T")")")
  STEP_T=$(date +%s.%N)
}
say() { echo "[selftest $(elapsed "$T0")s] $*"; }
fail() { echo "[selftest] FAIL: $*" >&2; exit 1; }
check() { # check DESCRIPTION ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then say "ok: $1 = $2"; else fail "$1: got '$2', expected '$3'"; fi
}

cleanup() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -d "$STATE_DIR/log" ]; then
    echo "---- last lines of $STATE_DIR/log/slurmctld.log:" >&2
    tail -n 20 "$STATE_DIR/log/slurmctld.log" >&2 || true
  fi
  "$HERE/stop.sh" "$STATE_DIR" || true
  exit $rc
}

# ---------------------------------------------------------------- setup
"$HERE/install.sh"
step_done "install.sh (no-op when installed)"
"$HERE/stop.sh" "$STATE_DIR" >/dev/null 2>&1 || true # leftovers of an aborted run
rm -rf "$STATE_DIR"
trap cleanup EXIT
eval "$("$HERE/start.sh" "$STATE_DIR")"
step_done "start.sh (fresh: munged, slurmctld, slurmd, node idle)"
"$HERE/start.sh" "$STATE_DIR" >/dev/null 2>&1
step_done "start.sh again (already running: no-op)"

JOBCOMP=$STATE_DIR/jobcomp.log
WORK=$STATE_DIR/work
mkdir -p "$WORK"
NCPU=$(nproc)

# wait_gone JOBID SECS: poll squeue until the job (all its array tasks) has left the
# queue. `squeue -h -j ID` prints nothing once every task has finished (it is still in
# slurmctld's memory for MinJobAge, default states filter hides it); after that it is
# purged and squeue fails with "Invalid job id specified" -- also "finished". Any other
# failure (controller unreachable) is NOT completion: retry until the deadline.
# Meanwhile records the largest number of tasks seen running at once in MAX_RUNNING.
MAX_RUNNING=0
wait_gone() {
  local id=$1 deadline=$((SECONDS + $2)) out rc running
  MAX_RUNNING=0
  while :; do
    rc=0
    out=$(squeue -h -j "$id" -o '%i %t' 2>&1) || rc=$?
    if [ $rc -eq 0 ]; then
      [ -z "$out" ] && return 0
      running=$(grep -c ' R$' <<<"$out" || true)
      [ "$running" -gt "$MAX_RUNNING" ] && MAX_RUNNING=$running
    elif grep -q 'Invalid job id specified' <<<"$out"; then
      return 0
    fi
    [ $SECONDS -lt $deadline ] || fail "job $id still queued after $2 s: $out"
    sleep 0.25
  done
}

# wait_state JOBID_IDX STATE SECS: until squeue shows that array task in STATE (e.g. R).
wait_state() {
  local deadline=$((SECONDS + $3)) st
  while :; do
    st=$(squeue -h -j "$1" -o %t 2>/dev/null || true)
    [ "$st" = "$2" ] && return 0
    [ $SECONDS -lt $deadline ] || fail "$1 not in state $2 after $3 s (state '$st')"
    sleep 0.2
  done
}

# jobcomp_field ARRAY_JOB_ID TASK_ID FIELD: FIELD (JobState, ExitCode, ...) of the LAST
# jobcomp line of that array task. An array task's line carries
# "ArrayJobId=<array job id> ArrayTaskId=<index>"; its JobId= is the task's own job id
# (the last task to start reuses the array job id itself). A requeued task leaves one
# line per run; the runs before the requeue say JobState=PENDING, the last line is final.
jobcomp_field() {
  grep -E "(^| )ArrayJobId=$1 ArrayTaskId=$2 " "$JOBCOMP" | tail -n 1 |
    tr ' ' '\n' | sed -n "s/^$3=//p"
}

# ---------------------------------------------------------------- (a) array + exit codes
say "(a) 4-task array, throttle %2, task 2 exits 3"
cat >"$WORK/a.sh" <<'EOF'
#!/usr/bin/env bash
#SBATCH --array=0-3%2
#SBATCH --cpus-per-task=1
#SBATCH --output=%x_%A_%a.out
echo "task $SLURM_ARRAY_TASK_ID (job $SLURM_JOB_ID of array $SLURM_ARRAY_JOB_ID) on $(hostname)"
sleep 2
[ "$SLURM_ARRAY_TASK_ID" = 2 ] && exit 3
exit 0
EOF
A=$(cd "$WORK" && sbatch --parsable --job-name=a a.sh)
wait_gone "$A" 60
step_done "(a) array 0-3%2 of 2 s tasks, submit -> all gone from squeue"
say "jobcomp lines of array $A:"
grep -E " ArrayJobId=$A " "$JOBCOMP" | sed 's/^/    /'
if [ "$NCPU" -ge 2 ]; then check "max tasks running at once" "$MAX_RUNNING" 2; fi
for i in 0 1 2 3; do
  want_code=0:0 want_state=COMPLETED
  [ $i = 2 ] && want_code=3:0 want_state=FAILED
  check "task $i ExitCode (exit:signal)" "$(jobcomp_field "$A" $i ExitCode)" $want_code
  check "task $i JobState" "$(jobcomp_field "$A" $i JobState)" $want_state
done
step_done "(a) checks"

# ---------------------------------------------------------------- (b) signals
say "(b2) scancel --signal=USR1 --batch on one running array task, scancel another"
cat >"$WORK/b2.sh" <<'EOF'
#!/usr/bin/env bash
#SBATCH --array=0-1
#SBATCH --output=%x_%A_%a.out
trap 'echo "got USR1"; touch "b2_usr1_$SLURM_ARRAY_TASK_ID"; exit 10' USR1
for _ in $(seq 60); do sleep 1 & wait $!; done
exit 1
EOF
B2=$(cd "$WORK" && sbatch --parsable --job-name=b2 b2.sh)
wait_state "${B2}_0" R 30
wait_state "${B2}_1" R 30
sleep 1 # let the scripts install their traps
step_done "(b2) array of 2: submit -> both running"
scancel --signal=USR1 --batch "${B2}_1"
scancel "${B2}_0"
wait_gone "$B2" 30
step_done "(b2) scancel --signal / scancel -> gone from squeue"
say "jobcomp lines of array $B2:"
grep -E " ArrayJobId=$B2 " "$JOBCOMP" | sed 's/^/    /'
check "b2 task 1 got USR1 (marker)" "$(test -e "$WORK/b2_usr1_1" && echo yes)" yes
check "b2 task 1 ExitCode after trap 'exit 10'" "$(jobcomp_field "$B2" 1 ExitCode)" 10:0
check "b2 task 1 JobState" "$(jobcomp_field "$B2" 1 JobState)" FAILED
check "b2 task 0 JobState after scancel" "$(jobcomp_field "$B2" 0 JobState)" CANCELLED
say "b2 task 0 ExitCode after scancel: $(jobcomp_field "$B2" 0 ExitCode)"

say "(b1) --time=1 --signal=B:USR1@30: trap, requeue self, rerun"
cat >"$WORK/b1.sh" <<'EOF'
#!/usr/bin/env bash
#SBATCH --array=5
#SBATCH --time=1
#SBATCH --signal=B:USR1@30
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x_%A_%a.out
start=$(date +%s)
restarts=${SLURM_RESTART_COUNT:-0}
echo "run restart=$restarts start=$start"
if [ "$restarts" -ge 1 ]; then echo "second run: done"; exit 0; fi
on_usr1() {
  echo "USR1 after $(( $(date +%s) - start ))s"
  echo "$(( $(date +%s) - start ))" > "b1_usr1_after_s"
  # Checkpoint here, then put this task back in the queue.
  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
}
trap on_usr1 USR1
# `sleep & wait` so bash runs the trap at once (a foreground `sleep 100` would delay it).
for _ in $(seq 120); do sleep 1 & wait $!; done
echo "no signal within 120 s"; exit 1
EOF
B1=$(cd "$WORK" && sbatch --parsable --job-name=b1 b1.sh)

wait_gone "$B1" 150
step_done "(b1) --time=1 --signal=B:USR1@30 job: submit -> rerun finished"
say "output of b1 task 5:"; sed 's/^/    /' "$WORK/b1_${B1}_5.out"
say "jobcomp lines of array $B1:"
grep -E " ArrayJobId=$B1 " "$JOBCOMP" | sed 's/^/    /'
check "b1 USR1 marker written" "$(test -s "$WORK/b1_usr1_after_s" && echo yes)" yes
say "b1: USR1 arrived $(cat "$WORK/b1_usr1_after_s") s after start (limit 60 s, asked for 30 s before the end)"
check "b1 rerun saw SLURM_RESTART_COUNT" "$(grep -c '^run restart=1 ' "$WORK/b1_${B1}_5.out")" 1
check "b1 final JobState" "$(jobcomp_field "$B1" 5 JobState)" COMPLETED
check "b1 jobcomp lines (requeued run + final)" "$(grep -c " ArrayJobId=$B1 ArrayTaskId=5 " "$JOBCOMP")" 2

# ---------------------------------------------------------------- (c) scontrol requeue
say "(c) scontrol requeue on running array tasks (append vs truncate output)"
cat >"$WORK/c.sh" <<'EOF'
#!/usr/bin/env bash
#SBATCH --array=3
#SBATCH --requeue
#SBATCH --output=%x_%A_%a.out
echo "run restart=${SLURM_RESTART_COUNT:-unset} job=$SLURM_JOB_ID"
echo "${SLURM_RESTART_COUNT:-unset}" >> "%RUNS%"
if [ "${SLURM_RESTART_COUNT:-0}" -ge 1 ]; then exit 0; fi
trap 'echo "got TERM"; exit 143' TERM
for _ in $(seq 60); do sleep 1 & wait $!; done
exit 1
EOF
sed "s|%RUNS%|c_append_runs|" "$WORK/c.sh" >"$WORK/c_append.sh"
sed "s|%RUNS%|c_trunc_runs|" "$WORK/c.sh" >"$WORK/c_trunc.sh"
CA=$(cd "$WORK" && sbatch --parsable --job-name=c_append --open-mode=append c_append.sh)
CT=$(cd "$WORK" && sbatch --parsable --job-name=c_trunc c_trunc.sh)
wait_state "${CA}_3" R 30
wait_state "${CT}_3" R 30
sleep 1 # let the scripts install their traps
step_done "(c) 2 arrays: submit -> running"
scontrol requeue "${CA}_3,${CT}_3"
states=""
deadline=$((SECONDS + 60))
while :; do # record the state sequence of the requeued task
  st=$(squeue -h -j "${CA}_3" -o '%t(%r)' 2>/dev/null || true)
  [ -n "$st" ] && [ "${states##* }" != "$st" ] && states="$states $st"
  [ -z "$st" ] && break
  [ $SECONDS -lt $deadline ] || fail "requeued task ${CA}_3 not finished after 60 s"
  sleep 0.2
done
wait_gone "$CT" 60
step_done "(c) scontrol requeue -> rerun finished"
say "squeue states of requeued ${CA}_3:$states"
say "scontrol show job ${CA}_3 (before purge): $(scontrol show job "${CA}_3" 2>/dev/null | grep -o 'JobState=[A-Z]* \|Restarts=[0-9]*' | tr '\n' ' ')"
say "output with --open-mode=append:"; sed 's/^/    /' "$WORK/c_append_${CA}_3.out"
say "output with default open mode:"; sed 's/^/    /' "$WORK/c_trunc_${CT}_3.out"
say "jobcomp lines of arrays $CA, $CT:"
grep -E " ArrayJobId=($CA|$CT) " "$JOBCOMP" | sed 's/^/    /'
check "c runs (SLURM_RESTART_COUNT per run)" "$(tr '\n' ' ' <"$WORK/c_append_runs")" "unset 1 "
check "c append output keeps both runs" "$(grep -c '^run restart=' "$WORK/c_append_${CA}_3.out")" 2
check "c truncate output keeps last run only" "$(grep -c '^run restart=' "$WORK/c_trunc_${CT}_3.out")" 1
check "c requeued run's jobcomp JobState" "$(grep " ArrayJobId=$CA ArrayTaskId=3 " "$JOBCOMP" | head -n1 | grep -o 'JobState=[A-Z_]*')" JobState=PENDING
check "c final JobState" "$(jobcomp_field "$CA" 3 JobState)" COMPLETED

# ---------------------------------------------------------------- done
trap - EXIT
"$HERE/stop.sh" "$STATE_DIR"
step_done "stop.sh"
echo
echo "selftest passed in $(elapsed "$T0") s; timings:"
printf '  %s\n' "${TIMINGS[@]}"
