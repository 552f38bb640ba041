# sslbench: self-supervised learning ablations on CIFAR, on the CPU.
# Swift from PATH, else the toolchain at /opt/swift.
SWIFT ?= $(shell command -v swift 2>/dev/null || ls /opt/swift/usr/bin/swift 2>/dev/null || echo swift)
BIN := .build/release/sslbench
CIFAR_URL := https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
CIFAR_MD5 := c32a1d4ab5d03f1284b67883e8d87530

.PHONY: parity bench bench-pytorch build test test-slurm test-faults smoke-reference data train-reference clean help results regress regress-update setup find-data

# Scale and seeds of the ablation targets: `cpu` (README, "The cpu scale") is what Results/
# holds; `smoke` checks the plumbing in seconds; `paper` is the papers' budget, for a big machine.
SCALE ?= cpu
SEEDS ?= 3
# yes: after SEEDS seeds per cell, add seeds to the cells of the claims still open, up to 8
# (`sslbench run --until-resolved`); no: SEEDS seeds and stop. The smoke scale checks plumbing: no.
UNTIL_RESOLVED ?= $(if $(filter smoke,$(SCALE)),no,yes)
# Where a table's rows go: runs/<table>/ (git-ignored) unless RESULTS names a folder; the run ends
# with its comparison against the committed reference (Results/, or Results/<scale>/) and the
# paper. RESULTS=Results adds the rows to the committed reference instead.
RESULTS ?=

help:
	@echo "make build             release build of .build/release/sslbench"
	@echo "make test              every unit test (release build: the numeric loops need it)"
	@echo "make test-slurm        a table through Experiments/slurm/table.sh on a real single-node SLURM (root)"
	@echo "make test-faults       a few-point fault fails make regress for each of the six methods (slow, about 30 minutes)"
	@echo "make data              download the official CIFAR-10 binary archive into data/"
	@echo "make train-reference   Barlow Twins, width 16, 10 epochs on 20000 images, seeds 0 1 2"
	@echo "                       (rows in Results/train-reference.csv; about 25 minutes a seed on 2 cores)"
	@echo "make ablation-NAME     run a table (batchsize, projector, lambda, normalization, asymmetry, mixing,"
	@echo "                       methods, target-decay, bootstrap, augmentations, temperature, sdmp-ingredients,"
	@echo "                       head-depth) at SCALE=$(SCALE) with SEEDS=$(SEEDS), then seeds where a claim is open"
	@echo "                       (UNTIL_RESOLVED=$(UNTIL_RESOLVED), up to 8) into runs/<table>/ (RESULTS=DIR: into DIR),"
	@echo "                       then the comparison with the committed reference and the paper (COMPARISON.md)"
	@echo "make results           every table (RESULTS=Results: into the committed reference, then its README)"
	@echo "make smoke-reference   every table at the smoke scale, 3 seeds, rewritten into Results/smoke/ (what SCALE=smoke compares with)"
	@echo "make bench             time the step (the cpu scale's width 8, widths 16 and 64), a whole cpu-scale cell"
	@echo "                       against its steps, the pipeline, the loss and sgemm: Results/bench.csv"
	@echo "make bench-pytorch     our step against Benchmarks/torch_step.py (PYTHON=... with torch) at widths 8, 16, 64"
	@echo "make parity            the first steps of every method replayed in PyTorch (PYTHON=... with torch):"
	@echo "                       loss, gradients, weights, velocity, target against Benchmarks/parity.py"
	@echo "make regress           the accuracy regression: every method at the ci scale against"
	@echo "                       Results/regression/baseline.csv (SABOTAGE=negate-gradients shows it failing)"
	@echo "make regress-update    rerun the baseline (4 seeds) and rewrite Results/regression/baseline.csv"
	@echo "                       (METHODS=byol,swav: only those methods' rows)"

build: setup
	$(SWIFT) build -c release

# The system libraries: installed when run as root on Debian/Ubuntu, named otherwise.
setup:
	@if ! command -v $(SWIFT) >/dev/null 2>&1; then \
	  echo "Swift is missing: install a Swift 5.9+ toolchain (https://www.swift.org/install) or set SWIFT=/path/to/swift"; exit 1; fi
	@if ! pkg-config --exists openblas libpng 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && apt-get install -y libopenblas-dev libpng-dev pkg-config; \
	  else \
	    echo "missing system libraries: run  sudo apt-get install -y libopenblas-dev libpng-dev pkg-config"; exit 1; \
	  fi; \
	fi

# CIFAR-10: $$SSLBENCH_CIFAR10, data/, ../shared/data, else the download of `make data`.
find-data:
	@if [ -n "$$SSLBENCH_CIFAR10" ] || [ -f data/cifar-10-batches-bin/test_batch.bin ] || \
	   [ -f ../shared/data/cifar-10-batches-bin/test_batch.bin ]; then :; else $(MAKE) --no-print-directory data; fi

# XCTest only: without --disable-swift-testing the last line is Swift Testing's "0 tests".
# `swift test` builds every target, the sslbench executable too (with testing enabled), which
# RegressionTests and WorkerProcessTests run as worker processes (`regress --jobs`); a `build`
# before it would compile everything once more, for nothing.
test: setup
	$(SWIFT) test -c release --disable-swift-testing

