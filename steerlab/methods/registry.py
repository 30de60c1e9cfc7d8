"""The registry of steering methods: name -> (config dataclass, class). Every module of steerlab.methods is imported
here, and each method registers itself with `@registered(Config)` (steerlab.methods.base): adding a method touches
no file but its own and its conf/adapter/<name>.yaml."""

from __future__ import annotations

import importlib
import pkgutil

import steerlab.methods
from steerlab.methods.base import METHODS, Method

NOT_METHODS = {"base", "registry", "store", "vector", "trained", "peft_base"}  # the package's shared modules
for module in pkgutil.iter_modules(steerlab.methods.__path__):  # each method module registers itself (@registered)
    if module.name not in NOT_METHODS:
        importlib.import_module(f"steerlab.methods.{module.name}")


def build(cfg) -> Method:
    """A method from its config (DictConfig, dataclass or dict with `name`), validated against its schema."""
    typed_cfg, (_, cls) = METHODS.resolve(cfg, "adapter")
    return cls(typed_cfg)


def trainable_names() -> list[str]:
    """Methods trained by steerlab.train (the contract tests run over these)."""
    return sorted(n for n, (_, cls) in METHODS.items() if cls.is_trained)
