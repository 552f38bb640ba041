#!/bin/bash
# How far a change of CPU moves the regression's numbers: the regression cells of METHODS, seed 0,
# rerun under other OpenBLAS kernels and thread counts on this machine. Every other BLAS kernel
# and every thread count rounds differently; the kernel is otherwise deterministic, so this is the
# perturbation a CI machine of another kind applies. Compare the spread of these rows (one seed,
# perturbed rounding) with the baseline's spread over seeds (Results/regression/baseline.csv).
#
# usage: Experiments/regression/perturbation.sh [METHODS] [OUT] [SETTINGS...]
#   METHODS   comma-separated (barlow-twins,simclr,moco-v3), or all
#   OUT       the CSV the rows are appended to (runs/regression/perturbation.csv)
#   SETTINGS  KERNEL:THREADS[:PARTITIONS] (Zen:1 Haswell:2 Haswell:1 Sandybridge:2); KERNEL is an
#             OPENBLAS_CORETYPE value the library accepts on this CPU; PARTITIONS sets
#             SSLBENCH_PARTITIONS (else the thread count's, at least 2, so that 1 and 2 threads
#             compute the same numbers); JOBS=N in the environment runs the cells as N one-thread
#             workers, each over the partitions given (1: one process of THREADS threads)
set -euo pipefail
cd "$(dirname "$0")/../.."
methods=${1:-barlow-twins,simclr,moco-v3}
out=${2:-runs/regression/perturbation.csv}
shift $(( $# < 2 ? $# : 2 ))
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(Zen:1 Haswell:2 Haswell:1 Sandybridge:2)
bin=.build/release/sslbench
[ -x "$bin" ] || { echo "perturbation.sh: $bin is missing: run make build" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp Results/regression/baseline.csv "$work/"
jobs=${JOBS:-1}
[ "$methods" = all ] && method_args=() || method_args=(--methods "$methods")
for setting in "${settings[@]}"; do
  IFS=: read -r core threads partitions <<< "$setting"
  partition_env=(); [ -n "${partitions:-}" ] && partition_env=(SSLBENCH_PARTITIONS="$partitions")
  job_args=(--threads "$threads"); [ "$jobs" -gt 1 ] && job_args=(--jobs "$jobs")
  echo "== OPENBLAS_CORETYPE=$core, ${job_args[*]}${partitions:+, $partitions partition(s)}: $methods, seed 0"
  # the check exits 1 when a method falls outside its tolerance: here that is a measurement, not an error
  env OPENBLAS_CORETYPE="$core" "${partition_env[@]}" "$bin" regress "${method_args[@]}" "${job_args[@]}" --directory "$work" || true
  rows="$work/latest/methods.csv"
  [ -s "$rows" ] || { echo "perturbation.sh: no rows from the $setting run" >&2; exit 1; }
  if [ -s "$out" ]; then
    [ "$(head -1 "$out")" = "$(head -1 "$rows")" ] || { echo "perturbation.sh: $out has other columns than this run's rows" >&2; exit 1; }
    tail -n +2 "$rows" >> "$out"
  else
    cp "$rows" "$out"
  fi
done
echo "rows appended to $out"
