"""A run's identity (hash of its *effective* config) and the index of finished runs that multiruns reuse.

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
import logging
import math
import os
import socket
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig, OmegaConf

from steerlab.errors import ConfigError

log = logging.getLogger(__name__)
READ_ONLY = ("report", "sweeper.py")  # only read finished runs or schedule them: editing them never changes a result


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


class Index:
    """`<root>/<identity>.json` → the run folder that finished with that identity."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()

    def find(self, ident: str) -> Path | None:
        """The finished run folder for `ident`, if its summary is still there and names the same identity."""
        entry = self.root / f"{ident}.json"
        if not entry.is_file():
            return None
        folder = Path(json.loads(entry.read_text())["run_dir"])
        status = folder / "status.json"
        if not (folder / "summary.json").is_file() or not status.is_file():
            return None
        info = json.loads(status.read_text())
        return folder if info.get("identity") == ident and info.get("status") == "computed" else None

    def record(self, ident: str, folder: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{ident}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"run_dir": str(Path(folder).resolve()), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}))
        os.replace(tmp, self.root / f"{ident}.json")


@lru_cache(maxsize=1)
def boot_id() -> str:
    """This machine's boot (Linux); "" where the kernel does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class Claim:
    """`<index>/<identity>.claim`, created atomically by the job computing that identity, so a concurrent sweep
    waits for it and reuses the result instead of computing it twice. A claim whose process is gone (same host, and
    a dead pid or another boot: after a restart the pid may belong to someone else), that is older than `stale_s`, or
    that names this very run folder (a requeued job) is taken over."""

    def __init__(
        self,
        root: str | Path,
        ident: str,
        folder: Path,
        stale_s: float = 24 * 3600,
        poll_s: float = 2.0,
        find: Callable[[], Path | None] | None = None,
        what: str = "identity",
        every_s: float = 10.0,
    ):
        self.path = Path(root).expanduser().resolve() / f"{ident}.claim"
        self.ident, self.folder, self.stale_s, self.poll_s = ident, Path(folder).resolve(), stale_s, poll_s
        self.find = find or (lambda: Index(self.path.parent).find(self.ident))  # the finished result, once there is one
        self.what, self.every_s = what, every_s  # words for the waiting lines; seconds between them

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _stale(self, holder: dict) -> bool:
        if holder.get("folder") == str(self.folder):
            return True
        if holder.get("host") == socket.gethostname():
            if holder.get("boot", boot_id()) != boot_id():
                return True
            try:
                os.kill(int(holder["pid"]), 0)
            except (OSError, ValueError, KeyError):
                return True
        return time.time() - float(holder.get("time", 0)) > self.stale_s

    def acquire(self) -> Path | None:
        """Hold the claim (returns None), or return the folder of a finished run of this identity: one that finished
        before this job started, or the one another live job was computing while this one waited."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "boot": boot_id(), "time": time.time(), "folder": str(self.folder)}
        )
        started, said = time.monotonic(), -math.inf
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and self._stale(holder):
                    self.path.unlink(missing_ok=True)
                    continue
                done = self.find()
                if done is not None:
                    return done
                waited = time.monotonic() - started
                if waited - said >= self.every_s:  # a line every `every_s` seconds: a SLURM log shows the job is alive
                    log.info(
                        "%s %s is being computed by %s; waiting for it (%.0f s so far)",
                        self.what,
                        self.ident,
                        (holder or {}).get("folder", "another job"),
                        waited,
                    )
                    said = waited
                time.sleep(self.poll_s)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            done = self.find()  # finished between the sweep's plan and this job's start
            if done is not None and done.resolve() != self.folder:
                self.release()
                return done
            return None

    def release(self) -> None:
        holder = self._holder()
        if holder is not None and holder.get("folder") == str(self.folder):
            self.path.unlink(missing_ok=True)


def strict(obj, path: str = "", bad: dict | None = None):
    """`obj` with NaN / ±inf floats replaced by None; `bad` collects {dotted key: 'nan' | 'inf' | '-inf'}."""
    if isinstance(obj, dict):
        return {k: strict(v, f"{path}.{k}" if path else str(k), bad) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v, f"{path}[{i}]", bad) for i, v in enumerate(obj)]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        if bad is not None:
            bad[path] = "nan" if obj != obj else ("inf" if obj > 0 else "-inf")
        return None
    return obj


def dump_json(path: Path, data: dict) -> None:
    """Strict JSON (no NaN / Infinity tokens): non-finite numbers are null, listed under `nonfinite` to be read back."""
    bad: dict = {}
    clean = strict(data, bad=bad)
    if bad:
        clean["nonfinite"] = bad
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(clean, indent=2, allow_nan=False, default=str))
    os.replace(tmp, path)


def load_json(path: Path) -> dict:
    """A file written by dump_json, with its top-level non-finite numbers restored as floats."""
    data = json.loads(Path(path).read_text())
    for key, kind in data.pop("nonfinite", {}).items():
        if key in data:
            data[key] = float(kind)
    return data


def copy_result(source: Path, folder: Path) -> None:
    """A finished run's summary and per-item results into another run folder (a reused cell)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for path in [source / "summary.json", *sorted(source.glob("results_*.parquet"))]:
        if path.is_file():
            shutil.copy2(path, folder / path.name)


def write_status(folder: Path, status: str, **fields) -> None:
    """`<run>/status.json`: computed | reused | failed | running, with identity, overrides and error or source, and the
    source hash (`code`) of this process, or for a reused result the one it was computed with (pass `code=`)."""
    folder.mkdir(parents=True, exist_ok=True)
    dump_json(folder / "status.json", {"status": status, **fields, "code": fields["code"] if "code" in fields else code_version()})


def read_status(folder: Path) -> dict | None:
    path = Path(folder) / "status.json"
    return json.loads(path.read_text()) if path.is_file() else None


def writable(path: Path, key: str) -> None:
    """Create `path` if needed and check a file can be written there (one line, before any model work)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{key}={path}: cannot write there ({e.strerror}); choose another {key}") from None
