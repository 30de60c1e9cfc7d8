"""An error as one line: what the CLI prints, and what a failed run's status.json records."""

from __future__ import annotations

import re

from steerlab.config import REPO_ROOT

CONF = REPO_ROOT / "conf"


def one_line(ex: BaseException) -> str:
    """The first meaningful line of an error and of its cause, with Hydra's option lists folded in."""
    text = str(ex)
    options = re.search(r"Available options in '([^']+)':\s*\n((?:\t.*\n?)+)", text)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(ex).__name__)
    missing = re.search(r"Could not load '([\w/]+)/([^'/]+)'", text)
    if options:
        first += f" (available: {', '.join(o.strip() for o in options.group(2).splitlines() if o.strip())})"
    elif missing and (CONF / missing.group(1)).is_dir():  # an unknown entry of a list group, e.g. evals=[builtin,nope]
        first += f" (available: {', '.join(sorted(p.stem for p in (CONF / missing.group(1)).glob('*.yaml')))})"
    cause = ex.__cause__
    if cause is not None and str(cause).strip():
        first += f": {str(cause).strip().splitlines()[0]}"
    return first
