"""Turn user errors (bad config, missing files) into one line on stderr; bugs keep their full traceback."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from steerlab.errors import ConfigError, SteerlabError
from steerlab.messages import one_line


@contextmanager
def tidy_errors() -> Iterator[None]:
    """Ask Hydra to raise instead of printing, then print user errors as `error: ...` and exit 2."""
    full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    except (SteerlabError, HydraException, OmegaConfBaseException) as ex:
        if full:
            raise
        print(f"error: {one_line(ex)}", file=sys.stderr)
        sys.exit(2)


def check_outputs(argv: list[str]) -> None:
    """The folders Hydra writes into (STEERLAB_OUTPUTS, or hydra.run.dir / hydra.sweep.dir given on the command line) can
    be created and written: one line before Hydra touches them, instead of its chained tracebacks. Creates nothing."""
    paths = [("STEERLAB_OUTPUTS", os.environ.get("STEERLAB_OUTPUTS") or "outputs")]
    paths += [(arg.split("=", 1)[0], arg.split("=", 1)[1]) for arg in argv if arg.startswith(("hydra.run.dir=", "hydra.sweep.dir="))]
    for key, path in paths:
        if "${" in path:
            continue
        where = Path(path).expanduser().absolute()
        existing = next(p for p in (where, *where.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(
                f"{key}={where}: cannot write there ({existing} is {'not a folder' if not existing.is_dir() else 'not writable'}); "
                f"choose another {key}"
            )


def console_handler():
    """Rich log handler; wide lines when not on a terminal so log files are not wrapped at 80 columns."""
    from rich.console import Console
    from rich.logging import RichHandler

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    return RichHandler(console=console, show_path=False, markup=False)


def match_allocated_cpus() -> None:
    """Inside a SLURM job, torch uses as many threads as the job was given CPUs (SLURM_CPUS_PER_TASK) unless
    OMP_NUM_THREADS says otherwise. torch counts the CPUs it may run on, and a cluster that does not confine jobs
    to their CPUs lets it count the whole node: two threads on a one-CPU job of the local test cluster made a tiny
    training run 20 times slower (BENCHMARKS.md, launcher overhead)."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if cpus.isdigit() and int(cpus) > 0 and "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(int(cpus))


def task(cfg) -> float:
    """The Hydra task: run one experiment.

    A single run turns a user error into one line and exit 2. In a multirun a failing job (any exception)
    is recorded in its run folder's status.json and returns NaN, so the other jobs go on and the sweep
    report lists it.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from steerlab.run import run  # heavy imports only after the config composed

    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    match_allocated_cpus()
    try:
        return run(cfg)
    except SteerlabError as ex:
        if multirun:
            return failed(cfg, ex)
        print(f"error: {one_line(ex)}", file=sys.stderr)
        drop_unused_folder(Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None)
        raise SystemExit(2) from None
    except Exception as ex:  # noqa: BLE001 - a crash in one sweep job must not take the others down
        if multirun and not type(ex).__module__.startswith("submitit"):  # submitit's own (requeue) errors pass
            return failed(cfg, ex)
        raise


def drop_unused_folder(folder: Path | None) -> None:
    """Remove Hydra's run folder of a run rejected before any work (it holds only `.hydra/` and the log)."""
    import shutil

    if folder is None or not folder.is_dir() or (folder / "status.json").exists():
        return
    if all(p.name == ".hydra" or p.suffix == ".log" for p in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)
        for parent in (folder.parent, folder.parent.parent):  # the day's folder and `runs/`, when this was their only run
            try:
                parent.rmdir()
            except OSError:
                break


def failed(cfg, ex: BaseException) -> float:
    import logging
    import traceback

    from steerlab.record import Status, write_status
    from steerlab.run import run_dir_of, task_overrides

    folder = run_dir_of(cfg)
    message = one_line(ex) if isinstance(ex, (SteerlabError, HydraException, OmegaConfBaseException)) else f"{type(ex).__name__}: {ex}"
    write_status(folder, Status.failed, error=message, overrides=task_overrides(), traceback=traceback.format_exc(limit=20))
    logging.getLogger("steerlab").error("job failed: %s (details in %s/status.json)", message, folder)
    return float("nan")
