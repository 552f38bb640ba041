#!/usr/bin/env bash
# Runs one ablation table as a SLURM job array, one shard per array task, then merges.
#
#   Experiments/slurm/table.sh submit TABLE [SCALE] [SEEDS] [TASKS]    (on the login node, from the project root)
#
# submits TASKS array tasks (default 8), each running `sslbench run TABLE --shard I/TASKS`
# into OUT/TABLE.shard-I-of-TASKS.csv, and a merge job that starts when every task has
# succeeded: `sslbench merge` joins the shards into OUT/TABLE.csv (each cell once, rows already
# there kept) and `sslbench plot` redraws the figure. OUT is $RESULTS when set (RESULTS=Results
# adds to the committed reference), else runs/TABLE. A task that is killed or times out resumes
# where it stopped when resubmitted (sbatch --array=I …): the runner skips the cells its shard
# file already holds and resumes a cell from its checkpoint. The job's resources come from
# SSLBENCH_CPUS (8), SSLBENCH_MEM (24G) and SSLBENCH_TIME (12:00:00); add your cluster's
# partition or account to the sbatch lines below. Experiments/slurm/test-slurm.sh runs this
# script against a real single-node SLURM.
set -euo pipefail
SCRIPT=$(realpath "$0")
# sbatch runs a copy of this script from its spool folder: its tasks start in the folder it was
# submitted from (the project root, where `submit` moves first)
case "${1:-}" in
task|merge) cd "${SLURM_SUBMIT_DIR:?not inside a SLURM job}" ;;
*) cd "$(dirname "$SCRIPT")/../.." ;;
esac
BIN=.build/release/sslbench

case "${1:-}" in
submit)
    TABLE=${2:?table name (sslbench list)}; SCALE=${3:-cpu}; SEEDS=${4:-3}; TASKS=${5:-8}
    OUT=${RESULTS:-runs/$TABLE}
    mkdir -p "$OUT"
    [ -x "$BIN" ] || swift build -c release
    "$BIN" run "$TABLE" --scale "$SCALE" --seeds "$SEEDS" --results "$OUT" --dry-run
    array=$(sbatch --parsable --array=1-"$TASKS" --job-name="sslbench-$TABLE" \
        --cpus-per-task="${SSLBENCH_CPUS:-8}" --mem="${SSLBENCH_MEM:-24G}" --time="${SSLBENCH_TIME:-12:00:00}" \
        --output="$OUT/slurm-$TABLE-%A_%a.out" "$SCRIPT" task "$TABLE" "$SCALE" "$SEEDS" "$TASKS" "$OUT")
    merge=$(sbatch --parsable --dependency=afterok:"$array" --job-name="sslbench-$TABLE-merge" --cpus-per-task=1 \
        --mem=1G --time=00:10:00 --output="$OUT/slurm-$TABLE-merge-%j.out" "$SCRIPT" merge "$TABLE" "$SCALE" "$SEEDS" "$TASKS" "$OUT")
    echo "submitted array job $array ($TASKS tasks) and merge job $merge; rows in $OUT"
    ;;
task)
    TABLE=$2; SCALE=$3; SEEDS=$4; TASKS=$5; OUT=$6
    I=${SLURM_ARRAY_TASK_ID:?not inside a SLURM array task}
    exec "$BIN" run "$TABLE" --scale "$SCALE" --seeds "$SEEDS" --shard "$I/$TASKS" --results "$OUT" \
        --threads "${SLURM_CPUS_PER_TASK:-$(nproc)}"
    ;;
merge)
    TABLE=$2; SCALE=$3; TASKS=$5; OUT=$6
    shards=()
    for i in $(seq 1 "$TASKS"); do shards+=("$OUT/$TABLE.shard-$i-of-$TASKS.csv"); done
    "$BIN" merge "$OUT/$TABLE.csv" "${shards[@]}"
    "$BIN" plot "$TABLE" --scale "$SCALE" --results "$OUT"
    ;;
*)
    sed -n '2,16p' "$SCRIPT"; exit 2
    ;;
esac
