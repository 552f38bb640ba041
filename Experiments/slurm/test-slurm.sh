#!/usr/bin/env bash
# make test-slurm: Experiments/slurm/table.sh against a real SLURM on this machine.
#
# As root, from the project root: installs Debian's slurm-wlm and munge when they are missing,
# starts munged, slurmctld and slurmd for this host alone (a generated slurm.conf with this
# machine's CPUs, in a temporary folder), submits TABLE (asymmetry) at the smoke scale through
# `table.sh submit` as a job array of 2 one-CPU tasks plus the merge job, waits for them, and
# checks that the merged CSV holds the same cells as one process running the same table on one
# thread (every column but the timings), and that the merge job drew the figure. The daemons
# are stopped on the way out, whatever happens. Prints "test-slurm: ok" and its time.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
TABLE=${TABLE:-asymmetry}; SCALE=smoke; SEEDS=${SEEDS:-1}; TASKS=2
BIN=.build/release/sslbench

[ "$(id -u)" = 0 ] || { echo "test-slurm runs the SLURM daemons itself: run it as root" >&2; exit 1; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v python3 >/dev/null; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge python3
fi
[ -x "$BIN" ] || swift build -c release

WORK=$(mktemp -d /tmp/sslbench-slurm.XXXXXX)
host=$(hostname -s)
cpus=$(nproc)
memory=$(( $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) * 9 / 10 ))
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/munge"
chmod 755 "$WORK"

# the daemons' process ids, read from their pid files as each starts; stopped in reverse order
pids=()
remember() {
    for _ in $(seq 100); do [ -s "$1" ] && { pids=("$(cat "$1")" "${pids[@]}"); return; }; sleep 0.1; done
    echo "no pid file $1 after 10 s: the daemon did not start" >&2; exit 1
}
stop() {
    # the jobs first (their tasks would outlive slurmd), then the daemons
    [ -n "${SLURM_CONF:-}" ] && scancel --full --quiet --user=root 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
}
trap stop EXIT

# munge: its own key and socket under $WORK, so that nothing of the machine's is touched
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$WORK/munge"; chmod 755 "$WORK/munge"; chmod 400 "$WORK/munge/munge.key"
runuser -u munge -- munged --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.socket" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/munged.seed"
remember "$WORK/munge/munged.pid"

cat > "$WORK/slurm.conf" <<EOF
ClusterName=sslbench-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/munge.socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$WORK/slurm.conf
slurmctld -i
remember "$WORK/slurmctld.pid"
slurmd
remember "$WORK/slurmd.pid"
for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %T | grep -q idle || { echo "the node never became idle:" >&2; tail -20 "$WORK/slurmctld.log" "$WORK/slurmd.log" >&2; exit 1; }
echo "SLURM $(sinfo -V | cut -d' ' -f2) up on $host with $cpus CPUs ($WORK)"

RESULTS=$WORK/slurm SSLBENCH_CPUS=1 SSLBENCH_MEM=2G SSLBENCH_TIME=00:30:00 Experiments/slurm/table.sh submit "$TABLE" "$SCALE" "$SEEDS" "$TASKS"
for _ in $(seq 900); do
    queue=$(squeue -h -o %i) || { echo "squeue failed:" >&2; tail -20 "$WORK/slurmctld.log" >&2; exit 1; }
    [ -z "$queue" ] && break
    if squeue -h -o %r | grep -q DependencyNeverSatisfied; then
        echo "a task failed, so the merge job can never run:" >&2; cat "$WORK"/slurm/slurm-*.out >&2; exit 1
    fi
    sleep 1
done
[ -z "$(squeue -h -o %i)" ] || { echo "jobs still queued after 15 minutes:" >&2; squeue >&2; exit 1; }
echo "jobs done:"; tail -n 3 "$WORK"/slurm/slurm-*.out
[ -s "$WORK/slurm/$TABLE.csv" ] || { echo "the merge job wrote no $TABLE.csv" >&2; cat "$WORK"/slurm/slurm-*merge*.out >&2 || true; exit 1; }
[ -s "$WORK/slurm/$TABLE.png" ] || { echo "the merge job drew no $TABLE.png" >&2; exit 1; }

"$BIN" run "$TABLE" --scale "$SCALE" --seeds "$SEEDS" --threads 1 --results "$WORK/single" > "$WORK/single.log"
python3 - "$WORK/slurm/$TABLE.csv" "$WORK/single/$TABLE.csv" <<'EOF'
import csv, sys
timings = {"training_seconds", "images_per_second", "seconds"}
def cells(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {(r["variant"], r["value"], r["seed"]): {k: v for k, v in r.items() if k not in timings} for r in rows}
slurm, single = cells(sys.argv[1]), cells(sys.argv[2])
if slurm.keys() != single.keys():
    sys.exit(f"cells differ: {sorted(slurm.keys() ^ single.keys())}")
for key in sorted(slurm):
    different = [k for k in slurm[key] if slurm[key][k] != single[key][k]]
    if different:
        sys.exit(f"cell {key} differs in {different}: " + ", ".join(f"{k} {slurm[key][k]} vs {single[key][k]}" for k in different))
print(f"{len(slurm)} cells, every column but the timings equal to one process's run")
EOF
stop; trap - EXIT
rm -rf "$WORK"
echo "test-slurm: ok in $(( $(date +%s) - started )) s"
