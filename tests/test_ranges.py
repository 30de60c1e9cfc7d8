"""Every numeric field of every config schema has a range, and a value outside it fails before any model work."""

import re
import typing

import pytest

from steerlab.analysis.registry import ANALYSES
from steerlab.config import GROUP_SCHEMAS, REPO_ROOT, Config, TinyConfig
from steerlab.errors import ConfigError
from steerlab.fields import numeric_fields
from steerlab.methods.registry import METHODS
from steerlab.ranges import rules
from steerlab.run import prepare
from steerlab.tasks.registry import TASKS
from tests.helpers import compose_cfg


def eval_names() -> dict[str, str]:
    """{task kind: a conf/evals/ option of that kind}, read from the YAML files (a new task needs no edit here)."""
    out = {}
    for path in sorted((REPO_ROOT / "conf" / "evals").glob("*.yaml")):
        kind = re.search(r"/schema/task@_here_: (\w+)", path.read_text()).group(1)
        out.setdefault(kind, path.stem)
    return out


def sections():
    """(overrides selecting the section, key prefix, schema) for every schema a run config can hold."""
    out = [([], "", Config), ([], "model.tiny.", TinyConfig)]
    out += [([], f"{g}.", s) for g, s in GROUP_SCHEMAS.items()]
    out += [([f"adapter={n}"], "adapter.", s) for n, (s, _) in METHODS.items()]
    out += [([f"analysis={n}"], "analysis.", s) for n, (s, *_) in ANALYSES.items() if n != "none"]
    tasks = eval_names()
    out += [([f"evals=[{tasks[k]}]"], f"evals.{tasks[k]}.", s) for k, (s, _) in TASKS.items()]
    return out


def outside(rule: str, is_int: bool):
    """A value just outside `rule`."""
    if rule.startswith(">="):
        return int(float(rule[2:])) - 1 if is_int else float(rule[2:]) - 1
    if rule.startswith(">"):
        return int(float(rule[1:])) if is_int else float(rule[1:])
    lo_in, lo, _hi, _hi_in = re.fullmatch(r"([\[(])([^,]+),([^\])]+)([\])])", rule).groups()
    return float(lo) - 1 if lo_in == "[" else float(lo)


def test_every_numeric_field_has_a_rule():
    table = rules()
    missing = [f"{s.__name__}.{f}" for _, _, s in sections() for f in numeric_fields(s) if f not in table.get(s, {})]
    assert not missing, missing


def is_int(schema, field: str) -> bool:
    hint = typing.get_type_hints(schema)[field]
    return hint is int or int in typing.get_args(hint)


CASES = [(over, prefix, f, rule, is_int(s, f)) for over, prefix, s in sections() for f, rule in rules().get(s, {}).items() if rule != "any"]


@pytest.mark.parametrize("over,prefix,field,rule,integer", CASES, ids=[f"{c[1]}{c[2]}" for c in CASES])
def test_out_of_range_value_fails_in_one_line_naming_the_field(over, prefix, field, rule, integer):
    value = outside(rule, integer)
    cfg = compose_cfg(["model=tiny_llama", *over, f"{prefix}{field}={value}"])
    with pytest.raises(ConfigError) as err:
        prepare(cfg)
    assert str(err.value).startswith(f"{prefix}{field}=") and "\n" not in str(err.value)


def test_a_method_states_the_range_of_its_own_new_field(monkeypatch):
    from dataclasses import dataclass, field

    from steerlab.methods.mean import MeanMethod
    from steerlab.methods.vector import VectorConfig

    @dataclass
    class Shrunk(VectorConfig):
        name: str = "shrunk"
        shrink: float = field(default=0.5, metadata={"range": "(0,1)"})  # a field no other method has

    monkeypatch.setitem(METHODS, "shrunk", (Shrunk, MeanMethod))
    assert rules()[Shrunk] == {"norm_fraction": ">0", "shrink": "(0,1)"}


def test_a_new_task_states_its_ranges_in_its_own_file(monkeypatch, tmp_path):
    """Adding a task touches its own file, one registry line and its YAML: its fields' ranges are checked with no edit to
    steerlab.ranges or to this test (a dummy task, registered for the test only)."""
    import shutil
    from dataclasses import dataclass

    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore

    from steerlab.fields import ranged
    from steerlab.tasks.base import Task, TaskConfig

    @dataclass
    class WindowConfig(TaskConfig):  # the task's own file
        task: str = "window"
        window: int = ranged(4, ">=1")

    class WindowTask(Task):
        pass

    monkeypatch.setitem(TASKS, "window", (WindowConfig, WindowTask))  # the one registry line
    ConfigStore.instance().store(group="schema/task", name="window", node=WindowConfig)
    conf = shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf")
    (conf / "evals" / "window.yaml").write_text(  # its YAML
        "# @package evals.window\ndefaults:\n  - /schema/task@_here_: window\n  - _self_\ntask: window\n"
    )
    assert rules()[WindowConfig] == {"limit": ">=1", "val_fraction": "[0,1)", "window": ">=1"}
    with initialize_config_dir(str(conf), version_base="1.3"):
        cfg = compose("config", overrides=["model=tiny_llama", "evals=[window]", "evals.window.window=0"])
    with pytest.raises(ConfigError, match=r"^evals\.window\.window=0 must be an integer >= 1$"):
        prepare(cfg)
