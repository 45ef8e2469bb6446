"""Volume compositing (torch reference) against closed forms, early stop, packing, and gradients."""

from __future__ import annotations

import functools
import math

import torch

from nbskit.render import EARLY_STOP_TRANSMITTANCE, PackedSamples
from nbskit.render import composite as composite_any

# These tests pin down the reference; compiled backends are compared against it in their own tests.
composite = functools.partial(composite_any, backend="torch")


def _slab_samples(ray_lengths: list[tuple[float, float, int]], dtype=torch.float32) -> PackedSamples:
    """Uniform samples over [a, b] with n intervals for each ray (n may be 0)."""
    ray_index, t_start, t_end = [], [], []
    for ray, (a, b, n) in enumerate(ray_lengths):
        edges = torch.linspace(a, b, n + 1, dtype=dtype)
        ray_index.append(torch.full((n,), ray, dtype=torch.int64))
        t_start.append(edges[:-1])
        t_end.append(edges[1:])
    t0, t1 = torch.cat(t_start), torch.cat(t_end)
    zeros = torch.zeros(t0.shape[0], 3, dtype=dtype)
    return PackedSamples(torch.cat(ray_index), t0, t1, zeros, zeros)


def test_constant_density_slab_matches_closed_form():
    sigma_value, a, b = 1.7, 2.0, 3.0
    samples = _slab_samples([(a, b, 4000), (0.0, 0.0, 0), (a, b, 4000)])
    sigma = torch.full((len(samples),), sigma_value)
    colour = torch.tensor([0.2, 0.5, 0.9])
    background = torch.tensor([1.0, 0.0, 0.5])
    out = composite(sigma, colour.expand(len(samples), 3), samples, 3, background)

    opacity = 1 - math.exp(-sigma_value * (b - a))
    # ∫_a^b t σ e^{-σ(t-a)} dt, the expected distance (not divided by the opacity)
    depth = a - b * math.exp(-sigma_value * (b - a)) + opacity / sigma_value
    for ray in (0, 2):
        assert math.isclose(out["opacity"][ray], opacity, rel_tol=1e-4)
        assert math.isclose(out["depth"][ray], depth, rel_tol=1e-4)
        assert torch.allclose(out["rgb"][ray], opacity * colour + (1 - opacity) * background, atol=1e-4)
    # A ray without samples shows the background only.
    assert out["opacity"][1] == 0 and out["depth"][1] == 0
    assert torch.equal(out["rgb"][1], background)
    assert torch.allclose(out["weights"].sum(), torch.tensor(2 * opacity), rtol=1e-4)


def test_early_stop_drops_samples_behind_an_opaque_wall():
    samples = _slab_samples([(0.0, 1.0, 100)])
    sigma = torch.zeros(100)
    sigma[10] = 50.0  # optical depth 0.5 in one interval
    sigma[20] = 2000.0  # optical depth 20: transmittance behind it ~ 1e-9
    sigma[30:] = 1.0
    out = composite(sigma, torch.rand(100, 3), samples, 1)
    t_behind = math.exp(-0.5 - 20.0)
    assert t_behind < EARLY_STOP_TRANSMITTANCE
    assert torch.all(out["weights"][21:] == 0)
    assert out["weights"][20] > 0
    assert math.isclose(out["opacity"][0], 1 - t_behind, rel_tol=1e-6)


def test_composite_gradients_match_finite_differences():
    torch.manual_seed(0)
    samples = _slab_samples([(0.5, 1.0, 3), (0.0, 0.0, 0), (0.2, 2.0, 4), (1.0, 1.5, 1)], dtype=torch.float64)
    num = len(samples)
    sigma = (torch.rand(num, dtype=torch.float64) * 3).requires_grad_()
    rgb = torch.rand(num, 3, dtype=torch.float64).requires_grad_()
    background = torch.rand(4, 3, dtype=torch.float64)

    def outputs(sigma, rgb):
        out = composite(sigma, rgb, samples, 4, background)
        return out["rgb"], out["opacity"], out["depth"]

    assert torch.autograd.gradcheck(outputs, (sigma, rgb), eps=1e-6, atol=1e-7)


def test_long_packed_batches_keep_per_ray_precision():
    """A running sum over many rays must not leak into the transmittance of later rays."""
    rays = [(0.0, 1.0, 64)] * 2000
    samples = _slab_samples(rays)
    sigma = torch.full((len(samples),), 3.0)
    out = composite(sigma, torch.ones(len(samples), 3), samples, len(rays))
    expected = 1 - math.exp(-3.0)
    assert torch.allclose(out["opacity"], torch.full((len(rays),), expected), rtol=1e-5)
