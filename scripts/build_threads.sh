#!/usr/bin/env bash
# Builds the engine's worker with wasm threads into dist/threads/: a nightly toolchain (pinned,
# with the standard library's source) rebuilds std with atomics and shared memory, and
# wasm-bindgen emits ES modules (wasm-bindgen-rayon's helpers import the worker's module).
# The page starts this worker where it is cross-origin isolated, and Trunk's one-thread
# worker elsewhere. Trunk runs it after each build (Trunk.toml's hook).
set -euo pipefail
cd "$(dirname "$0")/.."

NIGHTLY=nightly-2026-05-20
say() { printf '[threads] %s\n' "$*"; }

if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 || ! rustup component list --toolchain "$NIGHTLY" --installed | grep -q '^rust-src'; then
  say "installing $NIGHTLY with rust-src"
  rustup toolchain install "$NIGHTLY" --profile minimal -c rust-src
fi

profile=release
target_dir=target/threads
# Shared memory up to 4 GiB (a wasm32 memory's most); SIMD as in the one-thread build.
# The linker makes the memory shared and imported (each thread instantiates the module on it)
# and exports what sets up each thread's thread-local storage.
export RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 -C link-arg=--shared-memory -C link-arg=--max-memory=4294967296 -C link-arg=--import-memory -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base"
cargo "+$NIGHTLY" build --profile "$profile" -p attnscope-worker-threads \
  --target wasm32-unknown-unknown -Z build-std=panic_abort,std --target-dir "$target_dir"
# Into Trunk's staging folder when Trunk runs this as its hook (it then becomes dist/).
out="${TRUNK_STAGING_DIR:-dist}/threads"
mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" --out-name worker "$target_dir/wasm32-unknown-unknown/$profile/attnscope_worker_threads.wasm"
cp app/threads/loader.js "$out/loader.js"
say "built $out ($(du -sh "$out" | cut -f1))"
