"""A registry: name -> (config dataclass, implementation, ...), and the one `resolve` every registry builds with."""

from __future__ import annotations

from omegaconf import DictConfig

from steerlab.config import plain, typed
from steerlab.errors import ConfigError


class Registry(dict):
    """`{name: (schema, implementation, *extra)}`; `resolve` validates a config against its entry's schema.

    `kind` names what is registered in errors ("method", "task"); `key` is the config field that picks the entry.
    """

    def __init__(self, kind: str, entries: dict, key: str = "name", default: str | None = None):
        super().__init__(entries)
        self.kind, self.key, self.default = kind, key, default

    def resolve(self, cfg, where: str, typed_where: str | None = None) -> tuple[DictConfig, tuple]:
        """(typed config, entry) for `cfg`; `where` prefixes errors (`adapter` → `adapter.name='x': unknown method; …`)."""
        raw = plain(cfg) or ({self.key: self.default} if self.default else {})
        name = raw.get(self.key, self.default)
        if name not in self:
            raise ConfigError(f"{where}.{self.key}={name!r}: unknown {self.kind}; choose one of {sorted(self)}")
        entry = self[name]
        return typed(entry[0], raw, typed_where or f"{where}.{name}"), entry
