#!/bin/bash
# What the few-point faults do to the regression: each RUN below is one `sslbench regress
# --first-look` with a fault planted in each method it names (METHOD=FAULT pairs), as `make
# regress SABOTAGE=…` runs it but without the retry seeds (LOOKS=2: with them, the check CI's
# fault tests run, each method's verdict FAIL or ok), against the committed baseline
# (Results/regression/baseline.csv, copied aside so that nothing under Results/regression moves).
# Each run keeps its rows in OUT/NAME.csv and the check's lines (the faulty value, the baseline,
# the bound, the margin) in OUT/NAME.txt; a run whose CSV exists is skipped, so a killed script
# resumes with the next run.
#
# usage: Experiments/regression/faults.sh [OUT] [NAMES...]
#   OUT    the folder of the rows (Results/regression/faults)
#   NAMES  the runs below (all), or LABEL:METHOD=FAULT[,METHOD=FAULT…] for a run of your own
#   In the environment: JOBS=N worker processes (2); SKIP=M1,M2 leaves those methods out of every
#   run (e.g. one whose cell is about to change); LOOKS=1 (the first look only, the default) or 2
#   (both looks, as CI's fault tests run them)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-Results/regression/faults}
shift $(( $# < 1 ? $# : 1 ))
jobs=${JOBS:-2}
looks=${LOOKS:-1}
case $looks in 1) look=(--first-look) ;; 2) look=() ;; *) echo "faults.sh: LOOKS must be 1 or 2, not '$looks'" >&2; exit 2 ;; esac
bin=.build/release/sslbench
[ -x "$bin" ] || { echo "faults.sh: $bin is missing: run make build" >&2; exit 1; }

# a fault per method, grouped so that each run keeps two workers busy; a method that a fault does
# not concern (Fault.concerns) is not named with it
declare -A runs=(
  [no-colour-jitter]="barlow-twins=no-colour-jitter,byol=no-colour-jitter,simclr=no-colour-jitter,swav=no-colour-jitter,moco-v3=no-colour-jitter,sdmp=no-colour-jitter"
  [no-warmup]="barlow-twins=no-warmup,byol=no-warmup,simclr=no-warmup,swav=no-warmup,moco-v3=no-warmup,sdmp=no-warmup"
  [bn-train-mode-at-evaluation]="barlow-twins=bn-train-mode-at-evaluation,byol=bn-train-mode-at-evaluation,simclr=bn-train-mode-at-evaluation,swav=bn-train-mode-at-evaluation,moco-v3=bn-train-mode-at-evaluation,sdmp=bn-train-mode-at-evaluation"
  # the method-specific faults: λ ×10 for Barlow Twins, the temperature doubled for SimCLR and
  # SwAV, the momentum held at τ_base for the three momentum methods
  [specific-1]="barlow-twins=tenfold-lambda,byol=held-momentum,simclr=doubled-temperature,swav=doubled-temperature,moco-v3=held-momentum,sdmp=held-momentum"
  # the temperature doubled for MoCo v3 and SDMP
  [specific-2]="moco-v3=doubled-temperature,sdmp=doubled-temperature"
  [halved-learning-rate]="barlow-twins=halved-learning-rate,byol=halved-learning-rate,simclr=halved-learning-rate,swav=halved-learning-rate,moco-v3=halved-learning-rate,sdmp=halved-learning-rate"
)
order=(specific-1 specific-2 no-colour-jitter no-warmup bn-train-mode-at-evaluation halved-learning-rate)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${order[@]}")
for i in "${!names[@]}"; do
  name=${names[$i]}
  if [[ $name == *:*=* ]]; then runs[${name%%:*}]=${name#*:}; names[$i]=${name%%:*}; continue; fi
  [ -n "${runs[$name]:-}" ] || { echo "faults.sh: unknown run '$name'; known: ${order[*]} (or LABEL:METHOD=FAULT,…)" >&2; exit 2; }
done
mkdir -p "$out"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp Results/regression/baseline.csv "$work/"
for name in "${names[@]}"; do
  if [ -s "$out/$name.csv" ]; then echo "== $name: rows in $out/$name.csv already"; continue; fi
  spec=$(echo "${runs[$name]}" | tr ',' '\n' | awk -F= -v skip=",${SKIP:-}," 'index(skip, "," $1 ",") == 0' | paste -sd, -)
  [ -n "$spec" ] || { echo "== $name: every method skipped"; continue; }
  methods=$(echo "$spec" | tr ',' '\n' | cut -d= -f1 | paste -sd, -)
  echo "== $name: $spec ($(date -u +%H:%M:%S))"
  # exit 1 when a method fails (or a first look falls below its bound): that is the measurement, not an error
  "$bin" regress "${look[@]}" --sabotage "$spec" --methods "$methods" --jobs "$jobs" --directory "$work" | tee "$work/$name.log" || true
  grep -E '^(ok  |LOW |FAIL) ' "$work/$name.log" > "$out/$name.txt" || true
  [ -s "$work/latest/methods.csv" ] && cp "$work/latest/methods.csv" "$out/$name.csv"
done
echo "faults.sh: $([ "$looks" = 1 ] && echo "first looks below their bound" || echo "methods that failed both looks"), per run:"
for name in "${names[@]}"; do
  [ -s "$out/$name.txt" ] && echo "  $name: $(grep -E '^(LOW|FAIL)' "$out/$name.txt" | awk '{print $2}' | tr -d ':' | paste -sd' ' -)"
done
