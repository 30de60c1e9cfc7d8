"""Strength calibration (iso-KL, SPEC §8): the solver, the KL it measures, every method through it, and samples."""

import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from steerlab.api import calibrate_strength, fit, generate, load_model
from steerlab.config import StrengthConfig
from steerlab.data import render
from steerlab.errors import ConfigError
from steerlab.methods.registry import build
from steerlab.strength import KLProbe, check, load_prompts, solve

TARGET = 0.005  # nats/token: a random-init tiny model's next-token distributions are flat, so budgets are small there
LAYERS = {"start": 1, "loss": 5}
DATA = {"max_pairs": 48}
TRAIN = {"steps": 3, "val_every": 0, "batch_pairs": 8}


def quadratic(a: float, cap: float = float("inf")):
    """A KL curve like a real one: ∝ k² at small k, saturating at `cap`; counts its calls."""
    calls = []

    def pair(k):
        calls.append(k)
        kl = a * k * k
        kl = cap * kl / (cap + kl) if math.isfinite(cap) else kl
        return kl, 0.9 * kl

    return pair, calls


@pytest.mark.parametrize("a", [1e-6, 1e-3, 1.0, 50.0])
def test_solver_reaches_the_target_within_tolerance_and_budget(a):
    pair, calls = quadratic(a)
    sol = solve(pair, 0.5, 1e-3, 1e3, 0.05, 12)
    assert not sol.bracket_hit and sol.converged
    assert abs(max(sol.kl_plus, sol.kl_minus) / 0.5 - 1) <= 0.05
    assert sol.evals == len(calls) <= 12


def test_solver_flags_an_unreachable_target_and_uses_the_edge():
    pair, calls = quadratic(1e-3, cap=0.1)  # saturates below the target
    sol = solve(pair, 0.5, 1e-3, 1e3, 0.05, 12)
    assert sol.bracket_hit and sol.k == pytest.approx(1e3) and sol.evals <= 12
    pair, _ = quadratic(1e7)  # too strong even at k_min (KL 10 at k = 1e-3)
    sol = solve(pair, 0.5, 1e-3, 1e3, 0.05, 12)
    assert sol.bracket_hit and sol.k == pytest.approx(1e-3)


def test_solver_never_exceeds_its_evaluations():
    rng = np.random.default_rng(0)
    pair = lambda k: (float(rng.uniform(0, 1)),) * 2  # a KL that is noise: no root finder can settle
    sol = solve(pair, 0.5, 1e-3, 1e3, 1e-9, 7)
    assert sol.evals <= 7


def test_bad_strength_config_fails_before_model_work(tmp_path):
    base = OmegaConf.structured(StrengthConfig)
    for bad, text in [
        ({"target": 0}, "strength.target=0"),
        ({"k_min": 10.0, "k_max": 1.0}, "k_min=10.0"),
        ({"prompts": str(tmp_path / "none.json")}, "strength.prompts: no such file"),
    ]:
        with pytest.raises((ConfigError, Exception), match=text):
            check(OmegaConf.merge(base, bad))
    (tmp_path / "few.json").write_text('["one", "two"]')
    with pytest.raises(ConfigError, match="at least 16"):
        check(OmegaConf.merge(base, {"prompts": str(tmp_path / "few.json")}))
    assert len(load_prompts("builtin")) >= 16


@pytest.fixture(scope="module")
def probe(tiny):
    model, tok = tiny
    return KLProbe.build(model, tok, load_prompts("builtin"), 8)


