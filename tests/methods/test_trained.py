"""Contract tests over every trained adapter in the registry, plus the training loop (tiny random models)."""

import dataclasses
import os
import signal

import pytest
import torch

from steerlab.api import calibrate_strength, fit, load_model, make_context
from steerlab.errors import ConfigError, TrainingError
from steerlab.methods.registry import METHODS, build, trainable_names
from steerlab.methods.store import load, save
from steerlab.steering import merge, steer
from steerlab.train import Trainer, train
from tests.helpers import logits

TEXTS = ["Pretend you are a person. The sky is", "I think that"]
LAYERS = {"start": 1, "loss": 5}  # tiny_llama has 6 layers: adapters on 1..4, loss reads hidden_states[5]
DATA = {"max_pairs": 48}
TRAIN = {"steps": 4, "val_every": 2, "batch_pairs": 8}


def small(name: str, r: int) -> dict:
    """A small rank for the adapters that have one (oft has a block size instead)."""
    return {"r": r} if "r" in {f.name for f in dataclasses.fields(METHODS[name][0])} else {}


def fit_and_train(method, ctx) -> dict:
    """What steerlab.fitting does before sign calibration: attach a fresh adapter, then the training loop."""
    method.fit(ctx)
    method.meta["train"] = train(ctx, method)
    return method.meta["train"]


def fresh():
    return load_model("tiny_llama")


@pytest.fixture(scope="module", params=trainable_names())
def fitted(request):
    model, tok = fresh()
    base = logits(model, tok, TEXTS)
    method = fit(request.param, model, tok, data=DATA, layers=LAYERS, train=TRAIN, **small(request.param, 8))
    calibrate_strength(model, tok, method, target=0.005, tokens=8)  # the contracts below hold after iso-KL calibration
    return method, model, tok, base


def test_registry_has_the_trained_adapters():
    assert {"ipissa", "lora", "dora", "pissa", "oft"} <= set(trainable_names())


def test_coefficient_zero_is_bit_identical(fitted):
    method, model, tok, base = fitted
    with steer(model, method, 0.0):
        assert torch.equal(logits(model, tok, TEXTS), base)
    assert torch.equal(logits(model, tok, TEXTS), base)  # and outside any steer block


def test_only_adapter_parameters_require_grad(fitted):
    method, model, _, _ = fitted
    wanted = {id(p) for p in method.trainable().values()}
    assert wanted and {id(p) for p in model.parameters() if p.requires_grad} == wanted


def test_finite_and_moving_at_nonzero_coefficients(fitted):
    method, model, tok, base = fitted
    for c in (-2.0, -1.0, 1.0, 2.0):
        with steer(model, method, c):
            out = logits(model, tok, TEXTS)
        assert torch.isfinite(out).all(), c
        assert not torch.equal(out, base), c


def test_save_load_round_trip_on_a_fresh_model(fitted, tmp_path):
    method, model, tok, _ = fitted
    save(method, tmp_path / "m")
    other, tok2 = fresh()
    again = load(tmp_path / "m")
    assert again.sign == method.sign and again.scale == method.scale
    for c in (-1.0, 1.0):
        with steer(model, method, c):
            want = logits(model, tok, TEXTS)
        with steer(other, again, c):
            assert torch.equal(logits(other, tok2, TEXTS), want), c


