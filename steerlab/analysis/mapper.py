"""Mapper graphs (kmapper) of per-input activations at one layer, labelled by persona (positive / negative).

Inputs are the training pairs' prompts, each labelled by its persona; the activation is the last-token state
at `layer` (a fraction of depth or an index; null = the read-out layer). For each lens — `l2` (the state's
norm, as in TopoBERT), `pca1` (first principal component), `direction` (projection on the steering
direction of `direction_method` at that layer) — the states are covered along the lens and clustered (DBSCAN
on standardised, PCA-reduced states) into a graph. Reported per lens:
- purity: size-weighted mean over nodes of the majority label's share, overall and per label (`purity_label1`
  for the positive persona: its share in the nodes where it is the majority);
- ARI / NMI of the Mapper partition (each input in its largest node) and of k-means (k = number of labels)
  against the labels;
- entanglement: Jaccard overlap between the node sets that contain each label (0 = separated, 1 = mixed).
The interactive graph of each lens is saved as `mapper_<lens>.html`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd

from steerlab.errors import ConfigError
from steerlab.fields import ranged

LENSES = ("l2", "pca1", "direction")


@dataclass
class MapperConfig:
    name: str = "mapper"
    layer: Optional[float] = ranged(None, "any")  # None = the read-out layer ℓ (hidden_states[ℓ])
    lenses: List[str] = field(default_factory=lambda: list(LENSES))
    direction_method: str = "pca"
    n_cubes: int = ranged(10, ">=1")
    overlap: float = ranged(0.3, "(0,1)")
    cluster_dims: int = ranged(10, ">=1")
    min_samples: int = ranged(3, ">=1")


def check(cfg) -> None:
    bad = [lens for lens in cfg.lenses if lens not in LENSES]
    if bad or not cfg.lenses:
        raise ConfigError(f"analysis.lenses={list(cfg.lenses)}: choose one or more of {list(LENSES)}")


def states(ctx, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, d] last-token states `hidden_states[layer]` of every training prompt, and their persona labels (1 = positive)."""
    from steerlab.activations import last_tokens
    from steerlab.layers import decoder_layers, readout

    texts = [p.pos for p in ctx.train] + [p.neg for p in ctx.train]
    x = last_tokens(
        ctx.model, ctx.tok, texts, {"h": readout(decoder_layers(ctx.model, ctx.layers_path), layer)}, ctx.batch_size, desc="mapper states"
    )["h"]
    return x.double().numpy(), np.r_[np.ones(len(ctx.train)), np.zeros(len(ctx.train))].astype(int)


def lens_values(kind: str, x: np.ndarray, direction: np.ndarray | None) -> np.ndarray:
    if kind == "l2":
        return np.linalg.norm(x, axis=1, keepdims=True)
    if kind == "pca1":
        from sklearn.decomposition import PCA

        return PCA(n_components=1).fit_transform(x)
    if kind == "direction":
        return (x @ direction)[:, None]
    raise ConfigError(f"analysis.lenses: unknown lens {kind!r}; choose from {list(LENSES)}")


def cluster_space(x: np.ndarray, dims: int) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    z = StandardScaler().fit_transform(x)
    return PCA(n_components=min(dims, *z.shape)).fit_transform(z)


def auto_eps(z: np.ndarray, k: int) -> float:
    """Median distance to the k-th nearest neighbour: a scale-free DBSCAN radius."""
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=min(k + 1, len(z))).fit(z).kneighbors(z)
    return float(np.median(dist[:, -1]))


