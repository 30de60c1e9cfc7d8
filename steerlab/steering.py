"""Steering a model with any fitted method by a user coefficient c: the one mapping c → c · sign · scale.

`with steer(model, method, c) as prompt:` steers the model (restored exactly on exit) and gives `prompt(user)`, the user
turn as the method shows it at c: hooks and prompt edit come from one call, so no caller applies one without the
other. `merge` folds a trained adapter at c into the weights. Sign (SPEC §4) and strength scale
(SPEC §8) are calibrated per method; c = 0 is the untouched model for every method.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from steerlab.errors import ConfigError

if TYPE_CHECKING:
    from steerlab.methods.base import Method


def applied(method: Method, coeff: float) -> float:
    """The one mapping from a user coefficient c to what a method applies: c · sign (SPEC §4) · strength scale (§8)."""
    return float(coeff) * method.sign * method.scale


@contextmanager
def steer(model, method: Method, coeff: float) -> Iterator[Callable[[str], str]]:
    """`with steer(model, method, c) as prompt:` — the model steered by c (sign and strength calibrated), restored exactly
    on exit, and `prompt(user)`: the user turn as `method` shows it at c (only prompting changes it)."""
    scaled = applied(method, coeff)
    with method.apply(model, scaled):
        yield lambda text: method.edit_prompt(text, scaled)


def merge(model, method: Method, coeff: float) -> None:
    """Fold a trained adapter at coefficient `coeff` (sign and strength calibrated) into the model's weights and remove it."""
    if not method.is_trained:
        raise ConfigError(f"{method.name} is not a weight adapter; only trained adapters can be merged")
    method.merge(model, applied(method, coeff))
