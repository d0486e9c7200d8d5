# attnscope: the README's two commands, `make run` and `make test`, and their helpers.
# Every target installs what it is missing first, so a fresh machine needs nothing else.

SHELL := /bin/bash
.DEFAULT_GOAL := help
ADDRESS := 127.0.0.1
PORT := 8080

.PHONY: help run test test-matrix lint setup bench tools browser models app cli clean

help:
	@echo "make run    build the app and serve it at http://$(ADDRESS):$(PORT)"
	@echo "make test   every test: engine, parity with Hugging Face, CLI, the page in headless Chromium"
	@echo "make test-matrix   the native tests on other terms: 1 and 4 threads, an emulated processor without AVX or FMA"
	@echo "make lint   the code's habits: rustfmt's layout, clippy with every warning an error"
	@echo "make bench  the benchmark: the page's worker beside llama.cpp's wasm build (wllama), and natively"

## The code's habits, as CI checks them before the tests: rustfmt's layout (rustfmt.toml)
## and clippy on every target with every warning an error.
lint:
	@rustup component add rustfmt clippy >/dev/null 2>&1 || true
	@$(PHASE) "rustfmt" cargo fmt --all --check
	@$(PHASE) "clippy" cargo clippy --workspace --all-targets -- -D warnings

## The wasm32 target, Trunk and wasm-bindgen-cli.
tools:
	@bash scripts/tools.sh

## The same, and Debian's Chromium with chromedriver, for the end-to-end tests.
browser:
	@bash scripts/tools.sh --browser

## The models of assets/models.json into assets/models/, checksums verified.
models:
	@python3 scripts/fetch_models.py

## The release build of the page and its worker, into dist/.
app: tools models
	trunk build --release

## The native command-line tool, target/debug/attnscope (`cargo test` builds it too).
cli:
	cargo build -p attnscope-cli --bin attnscope

run: app
	@echo "attnscope: serving at http://$(ADDRESS):$(PORT) (Ctrl-C stops)"
	trunk serve --release --address $(ADDRESS) --port $(PORT) --no-autoreload

## Tools, Chromium and the models at once: the models download while Trunk compiles.
setup:
	@python3 scripts/fetch_models.py & models=$$!; status=0; \
	bash scripts/tools.sh --browser || status=1; wait $$models || status=1; exit $$status

## The native tests first (`cargo test`: the engine's and the app's unit tests, parity with
## transformers, bad input, the CLI), then the page's in headless Chromium (the `browser`
## target): cross-origin isolated, the engine's worker on every core; then again without
## isolation, on the one-thread worker every other browser gets. Each phase says its time.
PHASE := bash scripts/phase.sh
test:
	@$(PHASE) "tools and models" $(MAKE) --no-print-directory setup
	@$(PHASE) "native build" cargo test --no-run
	@$(PHASE) "native tests" cargo test
	@$(PHASE) "wasm build" trunk build --release
	@$(PHASE) "browser tests" cargo test -p attnscope-tests --test browser
	@$(PHASE) "browser tests, one thread" env ATTNSCOPE_ONE_THREAD=1 cargo test -p attnscope-tests --test browser

## The native tests as other machines run them, for a change to the engine's numbers: a
## bound that holds only for this processor's summation order or this many threads fails
## here. On one thread and on four (candle's products and the engine's split follow
## RAYON_NUM_THREADS); then built for a baseline x86-64 (into target/baseline, so the usual
## build stays) and run on an emulated processor with neither AVX nor FMA (qemu-user's
## Nehalem, so that gemm and the engine pick their baseline kernels as the program runs):
## the engine's unit tests (among them a stretch of 600 tokens' attention against the whole,
## bit for bit) and every family's tiny model (against transformers, and a pooled run against
## the whole bit for bit). The real models' tests run natively only: emulated, one of them
## takes tens of minutes. Not part of `make test`: it runs the suite twice more.
EMULATED := env RUSTFLAGS="-C target-cpu=x86-64" CARGO_TARGET_DIR=target/baseline \
	CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="qemu-x86_64 -cpu Nehalem"
test-matrix: models
	@$(PHASE) "one thread" env RAYON_NUM_THREADS=1 cargo test
	@$(PHASE) "four threads" env RAYON_NUM_THREADS=4 cargo test
	@if [ "$$(uname -m)" = x86_64 ]; then \
	  bash scripts/apt.sh qemu-user && \
	  $(PHASE) "no AVX or FMA: the engine" $(EMULATED) cargo test -p attnscope-engine -p attnscope-report && \
	  $(PHASE) "no AVX or FMA: every family's tiny model" $(EMULATED) cargo test -p attnscope-tests --test integration -- families:: long_texts::every_familys_heads; \
	else echo "[phase] no AVX or FMA: an x86-64 check, skipped on $$(uname -m)"; fi

## Medians of timed runs in headless Chromium (the app's worker and wllama on the same
## GGUF) and natively; writes docs/benchmark.md and the README's table.
bench: app
	@bash scripts/tools.sh --bench
	@python3 scripts/fetch_models.py --catalog tests/bench/models.json --into .cache/bench-models
	cargo build --release -p attnscope-cli --bin attnscope
	cargo run --release -p attnscope-tests --bin bench

clean:
	rm -rf dist target
