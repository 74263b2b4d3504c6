#!/usr/bin/env bash
# Self-test of start-multinode.sh: starts the two-node cluster (node1, node2 in their own
# network namespaces), runs a 4-task array of 1-CPU tasks, checks that tasks ran on both
# nodes (from each task's output and from the jobcomp log), and stops it again, which also
# deletes the namespaces.
#
#   scripts/slurm/selftest-multinode.sh [STATE_DIR]   (default /tmp/cluster-rl-slurm-multi-selftest)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE_DIR=${1:-/tmp/cluster-rl-slurm-multi-selftest}
T0=$SECONDS
say() { echo "[selftest-multinode $((SECONDS - T0))s] $*"; }
fail() { echo "[selftest-multinode] FAIL: $*" >&2; exit 1; }

"$HERE/install.sh"
"$HERE/stop.sh" "$STATE_DIR" >/dev/null 2>&1 || true
rm -rf "$STATE_DIR"
trap '"$HERE/stop.sh" "$STATE_DIR" || true' EXIT
eval "$("$HERE/start-multinode.sh" "$STATE_DIR")"
say "cluster up; sbatch is $(command -v sbatch)"
sinfo -N -o '%N %t %c %o' | sed 's/^/    /'

WORK=$STATE_DIR/work
mkdir -p "$WORK"
cat >"$WORK/m.sh" <<'EOF'
#!/usr/bin/env bash
#SBATCH --array=0-3
#SBATCH --output=%x_%A_%a.out
echo "task $SLURM_ARRAY_TASK_ID hostname=$(hostname) SLURMD_NODENAME=$SLURMD_NODENAME addr=$(ip -4 -br addr show eth0 | awk '{print $3}')"
sleep 3
EOF
ID=$(cd "$WORK" && sbatch --parsable --job-name=m m.sh)
max_running=0
deadline=$((SECONDS + 60))
while :; do
  out=$(squeue -h -j "$ID" -o '%i %t %N' 2>&1) || { grep -q 'Invalid job id' <<<"$out" && break; }
  [ -z "$out" ] && break
  running=$(grep -c ' R ' <<<"$out" || true)
  [ "$running" -gt "$max_running" ] && max_running=$running
  [ $SECONDS -lt $deadline ] || fail "array $ID not done after 60 s"
  sleep 0.25
done
say "array $ID done; at most $max_running tasks ran at once"
cat "$WORK"/m_"$ID"_*.out | sed 's/^/    /'
say "jobcomp (JobId, ArrayTaskId, NodeList, JobState, ExitCode):"
grep " ArrayJobId=$ID " "$STATE_DIR/jobcomp.log" | tr ' ' '\n' |
  grep -E '^(JobId|ArrayTaskId|NodeList|JobState|ExitCode)=' | paste -d' ' - - - - - | sed 's/^/    /'
nodes=$(grep " ArrayJobId=$ID " "$STATE_DIR/jobcomp.log" | grep -o 'NodeList=[^ ]*' | sort -u | tr '\n' ' ')
[ "$nodes" = "NodeList=node1 NodeList=node2 " ] || fail "tasks did not land on both nodes: $nodes"
[ "$(grep -c 'hostname=node' "$WORK"/m_"$ID"_*.out | grep -c ':1$')" = 4 ] || fail "missing task output"
say "ok: tasks ran on node1 and node2"
trap - EXIT
"$HERE/stop.sh" "$STATE_DIR"
for ns in crl-ctl crl-node1 crl-node2; do
  if ip netns list | grep -qw "$ns"; then fail "netns $ns left behind"; fi
done
say "passed (namespaces removed)"
