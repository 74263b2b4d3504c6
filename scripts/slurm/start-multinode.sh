#!/usr/bin/env bash
# Starts a test Slurm cluster with TWO compute "hosts" on this one machine, for tests
# that need array tasks spread over several nodes (optional; start.sh is the one-node
# cluster that most tests want).
#
#   scripts/slurm/start-multinode.sh [STATE_DIR]   (default /tmp/cluster-rl-slurm-multi)
#   eval "$(scripts/slurm/start-multinode.sh)"     # sets SLURM_CONF and PATH
#   scripts/slurm/stop.sh /tmp/cluster-rl-slurm-multi   # stops it, removes namespaces
#
# Debian's slurmd is not built with --enable-multiple-slurmd, so two slurmds cannot share
# one host name and address. Instead every daemon gets its own network namespace (and the
# slurmds their own UTS namespace, so `hostname` is node1 / node2), wired together by
# veth pairs on a bridge inside the controller's namespace. Only namespaces created here
# carry the private 10.77.0.0/24 addresses; nothing is added to the machine's own network,
# so no traffic leaves them:
#
#   netns crl-ctl    bridge crlbr0 10.77.0.1   slurmctld (SlurmctldHost=<host>(10.77.0.1))
#   netns crl-node1  eth0 10.77.0.11  hostname node1   slurmd
#   netns crl-node2  eth0 10.77.0.12  hostname node2   slurmd
#
# munged stays in the machine's namespaces (its Unix socket is a file, which namespaces
# do not hide). Slurm clients must run inside crl-ctl to reach 10.77.0.1: this script
# writes wrappers STATE_DIR/bin/{sbatch,squeue,...} (`ip netns exec crl-ctl <command>`)
# and prints a PATH that puts them first. Jobs run inside node1/node2's namespaces and
# reach the controller over the bridge (so `scontrol requeue` from a job works).
# `ip netns exec` mounts a fresh /sys without /sys/fs/cgroup, which is one reason for the
# cgroup.conf below (slurmd 22.05 otherwise refuses to start there).
#
# Each node advertises the machine's `nproc` CPUs (so 2 nodes x 2 CPUs = 4 one-CPU tasks
# at once on a 2-core box: fine for sleeping test tasks) and 1024 MB. Same plugins and
# short timeouts as start.sh (see there for why: no systemd, no cgroups).
# Idempotent: a running cluster from this STATE_DIR is left alone.
set -euo pipefail

STATE_DIR=${1:-/tmp/cluster-rl-slurm-multi}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
# One start/stop at a time per STATE_DIR (tests running in parallel may all call start).
exec 9>"$STATE_DIR/.lock"
flock -w 120 9 || { echo "slurm: timed out waiting for $STATE_DIR/.lock" >&2; exit 1; }
# (The daemons are started with 9>&- so they do not inherit, and hold, that lock.)
CONF=$STATE_DIR/slurm.conf
export SLURM_CONF=$CONF
WAIT_SECS=${SLURM_START_TIMEOUT:-30}
NODES=(node1 node2)
CTL_NS=crl-ctl
SUBNET=10.77.0
CTL_IP=$SUBNET.1
BIN=$STATE_DIR/bin

log() { echo "slurm start-multinode: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for cmd in slurmctld slurmd munged sinfo scontrol ip unshare; do
  command -v "$cmd" >/dev/null || die "$cmd not found; run scripts/slurm/install.sh first"
done
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, SlurmUser=root)"

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
node_ip() { echo "$SUBNET.$((10 + ${1#node}))"; } # node1 -> 10.77.0.11
in_ctl() { ip netns exec "$CTL_NS" "$@"; }
emit_env() {
  echo "export SLURM_CONF=$CONF"
  echo "export PATH=$BIN:\$PATH"
}

all_running() {
  alive_pid "$STATE_DIR/slurmctld.pid" slurmctld >/dev/null || return 1
  for n in "${NODES[@]}"; do alive_pid "$STATE_DIR/slurmd-$n.pid" slurmd >/dev/null || return 1; done
}
if all_running && [ -z "$(in_ctl sinfo -h -t down,drain,unknown -o %N 2>/dev/null || echo x)" ]; then
  log "already running"
  emit_env
  exit 0
fi
# Partly running (a daemon died): start over cleanly.
SLURM_STATE_LOCKED=1 "$(dirname "$0")/stop.sh" "$STATE_DIR" >/dev/null 2>&1 9>&- || true

