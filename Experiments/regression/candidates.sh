#!/bin/bash
# Candidate cells for a steadier accuracy regression (README, "Accuracy regression"): each
# candidate's seeds run as one-thread `sslbench train` processes, JOBS at a time, their rows
# appended to OUT/NAME.csv; a seed already in its CSV is skipped, so a killed run resumes. At the
# end, per candidate: seeds, kNN top-1 mean and sd, the kNN at initialisation, the smallest gain
# over it, the mean of kNN and linear with its sd, its value at initialisation and smallest gain,
# and the seconds a cell took.
#
# usage: Experiments/regression/candidates.sh [SEEDS] [OUT] [NAMES...]
#   SEEDS  how many seeds per candidate, 0 … SEEDS−1 (8)
#   OUT    the folder of the CSVs (Results/regression/candidates, the committed rows)
#   NAMES  the candidates to run (all of those below); JOBS=N in the environment (2)
#   LIMIT=N in the environment runs only the first N cells still to do (all), e.g. to use a core
#   that another run leaves idle for a few minutes
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-8}
out=${2:-Results/regression/candidates}
shift $(( $# < 2 ? $# : 2 ))
jobs=${JOBS:-2}
bin=.build/release/sslbench
[ -x "$bin" ] || { echo "candidates.sh: $bin is missing: run make build" >&2; exit 1; }

# the `ci` scale's training (README, "The ci scale"): 4096 training images, width 8, 6 epochs,
# batch 64, heads 1024 → 128; evaluated on all 10000 test images instead of its 2048, which may
# take part of the test set's share out of the spread (a kNN top-1 near 30% on 2048 images has a
# binomial sd of about 1 point, on 10000 about 0.46) for a few percent more time
ci="--width 8 --train-images 4096 --epochs 6 --batch-size 64 --heads 1024,128"
declare -A candidates=(
  # the ci cell with LARS's rate unclipped: Barlow Twins gained about 6 points with it before
  # the solo-learn clip (README, "the previous baseline"), under 1 with it
  [barlow-twins-unclipped]="--method barlow-twins $ci --lars-clip off"
  [simclr-unclipped]="--method simclr $ci --lars-clip off"
  # the ci cells' training as make regress runs it
  [moco-v3]="--method moco-v3 $ci"
  [sdmp]="--method sdmp $ci"
  # BYOL's regression recipe (RegressionRecipe.cell)
  [byol-batch32]="--method byol --width 8 --train-images 8192 --epochs 8 --batch-size 32 --heads 1024,128"
  # SwAV's regression recipe (RegressionRecipe.cell: the milder augmentation, 3000 prototypes,
  # 20000 images, 8 epochs, batch 128; 1 frozen epoch and no queue, as at every short scale), and
  # the same on half the epochs, which would halve its share of the check
  [swav-recipe]="--method swav --width 8 --train-images 20000 --epochs 8 --batch-size 128 --heads 1024,128 --augmentation barlow-twins --prototypes 3000 --freeze-prototypes 1 --queue 0"
  [swav-4-epochs]="--method swav --width 8 --train-images 20000 --epochs 4 --batch-size 128 --heads 1024,128 --augmentation barlow-twins --prototypes 3000 --freeze-prototypes 1 --queue 0"
  # BYOL's batch 32 on the ci images and epochs: twice the steps of the ci cell at its cost
  [byol-batch32-4096]="--method byol --width 8 --train-images 4096 --epochs 6 --batch-size 32 --heads 1024,128"
  # the four ci cells on 8 epochs instead of 6: at 6 only Barlow Twins gains 5 points on every seed
  [barlow-twins-unclipped-8-epochs]="--method barlow-twins ${ci/--epochs 6/--epochs 8} --lars-clip off"
  [simclr-unclipped-8-epochs]="--method simclr ${ci/--epochs 6/--epochs 8} --lars-clip off"
  [moco-v3-8-epochs]="--method moco-v3 ${ci/--epochs 6/--epochs 8}"
  [sdmp-8-epochs]="--method sdmp ${ci/--epochs 6/--epochs 8}"
  # BYOL and SwAV on the ci cell with LARS's rate unclipped, which moved Barlow Twins about 6
  # points at this budget where the clipped rate moved it under 1: if they learn there, they cost
  # what the other four cost instead of 3 to 5 times that (SwAV on the milder augmentation, with
  # its regression recipe's frozen epoch and no queue)
  [byol-unclipped]="--method byol $ci --lars-clip off"
  [byol-batch32-4096-unclipped]="--method byol --width 8 --train-images 4096 --epochs 6 --batch-size 32 --heads 1024,128 --lars-clip off"
  [swav-unclipped]="--method swav $ci --lars-clip off --augmentation barlow-twins --freeze-prototypes 1 --queue 0"
  # neither learns unclipped (seeds 0-1: BYOL 25.42 → 24.52, 24.29 → 25.36; SwAV 25.42 → 23.14);
  # BYOL learned best at batches 16 and 32 in `batchsize`, whose rate scales with the batch: the
  # ci cell at the rate of batch 32 (--lr 0.5: 0.125 at batch 64) and half that; SwAV on the ci
  # cell at its rate, half and four times it
  [byol-lr0.5]="--method byol $ci --lr 0.5"
  [byol-lr0.25]="--method byol $ci --lr 0.25"
  [swav-ci]="--method swav $ci --augmentation barlow-twins --freeze-prototypes 1 --queue 0"
  [swav-lr0.3]="--method swav $ci --augmentation barlow-twins --freeze-prototypes 1 --queue 0 --lr 0.3"
  [swav-lr2.4]="--method swav $ci --augmentation barlow-twins --freeze-prototypes 1 --queue 0 --lr 2.4"
  # BYOL's 2048 steps at batch 16 on the ci images: half the images of its regression recipe
  [byol-batch16-4096]="--method byol --width 8 --train-images 4096 --epochs 8 --batch-size 16 --heads 1024,128"
  # a faster target for short runs: target-decay at 16 epochs put τ_base 0.9 level with 0.99 (34.77 ± 2.20
  # against 34.36 ± 1.52, 8 seeds), and with 384 or 768 steps the cosine rise from 0.99 leaves the
  # target hardly moved from its random start; the ci cell and its batch-32 twin with τ_base 0.9
  [byol-tau0.9]="--method byol $ci --base-momentum 0.9"
  # MoCo v3 and SDMP with LARS's rate unclipped, which moved Barlow Twins and SimCLR past 5 points at
  # this budget (their worst seeds gain 4.5 and 4.7 clipped)
  [moco-v3-unclipped]="--method moco-v3 $ci --lars-clip off"
  [sdmp-unclipped]="--method sdmp $ci --lars-clip off"
  [byol-tau0.9-batch32-4096]="--method byol --width 8 --train-images 4096 --epochs 6 --batch-size 32 --heads 1024,128 --base-momentum 0.9"
  # SimCLR's weakest seeds gain under 5 points with its strong colour jitter (0.8); in `augmentations`
  # it lost nothing without colour, so the unclipped ci cell on the milder BYOL / Barlow Twins
  # augmentation; SDMP's seed 0 gains under 5 clipped, unclipped and on 8 epochs alike: both at once
  [simclr-unclipped-mild]="--method simclr $ci --lars-clip off --augmentation barlow-twins"
  [sdmp-unclipped-8-epochs]="--method sdmp ${ci/--epochs 6/--epochs 8} --lars-clip off"
  # BYOL's regression recipe gains under 3 points on seed 0 (26.99 → 30.36 kNN on all 10000 test
  # images); unclipped, as the four others learn at this budget
  [byol-batch32-unclipped]="--method byol --width 8 --train-images 8192 --epochs 8 --batch-size 32 --heads 1024,128 --lars-clip off"
  # unclipped it learns no better (seed 0 30.04, seed 1 31.24); twice its rate, and a faster target
  [byol-batch32-lr2]="--method byol --width 8 --train-images 8192 --epochs 8 --batch-size 32 --heads 1024,128 --lr 2.0"
  [byol-batch32-tau0.9]="--method byol --width 8 --train-images 8192 --epochs 8 --batch-size 32 --heads 1024,128 --base-momentum 0.9"
  # neither helps seed 0 (gains of the mean of kNN and linear: −0.08 and 1.43). BYOL at batch 16 on 4096 images
  # for 8 epochs (2048 steps) gained what the recipe gains at batch 32 on 8192 (2048 steps) for half the
  # time: the steps count, not the images. Batch 16 on the recipe's images and epochs (4096 steps at its cost),
  # and on 20000 images for 4 epochs (5000 steps)
  [byol-batch16]="--method byol --width 8 --train-images 8192 --epochs 8 --batch-size 16 --heads 1024,128"
  [byol-batch16-20000]="--method byol --width 8 --train-images 20000 --epochs 4 --batch-size 16 --heads 1024,128"
  # seed 0 gains nothing at batch 16 (kNN 26.99 → 27.17) and its RankMe falls to 11 of 64 where the other seeds
  # reach 15 (seed 0 was the weak one under every variant: a partial dimensional collapse). Weight decay
  # is what holds BYOL's and SimSiam's spectrum apart in Tian et al. 2021 (no negatives, DirectPred); the
  # recipe's 1e-5 with SimSiam's CIFAR 5e-4 and 1e-4
  [byol-batch32-wd5e-4]="--method byol --width 8 --train-images 8192 --epochs 8 --batch-size 32 --heads 1024,128 --weight-decay 5e-4"
  [byol-batch32-wd1e-4]="--method byol --width 8 --train-images 8192 --epochs 8 --batch-size 32 --heads 1024,128 --weight-decay 1e-4"
  # both worse (seed 0 gains 1.40 and −1.77). BYOL's regression cell (batch 16, 20000 images, 4 epochs) still
  # collapses in part on about one seed in five (seed 3: RankMe 12, gain 2.24). BYOL §3.2 and DirectPred (Tian et
  # al. 2021) tie training without collapse to a predictor kept near its optimum: the cell with the predictor
  # at ten times the rate
  # SwAV's 4-epoch cell keeps its prototypes frozen for the first of its 4 epochs, a quarter of its steps, where
  # solo-learn's recipe freezes 2 of 1000 epochs (0.2%); the same cell with none frozen
  [swav-4-epochs-unfrozen]="--method swav --width 8 --train-images 20000 --epochs 4 --batch-size 128 --heads 1024,128 --augmentation barlow-twins --prototypes 3000 --freeze-prototypes 0 --queue 0"
  # unfrozen it learns less (seed 0 kNN 29.23 against 31.68) or collapses (seed 1: 20.54). SwAV's first look with
  # its temperature doubled (a fault) gained 3.7 points on seed 0 at this budget: the 4-epoch cell at τ 0.2 (the
  # regression cell now)
  [swav-4-epochs-tau0.2]="--method swav --width 8 --train-images 20000 --epochs 4 --batch-size 128 --heads 1024,128 --augmentation barlow-twins --prototypes 3000 --freeze-prototypes 1 --queue 0 --temperature 0.2"
  [byol-batch16-20000-predictor-lr10]="--method byol --width 8 --train-images 20000 --epochs 4 --batch-size 16 --heads 1024,128 --predictor-lr-scale 10"
  # ten times the predictor's rate: no seed collapses but the spread stays (37.45 ± 1.31, 8 seeds). BYOL's
  # regression cell with its target momentum held at τ_base 0.99 instead of rising to 1 (the target keeps
  # following the online network to the end; the regression cell now), and at half the rate (lr 0.5 at batch 256)
  [byol-batch16-20000-held-momentum]="--method byol --width 8 --train-images 20000 --epochs 4 --batch-size 16 --heads 1024,128 --momentum-schedule constant"
  [byol-batch16-20000-lr0.5]="--method byol --width 8 --train-images 20000 --epochs 4 --batch-size 16 --heads 1024,128 --lr 0.5"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(barlow-twins-unclipped simclr-unclipped moco-v3 sdmp byol-batch32 swav-4-epochs swav-recipe
                                   byol-batch32-4096 barlow-twins-unclipped-8-epochs simclr-unclipped-8-epochs moco-v3-8-epochs sdmp-8-epochs
                                   byol-unclipped byol-batch32-4096-unclipped swav-unclipped byol-lr0.5 byol-lr0.25 swav-ci swav-lr0.3 swav-lr2.4 byol-batch16-4096
                                   byol-tau0.9 byol-tau0.9-batch32-4096 moco-v3-unclipped sdmp-unclipped simclr-unclipped-mild sdmp-unclipped-8-epochs
                                   byol-batch32-unclipped byol-batch32-lr2 byol-batch32-tau0.9 byol-batch16 byol-batch16-20000 byol-batch32-wd5e-4 byol-batch32-wd1e-4
                                   byol-batch16-20000-predictor-lr10 swav-4-epochs-unfrozen swav-4-epochs-tau0.2
                                   byol-batch16-20000-held-momentum byol-batch16-20000-lr0.5)
for name in "${names[@]}"; do
  [ -n "${candidates[$name]:-}" ] || { echo "candidates.sh: unknown candidate '$name'; known: ${!candidates[*]}" >&2; exit 2; }
done
mkdir -p "$out/logs"

# a finished cell's row file joins its candidate's CSV (header once), under a lock so that two
# processes never write one CSV at a time; a CSV whose header is not the row's (written by
# another version of sslbench) is left alone, and so is the row file, with a message
collect() {
  local f=$1 csv=$2
  [ -e "$f" ] || return 0
  if [ -s "$csv" ]; then
    if [ "$(head -n 1 "$csv")" != "$(head -n 1 "$f")" ]; then
      echo "candidates.sh: $csv has another header than the new row in $f (another sslbench version?); the row stays in $f" >&2
      return 0
    fi
    tail -n +2 "$f" >> "$csv"
  else
    cp "$f" "$csv"
  fi
  rm -f "$f"
}
# rows a killed run left behind
for name in "${names[@]}"; do
  for f in "$out"/."$name"-*.csv; do collect "$f" "$out/$name.csv"; done
done

# the (candidate, seed) pairs not yet in their CSV
todo=()
for name in "${names[@]}"; do
  for ((s = 0; s < seeds; s++)); do
    csv="$out/$name.csv"
    if [ -s "$csv" ] && sed 's/"[^"]*"//g' "$csv" | awk -F, -v s="$s" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seed") c = i; next } $c == s { f = 1 } END { exit !f }'; then
      continue
    fi
    todo+=("$name:$s")
  done
done
limit=${LIMIT:-${#todo[@]}}
[[ $limit =~ ^[0-9]+$ ]] || { echo "candidates.sh: LIMIT must be a whole number, not '$limit'" >&2; exit 2; }
echo "candidates.sh: ${#todo[@]} cell(s) to do, running $(( limit < ${#todo[@]} ? limit : ${#todo[@]} )), $jobs at a time, rows in $out"
todo=("${todo[@]:0:limit}")

run_one() {
  local name=${1%%:*} seed=${1##*:}
  local args=${candidates[$name]}
  "$bin" train $args --seed "$seed" --threads 1 --out "$out/.$name-$seed.csv" > "$out/logs/$name-$seed.log" 2>&1 \
    || { echo "  $name seed $seed failed: $out/logs/$name-$seed.log"; return 0; }
  flock "$out/.lock" bash -c "$(declare -f collect); collect '$out/.$name-$seed.csv' '$out/$name.csv'"
  echo "  $name seed $seed: $(tail -n 1 "$out/logs/$name-$seed.log")"
}
export -f run_one collect; export bin out
export CANDIDATES_DECLARATION="$(declare -p candidates)"
printf '%s\n' "${todo[@]}" | xargs -r -P "$jobs" -I{} bash -c 'eval "$CANDIDATES_DECLARATION"; run_one "$@"' _ {}
rm -f "$out/.lock"

echo "candidate                 seeds  kNN mean ± sd   at init  smallest gain  kNN+linear ± sd  at init  smallest gain  seconds a cell"
# the linear probe at initialisation of every (training images, seed) any candidate measured: the
# encoder at initialisation depends only on the seed (the kNN at initialisation is the same for
# every method of a seed), so a row written before the probe ran there takes the value from
# another candidate's row of the same images and seed
inits=$(for f in "$out"/*.csv; do
  sed 's/"[^"]*"//g' "$f" | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    ("linear_top1_init" in c) && $c["linear_top1_init"] != "" { print $c["train_images"] ":" $c["seed"] "=" $c["linear_top1_init"] }'
done | sort -u | tr '\n' ' ')
for name in "${names[@]}"; do
  csv="$out/$name.csv"
  [ -s "$csv" ] || continue
  # a quoted field (the linear probe's protocol) holds commas: drop its text before splitting;
  # a row without linear_top1_init borrows it (above), and a candidate with a row that has none
  # shows no kNN+linear gain
  sed 's/"[^"]*"//g' "$csv" | awk -F, -v name="$name" -v inits="$inits" '
    BEGIN { m = split(inits, pairs, " "); for (j = 1; j <= m; j++) { split(pairs[j], kv, "="); known[kv[1]] = kv[2] } }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["status"] == "ok" {
      k = $col["knn_top1"]; i0 = $col["knn_top1_init"]; l = $col["linear_top1"]
      n++; sk += k; skk += k * k; si += i0; g = k - i0; if (n == 1 || g < gmin) gmin = g
      b = (k + l) / 2; sb += b; sbb += b * b; st += $col["seconds"]
      li = ("linear_top1_init" in col) ? $col["linear_top1_init"] : ""
      if (li == "") li = known[$col["train_images"] ":" $col["seed"]]
      if (li == "") nolinear = 1; else { bi = (i0 + li) / 2; sbi += bi; h = b - bi; if (n == 1 || h < hmin) hmin = h }
    }
    END {
      if (n < 2) { printf "%-25s %5d\n", name, n; exit }
      mk = sk / n; mb = sb / n
      printf "%-25s %5d  %6.2f ± %4.2f   %6.2f   %+6.2f         %6.2f ± %4.2f   ", name, n, mk, sqrt((skk - n * mk * mk) / (n - 1)),
        si / n, gmin, mb, sqrt((sbb - n * mb * mb) / (n - 1))
      if (nolinear) printf "     —        —     "; else printf "%6.2f   %+6.2f   ", sbi / n, hmin
      printf "    %5.0f\n", st / n
    }'
done
