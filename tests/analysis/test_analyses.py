"""Concept analyses (`analysis=alignment|mapper|coherence`): statistics on planted data, and end-to-end runs on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from steerlab.analysis.coherence import similarity_tests
from steerlab.analysis.mapper import graph_scores
from steerlab.analysis.registry import build
from steerlab.errors import ConfigError
from tests.helpers import launch

QUICK = ["model=tiny_llama", "experiment=quick", "layers.start=1", "layers.loss=5", "logger=none"]


def test_coherence_statistics_find_planted_groups():
    g = torch.Generator().manual_seed(0)
    centres = {name: torch.randn(64, generator=g) for name in ("a", "b", "c")}
    dirs = {}
    for name, c in centres.items():
        for i in range(4):
            v = c + 0.3 * torch.randn(64, generator=g)
            dirs[(name, i)] = (v / v.norm()).double()
    overall, pairwise = similarity_tests(dirs, n_perm=500, seed=0)
    assert overall["within_mean"] > 0.8 > overall["between_mean"] and overall["cohens_d"] > 2
    assert overall["p_perm"] <= 0.01
    assert len(pairwise) == 6 and (pairwise["within"] > pairwise["across"]).all()


def test_mapper_scores_on_handmade_graphs():
    labels = np.array([0, 0, 0, 1, 1, 1])
    clean = graph_scores({"n0": [0, 1, 2], "n1": [3, 4, 5]}, labels)
    assert clean["purity"] == 1 and clean["entanglement"] == 0 and clean["ari_mapper"] == pytest.approx(1)
    assert clean["purity_label0"] == clean["purity_label1"] == 1
    mixed = graph_scores({"n0": [0, 3], "n1": [1, 4], "n2": [2, 5]}, labels)
    assert mixed["purity"] == 0.5 and mixed["entanglement"] == 1


def test_unknown_analysis_and_field_are_config_errors():
    with pytest.raises(ConfigError, match="unknown analysis"):
        build({"name": "nope"})
    with pytest.raises(ConfigError, match="analysis=mapper"):
        build({"name": "mapper", "colour": 1})
    with pytest.raises(ConfigError, match="lenses"):
        build({"name": "mapper", "lenses": ["l2", "umap"]})
    with pytest.raises(ConfigError, match="'prompt' has no residual-stream direction"):
        build({"name": "alignment", "methods": ["pca", "prompt"]})


def test_alignment_run_writes_heatmap_and_table(tmp_path):
    methods = "analysis.methods=[pca,mean,probe,jacobian,ipissa]"  # ipissa: its effective direction after training
    proc = launch([*QUICK, "analysis=alignment", methods, "train.steps=2", "train.val_every=0", f"out_dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "run" / "alignment.csv")
    assert set(table["a"]) | set(table["b"]) == {"pca", "mean", "probe", "jacobian", "ipissa"}
    assert table["cos"].between(-1, 1).all() and table["p_null"].between(0, 1).all()
    assert (tmp_path / "run" / "alignment.png").stat().st_size > 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert 0 < summary["null_abs_cos_p95"] < 1 and summary["analysis"] == "alignment"


def test_mapper_run_writes_html_and_scores(tmp_path):
    proc = launch([*QUICK, "analysis=mapper", f"out_dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "run" / "mapper.csv")
    assert list(table["lens"]) == ["l2", "pca1", "direction"]
    assert {"purity", "purity_label0", "purity_label1", "ari_mapper", "nmi_mapper", "ari_kmeans", "nmi_kmeans", "entanglement"} <= set(
        table.columns
    )
    for lens in table["lens"]:
        assert "<html" in (tmp_path / "run" / f"mapper_{lens}.html").read_text().lower()


def test_coherence_run_writes_tests_and_profiles(tmp_path):
    args = [
        *QUICK,
        "analysis=coherence",
        "analysis.max_pairs=16",
        "analysis.n_perm=200",
        "analysis.profile_prompts=4",
        "analysis.compare_model=tiny_qwen3",
        f"out_dir={tmp_path / 'run'}",
    ]
    proc = launch(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    overall = pd.read_csv(run / "coherence.csv").iloc[0]
    assert 0 < overall["p_perm"] <= 1 and np.isfinite(overall["cohens_d"])
    assert set(pd.read_csv(run / "coherence_pairwise.csv").columns) >= {"group", "versus", "wilcoxon_W", "p"}
    assert (run / "ablation_profile.png").stat().st_size > 0
    profile = pd.read_csv(run / "ablation_profile.csv")
    assert set(profile["model"]) == {"tiny_llama", "tiny_qwen3"} and (profile["kl"] >= 0).all()
    summary = json.loads((run / "summary.json").read_text())
    assert {"profile_spearman/honesty", "profile_spearman/kindness", "profile_spearman/courage"} <= set(summary)
