"""Hydra sweeper that never recomputes a finished identity, and the callback that reports a sweep when it ends.

`DedupSweeper` expands the grid like Hydra's basic sweeper, composes every cell's config, and launches
only the cells whose identity (steerlab.reuse) has neither a finished run in the results index nor an
earlier twin in this sweep. Launched cells keep their grid position in their folder name; the others get
a folder with `status.json` = reused (and copies of the source's summary and per-item results).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from steerlab.errors import ConfigError
from steerlab.grid import expand
from steerlab.record import Index, Status, copy_result, read_status, write_status
from steerlab.reuse import identity

log = logging.getLogger(__name__)


@dataclass
class Cell:
    num: int
    overrides: List[str]
    subdir: str
    identity: str
    reuse: bool
    config: DictConfig
    source: Optional[Path] = None  # a finished run elsewhere with the same identity
    twin: Optional[int] = None  # an earlier cell of this sweep with the same identity


def quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pinned(cell: Cell, sweep_dir: Path) -> List[str]:
    """Overrides fixing a launched cell's folder: absolute (not relative to the job's cwd), at its grid position."""
    return [f"hydra.sweep.dir={quoted(str(sweep_dir.resolve()))}", f"hydra.sweep.subdir={quoted(cell.subdir)}"]


class DedupSweeperBase(BasicSweeper):
    """`grids` (optional) makes the sweep a union of grids: each entry is merged over `params`, command-line
    overrides apply to all of them, and cells repeated across grids run once (they are twins by identity)."""

    def __init__(self, max_batch_size: Optional[int], params: Optional[dict] = None, grids: Optional[List[dict]] = None) -> None:
        super().__init__(max_batch_size, params)
        self.grids = [dict(g) for g in grids or []]
        for i, g in enumerate(self.grids):
            if not g:
                raise ConfigError(f"hydra.sweeper.grids[{i}] is empty: give each grid at least one key, e.g. {{adapter: random}}")

    def grid_overrides(self, arguments: List[str]) -> List[List[str]]:
        return expand(self.params, self.grids, arguments, self.hydra_context.config_loader)

    def cell(self, num: int, overrides: List[str]) -> Cell:
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = num
        subdir = str(cfg.hydra.sweep.subdir)
        task = copy.deepcopy(cfg)
        with open_dict(task):
            del task["hydra"]
        return Cell(num, list(overrides), subdir, identity(task), bool(task.reuse), task)

    def plan(self, arguments: List[str]) -> List[Cell]:
        cells = [self.cell(i, o) for i, o in enumerate(self.grid_overrides(arguments))]
        first: dict[str, int] = {}
        for c in cells:
            if not c.reuse:
                continue
            c.source = Index(c.config.results_index).find(c.identity)
            if c.source is None and c.identity in first:
                c.twin = first[c.identity]
            first.setdefault(c.identity, c.num)
        return cells

    def sweep(self, arguments: List[str]) -> Any:
        sweep_dir = Path(self.config.hydra.sweep.dir)
        cells = self.plan(arguments)
        check_cone(cells)  # before the sweep folder exists: a refused sweep leaves nothing behind
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        todo = [c for c in cells if c.source is None and c.twin is None]
        log.info(
            "sweep of %d cells: %d to compute, %d reuse a finished run, %d repeat another cell's identity",
            len(cells),
            len(todo),
            sum(c.source is not None for c in cells),
            sum(c.twin is not None for c in cells),
        )
        for c in cells:  # first, so an unfinished sweep's folder already holds every result it reuses (reports, the headline)
            if c.source is not None:
                reuse(c, sweep_dir, c.source)
        returns, start = [], 0
        for chunk in self.split_overrides_to_chunks(todo, self.max_batch_size) if todo else []:
            batch = [c.overrides + pinned(c, sweep_dir) for c in chunk]
            returns.append(self.launcher.launch(batch, initial_job_idx=start))
            start += len(batch)
        for c in cells:  # twins last: their source is computed in this sweep
            if c.twin is not None:
                reuse(c, sweep_dir, sweep_dir / cells[c.twin].subdir)
        return returns


CONE_FLOOR = 10  # below this many random directions a cone cannot give p < 0.1; cone_min may not ask for less


def check_cone(cells: List[Cell]) -> None:
    """`cone_min` > 0 (the headline sets 20): every (model, pairs, evals) context with a method in it needs at least
    that many random directions (distinct seeds) in the sweep, else one line and exit 2 before any job runs."""
    need = max(int(c.config.get("cone_min") or 0) for c in cells) if cells else 0
    if not need:
        return
    if need < CONE_FLOOR:
        raise ConfigError(
            f"cone_min={need}: a cone of fewer than {CONE_FLOOR} random directions cannot "
            f"test anything (p ≥ 1/(N + 1)); use ≥ {CONE_FLOOR}, or 0 for no cone rule"
        )
    cones: dict[tuple, set] = {}
    for c in cells:
        key = (str(c.config.model.name), str(list(c.config.data.personas)), str(list(c.config.evals)))
        seeds = cones.setdefault(key, set())
        if c.config.adapter.name == "random":
            seeds.add(int(c.config.seed))
    short = {k: len(v) for k, v in cones.items() if len(v) < need}
    if short:
        (model, personas, evals), n = next(iter(short.items()))
        raise ConfigError(
            f"cone_min={need}: the sweep has {n} random direction(s) for model={model}, pairs {personas}, evals={evals}; "
            f"the random cone needs at least {need} (add adapter=random seeds, or set cone_min=0)"
        )


def reuse(cell: Cell, sweep_dir: Path, source: Path) -> None:
    """Give a cell that was not launched its own folder, pointing at the finished run it shares an identity with."""
    folder = sweep_dir / cell.subdir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cell.config, resolve=True))
    status = read_status(source) or {}
    if status.get("status") != Status.computed:
        write_status(
            folder,
            Status.failed,
            identity=cell.identity,
            overrides=cell.overrides,
            source=str(source),
            error=f"the run it repeats ({source}) did not finish: {status.get('error', 'no status')}",
        )
        return
    copy_result(source, folder)
    write_status(
        folder, Status.reused, identity=cell.identity, overrides=cell.overrides, source=str(source.resolve()), code=status.get("code")
    )
    log.info("cell %d (%s) reuses %s", cell.num, " ".join(cell.overrides), source)


class SweepReport(Callback):
    """At the end of a multirun: write the sweep report, list failed jobs, and exit 1 if any failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from steerlab.report.sweep import write

        sweep_dir = Path(config.hydra.sweep.dir)
        report = write(sweep_dir, wandb=config.logger.kind == "wandb" and config.logger.mode != "disabled")
        log.info("sweep report: %s", report.markdown)
        if report.failed:
            for folder, error in report.failed:
                log.error("failed: %s: %s", folder.name, error)
            log.error("%d of %d jobs failed; the others finished (report: %s)", len(report.failed), report.n_cells, report.markdown)
            raise SystemExit(1)
