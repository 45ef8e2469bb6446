"""Blended tables: linearity of the blend, coefficient clamping, the BlendedHashGrid module."""

from __future__ import annotations

import pytest
import torch

from nbskit.encoding import BlendedHashGrid, HashGridConfig, blend_tables, encode_blended, hash_encode
from nbskit.encoding.blended import encode_blended_torch
from nbskit.encoding.dispatch import sparse_terms

CONFIG = HashGridConfig(levels=4, features=2, log2_table_size=10, base_resolution=4, finest_resolution=64)


def random_inputs(num_samples=256, num_tables=4, num_frames=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    tables = torch.rand(num_tables, CONFIG.total_entries, CONFIG.features, generator=generator) * 2 - 1
    coefficients = torch.rand(num_frames, num_tables, generator=generator)
    x = torch.rand(num_samples, 3, generator=generator)
    frame = torch.randint(0, num_frames, (num_samples,), generator=generator)
    return x, tables, coefficients, frame


def test_blending_equals_per_sample_weighted_sum_of_single_table_encodings():
    x, tables, coefficients, frame = random_inputs()
    blended = encode_blended(x, tables, coefficients, frame, CONFIG, backend="torch")
    single_frame = torch.zeros_like(frame)
    per_table = torch.stack(
        [hash_encode(x, tables[k : k + 1], single_frame, CONFIG) for k in range(len(tables))]
    )
    expected = torch.einsum("nk,knd->nd", coefficients[frame], per_table)
    torch.testing.assert_close(blended, expected, rtol=1e-5, atol=1e-5)


def test_gradients_reach_tables_and_coefficients():
    x, tables, coefficients, frame = random_inputs()
    tables.requires_grad_(True)
    coefficients.requires_grad_(True)
    encode_blended(x, tables, coefficients, frame, CONFIG).square().sum().backward()
    assert tables.grad.abs().sum() > 0
    assert coefficients.grad.abs().sum() > 0


def probe_rows(num_tables, generator):
    """The occupancy grid's probes: the neutral row and one row per basis at a positive value."""
    from nbskit.render.occupancy import expression_probe_coefficients

    return expression_probe_coefficients(torch.rand(num_tables - 1, generator=generator) + 0.1, "expression")


@pytest.mark.parametrize("backend", ["torch", None])
def test_rows_with_few_terms_use_lookups_and_match_the_blend(backend):
    """Many rows with one or two non-zero coefficients: encode_blended combines raw-table lookups
    instead of blending every row; values and table gradients must equal the blend-then-lookup ones."""
    generator = torch.Generator().manual_seed(1)
    num_tables = 40
    tables = torch.rand(num_tables, CONFIG.total_entries, CONFIG.features, generator=generator) * 2 - 1
    coefficients = probe_rows(num_tables, generator)
    x = torch.rand(64, 3, generator=generator)
    frame = torch.randint(0, num_tables, (64,), generator=generator)
    terms = sparse_terms(coefficients, x.shape[0], CONFIG)
    assert terms is not None and terms.shape == (num_tables, 2)
    assert (terms[:, 0] == 0).all() and (terms[1:, 1] == torch.arange(1, num_tables)).all()

    def run(fn):
        t = tables.clone().requires_grad_()
        out = fn(t)
        out.square().sum().backward()
        return out.detach(), t.grad

    got = run(lambda t: encode_blended(x, t, coefficients, frame, CONFIG, backend=backend))
    expected = run(lambda t: encode_blended_torch(x, t, coefficients, frame, CONFIG))
    for name, a, b in zip(("output", "grad tables"), got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)
    # A zero coefficient has a gradient too: coefficients that need one are blended.
    assert sparse_terms(coefficients.clone().requires_grad_(), x.shape[0], CONFIG) is None


def test_dense_rows_and_single_rows_are_blended():
    x, _, coefficients, _ = random_inputs(num_samples=4096)
    assert sparse_terms(coefficients, x.shape[0], CONFIG) is None  # every row has all K+1 terms
    assert sparse_terms(coefficients[:1], x.shape[0], CONFIG) is None  # one row: one blend is cheapest


def test_blend_tables_is_a_matrix_product():
    _, tables, coefficients, _ = random_inputs()
    blended = blend_tables(tables, coefficients)
    torch.testing.assert_close(blended[1], sum(coefficients[1, k] * tables[k] for k in range(len(tables))))


def test_coefficient_shape_is_checked():
    x, tables, coefficients, frame = random_inputs()
    with pytest.raises(ValueError, match="coefficients must be"):
        encode_blended(x, tables, coefficients[:, :-1], frame, CONFIG)


def make_grid(num_expressions=3):
    low = torch.tensor([0.0, -0.5, 0.2])[:num_expressions]
    high = torch.tensor([1.0, 0.5, 0.4])[:num_expressions]
    return BlendedHashGrid(CONFIG, num_expressions, low, high), low, high


def test_parameters_have_the_agreed_shapes_and_init_range():
    torch.manual_seed(0)
    grid, _, _ = make_grid()
    assert grid.mean_table.shape == (1, CONFIG.total_entries, CONFIG.features)
    assert grid.basis_tables.shape == (3, CONFIG.total_entries, CONFIG.features)
    for table in (grid.mean_table.detach(), grid.basis_tables.detach()):
        assert float(table.abs().max()) <= 1e-4
        assert float(table.std()) > 1e-5  # really random, not zeros
    assert grid.tables.shape == (4, CONFIG.total_entries, CONFIG.features)


def test_coefficients_prepend_one_and_clamp_to_the_training_range():
    grid, low, high = make_grid()
    w = torch.tensor([[2.0, -3.0, 0.3], [-1.0, 0.1, 9.0]])
    c = grid.coefficients(w)
    assert torch.all(c[:, 0] == 1)
    torch.testing.assert_close(c[:, 1:], torch.maximum(torch.minimum(w, high), low))
    torch.testing.assert_close(grid.coefficients(w, clamp=False)[:, 1:], w)
    assert grid.coefficients(w[0]).shape == (1, 4)  # a single frame may be given as [K]
    with pytest.raises(ValueError, match="w must be"):
        grid.coefficients(torch.zeros(2, 5))


def test_forward_clamps_and_forward_coefficients_does_not():
    grid, _, _ = make_grid()
    with torch.no_grad():
        grid.basis_tables.uniform_(-1, 1)
    x = torch.rand(64, 3)
    frame = torch.zeros(64, dtype=torch.int64)
    beyond = torch.tensor([[5.0, 0.0, 0.3]])
    at_max = torch.tensor([[1.0, 0.0, 0.3]])
    torch.testing.assert_close(grid(x, frame, beyond), grid(x, frame, at_max))
    raw = grid.forward_coefficients(x, frame, torch.cat([torch.ones(1, 1), beyond], dim=1))
    assert not torch.allclose(raw, grid(x, frame, beyond))


def test_invalid_expression_range_is_rejected():
    with pytest.raises(ValueError, match="expression_min"):
        BlendedHashGrid(CONFIG, 2, [0.0, 1.0], [1.0, 0.5])
    with pytest.raises(ValueError, match="expression_max must have shape"):
        BlendedHashGrid(CONFIG, 2, [0.0, 0.0], [1.0])


def test_mean_and_basis_tables_are_views_of_the_one_parameter():
    grid, _, _ = make_grid()
    assert [name for name, _ in grid.named_parameters()] == ["tables"]
    with torch.no_grad():
        grid.basis_tables[1].fill_(3.0)
    assert torch.all(grid.tables[2] == 3.0)
    grid.basis_tables.sum().backward()  # a loss on the bases alone reaches only rows 1..K of tables
    assert torch.all(grid.tables.grad[0] == 0) and torch.all(grid.tables.grad[1:] == 1)
