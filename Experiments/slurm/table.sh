#!/usr/bin/env bash
# Runs one ablation table as a SLURM job array, one shard per array task, then merges.
#
#   Experiments/slurm/table.sh submit TABLE [SCALE] [SEEDS] [TASKS]    (on the login node, from the project root)
#
# submits TASKS array tasks (default 8), each running `sslbench run TABLE --shard I/TASKS`
# into Results/TABLE.shard-I-of-TASKS.csv, and a merge job that starts when every task has
# succeeded: `sslbench merge` joins the shards into Results/TABLE.csv (each cell once, rows
# already there kept) and `sslbench plot` redraws the figure. A task that is killed or times
# out resumes where it stopped when resubmitted (sbatch --array=I …): the runner skips the
# cells its shard file already holds and resumes a cell from its checkpoint.
# Edit the #SBATCH lines of `task` below for your cluster (partition, account, time).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.build/release/sslbench

case "${1:-}" in
submit)
    TABLE=${2:?table name (sslbench list)}; SCALE=${3:-cpu}; SEEDS=${4:-2}; TASKS=${5:-8}
    [ -x "$BIN" ] || swift build -c release
    "$BIN" run "$TABLE" --scale "$SCALE" --seeds "$SEEDS" --dry-run
    array=$(sbatch --parsable --array=1-"$TASKS" --job-name="sslbench-$TABLE" \
        --cpus-per-task="${SSLBENCH_CPUS:-8}" --mem="${SSLBENCH_MEM:-24G}" --time="${SSLBENCH_TIME:-12:00:00}" \
        --output="Results/slurm-$TABLE-%A_%a.out" "$0" task "$TABLE" "$SCALE" "$SEEDS" "$TASKS")
    merge=$(sbatch --parsable --dependency=afterok:"$array" --job-name="sslbench-$TABLE-merge" --cpus-per-task=1 \
        --time=00:10:00 --output="Results/slurm-$TABLE-merge-%j.out" "$0" merge "$TABLE" "$SCALE" "$SEEDS" "$TASKS")
    echo "submitted array job $array ($TASKS tasks) and merge job $merge"
    ;;
task)
    TABLE=$2; SCALE=$3; SEEDS=$4; TASKS=$5
    I=${SLURM_ARRAY_TASK_ID:?not inside a SLURM array task}
    exec "$BIN" run "$TABLE" --scale "$SCALE" --seeds "$SEEDS" --shard "$I/$TASKS" --threads "${SLURM_CPUS_PER_TASK:-$(nproc)}"
    ;;
merge)
    TABLE=$2; SCALE=$3; TASKS=$5
    shards=()
    for i in $(seq 1 "$TASKS"); do shards+=("Results/$TABLE.shard-$i-of-$TASKS.csv"); done
    "$BIN" merge "Results/$TABLE.csv" "${shards[@]}"
    "$BIN" plot "$TABLE" --scale "$SCALE"
    ;;
*)
    sed -n '2,14p' "$0"; exit 2
    ;;
esac
