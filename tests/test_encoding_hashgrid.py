"""Hash-grid reference: golden vectors of the original kernel, layout, convention, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbskit.encoding import HashGridConfig, corner_loads, encode_blended, grid_index, hash_encode

SMALL_TOLERANCE = 1e-4  # docs/architecture.md, “Hash encoding”
PAPER_TOLERANCE = 1e-3  # fine levels amplify 1-ulp differences of exp2f in the original kernel


def config_of(golden) -> HashGridConfig:
    return HashGridConfig(
        levels=int(golden["L"]),
        features=int(golden["F"]),
        log2_table_size=int(golden["log2T"]),
        base_resolution=int(golden["base"]),
        finest_resolution=int(golden["finest"]),
    )


def run_golden(golden, tables: np.ndarray, config: HashGridConfig) -> tuple[np.ndarray, np.ndarray]:
    table_tensor = torch.tensor(tables, requires_grad=True)
    out = encode_blended(
        torch.from_numpy(golden["x"]),
        table_tensor,
        torch.from_numpy(golden["coef"]),
        torch.from_numpy(golden["frame"]),
        config,
        backend="torch",
    )
    out.backward(torch.from_numpy(golden["grad_out"]))
    return out.detach().numpy(), table_tensor.grad.numpy()


@pytest.fixture(scope="module")
def small(golden_dir):
    return dict(np.load(golden_dir / "golden_hashgrid_small.npz"))


@pytest.fixture(scope="module")
def paper(golden_dir):
    return dict(np.load(golden_dir / "golden_hashgrid_paper.npz"))


def test_offsets_match_golden(small, paper):
    for golden in (small, paper):
        config = config_of(golden)
        np.testing.assert_array_equal(config.offsets().numpy(), golden["offsets"])
        assert config.offsets().dtype == torch.int32
        assert config.total_entries == int(golden["offsets"][-1])
        assert config.growth_factor == pytest.approx(float(golden["per_level_scale"]), rel=1e-12)


def test_default_config_is_the_papers(paper):
    assert HashGridConfig() == config_of(paper)


def test_golden_small_forward_and_table_gradients(small):
    config = config_of(small)
    assert small["tables"].astype(np.float64).sum() == pytest.approx(
        float(small["tables_checksum"]), abs=1e-6
    )
    out, grad_tables = run_golden(small, small["tables"], config)
    np.testing.assert_allclose(out, small["out"], rtol=0, atol=SMALL_TOLERANCE)
    np.testing.assert_allclose(grad_tables, small["grad_tables"], rtol=0, atol=SMALL_TOLERANCE)


def test_golden_paper_forward_and_table_gradients(paper):
    config = config_of(paper)
    shape = (paper["coef"].shape[1], config.total_entries, config.features)
    tables = np.random.RandomState(int(paper["seed"])).uniform(-1, 1, shape).astype(np.float32)
    assert tables.astype(np.float64).sum() == pytest.approx(float(paper["tables_checksum"]), abs=1e-6)
    out, grad_tables = run_golden(paper, tables, config)
    np.testing.assert_allclose(out, paper["out"], rtol=0, atol=PAPER_TOLERANCE)
    picked = grad_tables.reshape(-1)[paper["grad_pick_index"]]
    np.testing.assert_allclose(picked, paper["grad_pick_value"], rtol=0, atol=PAPER_TOLERANCE)
    norms = np.linalg.norm(grad_tables.reshape(shape[0], -1), axis=1)
    np.testing.assert_allclose(norms, paper["grad_norm_per_table"], rtol=1e-4)


def naive_encode(point: np.ndarray, table: np.ndarray, config: HashGridConfig) -> np.ndarray:
    """One sample, written from docs/architecture.md, “Hash encoding” with numpy uint32 arithmetic (wrap-around for free)."""
    primes = np.array([1, 2654435761, 805459861], dtype=np.uint32)
    offsets = config.offsets().numpy()
    features = []
    for level in range(config.levels):
        scale = np.float32(config.scale(level))
        pos = point.astype(np.float32) * scale + np.float32(0.5)
        cell = np.floor(pos)
        frac = pos - cell
        res = config.resolution(level)
        entries = config.entries(level)
        value = np.zeros(config.features, dtype=np.float64)
        for corner in range(8):
            bits = np.array([(corner >> d) & 1 for d in range(3)])
            c = (cell + bits).astype(np.uint32)
            weight = np.prod(np.where(bits == 1, frac, 1 - frac))
            if (res + 1) ** 3 <= entries:
                index = int(c[0]) + int(c[1]) * (res + 1) + int(c[2]) * (res + 1) ** 2
            else:
                with np.errstate(over="ignore"):
                    hashed = c * primes
                index = int(hashed[0] ^ hashed[1] ^ hashed[2])
            value += weight * table[offsets[level] + index % entries]
        features.append(value)
    return np.concatenate(features)


def test_matches_naive_per_sample_implementation():
    config = HashGridConfig(
        levels=6, features=2, log2_table_size=10, base_resolution=4, finest_resolution=128
    )
    generator = torch.Generator().manual_seed(0)
    table = torch.rand(1, config.total_entries, config.features, generator=generator) * 2 - 1
    x = torch.rand(16, 3, generator=generator)
    x[0] = torch.tensor([0.0, 1.0, 0.5])  # faces of the cube are inside
    out = hash_encode(x, table, torch.zeros(16, dtype=torch.int64), config, backend="torch")
    expected = np.stack([naive_encode(point, table[0].numpy(), config) for point in x.numpy()])
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-5)


def test_samples_outside_the_unit_cube_encode_to_zero():
    config = HashGridConfig(levels=4, features=2, log2_table_size=10, base_resolution=4, finest_resolution=32)
    tables = torch.rand(2, config.total_entries, config.features) + 1  # no zero entries
    x = torch.tensor(
        [[-1e-3, 0.5, 0.5], [0.5, 1.001, 0.5], [0.5, 0.5, 7.0], [0.5, 0.5, 0.5], [float("nan"), 0.5, 0.5]]
    )
    frame = torch.tensor([0, 1, 0, 1, 0])
    out = hash_encode(x, tables, frame, config, backend="torch")
    assert torch.all(out[[0, 1, 2, 4]] == 0)
    assert torch.all(out[3] > 0)


def test_grid_index_dense_levels_are_a_bijection_and_hashed_levels_stay_in_range():
    config = HashGridConfig(levels=4, features=2, log2_table_size=9, base_resolution=4, finest_resolution=32)
    for level in range(config.levels):
        axis = torch.arange(config.resolution(level) + 1)
        corners = torch.cartesian_prod(axis, axis, axis)
        index = grid_index(corners, level, config)
        assert int(index.min()) >= 0 and int(index.max()) < config.entries(level)
        if config.is_dense(level):
            assert torch.unique(index).numel() == corners.shape[0]
    assert config.is_dense(0) and not config.is_dense(config.levels - 1)


def test_gradcheck_on_a_tiny_float64_grid():
    # One dense and two hashed levels, small enough for a numerical Jacobian.
    config = HashGridConfig(levels=3, features=2, log2_table_size=5, base_resolution=2, finest_resolution=8)
    assert config.is_dense(0) and not config.is_dense(2)
    generator = torch.Generator().manual_seed(1)
    tables = torch.rand(2, config.total_entries, config.features, dtype=torch.float64, generator=generator)
    tables.requires_grad_(True)
    x = torch.rand(12, 3, dtype=torch.float64, generator=generator)
    x[0, 1] = 1.5  # an outside sample must receive and pass no gradient
    frame = torch.randint(0, 2, (12,), generator=generator)
    assert torch.autograd.gradcheck(lambda t: hash_encode(x, t, frame, config, backend="torch"), (tables,))


def test_input_errors_name_the_argument():
    config = HashGridConfig(levels=2, features=2, log2_table_size=6, base_resolution=2, finest_resolution=4)
    tables = torch.zeros(1, config.total_entries, config.features)
    frame = torch.zeros(3, dtype=torch.int64)
    with pytest.raises(ValueError, match="x must be"):
        hash_encode(torch.zeros(3, 2), tables, frame, config)
    with pytest.raises(ValueError, match="tables must be"):
        hash_encode(torch.zeros(3, 3), tables[:, :-1], frame, config)
    with pytest.raises(ValueError, match="frame must be"):
        hash_encode(torch.zeros(3, 3), tables, frame.float(), config)
    with pytest.raises(IndexError, match="frame indices"):
        hash_encode(torch.zeros(3, 3), tables, frame + 1, config, backend="torch")


def test_describe_lists_every_level_and_the_memory():
    config = HashGridConfig()
    text = config.describe(num_tables=47)
    assert text.count("dense") + text.count("hashed") == config.levels
    assert "47 tables" in text and f"{47 * config.total_entries * config.features:,}" in text


def test_corner_loads_count_every_corner_once():
    config = HashGridConfig(levels=3, features=2, log2_table_size=8, base_resolution=4, finest_resolution=16)
    for level in range(config.levels):
        loads = corner_loads(config, level)
        assert int(loads.sum()) == (config.resolution(level) + 1) ** 3
        if config.is_dense(level):
            assert int(loads.max()) <= 1
        else:
            assert int(loads.max()) > 1  # more corners than entries: some must collide
