"""Contract tests over every method in the registry (tiny model), plus method-specific checks."""

import pytest
import torch

from steerlab.api import calibrate_strength
from steerlab.calibrate import calibrate
from steerlab.errors import ConfigError
from steerlab.methods.pca import PcaVariant, pca_direction
from steerlab.methods.registry import METHODS as REGISTRY
from steerlab.methods.registry import build, trainable_names
from steerlab.methods.store import load, save
from steerlab.methods.vector import SteeringVector
from steerlab.steering import steer
from tests.helpers import logits

PROMPTS = ["<|im_start|>user\nShould you tell the truth?<|im_end|>\n<|im_start|>assistant\nMy choice:", "The weather today is"]


@pytest.fixture(scope="module", params=sorted(set(REGISTRY) - set(trainable_names())))  # trained: test_trained.py
def fitted(request, tiny, tiny_ctx, tmp_path_factory):
    method = build(contract_config(request.param, tiny_ctx, tmp_path_factory))
    method.fit(tiny_ctx)
    calibrate(tiny_ctx, method)
    model, tok = tiny
    calibrate_strength(model, tok, method, target=0.005, tokens=8)  # the contracts below hold after iso-KL calibration
    return method


def contract_config(name: str, ctx, tmp_path_factory) -> dict:
    if name == "prompt":
        return {"name": "prompt"}
    if name == "control_vector":  # a vector made elsewhere: here a mean vector exported as a llama.cpp file
        from steerlab.export import export_control_vector

        mean = build({"name": "mean", "norm_fraction": 0.5})
        mean.fit(ctx)
        return {"name": name, "path": str(export_control_vector(mean, tmp_path_factory.mktemp("cv") / "v.gguf"))}
    return {"name": name, "norm_fraction": 0.5}


def _steered(model, tok, method, c, prompts=PROMPTS):
    with steer(model, method, c) as prompt:
        return logits(model, tok, [prompt(p) for p in prompts])


def test_zero_coefficient_is_bit_identical(tiny, fitted):
    model, tok = tiny
    base = logits(model, tok, PROMPTS)
    assert torch.equal(_steered(model, tok, fitted, 0.0), base)


def test_model_restored_after_exit_and_after_error(tiny, fitted):
    model, tok = tiny
    base = logits(model, tok, PROMPTS)
    _steered(model, tok, fitted, 1.0)
    with pytest.raises(RuntimeError):
        with steer(model, fitted, 1.0):
            raise RuntimeError("boom")
    assert torch.equal(logits(model, tok, PROMPTS), base)


def test_nonzero_coefficient_changes_output_and_is_finite(tiny, fitted):
    model, tok = tiny
    base = logits(model, tok, PROMPTS)
    coeffs = (-1.0, 1.0) if fitted.name == "prompt" else (-2.0, -1.0, 1.0, 2.0)
    for c in coeffs:
        out = _steered(model, tok, fitted, c)
        assert torch.isfinite(out).all()
        if fitted.name != "prompt":
            assert not torch.equal(out, base)


def test_save_load_round_trip(tiny, fitted, tmp_path):
    model, tok = tiny
    again = load(save(fitted, tmp_path / "m"))
    assert again.sign == fitted.sign and again.scale == fitted.scale and type(again) is type(fitted)
    assert torch.equal(_steered(model, tok, again, 1.0), _steered(model, tok, fitted, 1.0))


def test_a_truncated_or_missing_save_is_one_line_naming_the_file(tiny_ctx, tmp_path):
    """steerlab.api.load on a damaged save: a DataError naming the file and how to recover, not the library's error."""
    from steerlab.api import load as api_load
    from steerlab.errors import DataError

    method = build({"name": "mean", "norm_fraction": 0.5})
    method.fit(tiny_ctx)
    folder = save(method, tmp_path / "m")
    tensors = folder / "tensors.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:40])
    with pytest.raises(DataError) as err:
        api_load(folder)
    text = str(err.value)
    assert str(tensors) in text and "fit again" in text and "delete the folder" in text and "\n" not in text
    tensors.unlink()
    with pytest.raises(DataError, match="tensors.safetensors: missing"):
        api_load(folder)
    (folder / "method.json").write_text("{not json")
    with pytest.raises(DataError, match="method.json: unreadable"):
        api_load(folder)


def test_a_method_saved_before_placement_and_state_existed_still_loads(tiny, fitted, tmp_path):
    """method.json written before steerlab kept `placement` and `state`: both come back from `meta`, steering is the same."""
    import json

    folder = save(fitted, tmp_path / "m")
    info = json.loads((folder / "method.json").read_text())
    old_meta = {**info["meta"], **info.pop("state"), **{k: v for k, v in info.pop("placement").items() if k != "loss_layer"}}
    if not fitted.is_trained and fitted.has_direction:  # vector methods kept only layers_path (their layers are their norms' keys)
        old_meta = {k: v for k, v in old_meta.items() if k not in ("steer_layers", "modules")}
    (folder / "method.json").write_text(json.dumps({**info, "meta": old_meta}))
    again = load(folder)
    assert again.placement.loss_layer == fitted.placement.loss_layer
    if "steer_layers" in old_meta or "residual_norms" in old_meta:
        assert again.placement.steer_layers == fitted.placement.steer_layers
    model, tok = tiny
    assert torch.equal(_steered(model, tok, again, 1.0), _steered(model, tok, fitted, 1.0))


