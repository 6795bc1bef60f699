#!/usr/bin/env bash
# Quickstart 1: install, load the example article, open the web UI on the offline defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh local
export GRADIO_ANALYTICS_ENABLED=False
.venv/bin/chatbot ingest --quiet chatbot/examples/
exec .venv/bin/chatbot ui "$@"