# ---------------------------------------------------------------- munge (as in start.sh)
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
  if [ ! -s /etc/munge/munge.key ]; then
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

# ---------------------------------------------------------------- namespaces
# Recorded so stop.sh deletes exactly these.
printf '%s\n' "$CTL_NS" "${NODES[@]/#/crl-}" >"$STATE_DIR/netns"
for ns in $CTL_NS "${NODES[@]/#/crl-}"; do
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
ip -n $CTL_NS link add crlbr0 type bridge
ip -n $CTL_NS addr add "$CTL_IP/24" dev crlbr0
ip -n $CTL_NS link set crlbr0 up
for n in "${NODES[@]}"; do
  # veth pair: "v<node>" on the bridge in crl-ctl, "eth0" in the node's namespace.
  ip link add "v$n" netns $CTL_NS type veth peer name eth0 netns "crl-$n"
  ip -n $CTL_NS link set "v$n" master crlbr0
  ip -n $CTL_NS link set "v$n" up
  ip -n "crl-$n" addr add "$(node_ip "$n")/24" dev eth0
  ip -n "crl-$n" link set eth0 up
done

# ---------------------------------------------------------------- config
mkdir -p "$STATE_DIR/state" "$STATE_DIR/log" "$BIN"
for n in "${NODES[@]}"; do mkdir -p "$STATE_DIR/spool/$n"; done
CPUS=$(nproc)
{
  cat <<CONF
# Generated by scripts/slurm/start-multinode.sh -- two slurmds in network namespaces.
ClusterName=cluster-rl-multi
SlurmctldHost=$(hostname -s)($CTL_IP)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=5
MpiDefault=none
MailProg=/bin/true

StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool/%n
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd-%n.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd-%n.log

ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE_DIR/jobcomp.log

SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobRequeue=1

MinJobAge=2
KillWait=2
WaitTime=0
InactiveLimit=0
MessageTimeout=10
SlurmctldTimeout=10
SlurmdTimeout=30
ReturnToService=2

CONF
  for n in "${NODES[@]}"; do
    echo "NodeName=$n NodeAddr=$(node_ip "$n") CPUs=$CPUS RealMemory=1024 State=UNKNOWN"
  done
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
} >"$CONF"
# slurmd 22.05 always initialises a cgroup plugin; the default "autodetect" aborts slurmd
# ("No filesystem mounted on /sys/fs/cgroup") where no cgroup fs is mounted. Naming
# cgroup/v1 skips the probe; nothing uses it (proctrack/linuxproc, task/none).
printf 'CgroupPlugin=cgroup/v1\n' >"$STATE_DIR/cgroup.conf"

for c in sbatch squeue scancel scontrol sinfo srun salloc sacct sstat; do
  cat >"$BIN/$c" <<WRAP
#!/bin/sh
# Runs the Slurm client inside the controller's network namespace (see start-multinode.sh).
exec ip netns exec $CTL_NS $(command -v $c || echo /usr/bin/$c) "\$@"
WRAP
  chmod +x "$BIN/$c"
done

# ---------------------------------------------------------------- daemons
log "starting slurmctld in netns $CTL_NS"
in_ctl slurmctld -c -f "$CONF" 9>&- || die "slurmctld failed; see $STATE_DIR/log/slurmctld.log"
for n in "${NODES[@]}"; do
  log "starting slurmd $n in netns crl-$n"
  ip netns exec "crl-$n" unshare --uts sh -c "hostname $n && exec slurmd -f '$CONF'" 9>&- ||
    die "slurmd $n failed; see $STATE_DIR/log/slurmd-$n.log"
done

deadline=$((SECONDS + WAIT_SECS))
while :; do
  states=$(in_ctl sinfo -h -N -o '%N=%t' 2>/dev/null | sort -u | tr '\n' ' ' || true)
  idle=$(grep -o '=idle' <<<"$states" | wc -l)
  [ "$idle" -eq "${#NODES[@]}" ] && break
  for n in "${NODES[@]}"; do
    if grep -Eq "$n=(down|drain|drng|fail) " <<<"$states "; then
      in_ctl scontrol update NodeName="$n" State=RESUME >/dev/null 2>&1 || true
    fi
  done
  [ "$SECONDS" -lt "$deadline" ] || die "nodes not idle after ${WAIT_SECS}s: $states; see $STATE_DIR/log/"
  sleep 0.5
done
log "nodes up: $states; clients: $BIN"
emit_env
