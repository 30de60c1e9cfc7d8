"""The allowed range of every numeric config field, and no key outside the schemas, checked before any model work
(one line naming the field).

`rules()` maps a config dataclass to {field: rule}; a rule is `>=a`, `>a`, `[a,b]`, `[a,b)`, `(a,b)` or `(a,b]`, or
`any` for fields whose range another check owns (layer positions: `steerlab.layers`, against the model's depth).
A method's own dataclass may state a field's rule in its metadata (`field(default=0.5, metadata={"range": "(0,1)"})`),
so adding a method touches no file but its own. tests/test_ranges.py checks that every int/float field of every schema
has a rule and that a value outside it fails.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing

from omegaconf import DictConfig, OmegaConf

from steerlab.errors import ConfigError

POSITIVE, COUNT, NONNEG, FRACTION_OPEN, PROB = ">0", ">=1", ">=0", "(0,1)", "[0,1]"


def rules() -> dict[type, dict[str, str]]:
    """{schema: {field: rule}} for the group schemas, every method, analysis and task."""
    from steerlab.analysis.registry import ANALYSES
    from steerlab.config import (
        Config,
        DataConfig,
        EvalConfig,
        LayersConfig,
        LossSpaceConfig,
        MetricConfig,
        ModelConfig,
        StrengthConfig,
        TinyConfig,
        TrainConfig,
    )
    from steerlab.methods.registry import METHODS
    from steerlab.tasks.registry import TASKS

    table: dict[type, dict[str, str]] = {
        Config: {"seed": NONNEG, "cone_min": NONNEG},
        ModelConfig: {"layers": COUNT},  # batch_size is a number or 'auto': models.check_batch_size
        TinyConfig: {k: COUNT for k in ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads", "vocab_size")},
        LayersConfig: {"start": "any", "end": "any", "loss": "any"},
        LossSpaceConfig: {
            "beta": POSITIVE,
            "tokens": COUNT,
            "coh_weight": NONNEG,
            "coh_margin": NONNEG,
            "mono_weight": NONNEG,
            "mono_margin": NONNEG,
        },
        TrainConfig: {
            "steps": COUNT,
            "batch_pairs": COUNT,
            "grad_accum": COUNT,
            "max_grad_norm": POSITIVE,
            "val_every": NONNEG,
            "patience": COUNT,
            "checkpoint_every": NONNEG,
            "diverge_factor": ">1",
        },
        DataConfig: {"max_pairs": NONNEG, "val_fraction": FRACTION_OPEN, "readout_tokens": COUNT},
        EvalConfig: {
            "limit": COUNT,
            "val_fraction": "[0,1)",
            "batch_size": COUNT,
            "samples": NONNEG,
            "sample_tokens": COUNT,
            "coherence_nll": POSITIVE,
            "coherence_distinct": "(0,1]",
        },
        StrengthConfig: {
            "target": POSITIVE,
            "tokens": COUNT,
            "k_min": POSITIVE,
            "k_max": POSITIVE,
            "rtol": FRACTION_OPEN,
            "max_evals": ">=2",
            "batch_size": COUNT,
        },
        MetricConfig: {"n_boot": COUNT, "ci": FRACTION_OPEN, "side_min_items": COUNT},
    }
    method_rules = {
        "r": COUNT,
        "max_rotation_angle": "(0,3.14159)",
        "init_std": POSITIVE,
        "norm_fraction": POSITIVE,
        "chunk": COUNT,
        "alpha": POSITIVE,
        "block_size": COUNT,
        "hidden": COUNT,
        "max_iter": COUNT,
        "seed": NONNEG,
        "C": POSITIVE,
    }
    analysis_rules = {
        "n_null": COUNT,
        "max_pairs": COUNT,
        "n_perm": COUNT,
        "profile_prompts": COUNT,
        "n_cubes": COUNT,
        "overlap": FRACTION_OPEN,
        "cluster_dims": COUNT,
        "min_samples": COUNT,
        "layer": "any",
    }
    task_rules = {"limit": COUNT, "val_fraction": "[0,1)", "pmass_min": PROB, "tokens": COUNT}
    for schema in {s for s, _ in METHODS.values()}:  # a method's own file may give a field its range: field(metadata={"range": …})
        table[schema] = {
            f: own_rule(schema, f) or method_rules[f] for f in numeric_fields(schema) if own_rule(schema, f) or f in method_rules
        }
    for schema, *_ in ANALYSES.values():
        table[schema] = {f: analysis_rules[f] for f in numeric_fields(schema) if f in analysis_rules}
    for schema, _ in TASKS.values():
        table[schema] = {f: task_rules[f] for f in numeric_fields(schema) if f in task_rules}
    return table


def own_rule(schema: type, name: str) -> str | None:
    """The rule a dataclass field states itself (`field(default=…, metadata={"range": ">0"})`), if any."""
    return next((f.metadata.get("range") for f in dataclasses.fields(schema) if f.name == name), None)


def numeric_fields(schema: type) -> list[str]:
    """Names of the int / float (optionally Optional) fields of a dataclass."""
    hints = typing.get_type_hints(schema)
    out = []
    for f in dataclasses.fields(schema):
        t = hints[f.name]
        args = [a for a in typing.get_args(t) if a is not type(None)] if typing.get_origin(t) is typing.Union else [t]
        if len(args) == 1 and args[0] in (int, float):
            out.append(f.name)
    return out


def allows(rule: str, value: float) -> bool:
    if rule == "any":
        return True
    if rule.startswith((">=", ">")):
        bound = float(rule.lstrip(">="))
        return value >= bound if rule.startswith(">=") else value > bound
    lo_in, lo, hi, hi_in = re.fullmatch(r"([\[(])([^,]+),([^\])]+)([\])])", rule).groups()
    lo, hi = float(lo), float(hi)
    return (value >= lo if lo_in == "[" else value > lo) and (value <= hi if hi_in == "]" else value < hi)


def describe(rule: str) -> str:
    return {">=1": "an integer >= 1", ">=0": ">= 0", ">0": "> 0"}.get(rule, f"in {rule}" if rule[0] in "[(" else rule)


def check_section(prefix: str, node, schema: type, table: dict[type, dict[str, str]]) -> None:
    """Every numeric field of `node` (a config section validated against `schema`) inside its rule."""
    for name, rule in table.get(schema, {}).items():
        value = node.get(name) if hasattr(node, "get") else getattr(node, name, None)
        if value is None or isinstance(value, bool):
            continue
        if not math.isfinite(float(value)) or not allows(rule, float(value)):
            raise ConfigError(f"{prefix}{name}={value} must be {describe(rule)}")
    for f in dataclasses.fields(schema):  # nested dataclass sections (model.tiny)
        if dataclasses.is_dataclass(f.type) if isinstance(f.type, type) else False:
            check_section(f"{prefix}{f.name}.", node.get(f.name), f.type, table)


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
    table = rules()
    check_section("", cfg, Config, table)
    for group, schema in GROUP_SCHEMAS.items():
        if group in cfg:
            check_section(f"{group}.", cfg[group], schema, table)
    check_section("model.tiny.", cfg.model.tiny, TinyConfig, table)
    if cfg.adapter.name in METHODS:
        check_section("adapter.", cfg.adapter, METHODS[cfg.adapter.name][0], table)
    analysis = cfg.get("analysis")
    if analysis is not None and analysis.get("name") in ANALYSES:
        check_section("analysis.", analysis, ANALYSES[analysis.name][0], table)
    for name, node in (cfg.get("evals") or {}).items():
        if OmegaConf.is_config(node) and node.get("task") in TASKS:
            check_section(f"evals.{name}.", node, TASKS[node.task][0], table)


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