@pytest.mark.parametrize("name", ["mean", "pca", "random", "ipissa", "lora"])
def test_every_kind_of_method_reaches_the_budget(name, probe):
    model, tok = load_model("tiny_llama")
    extra = {"train": TRAIN, "r": 8} if name in ("ipissa", "lora") else {}
    method = fit(name, model, tok, data=DATA, layers=LAYERS, **extra)
    info = calibrate_strength(model, tok, method, target=TARGET, probe=probe)
    assert not info["strength_bracket_hit"], info
    assert abs(max(info["kl_plus"], info["kl_minus"]) / TARGET - 1) <= 0.05, info
    assert info["strength_evals"] <= 12 and method.scale == info["strength_scale"] > 0
    again = float(probe.kl(model, tok, method, 1.0).mean())  # c = 1 now means c·k: measured again, the same KL
    assert again == pytest.approx(info["kl_plus"], rel=1e-5)


@pytest.mark.parametrize("name", ["pca", "lora"])
def test_measured_kl_is_monotone_in_the_scale(name, probe):
    model, tok = load_model("tiny_llama")
    extra = {"train": TRAIN, "r": 8} if name == "lora" else {}
    method = fit(name, model, tok, data=DATA, layers=LAYERS, **extra)
    kls = []
    for k in (0.25, 1, 4, 16, 64):
        method.scale = k
        kls.append(float(probe.kl(model, tok, method, 1.0).mean()))
    assert all(b > a for a, b in zip(kls, kls[1:])), kls


def test_unreachable_budget_is_flagged_on_a_model(tiny, probe):
    model, tok = tiny
    method = fit("mean", model, tok, data=DATA, layers=LAYERS)
    info = calibrate_strength(model, tok, method, target=50.0, k_max=10.0, probe=probe)
    assert info["strength_bracket_hit"] and info["strength_scale"] == pytest.approx(10.0)
    assert max(info["kl_plus"], info["kl_minus"]) < 50.0


def test_prompting_keeps_scale_one_and_reports_its_kl(tiny, probe):
    model, tok = tiny
    method = fit("prompt", model, tok, data=DATA, layers=LAYERS)
    info = calibrate_strength(model, tok, method, target=TARGET, probe=probe)
    assert method.scale == 1.0 and info["strength_evals"] == 1 and not info["strength_scalable"]
    assert info["kl_plus"] > 0 and info["kl_minus"] > 0  # the persona sentence changes the continuation's distribution


def test_native_mode_keeps_the_fitted_strength(tiny, probe):
    model, tok = tiny
    method = fit("pca", model, tok, data=DATA, layers=LAYERS)
    info = calibrate_strength(model, tok, method, mode="native", probe=probe)
    assert method.scale == 1.0 and info["strength_mode"] == "native" and math.isnan(info["kl_target"])


def test_kl_is_zero_at_coefficient_zero(tiny, probe):
    """At c = 0 the teacher-forced pass reproduces the base log-probs that generation gave (up to float rounding)."""
    model, tok = tiny
    method = fit("pca", model, tok, data=DATA, layers=LAYERS)
    method.scale = 100.0
    assert float(probe.kl(model, tok, method, 0.0).max()) < 1e-6


def test_samples_at_zero_equal_plain_greedy_generation(tiny):
    model, tok = tiny
    method = fit("pca", model, tok, data=DATA, layers=LAYERS)
    method.scale = 50.0
    prompts = ["Describe yourself in three sentences.", "What should I tell my friend?"]
    frame = generate(model, tok, method, prompts, coeffs=[-1.0, 0.0, 1.0], tokens=12)
    assert len(frame) == 6 and list(frame.columns) == ["prompt", "coeff", "text"]
    for p in prompts:
        enc = tok(render(tok, p), return_tensors="pt", add_special_tokens=False)
        out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
        plain = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        alone = generate(model, tok, method, [p], coeffs=[0.0], tokens=12)["text"].iloc[0]
        assert alone == plain
    steered = frame.set_index(["prompt", "coeff"])["text"]
    assert any(steered[(p, 1.0)] != steered[(p, 0.0)] for p in prompts)  # at 50× the fitted vector the text moves


def test_unknown_strength_key_is_rejected(tiny):
    model, tok = tiny
    with pytest.raises(Exception, match="nope"):
        calibrate_strength(model, tok, build({"name": "mean"}), nope=1)