data:
	@if [ -f data/cifar-10-batches-bin/test_batch.bin ]; then echo "data/cifar-10-batches-bin is already there"; exit 0; fi; \
	mkdir -p data; \
	if curl -fsSL --max-time 600 -o data/cifar-10-binary.tar.gz $(CIFAR_URL); then \
	  echo "$(CIFAR_MD5)  data/cifar-10-binary.tar.gz" | md5sum -c - || { echo "md5 mismatch: data/cifar-10-binary.tar.gz is not the official archive"; exit 1; }; \
	  tar -xzf data/cifar-10-binary.tar.gz -C data && rm data/cifar-10-binary.tar.gz && echo "CIFAR-10 is in data/cifar-10-batches-bin"; \
	else \
	  rm -f data/cifar-10-binary.tar.gz; \
	  echo "Could not download $(CIFAR_URL) (no network?)."; \
	  echo "The harness looks for CIFAR-10 (binary version) in: --data DIR, then \$$SSLBENCH_CIFAR10, then"; \
	  echo "data/cifar-10-batches-bin, then ../shared/data/cifar-10-batches-bin."; \
	  if [ -d ../shared/data/cifar-10-batches-bin ]; then echo "Found a copy at ../shared/data/cifar-10-batches-bin: it will be used."; \
	  else echo "Copy or link a cifar-10-batches-bin folder to one of these, or set SSLBENCH_CIFAR10."; exit 1; fi; \
	fi

train-reference: build
	for s in 0 1 2; do $(BIN) train --method barlow-twins --width 16 --projector 2048 --batch-size 256 \
	  --epochs 10 --train-images 20000 --seed $$s --out Results/train-reference.csv; done

clean:
	rm -rf .build

# make ablation-NAME runs table NAME (ablation-normalization runs loss-normalization).
ABLATIONS := batchsize projector lambda normalization asymmetry mixing methods target-decay bootstrap augmentations temperature sdmp-ingredients head-depth
table_normalization := loss-normalization
# JOBS=N runs the cells, the rounds of --until-resolved too, as N one-thread worker processes
# side by side (`sslbench run --jobs N`; their logs in the results folder's workers/TABLE/ while they run).
# On 2 cores, JOBS=2 got more cells an hour than one 2-thread process, and a one-thread worker
# computes the 2-thread numbers (two partitions at one thread).
JOBS ?= 1
ablation-%: build find-data
	$(BIN) run $(or $(table_$*),$*) --scale $(SCALE) --seeds $(SEEDS) $(if $(filter-out 1,$(JOBS)),--jobs $(JOBS)) \
		$(if $(filter yes,$(UNTIL_RESOLVED)),--until-resolved) $(if $(RESULTS),--results $(RESULTS))
# the committed smoke reference that SCALE=smoke runs are compared with: every table, 3 seeds
# Run into runs/smoke-reference first, then replace Results/smoke: the rows record a clean tree.
smoke-reference: build find-data
	rm -rf runs/smoke-reference
	for t in $(foreach a,$(ABLATIONS),$(or $(table_$(a)),$(a))); do \
	  $(BIN) run $$t --scale smoke --seeds 3 --results runs/smoke-reference > /dev/null || exit 1; done
	rm -f Results/smoke/*.csv Results/smoke/*.png
	for t in $(foreach a,$(ABLATIONS),$(or $(table_$(a)),$(a))); do cp runs/smoke-reference/$$t.csv runs/smoke-reference/$$t.png Results/smoke/; done
	@echo "Results/smoke rewritten from runs/smoke-reference"; git status --short Results/smoke | head -3
# every table; with RESULTS=Results, into the committed reference and then its README
results: $(addprefix ablation-,$(ABLATIONS))
	$(if $(RESULTS),$(BIN) report --scale $(SCALE) --results $(RESULTS))

# Experiments/slurm/table.sh against a real single-node SLURM (as root; installs slurm-wlm and munge).
test-slurm: build
	bash Experiments/slurm/test-slurm.sh

# The few-point faults against the committed regression baseline, both looks as CI runs them
# (FaultRegressionTests; about 15 minutes on 2 cores, so not part of `make test`).
test-faults: setup find-data
	$(SWIFT) build -c release
	SSLBENCH_FAULT_TESTS=1 $(SWIFT) test -c release --disable-swift-testing --filter FaultRegressionTests

# The accuracy regression (CI runs it): `methods` at the ci scale, seed 0, against the baseline.
# RECIPE=cpu runs the candidate recipe against its own baseline (Results/regression/cpu).
SABOTAGE ?=
METHODS ?=
RECIPE ?=
REGRESS_SEEDS ?= 4
regress: build find-data
	$(BIN) regress $(if $(SABOTAGE),--sabotage $(SABOTAGE)) $(if $(METHODS),--methods $(METHODS)) $(if $(RECIPE),--recipe $(RECIPE)) $(if $(filter-out 1,$(JOBS)),--jobs $(JOBS))
regress-update: build find-data
	$(BIN) regress --update --seeds $(REGRESS_SEEDS) $(if $(METHODS),--methods $(METHODS)) $(if $(RECIPE),--recipe $(RECIPE)) $(if $(filter-out 1,$(JOBS)),--jobs $(JOBS))

# Speed: medians after a warm-up, appended to Results/bench.csv with the commit, CPU and BLAS kernel.
PYTHON ?= python3
bench: build
	$(BIN) bench
bench-pytorch: build
	$(BIN) bench --pytorch --python $(PYTHON)

# Parity: the first five steps of every method (and the Barlow Twins variants) replayed in PyTorch
# by Benchmarks/parity.py; the table goes to runs/parity/REPORT.md (PYTHON=... with torch and numpy).
parity: build find-data
	PYTHON=$(PYTHON) BIN=$(BIN) bash Benchmarks/parity.sh
