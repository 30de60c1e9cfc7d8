"""Fit once, evaluate many: fitted methods stored under their fit identity, with the strength calibrations and the
per-task rows computed for them (docs/sweeps.md); the KL probe's stored copy is steerlab.probe_store.

    <fit_cache_dir>/                    conf/config.yaml: ${STEERLAB_OUTPUTS:-outputs}/fits; `fit_cache=false` turns it all off
      <fit id>/method/                  the fitted, sign-calibrated method at scale 1 (steerlab.methods.store)
      <fit id>/fit.json                 what the fit measured (its summary keys), what it read, the code that computed it
      <fit id>/COMPLETE                 written last, with every file's size: an entry without it (or with a file of
                                        another size) is partial or corrupt, refit with a warning and never loaded
      <fit id>/strength/<key>.json      one strength calibration of this fit per strength config (scale and measurements)
      <fit id>/evals/<key>.parquet      one task's steered rows (item × coefficient ≠ 0) at one calibration; more append
      base/<key>.parquet                one task's rows at c = 0 per model: the unsteered model, shared by every method
      <fit id>.claim                    held by the job fitting this identity (steerlab.record.Claim): others wait, then load
      probes/<key>/                     the KL probe (base greedy continuations and base log-probs) per model, dtype,
                                        prompts and tokens

The fit identity hashes exactly what a fit reads (`fit_inputs`): the model (not where it is cached), the pairs
config, the layers, the method config and the seed, plus train and loss_space for trained adapters, plus a hash of
the code that runs during a fit (every module but FIT_CODE_SKIP). Strength, task and probe keys add the hash of all
computing code (`steerlab.reuse.code_version`). A config that pins `code_version=<label>` uses the label instead,
and an entry computed by other code is then reused with a warning naming both hashes, never silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from functools import lru_cache
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from steerlab.config import ModelConfig, TrainConfig
from steerlab.errors import ConfigError
from steerlab.fields import counts
from steerlab.record import Claim, dump_json, load_json, writable
from steerlab.reuse import code_version, source_hash

log = logging.getLogger(__name__)
# Modules that never run while a method fits (evaluation, strength, reports, orchestration, this cache): editing them
# keeps every fit identity, so cached fits survive changes to how they are evaluated.
FIT_CODE_SKIP = (
    "report",
    "sweeper.py",
    "run.py",
    "cli.py",
    "api.py",
    "export.py",
    "analysis",
    "tasks",
    "metrics.py",
    "strength.py",
    "generate.py",
    "likelihood.py",
    "plots.py",
    "ladder.py",
    "cache.py",
    "probe_store.py",
    "reuse.py",
    "record.py",
    "messages.py",
    "progress.py",
    "log.py",
)
MARKER = "COMPLETE"


def counted(node, schema: type) -> dict:
    """A config section as plain data, less the fields a fit's identity does not count (steerlab.fields.counts)."""
    drop = {f.name for f in dataclasses.fields(schema) if not counts(f, node, True, fit=True)}
    return {k: v for k, v in plain(node).items() if k not in drop}


def plain(node):
    """A config section resolved to plain data, enums as their values (stable text to hash across Python versions)."""
    return OmegaConf.to_container(node, resolve=True, enum_to_str=True) if OmegaConf.is_config(node) else node


def digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def fit_code() -> str:
    """Package version + a hash of the source a fit runs (every module but FIT_CODE_SKIP)."""
    import steerlab

    return f"{steerlab.__version__}+fit.{source_hash(Path(steerlab.__file__).resolve().parent, FIT_CODE_SKIP)}"


def pinned(cfg: DictConfig) -> str | None:
    label = cfg.get("code_version", "auto")
    return None if label == "auto" else f"pinned:{label}"


def fit_inputs(cfg: DictConfig) -> dict:
    """What a fit reads, resolved: model, data, layers, adapter and seed (and train, loss_space for trained adapters)."""
    from steerlab.methods.registry import trainable_names

    inputs = {key: plain(cfg[key]) for key in ("data", "layers", "adapter")} | {"model": counted(cfg.model, ModelConfig)}
    inputs["seed"] = cfg.seed
    if cfg.adapter.name in trainable_names():
        inputs["train"] = counted(cfg.train, TrainConfig)
        inputs["loss_space"] = plain(cfg.loss_space)
    inputs["code"] = pinned(cfg) or fit_code()
    return inputs