def graph_scores(nodes: dict[str, list[int]], labels: np.ndarray) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    sizes = np.array([len(m) for m in nodes.values()]) if nodes else np.array([0])
    purity = [np.bincount(labels[m], minlength=2).max() / len(m) for m in nodes.values()]
    assign = np.full(len(labels), -1)
    best = np.zeros(len(labels))
    for i, members in enumerate(nodes.values()):
        bigger = len(members) > best[members]
        assign[np.array(members)[bigger]] = i
        best[np.array(members)[bigger]] = len(members)
    unassigned = assign < 0
    assign[unassigned] = -1 - np.arange(unassigned.sum())  # inputs in no node: singletons
    with_label = [{n for n, m in nodes.items() if (labels[m] == v).any()} for v in (0, 1)]
    union = with_label[0] | with_label[1]
    per_label = {}
    for v in (0, 1):  # share of label v in the nodes where it is the majority, weighted by node size
        own = [(np.mean(labels[m] == v), len(m)) for m in nodes.values() if np.mean(labels[m] == v) > 0.5]
        per_label[f"purity_label{v}"] = float(np.average([p for p, _ in own], weights=[w for _, w in own])) if own else float("nan")
    return {
        "n_nodes": len(nodes),
        "purity": float(np.average(purity, weights=sizes)) if nodes else float("nan"),
        **per_label,
        "ari_mapper": float(adjusted_rand_score(labels, assign)),
        "nmi_mapper": float(normalized_mutual_info_score(labels, assign)),
        "entanglement": float(len(with_label[0] & with_label[1]) / len(union)) if union else float("nan"),
    }


def kmeans_scores(z: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pred = KMeans(n_clusters=len(set(labels)), n_init=10, random_state=seed).fit_predict(z)
    return {"ari_kmeans": float(adjusted_rand_score(labels, pred)), "nmi_kmeans": float(normalized_mutual_info_score(labels, pred))}


def direction_at(ctx, name: str, layer: int) -> np.ndarray:
    """Unit steering direction of `name` for hidden_states[layer] (fitted on decoder layer layer − 1)."""
    from dataclasses import replace

    from steerlab.layers import readout_index
    from steerlab.methods.registry import build

    out = readout_index(layer)
    method = build({"name": name})
    method.fit(replace(ctx, placement=replace(ctx.placement, steer_layers=[out]), cache={}))
    v = method.vector.layers[out].double()
    return (v / v.norm()).numpy()


def mapper(cfg, ctx, folder: Path, logger, run_cfg=None) -> dict:
    import kmapper as km
    from sklearn.cluster import DBSCAN

    from steerlab.layers import decoder_layers, position

    depth = len(decoder_layers(ctx.model, ctx.layers_path))
    layer = ctx.loss_layer if cfg.layer is None else position(cfg.layer, depth, "analysis.layer")
    if not 1 <= layer <= depth:
        raise ConfigError(f"analysis.layer={cfg.layer} gives hidden_states[{layer}]; use 1..{depth} (0 is the embeddings)")
    x, labels = states(ctx, layer)
    z = cluster_space(x, cfg.cluster_dims)
    direction = direction_at(ctx, cfg.direction_method, layer) if "direction" in cfg.lenses else None
    eps = auto_eps(z, cfg.min_samples)
    rows = []
    names = np.array([ctx.personas[0] if v else ctx.personas[1] for v in labels])
    for kind in cfg.lenses:
        lens = lens_values(kind, x, direction)
        mapper_ = km.KeplerMapper(verbose=0)
        graph = mapper_.map(
            lens, z, cover=km.Cover(n_cubes=cfg.n_cubes, perc_overlap=cfg.overlap), clusterer=DBSCAN(eps=eps, min_samples=cfg.min_samples)
        )
        html = folder / f"mapper_{kind}.html"
        mapper_.visualize(
            graph,
            path_html=str(html),
            title=f"Mapper, lens {kind}, layer {layer}",
            custom_tooltips=names,
            color_values=labels,
            color_function_name="positive persona",
        )
        logger.html(f"mapper_{kind}", html)
        rows.append(
            {
                "lens": kind,
                "layer": layer,
                **graph_scores(graph["nodes"], labels),
                "n_edges": sum(len(v) for v in graph["links"].values()),
                **kmeans_scores(z, labels, ctx.seed),
            }
        )
    frame = pd.DataFrame(rows)
    frame.to_csv(folder / "mapper.csv", index=False)
    logger.table("mapper", frame)
    return {
        "layer": layer,
        "eps": eps,
        "n_inputs": len(labels),
        **{f"{r['lens']}/{k}": v for r in rows for k, v in r.items() if k not in ("lens", "layer")},
    }
