"""Probe (concept activation vector) directions: a classifier of positive vs negative hidden states per layer.

`kind=linear`: logistic regression; the direction is its weight vector. `kind=mlp`: a one-hidden-layer MLP;
the direction is the top right-singular vector of its first layer (the input direction it is most
sensitive to), signed so that positive states project higher. Both are scikit-learn estimators fitted on
the training pairs' last-token states; accuracy on the held-out validation pairs is recorded per layer in
`method.json` (`meta.probe_accuracy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np
import torch

from steerlab.activations import pair_states
from steerlab.fields import ranged
from steerlab.methods.base import registered
from steerlab.methods.vector import VectorConfig, VectorMethod

if TYPE_CHECKING:
    from steerlab.context import FitContext


class ProbeKind(str, Enum):
    linear = "linear"
    mlp = "mlp"


@dataclass
class ProbeConfig(VectorConfig):
    name: str = "probe"
    kind: ProbeKind = ProbeKind.linear
    C: float = ranged(1.0, ">0")  # inverse L2 strength of the logistic regression
    hidden: int = ranged(32, ">=1")  # MLP hidden units
    alpha: float = ranged(3.0, ">0")  # MLP L2 penalty on standardised states (weaker penalties let it fit noise directions)
    max_iter: int = ranged(2000, ">=1")


def features(pos: torch.Tensor, neg: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    x = torch.cat([pos, neg]).double().numpy()
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    return x, y


def fit_probe(pos: torch.Tensor, neg: torch.Tensor, cfg, seed: int = 0):
    """A fitted scikit-learn classifier of positive (1) vs negative (0) states."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = features(pos, neg)
    if ProbeKind(cfg.kind) == ProbeKind.linear:
        clf = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter)
    else:
        mlp = MLPClassifier(hidden_layer_sizes=(cfg.hidden,), alpha=cfg.alpha, max_iter=cfg.max_iter, random_state=seed)
        clf = make_pipeline(StandardScaler(), mlp)
    return clf.fit(x, y)


def probe_direction(clf, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    if hasattr(clf, "coef_"):
        w = torch.from_numpy(clf.coef_[0])
    else:  # MLP on standardised x: first layer on raw x is coefs_[0] / scale ([d, hidden]); its top left-singular vector
        scaler, mlp = clf[0], clf[-1]
        u, _, _ = np.linalg.svd(mlp.coefs_[0] / scaler.scale_[:, None], full_matrices=False)
        w = torch.from_numpy(u[:, 0])
    w = w.float()
    return w if float(((pos - neg) @ w).mean()) >= 0 else -w


def accuracy(clf, pos: torch.Tensor, neg: torch.Tensor) -> float:
    x, y = features(pos, neg)
    return float(clf.score(x, y))


@registered(ProbeConfig)
class ProbeMethod(VectorMethod):
    name = "probe"
    ablation_source = True  # adapter=ablate can remove this direction

    def __init__(self, cfg):
        super().__init__(cfg)
        self.probes: dict = {}  # layer -> fitted classifier (not saved; the direction is)

    def fit(self, ctx: FitContext) -> None:
        super().fit(ctx)  # direction() per steered layer
        if ctx.val:
            mods = ctx.placement.decoder(ctx.model)
            vpos, vneg = pair_states(
                ctx.model, ctx.tok, ctx.val, {l: mods[l] for l in ctx.steer_layers}, ctx.batch_size, ctx.readout_tokens
            )
            self.meta["probe_accuracy"] = {l: accuracy(self.probes[l], vpos[l], vneg[l]) for l in ctx.steer_layers}

    def direction(self, pos, neg, layer, ctx: FitContext):
        clf = self.probes[layer] = fit_probe(pos, neg, self.cfg, ctx.seed)
        self.meta.setdefault("probe_train_accuracy", {})[layer] = accuracy(clf, pos, neg)
        return probe_direction(clf, pos, neg)
