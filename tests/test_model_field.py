"""The radiance fields: shapes, clamping, box normalisation, units, gradients, summary."""

from __future__ import annotations

import pytest
import torch

from nbskit.encoding import HashGridConfig
from nbskit.model import ConcatenateBaseline, ConcatenateConfig, NeRFBlendShape, NeRFBlendShapeConfig

SMALL_GRID = HashGridConfig(levels=4, features=2, log2_table_size=10, base_resolution=4, finest_resolution=32)
K = 3
AABB = torch.tensor([[-0.2, -0.3, -0.1], [0.2, 0.3, 0.3]])
W_MIN, W_MAX = torch.zeros(K), torch.tensor([1.0, 0.5, 2.0])


def _models(aabb=AABB):
    torch.manual_seed(0)
    blend = NeRFBlendShape(NeRFBlendShapeConfig(hash_grid=SMALL_GRID), aabb, W_MIN, W_MAX)
    concat = ConcatenateBaseline(ConcatenateConfig(hash_grid=SMALL_GRID), aabb, W_MIN, W_MAX)
    for model in (blend, concat):  # move tables away from their tiny init so features matter
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "table" in name:
                    parameter.uniform_(-1, 1)
    return blend, concat


def _points(n=200, aabb=AABB):
    torch.manual_seed(1)
    x = aabb[0] + torch.rand(n, 3) * (aabb[1] - aabb[0])
    d = torch.nn.functional.normalize(torch.randn(n, 3), dim=-1)
    frame = torch.randint(2, (n,))
    return x, d, frame


@pytest.mark.parametrize("index", [0, 1], ids=["blend", "concatenate"])
def test_shapes_ranges_and_density_agreement(index):
    model = _models()[index]
    x, d, frame = _points()
    w = torch.tensor([[0.2, 0.1, 1.0], [0.9, 0.4, 0.0]])
    sigma, rgb = model(x, d, frame, w)
    assert sigma.shape == (200,) and rgb.shape == (200, 3)
    assert torch.all(sigma >= 0) and torch.all((rgb > 0) & (rgb < 1))
    assert torch.allclose(model.density(x, frame, w), sigma)
    assert torch.allclose(model.density_from_coefficients(x, frame, model.coefficients(w)), sigma)
    assert model.num_expressions == K


@pytest.mark.parametrize("index", [0, 1], ids=["blend", "concatenate"])
def test_coefficients_are_clamped_to_the_training_range(index):
    model = _models()[index]
    x, _, frame = _points()
    inside = torch.tensor([[1.0, 0.5, 2.0], [0.0, 0.0, 0.0]])
    beyond = torch.tensor([[3.0, 0.9, 7.0], [-1.0, -2.0, -0.5]])
    assert torch.equal(model.coefficients(beyond), torch.cat([torch.ones(2, 1), inside], dim=1))
    assert torch.allclose(model.density(x, frame, beyond), model.density(x, frame, inside))
    # The raw entry point does not clamp (the occupancy update probes exact coefficients).
    raw = torch.cat([torch.ones(2, 1), beyond], dim=1)
    assert not torch.allclose(model.density_from_coefficients(x, frame, raw), model.density(x, frame, inside))


def test_blended_field_depends_on_w_only_through_the_blend():
    blend, _ = _models()
    x, d, frame = _points()
    frame = torch.zeros_like(frame)
    # Basis tables set to zero: the expression can no longer change anything.
    with torch.no_grad():
        blend.grid.basis_tables.zero_()
    a = blend(x, d, frame, torch.tensor([[0.0, 0.0, 0.0]]))
    b = blend(x, d, frame, torch.tensor([[1.0, 0.5, 2.0]]))
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])


@pytest.mark.parametrize("index", [0, 1], ids=["blend", "concatenate"])
def test_density_units_follow_the_box_and_vanish_outside(index):
    x, _, frame = _points()
    w = torch.tensor([[0.5, 0.2, 1.0], [0.1, 0.3, 0.2]])
    scale = 100.0  # e.g. the same scene in centimetres instead of metres
    small, large = _models()[index], _models(AABB * scale)[index]
    sigma_small = small.density(x, frame, w)
    sigma_large = large.density(x * scale, frame, w)
    assert torch.allclose(sigma_large * scale, sigma_small, rtol=1e-4)
    outside = torch.tensor([[0.25, 0.0, 0.0], [0.0, -0.31, 0.0], [0.0, 0.0, 0.31]])
    assert torch.all(small.density(outside, torch.zeros(3, dtype=torch.int64), w) == 0)


@pytest.mark.parametrize("index", [0, 1], ids=["blend", "concatenate"])
def test_gradients_reach_every_parameter_group(index):
    model = _models()[index]
    x, d, frame = _points()
    sigma, rgb = model(x, d, frame, torch.tensor([[0.5, 0.2, 1.0], [0.1, 0.3, 0.2]]))
    (sigma.sum() + rgb.sum()).backward()
    for role, params in model.parameter_groups().items():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), role


def test_untrained_field_starts_as_faint_fog():
    """The density bias: an untrained field absorbs a fraction of the light across its box, not all."""
    torch.manual_seed(0)
    model = NeRFBlendShape(NeRFBlendShapeConfig(hash_grid=SMALL_GRID), AABB, W_MIN, W_MAX)
    x, _, frame = _points()
    depth_across_box = model.density(x, frame, torch.zeros(2, K)) * float((AABB[1] - AABB[0]).max())
    assert torch.all((depth_across_box > 0.05) & (depth_across_box < 1.0))


def test_summary_counts_every_parameter():
    for model in _models():
        text = model.summary()
        total = sum(p.numel() for p in model.parameters())
        assert f"{total:,}" in text and "MLP" in text and "table" in text
        grouped = sum(p.numel() for params in model.parameter_groups().values() for p in params)
        assert grouped == total


def test_paper_sizes():
    config = NeRFBlendShapeConfig()
    model = NeRFBlendShape(config, AABB, W_MIN, W_MAX)
    linear = [m for m in model.density_mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(64, 64)] * 4 + [(64, 65)]
    colour = [m for m in model.color_mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in colour] == [(80, 64), (64, 3)]
    baseline = ConcatenateBaseline(ConcatenateConfig(hash_grid=SMALL_GRID), AABB, W_MIN, W_MAX)
    widths = [(m.in_features, m.out_features) for m in baseline.density_mlp if isinstance(m, torch.nn.Linear)]
    assert widths == [(SMALL_GRID.output_dim + 32, 128)] + [(128, 128)] * 6 + [(128, 65)]


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="aabb"):
        NeRFBlendShape(NeRFBlendShapeConfig(hash_grid=SMALL_GRID), torch.zeros(2, 3), W_MIN, W_MAX)
    with pytest.raises(ValueError, match="expression_min"):
        NeRFBlendShape(NeRFBlendShapeConfig(hash_grid=SMALL_GRID), AABB, W_MAX + 1, W_MAX)
    blend, _ = _models()
    with pytest.raises(ValueError, match="w must be"):
        blend.density(torch.zeros(1, 3), torch.zeros(1, dtype=torch.int64), torch.zeros(1, K + 1))