def fit_identity(cfg: DictConfig) -> str:
    return digest(fit_inputs(cfg))


def enabled(cfg: DictConfig) -> bool:
    return bool(cfg.get("fit_cache", True))


def root_of(cfg: DictConfig) -> Path:
    return Path(cfg.fit_cache_dir).expanduser().resolve()


def check_root(cfg: DictConfig) -> None:
    """A fit cache folder that cannot be written fails in one line, before any model work."""
    if not enabled(cfg):
        return
    writable(root_of(cfg), "fit_cache_dir")


def code_of(cfg: DictConfig) -> str:
    """What strength, task and probe keys carry for the code: the pin, or the hash of all computing source."""
    return pinned(cfg) or code_version()


class FitEntry:
    """One fit identity's folder: load the finished fit, store a new one, and the calibrations and task rows made with it."""

    def __init__(self, root: Path, ident: str):
        self.root, self.ident = Path(root), ident
        self.folder = self.root / ident

    # --- the fit ------------------------------------------------------------------------------
    def complete(self) -> bool:
        marker = self.folder / MARKER
        if not marker.is_file():
            return False
        try:
            sizes = json.loads(marker.read_text())["files"]
        except (OSError, ValueError, KeyError):
            return False
        return all((self.folder / rel).is_file() and (self.folder / rel).stat().st_size == size for rel, size in sizes.items())

    def found(self) -> Path | None:
        """The entry folder when it holds a complete fit (what a job waiting on the claim polls for)."""
        return self.folder if self.complete() else None

    def load(self):
        """(method, fit info) of a complete entry; None (after a warning, and the entry removed) if partial or unreadable.
        An entry's identity holds the fit code's hash unless code_version is pinned; then an entry computed by other code
        is reused with a warning that names both hashes."""
        from steerlab.methods.store import load

        if not self.folder.exists():
            return None
        if not self.complete():
            return self.discard("partial (no COMPLETE marker, or a file of another size than recorded)")
        try:
            info = json.loads((self.folder / "fit.json").read_text())
            method = load(self.folder / "method")
        except Exception as e:  # noqa: BLE001 - a corrupt safetensors or JSON file raises many types
            return self.discard(f"unreadable ({type(e).__name__}: {str(e)[:120]})")
        if info.get("source_code") != fit_code():
            log.warning(
                "fit cache: entry %s was fitted by code %s, this is %s; reused because code_version is pinned (%s)",
                self.folder,
                info.get("source_code"),
                fit_code(),
                info.get("code"),
            )
        return method, info

    def discard(self, why: str) -> None:
        log.warning("fit cache: entry %s is %s; fitting again", self.folder, why)
        shutil.rmtree(self.folder, ignore_errors=True)
        return None

    def store(self, method, info: dict, inputs: dict, run_folder: Path) -> None:
        """Write the fitted method (scale 1) and its info into a temporary folder, mark it complete, then move it in place."""
        from steerlab.methods.store import save

        tmp = self.root / f".{self.ident}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        scale, method.scale = method.scale, 1.0
        try:
            save(method, tmp / "method")
        finally:
            method.scale = scale
        record = {
            "info": info,
            "inputs": inputs,
            "code": inputs["code"],
            "source_code": fit_code(),
            "run_dir": str(run_folder),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        (tmp / "fit.json").write_text(json.dumps(record, indent=2, default=str))
        sizes = {p.relative_to(tmp).as_posix(): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MARKER).write_text(json.dumps({"files": sizes}))
        publish(tmp, self.folder)  # a refit (reuse=false) replaces the entry and what was computed with it

    # --- what is computed with it --------------------------------------------------------------
    def strength_path(self, key: str) -> Path:
        return self.folder / "strength" / f"{key}.json"

    def rows_path(self, key: str) -> Path:
        return self.folder / "evals" / f"{key}.parquet"


def publish(tmp: Path, folder: Path) -> None:
    """Move a finished temporary folder onto `folder`, replacing what was there (readers see the old one or the new one)."""
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def write_atomic(path: Path, write) -> None:
    """`write(tmp)` then move tmp onto `path` (a concurrent reader sees the old file or the new one, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


class FitCache:
    """The fit cache of one run: `fitted()` gives the method (loaded, or fitted and stored), `calibrated()` its
    strength, `rows()` each task's rows; every step computes only what the cache does not hold yet."""

    def __init__(self, cfg: DictConfig, run_folder: Path):
        self.cfg, self.run_folder = cfg, Path(run_folder)
        self.on = enabled(cfg)
        self.fresh = not cfg.get("reuse", True)  # reuse=false: fit, calibrate and evaluate again (and replace the entry)
        self.inputs = fit_inputs(cfg)
        self.ident = digest(self.inputs)
        self.entry = FitEntry(root_of(cfg), self.ident) if self.on else None

    def fitted(self, method, fit_fn) -> tuple[object, dict]:
        """(method, fit info): the cached fit of this identity, or `fit_fn()` (which fits `method` in place) stored in the cache."""
        if not self.on:
            return method, {**fit_fn(), "fit_reused": False}
        claim = Claim(self.entry.root, self.ident, self.run_folder, find=None if self.fresh else self.entry.found, what="fit")
        source = claim.acquire()
        try:
            cached = None if self.fresh else self.entry.load()
            if cached is not None:
                loaded, info = cached
                log.info("fit reused: identity %s from %s (fitted for %s); no fitting", self.ident, self.entry.folder, info.get("run_dir"))
                return loaded, {
                    **info["info"],
                    "fit_reused": True,
                    "fit_identity": self.ident,
                    "fit_source": str(self.entry.folder),
                    "fit_seconds": 0.0,
                    "fit_seconds_source": info["info"].get("fit_seconds"),
                }
            if source is not None:
                log.warning("fit cache: %s finished while this job waited but cannot be loaded; fitting here", source)
            info = fit_fn()
            self.entry.store(method, info, self.inputs, self.run_folder)
            log.info("fit stored in the fit cache: identity %s (%s)", self.ident, self.entry.folder)
            return method, {**info, "fit_reused": False, "fit_identity": self.ident, "fit_source": str(self.entry.folder)}
        finally:
            claim.release()

    def strength_key(self) -> str:
        return digest({"strength": plain(self.cfg.strength), "code": code_of(self.cfg)})

    def calibrated(self, method, calibrate_fn) -> dict:
        """Strength info: the calibration of this fit under this strength config when cached, else `calibrate_fn()` stored."""
        if not self.on:
            return calibrate_fn()
        path = self.entry.strength_path(self.strength_key())
        if path.is_file() and not self.fresh:
            try:
                info = load_json(path)
                method.scale = float(info["strength_scale"])
                method.meta.update(strength={k: v for k, v in info.items() if k != "strength_seconds"})
                log.info("strength reused: k = %.6g from %s", method.scale, path)
                return {**info, "strength_reused": True, "strength_seconds": 0.0, "strength_seconds_source": info.get("strength_seconds")}
            except (OSError, ValueError, KeyError) as e:
                log.warning("fit cache: strength entry %s unreadable (%s); calibrating again", path, e)
        info = calibrate_fn()
        path.parent.mkdir(parents=True, exist_ok=True)
        dump_json(path, info)  # strict JSON, atomic; finite floats round-trip exactly, NaN comes back through `nonfinite`
        return {**info, "strength_reused": False}

    def task_inputs(self, task, items: pd.DataFrame) -> dict:
        """What a task's rows read besides the steering: its config, its items' content and the batch size (padding)."""
        cfg = {k: v for k, v in plain(task.cfg).items() if k != "val_fraction"}
        content = hashlib.sha256(pd.util.hash_pandas_object(items.astype(str), index=True).to_numpy().tobytes()).hexdigest()
        return {
            "task": type(task).__name__,
            "cfg": cfg,
            "items": content,
            "batch_size": self.cfg.eval.batch_size,
            "code": code_of(self.cfg),
        }

    def rows_key(self, task, items: pd.DataFrame) -> str:
        """Steered rows depend on the fit, the calibration and the task's inputs."""
        return digest({"strength": self.strength_key(), **self.task_inputs(task, items)})

    def base_key(self, task, items: pd.DataFrame) -> str:
        """Rows at c = 0 depend on the model and the task's inputs only: c = 0 is the unsteered model for every method,
        bit for bit (tests/methods/test_registry.py, test_trained.py), so one file per model and task serves every fit."""
        model = counted(self.cfg.model, ModelConfig)
        return digest({"model": model, **self.task_inputs(task, items)})

    def rows(self, task, items: pd.DataFrame, coeffs: list[float], evaluate_fn) -> tuple[pd.DataFrame, list[float]]:
        """(rows at `coeffs` in a fresh run's order, the coefficients reused): cached coefficients are read, the others
        computed by `evaluate_fn(missing)` and added to the cache. The c = 0 rows are shared by every method on the model
        (`base/<key>.parquet`); the steered ones belong to this fit and calibration."""
        if not self.on:
            return evaluate_fn(coeffs), []
        frames, reused = {}, []
        if any(c == 0 for c in coeffs):
            path = root_of(self.cfg) / "base" / f"{self.base_key(task, items)}.parquet"
            zero, got = self.per_coeff(path, [0.0], evaluate_fn, f"{task.name} (c = 0, shared by every method)")
            frames[0.0], reused = zero, reused + got
        steered = [c for c in coeffs if c != 0]
        if steered:
            rows, got = self.per_coeff(self.entry.rows_path(self.rows_key(task, items)), steered, evaluate_fn, task.name)
            frames.update({c: rows[rows["coeff"] == c] for c in steered})
            reused += got
        ordered = [c for c in coeffs if c in reused]
        return pd.concat([frames[0.0 if c == 0 else c] for c in coeffs], ignore_index=True), ordered

    def walk_rows(self, tokens: int):
        """`measure(coeffs, fn)` for steerlab.ladder.walk: the ladder's rungs of this fit and calibration, cached per coefficient."""
        if not self.on:
            return None
        key = digest({"strength": self.strength_key(), "tokens": tokens, "code": code_of(self.cfg)})
        return lambda coeffs, fn: self.per_coeff(self.entry.folder / "ladder" / f"{key}.parquet", coeffs, fn, "ladder")[0]

    def per_coeff(self, path: Path, coeffs: list[float], compute_fn, what: str) -> tuple[pd.DataFrame, list[float]]:
        """Rows by coefficient stored at `path`: read the cached coefficients, compute and add the missing ones."""
        cached = pd.DataFrame()
        if path.is_file() and not self.fresh:
            try:
                cached = pd.read_parquet(path)
            except Exception as e:  # noqa: BLE001 - a truncated parquet raises the library's own error types
                log.warning("fit cache: %s rows %s unreadable (%s); computing again", what, path, e)
        have = set(cached["coeff"].tolist()) if len(cached) else set()
        missing = [c for c in coeffs if c not in have]
        reused = [c for c in coeffs if c in have]
        if reused:
            log.info("%s: rows at c = %s reused from %s", what, ", ".join(f"{c:+g}" for c in reused), path)
        if missing:
            new = compute_fn(missing)
            cached = pd.concat([cached, new], ignore_index=True) if len(cached) else new
            write_atomic(path, cached.to_parquet)
        parts = [cached[cached["coeff"] == c] for c in coeffs]  # a fresh run concatenates coefficients in this order
        return pd.concat(parts, ignore_index=True), reused


def check_cfg(cfg: DictConfig) -> None:
    """The cache keys' own checks (before any model work)."""
    if not isinstance(cfg.get("fit_cache", True), bool):
        raise ConfigError(f"fit_cache={cfg.fit_cache!r} must be true or false")
    check_root(cfg)
