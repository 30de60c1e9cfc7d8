"""Config rules on the fields: each numeric field of a config dataclass states its allowed range where it is declared
(`beta: float = ranged(1.0, ">0")`), and `check_fields` holds a config section to them (one line naming the field).

A rule is `>=a`, `>a`, `[a,b]`, `[a,b)`, `(a,b)` or `(a,b]`, or `any` where another check owns the range (layer
positions, against the model's depth: steerlab.layers). steerlab.ranges applies them to a whole run config.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import field

from steerlab.errors import ConfigError


def ranged(default, rule: str, identity: bool | str = True):
    """A numeric config field with its allowed range: `beta: float = ranged(1.0, ">0")` (`identity`: see below)."""
    return field(default=default, metadata={"range": rule, "identity": identity})


# Whether a field enters a run's identity (steerlab.reuse.effective), stated on the field as metadata["identity"]:
# True (the default: it can change a result), False (how a run is carried out or where it writes: never),
# "trained" (a group only trained adapters read), "source=arch" (a model key only `source: arch` reads), or
# "run" (counts for a run but not for a fit: where a converted model is kept; kept so finished runs keep their identity).
NOT_IN_IDENTITY = {"identity": False}
TRAINED_ONLY = {"identity": "trained"}
ARCH_ONLY = {"identity": "source=arch"}
RUN_ONLY = {"identity": "run"}


def counts(f: dataclasses.Field, node, trained: bool, fit: bool = False) -> bool:
    """Whether field `f` of config section `node` enters the identity of a run, or with `fit` of a fitted method (the fit
    cache: every field but the False and "run" ones; it never read the source condition, so its entries keep their keys)."""
    rule = f.metadata.get("identity", True)
    if fit:
        return rule not in (False, "run")
    if rule == "trained":
        return trained
    if rule == "source=arch":
        return node.get("source") == "arch"
    if rule == "run":
        return not fit
    return bool(rule)


def rules_of(schema: type) -> dict[str, str]:
    """{field: rule} of a config dataclass's numeric fields that state one."""
    return {f: own_rule(schema, f) for f in numeric_fields(schema) if own_rule(schema, f)}


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


def check_fields(prefix: str, node, schema: type) -> None:
    """Every numeric field of `node` (a config section validated against `schema`) inside its rule."""
    for name, rule in rules_of(schema).items():
        value = node.get(name) if hasattr(node, "get") else getattr(node, name, None)
        if value is None or isinstance(value, bool):
            continue
        if not math.isfinite(float(value)) or not allows(rule, float(value)):
            raise ConfigError(f"{prefix}{name}={value} must be {describe(rule)}")
    for f in dataclasses.fields(schema):  # nested dataclass sections (model.tiny)
        if dataclasses.is_dataclass(f.type) if isinstance(f.type, type) else False:
            check_fields(f"{prefix}{f.name}.", node.get(f.name), f.type)
