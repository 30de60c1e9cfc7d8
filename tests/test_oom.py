"""model.batch_size=auto: a fake device limit raises CUDA's out-of-memory error above N rows per forward pass; every
phase halves its batch until it fits, remembers the size, and computes the same numbers as an unlimited run."""

from contextlib import contextmanager

import pytest
import torch

from steerlab import oom
from steerlab.activations import last_tokens
from steerlab.api import evaluate, load_model, make_context
from steerlab.generate import greedy
from steerlab.methods.registry import build
from steerlab.train import Trainer

TEXTS = [f"Pretend you are a person. Statement number {i} is" + " really" * (i % 5) for i in range(20)]


@contextmanager
def device_limit(model, rows: int):
    """Every forward pass of more than `rows` sequences fails as CUDA does when memory runs out."""

    def check(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and ids.shape[0] > rows:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate a batch of {ids.shape[0]} rows (fake limit {rows}).")

    handle = model.register_forward_pre_hook(check, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


@pytest.fixture()
def auto_model():
    model, tok = load_model("tiny_llama")
    oom.enable(model)
    return model, tok


def test_extraction_halves_and_matches(auto_model):
    model, tok = auto_model
    layer = {"h": model.model.layers[2]}
    free = last_tokens(model, tok, TEXTS, layer, batch_size=16)["h"]
    with device_limit(model, 4):
        limited = last_tokens(model, tok, TEXTS, layer, batch_size=16)["h"]
    assert oom.sizes(model)["extract"] == 4  # 16 -> 8 -> 4
    torch.testing.assert_close(limited, free, rtol=1e-5, atol=1e-5)  # padding differs per batch, the states do not


def test_the_found_size_is_where_the_phase_starts_next_time(auto_model, caplog):
    model, tok = auto_model
    layer = {"h": model.model.layers[1]}
    with device_limit(model, 4):
        last_tokens(model, tok, TEXTS, layer, batch_size=16)
        caplog.clear()
        last_tokens(model, tok, TEXTS, layer, batch_size=16)
    assert "out of memory" not in caplog.text  # started at 4: no failed attempt the second time


def test_generation_and_evaluation_halve_and_match(auto_model):
    model, tok = auto_model
    free = greedy(model, tok, TEXTS[:8], 4, batch_size=8)
    method = build({"name": "random", "norm_fraction": 0.5})
    method.fit(make_context(model, tok, data={"max_pairs": 16}, layers={"start": 1, "loss": 5}))
    summary_free, rows_free = evaluate(model, tok, method, "builtin", limit=6, batch_size=16)
    with device_limit(model, 2):
        limited = greedy(model, tok, TEXTS[:8], 4, batch_size=8)
        summary, rows = evaluate(model, tok, method, "builtin", limit=6, batch_size=16)
    assert limited == free
    assert oom.sizes(model)["generate"] <= 2
    assert set(oom.sizes(model)) >= {"generate"}
    torch.testing.assert_close(torch.tensor(rows["y"].to_numpy()), torch.tensor(rows_free["y"].to_numpy()), rtol=1e-4, atol=1e-5)


def test_a_training_step_splits_the_batch_and_keeps_the_gradient():
    grads = []
    for limit in (None, 2):  # 4 pairs = 8 rows per pass; under the limit, pieces of 1 pair (2 rows)
        model, tok = load_model("tiny_llama")
        oom.enable(model)
        method = build({"name": "lora", "r": 4})
        ctx = make_context(model, tok, data={"max_pairs": 16}, layers={"start": 1, "loss": 5}, train={"steps": 1, "batch_pairs": 4})
        method.fit(ctx)
        tr = Trainer(ctx, method)
        with device_limit(model, limit or 10**6):
            comps = oom.run(model, "train", 4, lambda micro: tr.accumulate(0, micro))
        assert oom.sizes(model)["train"] == (4 if limit is None else 1)
        grads.append(([p.grad.clone() for p in method.trainable().values()], comps))
    (g_free, c_free), (g_split, c_split) = grads
    for a, b in zip(g_free, g_split):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
    assert c_split == pytest.approx(c_free, rel=1e-4, abs=1e-6)


def test_without_auto_an_out_of_memory_error_ends_the_run():
    model, tok = load_model("tiny_llama")
    with device_limit(model, 4), pytest.raises(torch.OutOfMemoryError):
        last_tokens(model, tok, TEXTS, {"h": model.model.layers[1]}, batch_size=16)


def test_out_of_memory_at_one_row_is_one_clear_error(auto_model):
    model, tok = auto_model
    with device_limit(model, 0), pytest.raises(torch.OutOfMemoryError, match="extract: out of memory even at batch size 1"):
        last_tokens(model, tok, TEXTS, {"h": model.model.layers[1]}, batch_size=16)
