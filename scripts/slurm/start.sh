#!/usr/bin/env bash
# Starts a throwaway one-node Slurm cluster on this machine for tests of the Slurm backend
# of `cluster-rl sweep`.
#
#   scripts/slurm/start.sh [STATE_DIR]      (default STATE_DIR: /tmp/cluster-rl-slurm)
#   eval "$(scripts/slurm/start.sh)"        # sets SLURM_CONF for sbatch/squeue/scontrol
#
# stdout carries only `export SLURM_CONF=<STATE_DIR>/slurm.conf`; progress goes to stderr.
#
# Everything Slurm writes (config, state, spool, logs, pid files, job-completion log) lives
# under STATE_DIR, so the cluster never touches /etc/slurm. munged uses the system's default
# socket and key (/run/munge, /etc/munge/munge.key); the key is created if missing.
#
# Designed for a bare container/VM: root, no systemd, no usable cgroups. Hence:
#   * the daemons are started directly (they daemonise themselves), not via systemctl;
#   * ProctrackType=proctrack/linuxproc tracks job processes through /proc parent links
#     (proctrack/cgroup needs a writable cgroup hierarchy; proctrack/pgid loses processes
#     that call setsid);
#   * TaskPlugin=task/none (task/affinity and task/cgroup need cpusets/cgroups);
#   * SlurmUser=root, and both daemons are told to talk over 127.0.0.1, so nothing
#     depends on the host name resolving to a reachable address;
#   * JobCompType=jobcomp/filetxt writes one line per finished job / array task, with its
#     exit code, to STATE_DIR/jobcomp.log (there is no slurmdbd/sacct here).
#   * SelectType=select/cons_tres + CR_CPU: every logical CPU is a schedulable unit, so
#     `nproc` 1-CPU array tasks run at once (CR_Core would give a whole core, i.e. both
#     hyperthreads, to each task on an SMT machine). Memory is not a consumable resource.
#   * cgroup.conf says CgroupPlugin=cgroup/v1: slurmd 22.05 initialises a cgroup plugin
#     even when nothing uses it, and the default "autodetect" aborts slurmd where no cgroup
#     filesystem is mounted;
#   * short timeouts (MinJobAge=2, KillWait=2, ...) so tests do not wait on defaults;
#     AuthInfo=cred_expire=5 (minimum accepted; default 120) because a requeued job may
#     only start again cred_expire+1 s later; sched_interval=2,bf_interval=1 so pending
#     work starts within ~1-2 s instead of the 30/60 s default passes.
#
# Idempotent: if slurmctld and slurmd from this STATE_DIR are already running and the node
# answers, nothing is restarted. A daemon that is not running is started; slurmctld is
# started with -c (fresh job state), so leftovers of an earlier run never execute again.
# Ports: SLURMCTLD_PORT (default 6817) and SLURMD_PORT (default 6818) may be overridden.
set -euo pipefail

STATE_DIR=${1:-/tmp/cluster-rl-slurm}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
# One start/stop at a time per STATE_DIR (tests running in parallel may all call start).
exec 9>"$STATE_DIR/.lock"
flock -w 120 9 || { echo "slurm: timed out waiting for $STATE_DIR/.lock" >&2; exit 1; }
# (The daemons are started with 9>&- so they do not inherit, and hold, that lock.)
CONF=$STATE_DIR/slurm.conf
export SLURM_CONF=$CONF
WAIT_SECS=${SLURM_START_TIMEOUT:-30}
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}

