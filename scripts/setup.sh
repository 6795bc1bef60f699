#!/usr/bin/env bash
# Create .venv and install the project with the given extras (idempotent, offline-friendly).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-local}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build of torch: a plain "torch" requirement could pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# llama-cpp-python (the 'local' extra) compiles llama.cpp on first install (~7 min on 2 cores);
# pip caches the built wheel, so later installs take seconds.
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
