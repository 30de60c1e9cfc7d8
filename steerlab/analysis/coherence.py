"""Group coherence of concept directions, and ablation profiles.

Each concept (group) has several persona pairs; each pair gives a mean-difference direction at `layer` from the
run's prompt template and suffixes. Reported:
- within-group vs background (between-group) cosine: the difference of means, Cohen's d, and a permutation
  p-value (group labels shuffled over directions, `n_perm` times);
- targeted pairwise comparisons: for groups A and B, each A direction's mean cosine to the other A directions
  against its mean cosine to the B directions, by a Wilcoxon signed-rank test (scipy);
- an ablation profile per group: its mean direction projected out of each steered layer's output, and the
  mean KL divergence of the next-token distribution on the validation prompts; with `compare_model`, the same
  profile on a second model at the same relative depths and the Spearman agreement of the two profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import combinations
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf
from scipy import stats

from steerlab.fields import ranged

DEFAULT_GROUPS = {
    "honesty": [["an honest", "a dishonest"], ["a truthful", "a deceitful"], ["a sincere", "an insincere"]],
    "kindness": [["a kind", "a cruel"], ["a compassionate", "a callous"], ["a caring", "an uncaring"]],
    "courage": [["a brave", "a cowardly"], ["a courageous", "a timid"], ["a bold", "a fearful"]],
}


@dataclass
class CoherenceConfig:
    name: str = "coherence"
    groups: Dict[str, List[List[str]]] = field(default_factory=lambda: DEFAULT_GROUPS)
    layer: Optional[float] = ranged(None, "any")  # None = the read-out layer; a fraction of depth or an index
    max_pairs: int = ranged(64, ">=1")  # pairs per persona pair
    n_perm: int = ranged(2000, ">=1")
    profile_prompts: int = ranged(16, ">=1")  # validation prompts the ablation profile is measured on
    compare_model: Optional[str] = None  # a model config name (conf/model) for the profile agreement


def pair_directions(ctx, data_cfg, personas: list[str], layers: list[int]) -> dict[int, torch.Tensor]:
    """Unit mean-difference direction of one persona pair at hidden_states[ℓ] for each ℓ (one extraction pass)."""
    from steerlab.activations import pair_states
    from steerlab.data import make_pairs
    from steerlab.layers import decoder_layers, readout

    cfg = OmegaConf.merge(data_cfg, {"personas": personas})
    train, _ = make_pairs(ctx.tok, cfg, ctx.seed)
    mods = decoder_layers(ctx.model, ctx.layers_path)
    pos, neg = pair_states(ctx.model, ctx.tok, train, {l: readout(mods, l) for l in layers}, ctx.batch_size)
    return {l: (lambda d: d / d.norm())((pos[l] - neg[l]).mean(0).double()) for l in layers}


def similarity_tests(dirs: dict[tuple[str, int], torch.Tensor], n_perm: int, seed: int) -> tuple[dict, pd.DataFrame]:
    keys = list(dirs)
    groups = np.array([g for g, _ in keys])
    sim = np.array([[float(dirs[a] @ dirs[b]) for b in keys] for a in keys])
    iu = np.triu_indices(len(keys), 1)

    def split(labels):
        same = labels[iu[0]] == labels[iu[1]]
        return sim[iu][same], sim[iu][~same]

    within, between = split(groups)
    observed = within.mean() - between.mean()
    rng = np.random.default_rng(seed)
    perms = [np.subtract(*[s.mean() for s in split(rng.permutation(groups))]) for _ in range(n_perm)]
    pooled = np.sqrt((within.var(ddof=1) + between.var(ddof=1)) / 2)
    overall = {
        "within_mean": float(within.mean()),
        "between_mean": float(between.mean()),
        "difference": float(observed),
        "cohens_d": float(observed / pooled) if pooled > 0 else float("nan"),
        "p_perm": float((1 + sum(p >= observed for p in perms)) / (1 + n_perm)),
    }
    rows = []
    names = list(dict.fromkeys(groups))
    for a, b in combinations(names, 2):
        for x, y in ((a, b), (b, a)):
            ia, ib = np.where(groups == x)[0], np.where(groups == y)[0]
            own = [np.mean([sim[i, j] for j in ia if j != i]) for i in ia]
            other = [np.mean(sim[i, ib]) for i in ia]
            test = stats.wilcoxon(own, other) if len(ia) > 1 else None
            rows.append(
                {
                    "group": x,
                    "versus": y,
                    "within": float(np.mean(own)),
                    "across": float(np.mean(other)),
                    "wilcoxon_W": float(test.statistic) if test else float("nan"),
                    "p": float(test.pvalue) if test else float("nan"),
                    "n": len(ia),
                }
            )
    return overall, pd.DataFrame(rows)


@torch.no_grad()
def ablation_profile(
    model, tok, prompts: list[str], direction_by_layer: dict[int, torch.Tensor], layers_path, batch_size: int
) -> list[float]:
    """Mean KL(original ‖ ablated) of the next-token distribution when the direction is projected out at each layer."""
    from steerlab.batching import Batches
    from steerlab.hooks import map_outputs
    from steerlab.layers import decoder_layers
    from steerlab.models import device_of

    mods = decoder_layers(model, layers_path)
    batches = Batches.build(tok, prompts, batch_size, device_of(model))
    base = [torch.log_softmax(model(**b).logits[:, -1].float(), -1) for b in batches.batches]
    out = []
    for layer, u in direction_by_layer.items():
        u = u.to(device_of(model), next(model.parameters()).dtype)

        with map_outputs({layer: mods[layer]}, {layer: lambda h, u=u: h - (h @ u)[..., None] * u}):
            kls = [
                torch.nn.functional.kl_div(
                    torch.log_softmax(model(**b).logits[:, -1].float(), -1), lp, log_target=True, reduction="none"
                ).sum(-1)
                for b, lp in zip(batches.batches, base)
            ]
        out.append(float(torch.cat(kls).mean()))
    return out


def layer_of(acfg, ctx) -> int:
    from steerlab.layers import decoder_layers, position

    return ctx.loss_layer if acfg.layer is None else position(acfg.layer, len(decoder_layers(ctx.model, ctx.layers_path)), "analysis.layer")


def profiles(acfg, ctx, run_cfg) -> pd.DataFrame:
    """Ablation profile of each group's mean direction over the steered layers (and on compare_model, if set)."""
    data = OmegaConf.merge(run_cfg.data, {"max_pairs": acfg.max_pairs})
    prompts = [p.pos for p in ctx.val[: acfg.profile_prompts]]
    layers, depth = ctx.steer_layers, len(layers_of(ctx))
    rows = []
    for group, pairs in acfg.groups.items():
        per_layer = group_directions(ctx, data, pairs, layers)
        prof = ablation_profile(ctx.model, ctx.tok, prompts, per_layer, ctx.layers_path, ctx.batch_size)
        rows += [{"group": group, "model": run_cfg.model.name, "layer": l, "depth": (l + 1) / depth, "kl": v} for l, v in zip(layers, prof)]
    frame = pd.DataFrame(rows)
    if acfg.compare_model:
        frame = pd.concat([frame, compare(acfg, ctx, run_cfg, data, frame)])
    return frame


