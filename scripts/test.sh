#!/usr/bin/env bash
# Quickstart 2: install everything the tests need, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "local,test,evals"
echo "Testing $(cat .venv/llama-cpp-build.txt 2>/dev/null || echo 'without llama-cpp-python')"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # The browser tests drive Debian's Chromium (Playwright cannot download its own here).
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed"
fi
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
.venv/bin/ruff check chatbot tests evals harness training
.venv/bin/mypy  # the package's types ([tool.mypy] in pyproject.toml)
exec .venv/bin/python -m pytest -q --durations=15 "$@"
