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
BUILD_LOG_TAIL_LINES = 40  # of a failed build's log, shown in the test failure


def devices_with_extension() -> list:
    """pytest params: one per device whose extension could be built here, skipped with the reason
    otherwise; the CUDA one is marked ``cuda`` (the only skip CI accepts, see tests/conftest.py)."""
    params = []
    for kind in nbskit_cuda.KINDS:
        missing = nbskit_cuda.missing_prerequisite(kind)
        marks = [pytest.mark.skip(reason=f"{kind} extension: {missing}")] if missing else []
        if kind == "cuda":
            marks.append(pytest.mark.cuda)
        params.append(pytest.param(kind, marks=marks, id=kind))
    return params


def require_extension(kind: str):
    """The loaded extension. Skips when a prerequisite (compiler, ninja, GPU) is missing, with the
    reason; FAILS, showing the end of the build log, when the prerequisites are there and the
    build failed: a broken source must never pass as a skip."""
    module = nbskit_cuda.load_extension(kind)
    if module is None:
        status = nbskit_cuda.extension_status(kind)
        if status.log_path is not None:
            pytest.fail(f"the compiled {kind} core failed to build ({status.reason}); "
                        f"end of {status.log_path}:\n{build_log_tail(status.log_path)}", pytrace=False)
        pytest.skip(f"{kind} extension unavailable: {status.reason}")
    return module


def build_log_tail(path, lines: int = BUILD_LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a build log (the compiler's errors are at its end)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(log unreadable: {error})"


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