def group_directions(ctx, data, pairs, layers: list[int]) -> dict[int, torch.Tensor]:
    """Mean over a group's persona pairs of their direction at each decoder layer's output (hidden_states[ℓ + 1])."""
    per_pair = [pair_directions(ctx, data, list(p), [l + 1 for l in layers]) for p in pairs]
    return {l: torch.stack([d[l + 1] for d in per_pair]).mean(0) for l in layers}


def layers_of(ctx):
    return ctx.placement.decoder(ctx.model)


def compare(acfg, ctx, run_cfg, data, ours: pd.DataFrame) -> pd.DataFrame:
    """The same profiles on `compare_model`, at the nearest layers of the same relative depths."""
    from steerlab import models
    from steerlab.models import model_config

    other_cfg = model_config(acfg.compare_model)
    model, tok = models.load(other_cfg, run_cfg.seed)
    other = replace(ctx, model=model, tok=tok, placement=replace(ctx.placement, layers_path=other_cfg.layers_path), cache={})
    depth = len(layers_of(other))
    layers = sorted({min(depth - 2, max(0, round(d * depth) - 1)) for d in ours["depth"].unique()})
    other = replace(other, placement=replace(other.placement, steer_layers=layers))
    prompts = [p.pos for p in ctx.val[: acfg.profile_prompts]]
    rows = []
    for group, pairs in acfg.groups.items():
        per_layer = group_directions(other, data, pairs, layers)
        prof = ablation_profile(model, tok, prompts, per_layer, other.layers_path, ctx.batch_size)
        rows += [{"group": group, "model": acfg.compare_model, "layer": l, "depth": (l + 1) / depth, "kl": v} for l, v in zip(layers, prof)]
    return pd.DataFrame(rows)


def agreement(frame: pd.DataFrame, run_model: str) -> dict:
    """Spearman between the two models' profiles, per group, matched by order of relative depth."""
    out = {}
    for group, g in frame.groupby("group"):
        a = g[g["model"] == run_model].sort_values("depth")["kl"].to_numpy()
        b = g[g["model"] != run_model].sort_values("depth")["kl"].to_numpy()
        n = min(len(a), len(b))
        if n >= 3:
            idx_a, idx_b = np.linspace(0, len(a) - 1, n).round().astype(int), np.linspace(0, len(b) - 1, n).round().astype(int)
            out[f"profile_spearman/{group}"] = float(stats.spearmanr(a[idx_a], b[idx_b]).statistic)
    return out


def profile_plot(frame: pd.DataFrame, path: Path) -> Path:
    """Mean next-token KL after projecting each group's direction out, against relative depth (one line per group and model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from steerlab.plots import saved

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (group, model), g in frame.groupby(["group", "model"]):
        ax.plot(g["depth"], g["kl"], marker="o", ms=3, ls="-" if model == frame["model"].iloc[0] else "--", label=f"{group} ({model})")
    ax.set(xlabel="relative depth of the ablated layer", ylabel="mean KL(original ‖ ablated)", title="ablation profile", yscale="log")
    ax.legend(fontsize=7)
    return saved(fig, path)


def coherence(acfg, ctx, folder: Path, logger, run_cfg) -> dict:
    layer = layer_of(acfg, ctx)
    data = OmegaConf.merge(run_cfg.data, {"max_pairs": acfg.max_pairs})
    dirs = {(g, i): pair_directions(ctx, data, list(p), [layer])[layer] for g, pairs in acfg.groups.items() for i, p in enumerate(pairs)}
    overall, pairwise = similarity_tests(dirs, acfg.n_perm, ctx.seed)
    pairwise.to_csv(folder / "coherence_pairwise.csv", index=False)
    prof = profiles(acfg, ctx, run_cfg)
    prof.to_csv(folder / "ablation_profile.csv", index=False)
    logger.image("ablation_profile", profile_plot(prof, folder / "ablation_profile.png"))
    table = pd.DataFrame([{"layer": layer, **overall}])
    table.to_csv(folder / "coherence.csv", index=False)
    for name, frame in (("coherence", table), ("coherence_pairwise", pairwise), ("ablation_profile", prof)):
        logger.table(name, frame)
    return {"layer": layer, **overall, **agreement(prof, run_cfg.model.name)}
