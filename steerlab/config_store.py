"""Every schema in Hydra's ConfigStore: the group schemas, and one entry per registered method and task."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from steerlab.config import GROUP_SCHEMAS, REPO_ROOT, Config
from steerlab.methods.registry import METHODS
from steerlab.tasks.registry import TASKS


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (YAML files name them in their defaults), and the resolvers."""
    if not OmegaConf.has_resolver("repo"):
        OmegaConf.register_new_resolver("repo", lambda: str(REPO_ROOT))
    if not OmegaConf.has_resolver("run_label"):  # run folders are named after the analysis when there is one
        OmegaConf.register_new_resolver("run_label", lambda adapter, analysis=None: analysis if analysis not in (None, "none") else adapter)
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=f"schema/{group}", name="base", node=schema)
    for name, (schema, _cls) in METHODS.items():
        cs.store(group="schema/adapter", name=name, node=schema)
    for name, (schema, _cls) in TASKS.items():
        cs.store(group="schema/task", name=name, node=schema)
