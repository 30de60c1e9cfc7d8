"""Peak memory of this process: resident set on the host, allocated memory on each CUDA device."""

from __future__ import annotations

import resource
import sys

import torch


def peak() -> dict:
    """{'peak_rss_gb': host peak resident set, 'peak_gpu_gb': the largest CUDA peak allocation (absent without CUDA)}."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    out = {"peak_rss_gb": rss / (2**30 if sys.platform == "darwin" else 2**20)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_gpu_gb"] = max(torch.cuda.max_memory_allocated(d) for d in range(torch.cuda.device_count())) / 2**30
    return out


def line(summary: dict) -> str:
    """'peak memory: 2.25 GB host (RSS), 11.3 GB GPU (allocated)' from a summary holding `peak()`'s keys."""
    parts = [f"{summary['peak_rss_gb']:.2f} GB host (RSS)"]
    if "peak_gpu_gb" in summary:
        parts.append(f"{summary['peak_gpu_gb']:.2f} GB GPU (allocated, largest device)")
    return "peak memory: " + ", ".join(parts)
