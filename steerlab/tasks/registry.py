"""The registry of evaluation tasks (kind -> (config schema, class)) and `build` for the configs under `evals`.

Adding a task: a config dataclass (a TaskConfig), a Task subclass with `load` and `evaluate` (see steerlab/tasks/base.py)
registered with `@registered(Config)`, in its own file, and `conf/evals/<name>.yaml` (`# @package evals.<name>`):
every module of steerlab.tasks is imported here, so nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil

import steerlab.tasks
from steerlab.errors import ConfigError
from steerlab.tasks.base import TASKS, Task

NOT_TASKS = {"base", "registry", "dilemma_data"}  # the package's shared modules
for module in pkgutil.iter_modules(steerlab.tasks.__path__):  # each task module registers itself (@registered)
    if module.name not in NOT_TASKS:
        importlib.import_module(f"steerlab.tasks.{module.name}")


def build(name: str, cfg, eval_cfg) -> Task:
    """The task configured under `evals.<name>`. Its limit is the smaller of its own and eval.limit (either may be null);
    its val_fraction defaults to eval.val_fraction."""
    task_cfg, (_, cls) = TASKS.resolve(cfg, f"evals.{name}", f"evals.{name}")
    caps = [v for v in (task_cfg.limit, eval_cfg.limit) if v is not None]
    limit = min(caps) if caps else None
    val_fraction = task_cfg.val_fraction if task_cfg.val_fraction is not None else eval_cfg.val_fraction
    return cls(name, task_cfg, limit, val_fraction)


def build_all(cfg) -> list[Task]:
    """Every task of `cfg.evals`, in the order given (the first is the objective)."""
    if not cfg.evals:
        raise ConfigError("evals is empty: choose at least one task, e.g. evals=[builtin] or evals=[builtin,truthfulqa]")
    return [build(name, node, cfg.eval) for name, node in cfg.evals.items()]