log() { echo "slurm start: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for cmd in slurmctld slurmd munged sinfo scontrol; do
  command -v "$cmd" >/dev/null || die "$cmd not found; run scripts/slurm/install.sh first"
done
[ "$(id -u)" -eq 0 ] || die "must run as root (SlurmUser=root, munged key handling)"

# running PID [COMM]: PID is a live process (not a zombie: a container whose pid 1 does
# not reap leaves exited daemons as zombies, and `kill -0` succeeds on those), and its
# name is COMM if given (a stale pid file may name a pid reused by something else).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  case "${stat##*) }" in Z* | X*) return 1 ;; esac
  [ -z "${2:-}" ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

# alive_pid PIDFILE COMM: print the pid in PIDFILE if it is a running COMM process.
alive_pid() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [[ $pid =~ ^[0-9]+$ ]] && running "$pid" "$2" || return 1
  echo "$pid"
}

NODE=$(hostname -s)

# ---------------------------------------------------------------------------- munge
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

if munge_ok; then
  log "munged already running"
else
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 0700 /etc/munge
  chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged 9>&-
  cat /run/munge/munged.pid >"$STATE_DIR/munged.started-by-us"
  for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
  munge_ok || die "munged does not answer; see /var/log/munge/munged.log"
fi

# ------------------------------------------------------------------- slurm.conf
mkdir -p "$STATE_DIR"/{state,log} "$STATE_DIR/spool/$NODE"

if ! alive_pid "$STATE_DIR/slurmctld.pid" slurmctld >/dev/null; then
  # Only (re)write the config while the controller is down, so a running cluster
  # never sees its config change underneath it.
  CPUS=$(nproc)
  MEM=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]\+\).*/\1/p' | head -n1)
  [ -n "$MEM" ] || MEM=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
  cat >"$CONF.tmp" <<CONF
# Generated by scripts/slurm/start.sh -- a one-node test cluster; see that script.
ClusterName=cluster-rl-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (BeginTime); default 120 s.
AuthInfo=cred_expire=5
MpiDefault=none
MailProg=/bin/true

StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool/%n
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

# No systemd / cgroups in the test machines: see the header of start.sh.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE_DIR/jobcomp.log

SchedulerType=sched/backfill
# Default main/backfill passes are 60 s/30 s; tests want pending work started promptly.
SchedulerParameters=sched_interval=2,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MaxArraySize=10001
JobRequeue=1

# Short timeouts for tests.
MinJobAge=2
KillWait=2
WaitTime=0
InactiveLimit=0
MessageTimeout=10
SlurmctldTimeout=10
SlurmdTimeout=30
ReturnToService=2

NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  mv "$CONF.tmp" "$CONF"
  # slurmd 22.05 always initialises a cgroup plugin; the default "autodetect" aborts slurmd
  # ("No filesystem mounted on /sys/fs/cgroup") where no cgroup fs is mounted. Naming
  # cgroup/v1 skips the probe; nothing uses it (proctrack/linuxproc, task/none).
  printf 'CgroupPlugin=cgroup/v1\n' >"$STATE_DIR/cgroup.conf"
fi

# ------------------------------------------------------------------- daemons
if pid=$(alive_pid "$STATE_DIR/slurmctld.pid" slurmctld); then
  log "slurmctld already running (pid $pid)"
else
  log "starting slurmctld"
  slurmctld -c -f "$CONF" 9>&- || die "slurmctld failed; see $STATE_DIR/log/slurmctld.log"
fi

if pid=$(alive_pid "$STATE_DIR/slurmd.pid" slurmd); then
  log "slurmd already running (pid $pid)"
else
  log "starting slurmd"
  slurmd -f "$CONF" 9>&- || die "slurmd failed; see $STATE_DIR/log/slurmd.log"
fi

# ------------------------------------------------------------------- wait for idle
deadline=$((SECONDS + WAIT_SECS))
state=""
while :; do
  # A daemon that dies right after daemonising (port in use, bad config) must fail the
  # start -- and must not let sinfo below be answered by some other cluster on that port.
  for d in slurmctld slurmd; do
    if ! alive_pid "$STATE_DIR/$d.pid" "$d" >/dev/null; then
      sleep 0.5 # the pid file may not be written yet
      alive_pid "$STATE_DIR/$d.pid" "$d" >/dev/null ||
        die "$d exited; last log lines:$(echo; tail -n 5 "$STATE_DIR/log/$d.log" 2>/dev/null)"
    fi
  done
  state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n1 || true)
  case "$state" in
    idle | mix | alloc) break ;;
    down | drain | drng | fail)
      # Responding (no '*') but administratively down, e.g. after an unclean restart.
      log "node $NODE is $state; resuming"
      scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
      ;;
  esac
  [ "$SECONDS" -lt "$deadline" ] || die "node $NODE not idle after ${WAIT_SECS}s (state '$state'); see $STATE_DIR/log/"
  sleep 0.5
done
log "node $NODE is $state ($(nproc) CPUs), partition debug; logs in $STATE_DIR/log"
echo "export SLURM_CONF=$CONF"
