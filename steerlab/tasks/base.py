"""The Task interface: eval items, a fixed validation split, scoring under steering, and what the shared metrics read.

A task turns its data into one row per item × coefficient holding `y` (higher = more of the target concept)
and `nll` (the coherence cost ΔNLL is computed from). `steerlab.metrics` computes S(c), Effect, the centred
Spearman gate, ΔNLL, Gain, the slope test, the bootstrap CI, n, coverage and the validation Gain from
`scores()` and those rows alone, the same way for every task; `extras()` adds what only one task has
(per-value side effects for dilemmas, MC1/MC2 for TruthfulQA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
from omegaconf import MISSING

from steerlab.errors import ConfigError
from steerlab.fields import check_fields, ranged
from steerlab.registry import Registry

SPLIT_SEED = 20251  # the validation split never depends on the run seed
TASKS = Registry("task", {}, key="task")  # kind -> (config dataclass, class); filled by @registered


def registered(config: type):
    """Class decorator: register a task under its config's `task` default (`task: str = "reply"`). A new task is its own
    file (this decorator on its class) and its conf/evals/<name>.yaml; steerlab.tasks.registry imports every module."""

    def add(cls):
        kind = config.task
        if kind in TASKS:
            raise ConfigError(f"two tasks are named {kind!r}: {TASKS[kind][1].__module__} and {cls.__module__}")
        TASKS[kind] = (config, cls)
        return cls

    return add


@dataclass
class TaskConfig:
    task: str = MISSING  # a key of steerlab.tasks.registry.TASKS
    limit: Optional[int] = ranged(None, ">=1")  # keep this many items (dilemmas, questions); eval.limit caps it too; null = all
    val_fraction: Optional[float] = ranged(None, "[0,1)")  # held out for tuning; null = eval.val_fraction


class Task:
    """One evaluation. Subclasses set `unit` and implement `load` and `evaluate`."""

    unit = "item"  # what the split and `limit` count, in words
    y_label = "y"  # what `y` measures, for plot axes

    def __init__(self, name: str, cfg, limit: Optional[int], val_fraction: float):
        check_fields(f"evals.{name}.", {"limit": limit, "val_fraction": val_fraction}, TaskConfig)  # the API path too
        self.name, self.cfg, self.limit, self.val_fraction = name, cfg, limit, val_fraction

    def load(self) -> pd.DataFrame:
        """Validated items (no model needed), with a `group` column: the unit the split keeps together."""
        raise NotImplementedError

    def split(self, items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(validation, reported) items: whole groups, by a fixed shuffle that does not depend on the run seed."""
        groups = items["group"].drop_duplicates().sort_values().to_numpy()
        n_val = int(round(self.val_fraction * len(groups)))
        order = np.random.default_rng(SPLIT_SEED).permutation(len(groups))
        is_val = items["group"].isin(set(groups[order[:n_val]].tolist()))
        val, test = items[is_val], items[~is_val]
        if test.empty:
            raise ConfigError(
                f"evals.{self.name}: no reported {self.unit} left after limit={self.limit} and val_fraction={self.val_fraction}"
            )
        return val, test

    def describe(self) -> str:
        """One sentence for the report: the data and what `y` measures."""
        return f"task `{self.cfg.task}`"

    def unscored_hint(self) -> str:
        """Why a task might score no item at all, for the warning."""
        return "no item has a finite score at every coefficient"

    def check(self, val: pd.DataFrame, test: pd.DataFrame) -> None:
        """Task-specific checks of the split (e.g. the dilemmas' target value occurs among the reported items)."""

    def evaluate(self, model, tok, method, items: pd.DataFrame, coeffs: list[float], batch_size: int) -> pd.DataFrame:
        """One row per item × coefficient: `item` (the items' index), `group`, `coeff`, `y`, `nll`, and task columns."""
        raise NotImplementedError

    def scores(self, results: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        """Items × coefficients of the target-oriented score (NaN where an item is not scored: it lowers coverage)."""
        return results.pivot(index="item", columns="coeff", values="y")

    def extras(self, results: pd.DataFrame, items: pd.DataFrame, metric) -> tuple[dict, pd.DataFrame]:
        """Task-only metrics on the reported rows (`metric`: the MetricConfig), and a table for the report."""
        return {}, pd.DataFrame()

    def more(self, summary: dict) -> list[str]:
        """Extra report.md lines from the task's summary (e.g. TruthfulQA per category); none by default."""
        return []

    headline: tuple[str, ...] = ()  # extra summary keys printed in the run's table
