"""Batch sizes that fit (`model.batch_size: auto`): a phase runs at its batch size, and on out-of-memory runs again at
half of it, down to 1 (accelerate's `find_executable_batch_size`). The size that fitted is remembered per (model,
phase), so later calls of the same phase start there. A model loaded with a number for `model.batch_size` runs
every phase at its configured size, and an out-of-memory error ends the run as it always did."""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

import torch
from accelerate.utils import find_executable_batch_size

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTR = "_steerlab_auto_batch"  # set on a model loaded with model.batch_size=auto: {phase: the batch size that fitted}
CUDA_START = 256  # the first size tried on a GPU under `auto` (capped by the phase's item count where the phase knows it)


def enable(model, on: bool = True) -> None:
    """Mark `model` for automatic batch sizes (models.load does this for model.batch_size=auto)."""
    if on:
        setattr(model, ATTR, {})
    elif hasattr(model, ATTR):
        delattr(model, ATTR)


def start_size(model, configured: int) -> int:
    """Where `auto` starts: on a GPU, the largest size worth trying; elsewhere (an out-of-memory on the host is a
    killed process, not an exception) the phase's configured size."""
    on_gpu = any(p.is_cuda for p in model.parameters())
    return max(configured, CUDA_START) if on_gpu else configured


def run(model, phase: str, size: int, fn: Callable[[int], T], items: int | None = None) -> T:
    """fn(batch_size) for one whole phase. Under `auto`: started at the size this phase fitted before (else
    `start_size`), halved and run again from scratch after an out-of-memory error."""
    found = getattr(model, ATTR, None)
    if found is None:
        return fn(size)
    start = found.get(phase) or start_size(model, size)
    if items:
        start = max(1, min(start, items))
    tried = [start]

    def halve() -> int:
        tried.append(tried[-1] // 2)
        log.warning("%s: out of memory at batch size %d; trying %d", phase, tried[-2], tried[-1])
        return tried[-1]

    def attempt(batch_size: int) -> T:
        out = fn(batch_size)
        found[phase] = batch_size
        return out

    try:
        return find_executable_batch_size(attempt, starting_batch_size=start, reduce_batch_size_fn=halve)()
    except RuntimeError as e:
        if "reached zero" in str(e):
            raise torch.OutOfMemoryError(f"{phase}: out of memory even at batch size 1") from None
        raise


def sizes(model) -> dict:
    """{phase: batch size that fitted} of a model under `auto` ({} otherwise)."""
    return dict(getattr(model, ATTR, None) or {})
