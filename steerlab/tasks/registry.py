"""The registry of evaluation tasks (kind -> (config schema, class)) and `build` for the configs under `evals`.

Adding a task: a config dataclass (a TaskConfig), a Task subclass with `load` and `evaluate` (see
steerlab/tasks/base.py), one line here, and `conf/evals/<name>.yaml` (`# @package evals.<name>`).
"""

from __future__ import annotations

from steerlab.errors import ConfigError
from steerlab.registry import Registry
from steerlab.tasks.base import Task
from steerlab.tasks.dilemmas import DilemmaConfig, DilemmaTask
from steerlab.tasks.sentiment import SentimentConfig, SentimentTask
from steerlab.tasks.truthfulqa import TruthfulQAConfig, TruthfulQATask

TASKS = Registry(
    "task",
    {
        "dilemmas": (DilemmaConfig, DilemmaTask),
        "truthfulqa": (TruthfulQAConfig, TruthfulQATask),
        "sentiment": (SentimentConfig, SentimentTask),
    },
    key="task",
)


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
