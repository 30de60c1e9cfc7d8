"""The sentiment task (positive control): neutral prompts of its own, VADER on greedy replies, NLL under the unsteered model."""

import json

import numpy as np
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from steerlab.api import evaluate
from steerlab.calibrate import calibrate
from steerlab.data import load_suffixes, render
from steerlab.generate import greedy
from steerlab.likelihood import Continuations
from steerlab.methods.registry import build
from steerlab.strength import load_prompts
from steerlab.tasks.sentiment import SentimentConfig, SentimentTask, compound
from tests.helpers import compose_cfg


def test_the_neutral_prompts_are_steerlabs_own_and_share_nothing_with_training_or_calibration():
    prompts = SentimentTask("sentiment", SentimentConfig(), None, 0.25).load()["prompt"].tolist()
    assert len(prompts) >= 64 and len(set(prompts)) == len(prompts)
    suffixes = [s.lower() for s in load_suffixes("builtin")]
    assert not [p for p in prompts if any(s in p.lower() for s in suffixes)]
    assert not set(prompts) & set(load_prompts("builtin"))


def test_compound_is_vaders_own_score():
    vader = SentimentIntensityAnalyzer()
    for text in ("What a lovely, happy morning!", "This is a terrible, sad loss.", "The bus leaves at nine."):
        assert compound(text) == vader.polarity_scores(text)["compound"]
    assert compound("What a lovely, happy morning!") > 0.5 > -0.5 > compound("This is a terrible, sad loss.")


@pytest.fixture(scope="module")
def mean_method(tiny_ctx):
    method = build({"name": "mean", "norm_fraction": 0.5})
    method.fit(tiny_ctx)
    calibrate(tiny_ctx, method)
    return method


def test_rows_are_vader_of_the_steered_reply_and_its_nll_under_the_unsteered_model(tiny, mean_method):
    model, tok = tiny
    summary, rows = evaluate(model, tok, mean_method, "sentiment", limit=4, tokens=5)
    assert len(rows) == 12 and set(rows["coeff"]) == {-1.0, 0.0, 1.0} and rows["tokens"].between(1, 5).all()
    assert summary["n_items"] == 3 and "positive(+1)" in summary  # 4 prompts, 1 held out
    plain = [render(tok, p) for p in SentimentTask("sentiment", SentimentConfig(), 4, 0.25).load()["prompt"]]
    base = greedy(model, tok, plain, 5)  # c = 0: the unsteered model's own reply
    zero = rows[rows["coeff"] == 0.0].sort_values("item")
    assert zero["text"].tolist() == [tok.decode(r, skip_special_tokens=True).strip() for r in base]
    assert zero["y"].tolist() == [compound(t) for t in zero["text"]]
    plus = rows[rows["coeff"] == 1.0].sort_values("item")
    replies = [tok(t, add_special_tokens=False)["input_ids"] for t in plus["text"]]
    assert all(len(r) for r in replies) and any(len(r) == n for r, n in zip(replies, plus["tokens"]))
    heads = tok(plain, add_special_tokens=False)["input_ids"]
    want = -Continuations(tok, heads, replies, np.arange(4), 4).score(model) / np.array([len(r) for r in replies])
    exact = [len(r) == n for r, n in zip(replies, plus["tokens"])]  # decode → encode may merge tokens; compare where it did not
    assert np.allclose(plus["nll"].to_numpy()[exact], want[exact], atol=1e-4)


def test_any_pairs_with_any_task_compose():
    cfg = compose_cfg(["data=sentiment", "evals=[sentiment,builtin,truthfulqa]"])
    assert list(cfg.data.personas) == ["a joyful", "a miserable"] and list(cfg.evals) == ["sentiment", "builtin", "truthfulqa"]
    assert json.loads(json.dumps(list(cfg.evals.sentiment.keys())))  # a plain task config
