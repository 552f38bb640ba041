#!/usr/bin/env bash
# `make parity`: records the first five training steps of every method and of the Barlow Twins
# variants that change the head, the loss or the gradient path (`sslbench parity-export`), then
# replays them in PyTorch (Benchmarks/parity.py) and writes the table to $OUT/REPORT.md.
# PYTHON: a Python with torch and numpy. BIN: the sslbench binary. OUT: where the traces go.
set -euo pipefail
PYTHON=${PYTHON:-python3}
BIN=${BIN:-.build/release/sslbench}
OUT=${OUT:-runs/parity}
THREADS=${THREADS:-2}
if ! "$PYTHON" -c "import torch, numpy" 2>/dev/null; then
  echo "parity needs a Python with torch and numpy: make parity PYTHON=/path/to/python" >&2
  echo "(../shared/peer/setup.sh prints one; or pip install torch numpy)" >&2
  exit 1
fi
# name | options of parity-export
cases=(
  "barlow-twins|--method barlow-twins"
  "barlow-twins-unclipped-lars|--method barlow-twins --lars-clip off"
  "barlow-twins-invariance-only|--method barlow-twins --variant invariance-only"
  "barlow-twins-redundancy-only|--method barlow-twins --variant redundancy-only"
  "barlow-twins-feature-normalization|--method barlow-twins --variant feature-normalization"
  "barlow-twins-no-projector-bn|--method barlow-twins --variant no-projector-bn"
  "barlow-twins-no-projector-bn-no-normalization|--method barlow-twins --variant no-projector-bn-no-normalization"
  "barlow-twins-cross-entropy|--method barlow-twins --variant cross-entropy"
  "barlow-twins-predictor|--method barlow-twins --variant predictor"
  "barlow-twins-stop-gradient|--method barlow-twins --variant stop-gradient"
  "barlow-twins-predictor-stop-gradient|--method barlow-twins --variant predictor-stop-gradient"
  "byol|--method byol"
  "simclr|--method simclr"
  "simclr-projector-bn|--method simclr --projector-bn"
  "swav|--method swav"
  "swav-in-place|--method swav --prototype-normalization in-place"
  "moco-v3|--method moco-v3"
  "sdmp|--method sdmp"
  "sdmp-cutmix|--method sdmp --mixing cutmix"
)
folders=()
for c in "${cases[@]}"; do
  name=${c%%|*}
  # shellcheck disable=SC2086
  "$BIN" parity-export ${c#*|} --threads "$THREADS" --trace "$OUT/$name"
  folders+=("$OUT/$name")
done
start=$(date +%s)
status=0
"$PYTHON" Benchmarks/parity.py --threads "$THREADS" --report "$OUT/REPORT.md" "${folders[@]}" || status=$?
echo "replayed in $(( $(date +%s) - start )) s; table in $OUT/REPORT.md"
exit $status
