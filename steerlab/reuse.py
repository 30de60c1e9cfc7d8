"""A run's identity: the hash of its *effective* config and of the code that computes it (steerlab.record keeps the index
of finished runs by identity).

Two cells of a sweep share an identity when every key that can change the result is equal. Each config field says
whether it counts, in its own metadata (steerlab.fields: NOT_IN_IDENTITY, TRAINED_ONLY, ARCH_ONLY, RUN_ONLY); today: logger, launcher
(hydra), run-folder keys never count; `train` and `loss_space` count only for trained adapters, and not `train.resume`,
`checkpoint_every` or `diverge_factor`; a top-level shorthand (`rotate_u`, see `steerlab.config.shorthands`) counts only
through the groups that read it (ipissa's `adapter.rotate_u`); `model.arch`, `model.layers` and `model.tokenizer` count
only for `source: arch`. The code version (package version and a hash of the computing source) is part of the identity,
so a result is never reused across code changes — unless the config pins it: `code_version=<label>` puts the label in
the identity instead, so a long grid (sweeps/headline.yaml) resumes across code changes that move no number; bump the
label when a change can. Every status.json records the source hash its result was computed with (`code`), and the sweep
report lists the hashes when a sweep mixes several."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

# only read finished runs, schedule them or keep their records: editing them never changes a result
READ_ONLY = ("report", "sweeper.py", "record.py")


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version + a hash of the source that computes results (see `source_hash`)."""
    import steerlab

    return f"{steerlab.__version__}+src.{source_hash(Path(steerlab.__file__).resolve().parent)}"


def source_hash(root: Path, skip: tuple[str, ...] = READ_ONLY) -> str:
    """Hash of every `.py` file under `root` except those whose first path part is in `skip` (default READ_ONLY: the sweep
    report and the sweeper; the fit cache skips every module a fit never runs, `steerlab.cache.FIT_CODE_SKIP`).

    A content hash rather than the git commit: a commit that touches only docs, tests, sweeps or the report reuses
    finished cells (a long grid resumes across such commits), while any edit to the computing code, committed or
    not, changes every identity.
    """
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] not in skip:
            digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def effective(cfg: DictConfig) -> dict:
    """The resolved config restricted to keys that can change this run's result: each field says whether it counts
    (metadata "identity", steerlab.fields.counts); Hydra's own node and the shorthands never do."""
    from dataclasses import fields

    from steerlab.config import GROUP_SCHEMAS, Config, shorthands
    from steerlab.fields import counts
    from steerlab.methods.registry import trainable_names

    trained = cfg.adapter.name in trainable_names()
    top = {f.name: f for f in fields(Config)}
    data = {}
    for key in cfg:
        if key == "hydra" or key in shorthands() or (key in top and not counts(top[key], cfg, trained)):
            continue
        value = cfg[key]  # resolved against the whole config, so a shorthand interpolated inside a group still counts there
        data[key] = OmegaConf.to_container(value, resolve=True, enum_to_str=True) if OmegaConf.is_config(value) else value
        for f in fields(GROUP_SCHEMAS[key]) if key in GROUP_SCHEMAS else []:
            if not counts(f, value, trained):
                data[key].pop(f.name, None)
    pinned = cfg.get("code_version", "auto")
    data["code"] = code_version() if pinned == "auto" else f"pinned:{pinned}"
    return data


def identity(cfg: DictConfig) -> str:
    text = json.dumps(effective(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
