"""Figures are written one way: tight layout, 120 dpi, closed after saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def saved(fig, path: Path) -> Path:
    """Write `fig` to `path` and close it; returns the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
