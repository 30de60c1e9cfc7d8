"""Every sweep file in sweeps/ composes — each of its cells, with its method, tasks and ranges checked — and runs as a
multirun on the tiny model with every swept key at its first value (slow)."""

from __future__ import annotations

import copy

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import open_dict

from steerlab import ranges
from steerlab.config import REPO_ROOT
from steerlab.grid import expand
from steerlab.methods.registry import build
from steerlab.tasks.registry import build_all
from tests.helpers import QUICK, launch, only_sweep, statuses, write_csv

SWEEPS = sorted((REPO_ROOT / "sweeps").glob("*.yaml"))


def loader() -> ConfigLoaderImpl:
    """Hydra's config loader with the search path `launch.py --config-dir sweeps` has."""
    path = create_config_search_path(str(REPO_ROOT / "conf"))
    path.prepend("command-line", f"file://{REPO_ROOT / 'sweeps'}")
    return ConfigLoaderImpl(config_search_path=path)


def swept(cfg) -> tuple[dict, list[dict]] | None:
    """(params, grids) of a sweep file on steerlab's sweeper; None for another sweeper (Optuna)."""
    sweeper = cfg.hydra.sweeper
    if "steerlab_sweeper" not in sweeper._target_:
        return None
    return dict(sweeper.get("params") or {}), [dict(g) for g in sweeper.get("grids") or []]


def check_cell(cell) -> None:
    """What launch.py checks before loading a model, minus reading data files: method, numeric ranges, tasks."""
    task = copy.deepcopy(cell)
    with open_dict(task):
        del task["hydra"]
    build(task.adapter)
    ranges.check(task)
    build_all(task)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_cell_of_every_sweep_file_composes(path):
    ld = loader()
    cfg = ld.load_configuration(path.stem, overrides=[], run_mode=RunMode.MULTIRUN)
    grid = swept(cfg)
    if grid is None:  # Optuna samples its cells; its primary config must compose
        check_cell(cfg)
        return
    cells = expand(*grid, [], ld)
    assert cells, f"{path.name} expands to no cell"
    for overrides in cells:
        check_cell(ld.load_sweep_config(cfg, overrides))


def first_values(params: dict, grids: list[dict], skip: set[str]) -> list[str]:
    """Every swept key at its first value (keys in `skip` left out)."""
    parser = OverridesParser.create()
    out = {}
    for key, value in [*params.items(), *(kv for g in grids for kv in g.items())]:
        if key not in skip and key not in out:
            override = parser.parse_override(f"{key}={value}")
            out[key] = next(iter(override.sweep_string_iterator())) if override.is_sweep_override() else override.get_value_element_as_str()
    return [f"{k}={v}" for k, v in out.items()]


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SWEEPS if p.stem != "optuna"], ids=lambda p: p.stem)  # optuna: tests/test_sweeper.py
def test_every_sweep_file_runs_as_a_tiny_multirun(path, tmp_path):
    ld = loader()
    cfg = ld.load_configuration(path.stem, overrides=[], run_mode=RunMode.MULTIRUN)
    params, grids = swept(cfg)
    cell = first_values(params, grids[:1], skip=set())  # the first cell of the first grid
    evals = next((a.split("=", 1)[1].strip("[]").split(",") for a in cell if a.startswith("evals=")), list(cfg.evals))
    quick = [o for o in QUICK if not o.startswith("evals.builtin.") or "builtin" in evals]
    small = [
        *quick,
        "train.steps=2",
        "train.val_every=0",
        "data.max_pairs=16",
        "eval.samples=0",
        "logger=none",
        "strength.max_evals=2",
        "cone_min=0",
    ]
    if "sentiment" in evals:  # a few short replies
        small += ["evals.sentiment.limit=8", "evals.sentiment.tokens=4"]
    if "truthfulqa" in evals:  # the questions written for the tests, so the shared data is not needed
        small.append(f"evals.truthfulqa.path={write_csv(tmp_path / 'tqa.csv')}")
    args = first_values(params, grids[:1], skip={o.split("=")[0] for o in small})
    if grids:  # one cell: the first grid's first values as plain overrides (each grid would otherwise be merged under them)
        args.append("hydra.sweeper.grids=[]")
    proc = launch(["--config-dir", str(REPO_ROOT / "sweeps"), "--config-name", path.stem, *args, *small], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = statuses(only_sweep(tmp_path))
    assert done and set(done.values()) <= {"computed", "reused"} and "computed" in done.values(), done
    assert (only_sweep(tmp_path) / "report" / "sweep.csv").is_file()
