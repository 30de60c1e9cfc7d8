"""Fixtures: tiny random models built in code (helpers for every test live in tests/helpers)."""
from __future__ import annotations

import pytest

from steerlab.api import load_model, make_context
from steerlab.config_store import register_configs

register_configs()


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer) of the tiny Llama config."""
    return load_model("tiny_llama")


@pytest.fixture(scope="session")
def tiny_ctx(tiny):
    model, tok = tiny
    return make_context(model, tok, data={"max_pairs": 48}, layers={"start": 1, "loss": 5}, batch_size=16)
