"""InnerPiSSA algebra (SPEC §2.3): reconstruction, orthogonality, the true angle bound, R(−α) = R(α)ᵀ, forward."""

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from steerlab.methods.ipissa import (
    InnerPiSSALinear,
    IPissaConfig,
    ScaleS,
    Select,
    cayley,
    rotation_angle,
    scaled_values,
    select_components,
    skew,
)


def cfg(**kw):
    return OmegaConf.merge(OmegaConf.structured(IPissaConfig), {"name": "ipissa", **kw})


@pytest.fixture
def layer():
    torch.manual_seed(0)
    return nn.Linear(48, 32, bias=True)


def test_reconstruction_of_the_weight(layer):
    w = InnerPiSSALinear(layer, cfg(r=8))
    rebuilt = (w.u * w.s) @ w.v.T + w.residual()
    assert float((rebuilt - layer.weight.detach()).norm() / layer.weight.detach().norm()) <= 1e-5


@pytest.mark.parametrize("theta", [0.05, 0.3, 1.0])
def test_cayley_is_orthogonal_and_angle_is_bounded(theta):
    torch.manual_seed(1)
    p = torch.randn(16, 16) * 10  # far beyond the bound before rescaling
    a = skew(p, theta)
    for coeff in (-1.0, -0.5, 0.25, 1.0):
        r = cayley(a, coeff)
        assert float((r.T @ r - torch.eye(16)).norm()) <= 1e-5
        assert rotation_angle(r) <= theta + 1e-6
    assert rotation_angle(cayley(a, 1.0)) == pytest.approx(theta, rel=1e-4)  # the bound is reached, not just respected


def test_cayley_inverse_and_identity():
    torch.manual_seed(2)
    a = skew(torch.randn(8, 8) * 0.1, 0.5)
    torch.testing.assert_close(cayley(a, -0.7), cayley(a, 0.7).T, atol=1e-6, rtol=0)
    assert torch.equal(cayley(a, 0.0), torch.eye(8))


def test_entrywise_tanh_does_not_bound_the_angle():
    """Why the bound is on ‖A‖₂: tanh on entries (the anchor's way) lets the angle grow with the size of A."""
    p = torch.full((32, 32), 5.0).triu(1)
    a = torch.tanh(p) - torch.tanh(p).T
    assert rotation_angle(cayley(a, 1.0)) > 2.5  # far above e.g. a 0.5 rad intent


@pytest.mark.parametrize("mode", list(ScaleS))
def test_scale_modes_are_identity_at_zero(mode):
    s, d = torch.rand(6) + 0.5, torch.randn(6)
    torch.testing.assert_close(scaled_values(s, d, 0.0, mode), s)


def test_forward_equals_the_literal_spec_formula(layer):
    w = InnerPiSSALinear(layer, cfg(r=8, rotate_u=True, scale_s="add_tanh", init_std=0.3))
    x = torch.randn(5, 48)
    for coeff in (-1.0, 0.5, 1.0):
        w.coeff = coeff
        r_v, r_u = w.rotations(coeff)
        s_new = scaled_values(w.s, w.delta, coeff, ScaleS.add_tanh)
        literal = ((x @ w.v @ r_v) * s_new) @ (w.u @ r_u).T + x @ w.residual().T + layer.bias
        torch.testing.assert_close(w(x), literal, atol=1e-5, rtol=1e-5)


def test_alpha_zero_calls_the_original_layer(layer):
    w = InnerPiSSALinear(layer, cfg(r=8, init_std=0.5))
    x = torch.randn(3, 48)
    assert torch.equal(w(x), layer(x))


def test_data_aware_selection_splits_between_positive_and_negative():
    s = torch.linspace(5, 1, 10)
    v = torch.eye(10)
    x_pos = torch.zeros(50, 10)
    x_pos[:, 7] = torch.randn(50) * 10
    x_pos[:, 8] = torch.randn(50) * 5
    x_neg = torch.zeros(50, 10)
    x_neg[:, 2] = torch.randn(50) * 10
    x_neg[:, 7] = torch.randn(50) * 20  # already taken by the positive half
    idx = select_components(s, v, 4, Select.data, x_pos, x_neg)
    assert idx.tolist()[:4] == sorted(idx.tolist()) and len(set(idx.tolist())) == 4
    assert {7, 8, 2} <= set(idx.tolist())
    assert select_components(s, v, 4, Select.top).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("theta", [0.2, 0.5])
def test_the_layers_rotations_turn_at_most_max_rotation_angle(layer, theta):
    """InnerPiSSA's own rotations, from parameters far beyond the bound, turn by at most θ for |coeff| <= 1 and reach
    it at ±1 (the layer, not just the skew/cayley helpers)."""
    w = InnerPiSSALinear(
        layer, cfg(r=8, rotate_u=True, rotate_v=True, max_rotation_angle=theta, init_std=5.0), generator=torch.Generator().manual_seed(0)
    )
    for coeff in (-1.0, -0.3, 0.6, 1.0):
        for r in w.rotations(coeff):
            assert rotation_angle(r.detach()) <= theta + 1e-6
    assert all(rotation_angle(r.detach()) == pytest.approx(theta, rel=1e-4) for r in w.rotations(1.0))
