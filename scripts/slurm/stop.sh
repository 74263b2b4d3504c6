#!/usr/bin/env bash
# Stops the test Slurm cluster that scripts/slurm/start.sh started from STATE_DIR.
#
#   scripts/slurm/stop.sh [STATE_DIR]       (default STATE_DIR: /tmp/cluster-rl-slurm)
#
# First cancels the cluster's remaining jobs (so no job processes outlive it), then stops
# slurmd(s) and slurmctld through the pid files under STATE_DIR (never by process name,
# so another Slurm on the machine is left alone; a pid is only signalled while it still
# belongs to a process of that name), then munged, but only if start.sh started it (it
# records that in STATE_DIR/munged.started-by-us) and no other slurmctld/slurmd still
# runs on this machine (another test cluster would lose its authentication).
# Each daemon gets SIGTERM and a bounded wait (STOP_TIMEOUT, default 10 s), then SIGKILL.
# For a start-multinode.sh cluster it also deletes the network namespaces it created.
# The state directory (logs, jobcomp.log) is kept for inspection; delete it yourself.
# Succeeds when nothing is running.
set -euo pipefail

STATE_DIR=${1:-/tmp/cluster-rl-slurm}
TIMEOUT=${STOP_TIMEOUT:-10}
log() { echo "slurm stop: $*" >&2; }

if [ ! -d "$STATE_DIR" ]; then
  log "no state dir $STATE_DIR; nothing to stop"
  exit 0
fi
# One start/stop at a time per STATE_DIR (tests running in parallel may all call start).
# start-multinode.sh calls this script while holding the lock: it sets SLURM_STATE_LOCKED.
if [ -z "${SLURM_STATE_LOCKED:-}" ]; then
  exec 9>"$STATE_DIR/.lock"
  flock -w 120 9 || { echo "slurm: timed out waiting for $STATE_DIR/.lock" >&2; exit 1; }
fi

# running PID [COMM]: PID is a live process (not a zombie: a container whose pid 1 does
# not reap leaves exited daemons as zombies, and `kill -0` succeeds on those), and its
# name is COMM if given (a stale pid file may name a pid reused by something else).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  case "${stat##*) }" in Z* | X*) return 1 ;; esac
  [ -z "${2:-}" ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

# stop_pid NAME PID: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 i
  running "$pid" || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < TIMEOUT * 10; i++)); do
    running "$pid" || return 0
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM for ${TIMEOUT}s; killing"
  kill -KILL "$pid" 2>/dev/null || true
}

# stop_pidfile NAME FILE COMM: stop the process in FILE if it is still a COMM process
# (a stale pid file may name a pid that now belongs to something else).
stop_pidfile() {
  local pid
  [ -s "$2" ] || return 0
  pid=$(cat "$2")
  if [[ $pid =~ ^[0-9]+$ ]] && running "$pid" "$3"; then stop_pid "$1" "$pid"; fi
  rm -f "$2"
}

# Cancel whatever is still queued or running while the controller can do it, so that
# no job processes (under their slurmstepd) keep running after the daemons are gone.
ctld_pid=$(cat "$STATE_DIR/slurmctld.pid" 2>/dev/null || true)
if [ -f "$STATE_DIR/slurm.conf" ] && [[ $ctld_pid =~ ^[0-9]+$ ]] && running "$ctld_pid" slurmctld; then
  export SLURM_CONF=$STATE_DIR/slurm.conf
  # start-multinode.sh's controller lives in a network namespace; its wrappers reach it.
  if [ -x "$STATE_DIR/bin/squeue" ]; then export PATH=$STATE_DIR/bin:$PATH; fi
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086  # word splitting intended: one argument per job id
    timeout 10 scancel $jobs 2>/dev/null || true
    for ((i = 0; i < TIMEOUT * 10; i++)); do
      [ -z "$(timeout 10 squeue -h -o %A 2>/dev/null || true)" ] && break
      sleep 0.1
    done
  fi
fi

# slurmd first (one pid file per node: slurmd.pid, or slurmd-<node>.pid when several
# slurmds share this machine), so it does not report to a controller that is gone.
shopt -s nullglob
for f in "$STATE_DIR"/slurmd.pid "$STATE_DIR"/slurmd-*.pid; do
  name=${f##*/}
  stop_pidfile "${name%.pid}" "$f" slurmd
done
stop_pidfile slurmctld "$STATE_DIR/slurmctld.pid" slurmctld

# Pids of slurmctld/slurmd processes still running anywhere on this machine.
live_slurm_daemons() {
  local p
  for p in $(pgrep -x slurmctld; pgrep -x slurmd); do
    if running "$p"; then echo -n "$p "; fi
  done
}

if [ -s "$STATE_DIR/munged.started-by-us" ]; then
  pid=$(cat "$STATE_DIR/munged.started-by-us")
  # Only if that pid is still a munged (pids get reused).
  if ! [[ $pid =~ ^[0-9]+$ ]] || ! running "$pid" munged; then
    : # already gone
  elif others=$(live_slurm_daemons) && [ -n "$others" ]; then
    # Another cluster (other STATE_DIR) on this machine still authenticates through it.
    log "leaving munged (pid $pid) running: other Slurm daemons still up (pids $others)"
  else
    stop_pid munged "$pid"
  fi
  rm -f "$STATE_DIR/munged.started-by-us"
fi
# Network namespaces made by start-multinode.sh (listed by it, so only ours are removed).
if [ -s "$STATE_DIR/netns" ]; then
  while read -r ns; do
    if [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null; then log "deleted netns $ns"; fi
  done <"$STATE_DIR/netns"
  rm -f "$STATE_DIR/netns"
fi
log "stopped (state kept in $STATE_DIR)"
