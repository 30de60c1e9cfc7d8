#!/usr/bin/env bash
# One command for a CUDA machine (under 8 minutes on one modern GPU): SmolLM2-135M, Gemma-3-270M and a 4-layer
# Qwen3-4B-width random model in bf16 through fit, iso-KL, builtin and TruthfulQA for pca, random, ipissa and lora;
# c = 0 exactness; agreement with fp32 on the CPU; TruthfulQA scoring vs a bare forward pass; InnerPiSSA / LoRA step
# time; peak GPU memory. Writes outputs/gpu_check/gpu_check.{json,md}; exit 1 when a check fails.
#
#   bash scripts/gpu_check.sh          # on the GPU machine
#   bash scripts/gpu_check.sh --cpu    # the same code on tiny models on the CPU (CI runs this dry run)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
OUT=${GPU_CHECK_OUT:-outputs/gpu_check}
exec "$PY" bench/gpu_check.py --out "$OUT" "$@"
