# attnscope: the README's two commands, `make run` and `make test`, and their helpers.
# Every target installs what it is missing first, so a fresh machine needs nothing else.

SHELL := /bin/bash
.DEFAULT_GOAL := help
ADDRESS := 127.0.0.1
PORT := 8080

.PHONY: help run test bench tools browser models app cli clean

help:
	@echo "make run    build the app and serve it at http://$(ADDRESS):$(PORT)"
	@echo "make test   every test: engine, parity with Hugging Face, CLI, the page in headless Chromium"
	@echo "make bench  the benchmark: the page's worker beside llama.cpp's wasm build (wllama), and natively"

## The wasm32 target, Trunk and wasm-bindgen-cli.
tools:
	@bash scripts/tools.sh

## The same, and Debian's Chromium with chromedriver, for the end-to-end tests.
browser:
	@bash scripts/tools.sh --browser

## SmolLM2-135M and all-MiniLM-L6-v2 into assets/models/, checksums verified.
models:
	@python3 scripts/fetch_models.py

## The release build of the page and its worker, into dist/.
app: tools models
	trunk build --release

## The native command-line tool, target/debug/attnscope (the CLI tests run it).
cli:
	cargo build -p attnscope-engine --bin attnscope

run: app
	@echo "attnscope: serving at http://$(ADDRESS):$(PORT) (Ctrl-C stops)"
	trunk serve --release --address $(ADDRESS) --port $(PORT) --no-autoreload

## Unit tests (engine, app), then the integration tests: parity, bad input, CLI, the page
## (cross-origin isolated, the engine's worker on every core); then the page's tests again
## without isolation, on the one-thread worker every other browser gets.
test: browser app cli
	cargo test
	ATTNSCOPE_ONE_THREAD=1 cargo test -p attnscope-tests --test integration browser::

## Medians of timed runs in headless Chromium (the app's worker and wllama on the same
## GGUF) and natively; writes docs/benchmark.md and the README's table.
bench: app
	@bash scripts/tools.sh --bench
	@python3 scripts/fetch_models.py --catalog tests/bench/models.json --into .cache/bench-models
	cargo build --release -p attnscope-engine --bin attnscope
	cargo run --release -p attnscope-tests --bin bench

clean:
	rm -rf dist target
