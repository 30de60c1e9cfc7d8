"""Fixtures: tiny random models built in code (helpers for every test live in tests/helpers)."""

from __future__ import annotations

import os

import pytest
import torch

from steerlab.api import load_model, make_context
from steerlab.config_store import register_configs

register_configs()
if os.environ.get("PYTEST_XDIST_WORKER"):  # workers share the cores: one thread each, in the launch.py they start too
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer) of the tiny Llama config."""
    return load_model("tiny_llama")


@pytest.fixture(scope="session")
def tiny_ctx(tiny):
    model, tok = tiny
    return make_context(model, tok, data={"max_pairs": 48}, layers={"start": 1, "loss": 5}, batch_size=16)