def test_calibrated_sign_moves_towards_positive(tiny_ctx, fitted):
    from steerlab.calibrate import projection, readout_direction

    d = readout_direction(tiny_ctx)
    assert projection(tiny_ctx, fitted, 1.0, d) >= projection(tiny_ctx, fitted, -1.0, d)


def test_vector_algebra(tiny, tiny_ctx):
    model, tok = tiny
    m = build({"name": "mean", "norm_fraction": 0.5})
    m.fit(tiny_ctx)
    v = m.vector
    twice = build({"name": "mean"})
    twice.vector, twice.meta = 2 * v, m.meta
    assert torch.allclose(_steered(model, tok, m, 2.0), _steered(model, tok, twice, 1.0), atol=1e-6)
    zero = build({"name": "mean"})
    zero.vector, zero.meta = v - v, m.meta
    assert torch.allclose(_steered(model, tok, zero, 1.0), logits(model, tok, PROMPTS), atol=1e-6)
    assert (-v).norms() == v.norms()
    assert set((v + SteeringVector({99: torch.ones(4)})).layers) == set(v.layers) | {99}


@pytest.mark.parametrize("variant", list(PcaVariant))
def test_pca_recovers_planted_direction(variant):
    g = torch.Generator().manual_seed(0)
    d = 64
    planted = torch.randn(d, generator=g)
    planted /= planted.norm()
    base = torch.randn(200, d, generator=g) * 3  # shared content of each pair
    scale = 2 + torch.rand(200, 1, generator=g)  # the concept's strength varies across pairs
    pos = base + scale * planted + 0.1 * torch.randn(200, d, generator=g)
    neg = base - scale * planted + 0.1 * torch.randn(200, d, generator=g)
    found = pca_direction(pos, neg, variant)
    assert torch.dot(found, planted) > 0.99  # right direction and sign


def test_pca_is_deterministic(tiny_ctx):
    a, b = build({"name": "pca"}), build({"name": "pca"})
    a.fit(tiny_ctx)
    b.fit(tiny_ctx)
    assert all(torch.equal(a.vector.layers[k], b.vector.layers[k]) for k in a.vector.layers)


def test_prompt_method_rejects_other_coefficients():
    with pytest.raises(ConfigError, match="coefficients"):
        build({"name": "prompt"}).check_coeffs([-2.0, 0.0, 2.0])


def test_unknown_method_and_field():
    with pytest.raises(ConfigError, match="nope"):
        build({"name": "nope"})
    with pytest.raises(Exception, match="bogus"):
        build({"name": "pca", "bogus": 1})


@pytest.mark.parametrize("arch", ["tiny_qwen3", "tiny_gemma3"])
def test_other_families_steer_and_restore(arch):
    from steerlab.api import load_model, make_context

    model, tok = load_model(arch)
    ctx = make_context(model, tok, data={"max_pairs": 16}, layers={"start": 1, "loss": 5})
    for name in ("pca", "svd_delta"):
        m = build({"name": name, "norm_fraction": 0.5})
        m.fit(ctx)
        calibrate(ctx, m)
        base = logits(model, tok, PROMPTS)
        assert torch.equal(_steered(model, tok, m, 0.0), base)
        assert not torch.equal(_steered(model, tok, m, 1.0), base)
        assert torch.equal(logits(model, tok, PROMPTS), base)


def _layer_output(model, tok, method, c, layer):
    from steerlab.hooks import capture_outputs
    from steerlab.layers import decoder_layers

    enc = tok(PROMPTS[1:], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad(), steer(model, method, c), capture_outputs({layer: decoder_layers(model)[layer]}) as store:
        model(**enc)
    return store[layer][0]  # [tokens, d]


def test_ablate_moves_the_projection_to_the_mean_plus_the_dose_and_interpolates(tiny, tiny_ctx):
    model, tok = tiny
    method = build({"name": "ablate", "norm_fraction": 0.5})
    method.fit(tiny_ctx)
    calibrate(tiny_ctx, method)
    method.scale = 1.7  # as iso-KL would set it
    first = min(method.vector.layers)  # its input is unsteered, so its base output is the untouched model's
    v = method.vector.layers[first]
    unit, mu, k = v / v.norm(), method.means[first], float(v.norm()) * method.sign * method.scale
    base = _layer_output(model, tok, method, 0.0, first) @ unit
    for c in (-1.0, 1.0):  # ablate, then add: every token's projection is μ + c·k
        assert torch.allclose(_layer_output(model, tok, method, c, first) @ unit, torch.full_like(base, mu + c * k), atol=1e-4)
    half = _layer_output(model, tok, method, 0.5, first) @ unit  # h − ½(h·v̂ − μ)v̂ + ½·k·v̂
    assert torch.allclose(half, base - 0.5 * (base - mu) + 0.5 * k, atol=1e-4)
    h = torch.randn(3, v.shape[0])
    assert torch.allclose(method.vector.project_out(h, first, mean=2.0) @ unit, torch.full((3,), 2.0), atol=1e-5)
    assert torch.equal(method.vector.project_out(h, first, amount=0.0), h)


def test_ablate_source_is_checked_before_any_model_work():
    with pytest.raises(ConfigError, match="adapter.source='nope': choose one of"):
        build({"name": "ablate", "source": "nope"})
    assert build({"name": "ablate", "source": "pca"}).cfg.source == "pca"
