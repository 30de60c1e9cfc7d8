"""A run folder's record, in one place: its state (`Status`), `status.json`, `summary.json`, strict JSON, the results index
of finished runs and the claims that keep two jobs from computing one identity. run, cli, sweeper and the reports go
through this module; nothing else writes these files.

    <run>/status.json       Status (running | computed | reused | failed), identity, overrides, code, error or source
    <run>/summary.json      every metric of the run (strict JSON: non-finite numbers listed under `nonfinite`)
    <index>/<identity>.json the folder that finished with that identity (`Index`)
    <index>/<identity>.claim held by the job computing that identity (`Claim`)
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Callable, ClassVar, Iterator

from steerlab.errors import ConfigError
from steerlab.reuse import code_version

log = logging.getLogger(__name__)


class Status(str, Enum):
    """A run folder's state, as status.json spells it."""

    running = "running"  # started (a preempted job resumes from here)
    computed = "computed"  # finished here; its summary is the result
    reused = "reused"  # finished elsewhere with the same identity; summary and results copied here
    failed = "failed"  # stopped by an error, recorded with its one-line message


FINISHED = (Status.computed.value, Status.reused.value)  # the states whose folder holds a summary the reports read


@dataclass
class Summary(MutableMapping):
    """A steering run's summary.json: the keys every run has, typed, and its metrics: per task `<task>/<metric>`
    (`task(name)` gives them unprefixed) and the run-wide fit, strength, ladder, timing and memory keys. It reads and
    writes as one flat mapping (`summary["builtin/gain"]`, `summary["method"]`), which is what summary.json holds."""

    method: str
    tasks: list[str]
    steer_layers: list[int]
    loss_layer: int
    coeffs: list[float]
    metrics: dict = field(default_factory=dict)

    KEYS: ClassVar[tuple[str, ...]] = ("method", "tasks", "steer_layers", "loss_layer", "coeffs")

    @classmethod
    def from_dict(cls, data: dict) -> Summary:
        missing = [k for k in cls.KEYS if k not in data]
        if missing:
            raise ConfigError(f"a steering run's summary lacks {missing} (is it an analysis run's, or from an older steerlab?)")
        return cls(**{k: data[k] for k in cls.KEYS}, metrics={k: v for k, v in data.items() if k not in cls.KEYS})

    def task(self, name: str) -> dict:
        return {k[len(name) + 1 :]: v for k, v in self.metrics.items() if k.startswith(f"{name}/")}

    def __getitem__(self, key: str):
        return getattr(self, key) if key in self.KEYS else self.metrics[key]

    def __setitem__(self, key: str, value) -> None:
        if key in self.KEYS:
            setattr(self, key, value)
        else:
            self.metrics[key] = value

    def __delitem__(self, key: str) -> None:
        if key in self.KEYS:
            raise KeyError(f"{key} is a key every summary has")
        del self.metrics[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.KEYS
        yield from self.metrics

    def __len__(self) -> int:
        return len(self.KEYS) + len(self.metrics)


def write_summary(folder: Path, summary: Summary | dict) -> None:
    """`<run>/summary.json`, strict JSON (a steering run's Summary, or an analysis run's dict)."""
    dump_json(Path(folder) / "summary.json", dict(summary))


def read_summary(folder: Path) -> dict:
    return load_json(Path(folder) / "summary.json")


class Index:
    """`<root>/<identity>.json` → the run folder that finished with that identity.

    The folder is stored relative to the index, so an outputs tree moved or committed as a whole (a long grid carried
    across machines) still finds its runs; an absolute path (entries written before) is read as it is."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()

    def find(self, ident: str) -> Path | None:
        """The finished run folder for `ident`, if its summary is still there and names the same identity."""
        entry = self.root / f"{ident}.json"
        if not entry.is_file():
            return None
        folder = (self.root / json.loads(entry.read_text())["run_dir"]).resolve()
        status = folder / "status.json"
        if not (folder / "summary.json").is_file() or not status.is_file():
            return None
        info = json.loads(status.read_text())
        return folder if info.get("identity") == ident and info.get("status") == Status.computed else None

    def record(self, ident: str, folder: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{ident}.{os.getpid()}.tmp"
        run_dir = os.path.relpath(Path(folder).resolve(), self.root)
        tmp.write_text(json.dumps({"run_dir": run_dir, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}))
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


def write_status(folder: Path, status: Status, **fields) -> None:
    """`<run>/status.json`: the run's state, with identity, overrides and error or source, and the source hash (`code`)
    of this process, or for a reused result the one it was computed with (pass `code=`)."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"status": Status(status).value, **fields, "code": fields["code"] if "code" in fields else code_version()}
    dump_json(folder / "status.json", record)


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
