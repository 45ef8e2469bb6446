"""Shared pieces of the compiled-core parity tests (tests/test_cuda_core_*.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbskit_cuda
from nbskit.encoding import HashGridConfig

FP32_RTOL = 1e-5  # docs/architecture.md, “Compiled core”: compiled fp32 kernels agree with the reference to 1e-5 relative
FP16_RTOL = 2e-3
GOLDEN_ATOL = {"small": 1e-4, "paper": 1e-3}  # docs/architecture.md, “Hash encoding”


def devices_with_extension() -> list:
    """pytest params: one per device whose extension can be used here, skipped with the reason."""
    params = []
    for kind in nbskit_cuda.KINDS:
        missing = nbskit_cuda.missing_prerequisite(kind)
        marks = [pytest.mark.skip(reason=f"{kind} extension: {missing}")] if missing else []
        params.append(pytest.param(kind, marks=marks, id=kind))
    return params


def require_extension(kind: str):
    """The loaded extension, or skip the test with the reason it cannot be used."""
    module = nbskit_cuda.load_extension(kind)
    if module is None:
        pytest.skip(f"{kind} extension unavailable: {nbskit_cuda.extension_status(kind).reason}")
    return module


def assert_close(
    actual: torch.Tensor, expected: torch.Tensor, rtol: float = FP32_RTOL, what: str = ""
) -> None:
    """Relative agreement measured against the scale of the expected values (so entries that
    cancel to ~0 do not demand impossible relative precision)."""
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.isfinite(actual).all(), f"{what}: non-finite values"
    scale = expected.abs().max().clamp_min(1e-30)
    error = (actual.double() - expected.double()).abs().max()
    assert error <= rtol * scale, f"{what}: max error {float(error):.3g} > {rtol} x {float(scale):.3g}"


def load_golden(path) -> dict:
    """Arrays of one golden file, with the tables regenerated from their seed if not stored."""
    data = dict(np.load(path))
    config = HashGridConfig(
        int(data["L"]), int(data["F"]), int(data["log2T"]), int(data["base"]), int(data["finest"])
    )
    if "tables" not in data:
        num_tables = data["coef"].shape[1]
        shape = (num_tables, config.total_entries, config.features)
        data["tables"] = np.random.RandomState(int(data["seed"])).uniform(-1, 1, shape).astype(np.float32)
        assert np.isclose(data["tables"].astype(np.float64).sum(), float(data["tables_checksum"]))
    data["config"] = config
    return data