def test_merge_matches_steering(fitted, tmp_path):
    method, model, tok, _ = fitted
    save(method, tmp_path / "m")
    other, tok2 = fresh()
    again = load(tmp_path / "m")
    with steer(other, again, 1.0):
        want = logits(other, tok2, TEXTS)
    merge(other, again, 1.0)
    assert not any("lora" in n or "oft" in n or n.endswith(".p_v") for n, _ in other.named_parameters())
    torch.testing.assert_close(logits(other, tok2, TEXTS), want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", trainable_names())
def test_every_adapter_layer_gets_gradient(name):
    model, tok = fresh()
    ctx = make_context(model, tok, data=DATA, layers=LAYERS, train=TRAIN)
    method = build({"name": name, **small(name, 8)})
    method.fit(ctx)  # attach only: steerlab.fitting runs the training loop
    tr = Trainer(ctx, method)
    tr.pass_terms(tr.data.batch(torch.arange(8), "cpu"), tr.loss, torch.arange(8), 1.0, 1.0)
    grads = {}
    for key, p in method.trainable().items():
        layer = int(key.split(".")[0])
        grads[layer] = grads.get(layer, 0.0) + (0.0 if p.grad is None else float(p.grad.abs().sum()))
    assert sorted(grads) == ctx.steer_layers == [1, 2, 3, 4]
    assert all(g > 0 for g in grads.values()), grads


def separation(method, ctx, tr) -> float:
    """Mean s(+1) − s(−1) on validation pairs at the loss layer."""
    idx = torch.arange(len(tr.val))
    out = {}
    for coeff in (1.0, -1.0):
        with torch.no_grad(), method.apply(ctx.model, coeff):
            from steerlab.train import forward

            hp, hn, _, _ = forward(ctx.model, tr.val.batch(idx, "cpu"), tr.readouts, tr.k)
        out[coeff] = float(tr.loss.separation(hp[5], hn[5], 5, idx).mean())
    return out[1.0] - out[-1.0]


@pytest.mark.parametrize("name", ["ipissa", "lora"])
def test_training_increases_validation_separation(name):
    model, tok = fresh()
    ctx = make_context(model, tok, data=DATA, layers=LAYERS, train={"steps": 15, "val_every": 0})
    method = build({"name": name, **small(name, 8)})
    method.fit(ctx)  # attach only: steerlab.fitting runs the training loop
    tr = Trainer(ctx, method)
    before = separation(method, ctx, tr)
    for step in range(15):
        tr.step(step)
    after = separation(method, ctx, tr)
    assert after > before + 0.05, (before, after)


class StopAt:
    """A logger that interrupts training at a given step, like a job killed mid-run."""

    def __init__(self, step):
        self.stop = step

    def log(self, metrics, step=None):
        if step == self.stop:
            raise KeyboardInterrupt


def train_to_end(folder, logger=None):
    model, tok = fresh()
    ctx = make_context(model, tok, data=DATA, layers=LAYERS, train={"steps": 6, "val_every": 2, "checkpoint_every": 2}, folder=folder)
    ctx.logger = logger
    method = build({"name": "ipissa", "r": 8})
    fit_and_train(method, ctx)
    return method


def test_resume_after_interruption_gives_the_same_adapter(tmp_path):
    whole = train_to_end(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        train_to_end(tmp_path / "b", StopAt(3))
    assert (tmp_path / "b" / "checkpoint" / "state.pt").is_file()
    resumed = train_to_end(tmp_path / "b")
    assert resumed.meta["train"]["resumed_from"] == 2 and whole.meta["train"]["resumed_from"] is None
    for k, t in whole.trainable().items():
        assert torch.equal(t, resumed.trainable()[k]), k


class Requeued(Exception):
    """What submitit's SIGUSR2 handler does in a real job: requeue and leave."""


class SignalAt:
    """A logger that sends this process SIGUSR2 at a given step, as SLURM does on preemption."""

    def __init__(self, step):
        self.at = step

    def log(self, metrics, step=None):
        if step == self.at:
            os.kill(os.getpid(), signal.SIGUSR2)


def test_preemption_signal_checkpoints_at_the_step_boundary_then_requeues(tmp_path):
    """SIGUSR2 mid-training: the step finishes, a checkpoint is written, then the previous handler runs; resume matches."""

    def requeue(signum, frame):
        raise Requeued()

    previous = signal.signal(signal.SIGUSR2, requeue)
    try:
        with pytest.raises(Requeued):
            train_to_end(tmp_path / "b", SignalAt(2))  # periodic checkpoints are at steps 2, 4: this one is extra
        state = torch.load(tmp_path / "b" / "checkpoint" / "state.pt", weights_only=False)["state"]
        assert state["step"] == 3 and not state["done"]
        assert signal.getsignal(signal.SIGUSR2) is requeue  # handed back
        resumed = train_to_end(tmp_path / "b")
    finally:
        signal.signal(signal.SIGUSR2, previous)
    whole = train_to_end(tmp_path / "a")
    assert resumed.meta["train"]["resumed_from"] == 3
    for k, t in whole.trainable().items():
        assert torch.equal(t, resumed.trainable()[k]), k


def test_checkpoint_of_another_config_is_refused(tmp_path):
    train_to_end(tmp_path)
    model, tok = fresh()
    ctx = make_context(model, tok, data=DATA, layers=LAYERS, train={"steps": 7}, folder=tmp_path)
    with pytest.raises(ConfigError, match="another adapter/train/loss config"):
        fit_and_train(build({"name": "ipissa", "r": 8}), ctx)


def test_nan_loss_stops_with_step_component_and_checkpoint(tmp_path):
    model, tok = fresh()
    train = {"steps": 5, "val_every": 0, "optimizer": {"_target_": "torch.optim.SGD", "lr": 1e30}}
    ctx = make_context(model, tok, data=DATA, layers=LAYERS, train=train, folder=tmp_path)
    with pytest.raises(TrainingError, match=r"step \d+: .*(loss component|gradient norm).*last good checkpoint: .*state.pt"):
        fit_and_train(build({"name": "lora", "r": 8}), ctx)
    assert (tmp_path / "checkpoint" / "state.pt").is_file()


@pytest.mark.parametrize("layers", [{"start": 1, "end": 5, "loss": 5}, {"indices": [2, 5], "loss": 4}])
def test_adapter_layers_at_or_above_the_loss_layer_are_rejected(layers):
    model, tok = fresh()
    with pytest.raises(ConfigError, match="at or above the loss layer"):
        fit("ipissa", model, tok, data=DATA, layers=layers, train=TRAIN)


@pytest.mark.parametrize(
    "loss",
    [
        {"space": "u", "snorm": True},
        {"space": "v"},
        {"pref_dir": "mean", "loss_type": "logsigmoid"},
        {"pref_dir": "per_sample", "symlog": True, "mono_weight": 1.0},
    ],
)
def test_loss_variants_train_and_log_each_component(loss):
    model, tok = fresh()
    seen = []

    class Keep:
        def log(self, metrics, step=None):
            seen.append(metrics)

    ctx = make_context(model, tok, data=DATA, layers={**LAYERS, "loss_layers": [4]}, train={"steps": 2, "val_every": 0}, loss=loss)
    ctx.logger = Keep()
    fit_and_train(build({"name": "ipissa", "r": 8}), ctx)
    kind = loss.get("loss_type", "proj")
    assert {f"loss/{kind}/layer_4", f"loss/{kind}/layer_5", "loss/coh", "loss/total", "lr", "grad_norm"} <= set(seen[-1])
    assert ("loss/mono" in seen[-1]) == bool(loss.get("mono_weight"))


@pytest.mark.parametrize("arch", ["tiny_qwen3", "tiny_gemma3"])
@pytest.mark.parametrize("name", trainable_names())
def test_other_families_attach_steer_and_restore(arch, name):
    model, tok = load_model(arch)
    base = logits(model, tok, TEXTS)
    ctx = make_context(model, tok, data={"max_pairs": 16}, layers=LAYERS, train={"steps": 3, "val_every": 0})  # step 0 is warm-up (lr 0)
    method = build({"name": name, **small(name, 4)})
    fit_and_train(method, ctx)
    with steer(model, method, 0.0):
        assert torch.equal(logits(model, tok, TEXTS), base)
    with steer(model, method, 1.0):
        out = logits(model, tok, TEXTS)
    assert torch.isfinite(out).all() and not torch.equal(out, base)


def test_data_aware_selection_on_a_model():
    model, tok = fresh()
    base = logits(model, tok, TEXTS)
    method = fit("ipissa", model, tok, data=DATA, layers=LAYERS, train={"steps": 2, "val_every": 0}, r=8, select="data")
    picked = [w.index.tolist() for w in method.wrappers.values()]
    assert all(len(set(i)) == 8 for i in picked) and any(i != list(range(8)) for i in picked)
    with steer(model, method, 0.0):
        assert torch.equal(logits(model, tok, TEXTS), base)
