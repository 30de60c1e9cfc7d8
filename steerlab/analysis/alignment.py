"""Cross-method alignment: cosine similarity between the directions of several methods, per layer.

Vector methods (pca, mean, probe, jacobian, random, svd_delta is not a residual vector and is left out)
give their fitted direction; a trained adapter (ipissa, lora, ...) gives its *effective* direction, the mean
change of the layer's last-token output between c = +1 and c = −1 over the training prompts. Every method's
sign is calibrated on the training pairs first, so a positive cosine means "the same way". The null is the
distribution of |cos| between independent random directions in d dimensions (`n_null` samples): its 95th
percentile, and a p-value per observed |cos|.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np
import pandas as pd
import torch

from steerlab.errors import ConfigError
from steerlab.fields import ranged
from steerlab.linalg import unit


@dataclass
class AlignmentConfig:
    name: str = "alignment"
    methods: List[str] = field(default_factory=lambda: ["pca", "mean", "probe", "jacobian"])
    n_null: int = ranged(2000, ">=1")


def effective_directions(method, ctx) -> dict[int, torch.Tensor]:
    """Mean (h(+1) − h(−1)) of each steered layer's last-token output over the training prompts."""
    from steerlab.activations import last_tokens
    from steerlab.steering import steer

    mods = ctx.placement.decoder(ctx.model)
    texts = [p.pos for p in ctx.train] + [p.neg for p in ctx.train]
    states = {}
    for c in (1.0, -1.0):
        with steer(ctx.model, method, c):
            states[c] = last_tokens(
                ctx.model, ctx.tok, texts, {l: mods[l] for l in ctx.steer_layers}, ctx.batch_size, desc=f"effective c={c:+g}"
            )
    return {l: (states[1.0][l] - states[-1.0][l]).mean(0) for l in ctx.steer_layers}


def check(cfg) -> None:
    """Before any model work: every listed method exists and has a residual-stream direction."""
    from steerlab.methods.registry import METHODS

    usable = sorted(name for name, (_, cls) in METHODS.items() if cls.has_direction)
    for name in cfg.methods:
        if name not in usable:
            raise ConfigError(f"analysis.methods: {name!r} has no residual-stream direction here; choose from {usable}")
    if len(cfg.methods) < 2:
        raise ConfigError(f"analysis.methods={list(cfg.methods)}: alignment needs at least two methods")


def method_directions(name: str, ctx) -> dict[int, torch.Tensor]:
    from steerlab.fitting import fit
    from steerlab.methods.registry import build
    from steerlab.steering import applied

    method = build({"name": name})
    fit(method, ctx)
    raw = (
        {l: v * applied(method, 1.0) for l, v in method.vector.layers.items()}
        if hasattr(method, "vector")
        else effective_directions(method, ctx)
    )
    return {l: unit(v.float()) for l, v in raw.items()}


def null_cosines(d: int, n: int, seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    return torch.nn.functional.cosine_similarity(a, b).abs().numpy()


def table(dirs: dict[str, dict[int, torch.Tensor]], null: np.ndarray) -> pd.DataFrame:
    names, rows = list(dirs), []
    layers = sorted(set.intersection(*(set(d) for d in dirs.values())))
    for l in layers:
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                cos = float(dirs[a][l] @ dirs[b][l])
                rows.append({"layer": l, "a": a, "b": b, "cos": cos, "p_null": float((null >= abs(cos)).mean())})
    return pd.DataFrame(rows)


def plot(frame: pd.DataFrame, names: list[str], p95: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from steerlab.plots import saved

    mean = frame.groupby(["a", "b"])["cos"].mean()
    m = np.eye(len(names))
    for (a, b), v in mean.items():
        i, j = names.index(a), names.index(b)
        m[i, j] = m[j, i] = v
    fig, (h, ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    im = h.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
    h.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names, title="mean cosine over layers")
    for i in range(len(names)):
        for j in range(len(names)):
            h.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8, color="white" if abs(m[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=h, fraction=0.046)
    for (a, b), g in frame.groupby(["a", "b"]):
        ax.plot(g["layer"], g["cos"], marker="o", ms=3, label=f"{a}·{b}")
    ax.axhspan(-p95, p95, color="grey", alpha=0.2, label="random null (95%)")
    ax.set(xlabel="layer", ylabel="cosine", title="per layer")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7)
    return saved(fig, path)


def alignment(cfg, ctx, folder: Path, logger, run_cfg=None) -> dict:
    dirs = {name: method_directions(name, ctx) for name in cfg.methods}
    d = next(iter(next(iter(dirs.values())).values())).numel()
    null = null_cosines(d, cfg.n_null, ctx.seed)
    p95 = float(np.quantile(null, 0.95))
    frame = table(dirs, null)
    frame.to_csv(folder / "alignment.csv", index=False)
    image = plot(frame, list(dirs), p95, folder / "alignment.png")
    logger.table("alignment", frame)
    logger.image("alignment", image)
    means = frame.groupby(["a", "b"])["cos"].mean()
    return {"null_abs_cos_p95": p95, **{f"mean_cos/{a}.{b}": float(v) for (a, b), v in means.items()}}
