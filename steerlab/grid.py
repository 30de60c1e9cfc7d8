"""A sweep file's grid, in one place: the cells that `params` and `grids` (a union of grids, each merged over params)
expand to, with command-line overrides applied or selecting. The sweeper launches these cells; the headline expects
them (`file_cells`), so the two never disagree on what a sweep holds."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pandas as pd
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf


def expand(params: dict, grids: List[dict], arguments: List[str], config_loader=None) -> List[List[str]]:
    """Every cell's overrides, grid after grid (the basic sweeper's product within each grid; no grids = params alone).

    A command-line override whose values the file lists for that key (`model=smollm2_135m` of `model:
    smollm2_135m,gemma3_270m`) selects part of the sweep: a grid that sets the key keeps only those values, and is
    left out when it has none of them. Any other override (a value the file does not list) applies to every grid."""
    parser = OverridesParser.create(config_loader=config_loader)
    listed = listed_values([params, *grids])
    out: List[List[str]] = []
    for merged in [{**params, **g} for g in grids] or [params]:
        cell = selected(merged, arguments, listed)
        if cell is not None:
            out += BasicSweeper.split_arguments(parser.parse_overrides([f"{k}={v}" for k, v in cell[0].items()] + cell[1]), None)[0]
    return out


def plain_values(value) -> List[str] | None:
    """The values of a plain comma list (`a,b`); None for a sweep function (`range(0,20)`) or a list literal."""
    text = str(value)
    return None if any(ch in text for ch in "()[]{}") else text.split(",")


def listed_values(groups: List[dict]) -> Dict[str, set]:
    """{key: every value the sweep file lists for it} over params and grids (plain comma lists only)."""
    listed: Dict[str, set] = {}
    for g in groups:
        for k, v in g.items():
            if plain_values(v) is not None:
                listed.setdefault(k, set()).update(plain_values(v))
    return listed


def selected(merged: dict, arguments: List[str], listed: Dict[str, set]):
    """(this grid's keys, the remaining command-line overrides) after the selecting overrides, or None when the grid
    has none of the selected values."""
    merged, rest = dict(merged), []
    for arg in arguments:
        key, _, value = arg.partition("=")
        values, mine = plain_values(value), plain_values(merged[key]) if key in merged else None
        if values is None or mine is None or not set(values) <= listed.get(key, set()):
            rest.append(arg)
            continue
        keep = [v for v in mine if v in values]
        if not keep:
            return None
        merged[key] = ",".join(keep)
    return merged, rest


def file_cells(multirun: DictConfig) -> List[Dict[str, str]]:
    """{key: value} of every cell the sweep file's grids ask for, from a sweep's `multirun.yaml`.

    A command-line override that selects part of the grid (`model=smollm2_135m` of `model: smollm2_135m,gemma3_270m`)
    is left out: the file's whole grid is expected. An override with a value the file does not list (`model=qwen3_0_6b`)
    replaces that key's values, as it did for the sweep.
    """
    sweeper = multirun.hydra.sweeper
    params = {k: str(v) for k, v in (OmegaConf.to_container(sweeper.get("params") or {})).items()}
    grids = [{k: str(v) for k, v in g.items()} for g in OmegaConf.to_container(sweeper.get("grids") or [])]
    listed: Dict[str, set] = {}
    for g in [params, *grids]:
        for k, v in g.items():
            listed.setdefault(k, set()).update(v.split(","))
    key_values = [(o, o.partition("=")[0], set(o.partition("=")[2].split(","))) for o in multirun.hydra.overrides.task]
    overrides = [o for o, key, values in key_values if not (key in listed and values <= listed[key])]
    return [dict(o.split("=", 1) for o in cell) for cell in expand(params, grids, overrides)]


def default_data(multirun: DictConfig) -> str:
    """The pairs of a cell that does not override `data`: the sweep's own `data` choice."""
    return str(OmegaConf.select(multirun, "hydra.runtime.choices.data", default=None) or "(default)")


def expected_cells(sweep_dir: Path) -> pd.DataFrame:
    """(model, data, adapter, seed) of every cell the sweep file's grids ask for (steerlab.grid.file_cells)."""
    cfg = OmegaConf.load(sweep_dir / "multirun.yaml")
    data = default_data(cfg)
    rows = [
        {
            "model": kv.get("model", str(cfg.model.name)),
            "data": kv.get("data", data),
            "adapter": kv.get("adapter", str(cfg.adapter.name)),
            "seed": kv.get("seed", "0"),
        }
        for kv in file_cells(cfg)
    ]
    return pd.DataFrame(rows).drop_duplicates()
