"""The allowed range of every numeric config field, and no key outside the schemas, checked before any model work
(one line naming the field).

Each numeric field states its rule where it is declared (`beta: float = ranged(1.0, ">0")`, steerlab.fields.ranged);
`rules()` collects them from every schema, so adding a method or a task touches no file but its own.
tests/test_ranges.py checks that every int/float field of every schema has a rule and that a value outside it fails.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from steerlab.errors import ConfigError
from steerlab.fields import check_fields, rules_of


def schemas() -> list[type]:
    """Every config schema a run validates: the groups, and every registered method, analysis and task."""
    from steerlab.analysis.registry import ANALYSES
    from steerlab.config import GROUP_SCHEMAS, Config, TinyConfig
    from steerlab.methods.registry import METHODS
    from steerlab.tasks.registry import TASKS

    found = [Config, TinyConfig, *GROUP_SCHEMAS.values()]
    found += [entry[0] for registry in (METHODS, ANALYSES, TASKS) for entry in registry.values()]
    return list(dict.fromkeys(found))


def rules() -> dict[type, dict[str, str]]:
    """{schema: {field: rule}}, read from each field's own metadata (`steerlab.fields.ranged`)."""
    return {schema: rules_of(schema) for schema in schemas()}


def check_finite(node, prefix: str = "") -> None:
    """No NaN or infinity anywhere: coefficients, rungs, targets, rates, optimizer arguments, every list and mapping."""
    if isinstance(node, dict):
        for key, value in node.items():
            check_finite(value, f"{prefix}{key}.")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_finite(value, f"{prefix}[{i}].")
    elif isinstance(node, float) and not math.isfinite(node):
        where = prefix[:-1].replace(".[", "[")
        raise ConfigError(f"{where}={node} must be a finite number")


def plain_tree(cfg: DictConfig):
    """The config as plain data, resolved where it can be (a `${hydra:…}` field outside a Hydra job stays as text)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - interpolations that only Hydra can resolve
        return OmegaConf.to_container(cfg, resolve=False)


def check(cfg: DictConfig) -> None:
    """All numeric ranges of a composed run config (before any model work)."""
    from steerlab.analysis.registry import ANALYSES
    from steerlab.config import GROUP_SCHEMAS, Config, TinyConfig
    from steerlab.methods.registry import METHODS
    from steerlab.tasks.registry import TASKS

    check_finite({k: v for k, v in plain_tree(cfg).items() if k != "hydra"})
    check_fields("", cfg, Config)
    for group, schema in GROUP_SCHEMAS.items():
        if group in cfg:
            check_fields(f"{group}.", cfg[group], schema)
    check_fields("model.tiny.", cfg.model.tiny, TinyConfig)
    if cfg.adapter.name in METHODS:
        check_fields("adapter.", cfg.adapter, METHODS[cfg.adapter.name][0])
    analysis = cfg.get("analysis")
    if analysis is not None and analysis.get("name") in ANALYSES:
        check_fields("analysis.", analysis, ANALYSES[analysis.name][0])
    for name, node in (cfg.get("evals") or {}).items():
        if OmegaConf.is_config(node) and node.get("task") in TASKS:
            check_fields(f"evals.{name}.", node, TASKS[node.task][0])


def check_keys(cfg: DictConfig) -> None:
    """No key outside the schemas (a `+eval.limt=20` typo would otherwise be ignored)."""
    from dataclasses import fields
    from difflib import get_close_matches

    from steerlab.config import GROUP_SCHEMAS, Config

    def unknown(where: str, key: str, known: set[str]) -> ConfigError:
        near = get_close_matches(key, sorted(known), n=1)
        return ConfigError(f"{where}{key}: unknown key" + (f" (did you mean {where}{near[0]}?)" if near else f"; known: {sorted(known)}"))

    top = {f.name for f in fields(Config)} | {"hydra"}
    for key in cfg:
        if key not in top:
            raise unknown("", key, top)
    for group, schema in GROUP_SCHEMAS.items():
        known = {f.name for f in fields(schema)}
        for key in cfg.get(group) or {}:
            if key not in known:
                raise unknown(f"{group}.", key, known)
