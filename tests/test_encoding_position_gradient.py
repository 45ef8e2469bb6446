"""The hash encoding's gradient in the sample positions (used by camera refinement)."""

from __future__ import annotations

import torch

from nbskit.encoding import HashGridConfig, encode_blended, hash_encode
from nbskit.encoding.backends import available_encoder_backends

CONFIG = HashGridConfig(levels=4, features=2, log2_table_size=9, base_resolution=4, finest_resolution=32)


def random_inputs(seed: int, num_tables: int = 2, num_samples: int = 12):
    generator = torch.Generator().manual_seed(seed)
    tables = torch.rand((num_tables, CONFIG.total_entries, CONFIG.features), generator=generator, dtype=torch.float64)
    x = 0.05 + 0.9 * torch.rand((num_samples, 3), generator=generator, dtype=torch.float64)
    frame = torch.randint(0, num_tables, (num_samples,), generator=generator)
    return x, tables, frame


def test_position_gradient_matches_finite_differences():
    x, tables, frame = random_inputs(0)
    x.requires_grad_(True)
    # Piecewise linear: central differences of 1e-7 almost never straddle a cell face.
    assert torch.autograd.gradcheck(lambda p: hash_encode(p, tables, frame, CONFIG, backend="torch"), (x,),
                                    eps=1e-7, atol=1e-6)


def test_blended_position_gradient_matches_finite_differences():
    x, tables, frame = random_inputs(1, num_tables=3)
    coefficients = torch.tensor([[1.0, 0.3, -0.5], [1.0, 0.8, 0.1]], dtype=torch.float64)
    frame = frame % 2
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: encode_blended(p, tables, coefficients, frame, CONFIG, backend="torch"),
                                    (x,), eps=1e-7, atol=1e-6)


def test_table_gradient_and_values_unchanged_by_position_gradient():
    x, tables, frame = random_inputs(2)
    for backend in available_encoder_backends("cpu", torch.float32):
        values = []
        for track_x in (False, True):
            table_param = tables.float().clone().requires_grad_(True)
            position = x.float().clone().requires_grad_(track_x)
            features = hash_encode(position, table_param, frame, CONFIG, backend=backend)
            features.square().sum().backward()
            values.append((features.detach(), table_param.grad))
        assert torch.equal(values[0][0], values[1][0]), backend
        assert torch.equal(values[0][1], values[1][1]), backend


def test_samples_outside_the_box_get_no_position_gradient():
    x, tables, frame = random_inputs(3)
    x[0] = torch.tensor([1.5, 0.5, 0.5], dtype=torch.float64)
    x.requires_grad_(True)
    hash_encode(x, tables, frame, CONFIG, backend="torch").sum().backward()
    assert torch.equal(x.grad[0], torch.zeros(3, dtype=torch.float64))
    assert x.grad[1:].abs().sum() > 0


def test_coarse_window_keeps_only_the_coarse_levels():
    from nbskit.encoding.position_gradient import coarse_position_gradient

    x, tables, frame = random_inputs(4)
    gradients = {}
    for limit in (None, CONFIG.resolution(1), 1):
        position = x.clone().requires_grad_(True)
        with coarse_position_gradient(limit):
            features = hash_encode(position, tables, frame, CONFIG, backend="torch")
        # Only the first two levels' features (level-major) carry a loss: the window must not matter.
        features[:, : 2 * CONFIG.features].sum().backward()
        gradients[limit] = position.grad
    assert torch.allclose(gradients[None], gradients[CONFIG.resolution(1)])
    assert torch.equal(gradients[1], torch.zeros_like(x))


def test_no_samples_give_an_empty_position_gradient():
    # A batch whose rays all miss the occupied cells marches no samples.
    _, tables, _ = random_inputs(5)
    x = torch.zeros((0, 3), dtype=torch.float64, requires_grad=True)
    features = hash_encode(x, tables, torch.zeros(0, dtype=torch.int64), CONFIG, backend="torch")
    (features.sum() + x.sum()).backward()
    assert x.grad.shape == (0, 3)
