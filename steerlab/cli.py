"""Turn user errors (bad config, missing files) into one line on stderr; bugs keep their full traceback."""
from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from typing import Iterator

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from steerlab.errors import SteerlabError


def one_line(ex: BaseException) -> str:
    """The first meaningful line of an error and of its cause, with Hydra's option lists folded in."""
    text = str(ex)
    options = re.search(r"Available options in '([^']+)':\s*\n((?:\t.*\n?)+)", text)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(ex).__name__)
    if options:
        first += f" (available: {', '.join(o.strip() for o in options.group(2).splitlines() if o.strip())})"
    cause = ex.__cause__
    if cause is not None and str(cause).strip():
        first += f": {str(cause).strip().splitlines()[0]}"
    return first


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


def console_handler():
    """Rich log handler; wide lines when not on a terminal so log files are not wrapped at 80 columns."""
    from rich.console import Console
    from rich.logging import RichHandler

    console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    return RichHandler(console=console, show_path=False, markup=False)


def task(cfg) -> float:
    """The Hydra task: run one experiment. A user error in a single run exits 2 with one line on stderr."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from steerlab.run import run  # heavy imports only after the config composed

    try:
        return run(cfg)
    except SteerlabError as ex:
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        print(f"error: {one_line(ex)}", file=sys.stderr)
        raise SystemExit(2) from None
