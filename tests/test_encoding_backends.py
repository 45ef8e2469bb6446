"""Backend registry: choice by priority/device/dtype, forced names, fallback warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from nbskit._backend_registry import BackendRegistry
from nbskit.encoding import HashGridConfig, backends, encode_blended, hash_encode

CONFIG = HashGridConfig(levels=2, features=2, log2_table_size=6, base_resolution=2, finest_resolution=8)


@pytest.fixture
def registry(monkeypatch):
    """The module's registry, for this test holding only the torch reference (whatever compiled
    backends exist here) with nothing probed or warned yet."""
    reference = backends.encoder_backends()[backends.REFERENCE_BACKEND]
    private = BackendRegistry(backends.EncoderBackend, "encoder", backends.EncoderBackendError)
    private.register(reference.name, hash_encode=reference.hash_encode, encode_blended=reference.encode_blended)
    for attribute, value in vars(private).items():
        monkeypatch.setattr(backends._REGISTRY, attribute, value)
    return backends


def inputs(dtype=torch.float32):
    tables = torch.rand(2, CONFIG.total_entries, CONFIG.features, dtype=dtype)
    return torch.rand(5, 3), tables, torch.tensor([0, 1, 0, 1, 1])


def marked(value):
    """A fake backend whose output says it ran."""
    return lambda x, tables, *rest: torch.full((x.shape[0], CONFIG.output_dim), value)


def test_torch_is_always_registered_and_available():
    assert "torch" in backends.available_encoder_backends("cpu")


def test_unknown_forced_backend_names_the_registered_ones():
    x, tables, frame = inputs()
    with pytest.raises(backends.EncoderBackendError, match="registered: .*torch"):
        hash_encode(x, tables, frame, CONFIG, backend="no-such-backend")


def test_highest_priority_available_backend_wins(registry):
    registry.register_encoder_backend("fast", hash_encode=marked(7.0), priority=5)
    x, tables, frame = inputs()
    assert torch.all(hash_encode(x, tables, frame, CONFIG) == 7.0)
    assert not torch.all(hash_encode(x, tables, frame, CONFIG, backend="torch") == 7.0)


def test_unavailable_backend_warns_once_then_falls_back(registry):
    registry.register_encoder_backend(
        "broken",
        hash_encode=marked(7.0),
        priority=5,
        is_available=lambda: False,
        why_unavailable=lambda: "no compiler",
    )
    x, tables, frame = inputs()
    with pytest.warns(UserWarning, match="'broken' is unavailable \\(no compiler\\)"):
        out = hash_encode(x, tables, frame, CONFIG)
    assert not torch.all(out == 7.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hash_encode(x, tables, frame, CONFIG)  # second call: silent
    with pytest.raises(backends.EncoderBackendError, match="unavailable: no compiler"):
        hash_encode(x, tables, frame, CONFIG, backend="broken")


def test_failing_availability_probe_counts_as_unavailable(registry):
    def probe():
        raise OSError("libcuda.so missing")

    registry.register_encoder_backend("flaky", hash_encode=marked(7.0), priority=5, is_available=probe)
    x, tables, frame = inputs()
    with pytest.raises(backends.EncoderBackendError, match="libcuda.so missing"):
        hash_encode(x, tables, frame, CONFIG, backend="flaky")


def test_device_and_dtype_limits_are_respected(registry):
    registry.register_encoder_backend(
        "gpu-only", hash_encode=marked(7.0), priority=5, devices=("cuda",), dtypes=(torch.float32,)
    )
    registry.register_encoder_backend(
        "fp32-cpu", hash_encode=marked(3.0), priority=4, dtypes=(torch.float32,)
    )
    x, tables, frame = inputs()
    assert torch.all(hash_encode(x, tables, frame, CONFIG) == 3.0)
    x64, tables64, _ = inputs(torch.float64)
    assert not torch.all(hash_encode(x64.double(), tables64, frame, CONFIG) == 3.0)  # torch handles float64
    with pytest.raises(backends.EncoderBackendError, match="runs on devices \\['cuda'\\]"):
        hash_encode(x, tables, frame, CONFIG, backend="gpu-only")


def test_lookup_only_backend_serves_encode_blended_after_a_torch_blend(registry):
    seen = {}

    def lookup(x, tables, frame, config):
        seen["tables"] = tables.shape
        return torch.zeros(x.shape[0], config.output_dim)

    registry.register_encoder_backend("lookup", hash_encode=lookup, priority=5)
    x, tables, frame = inputs()
    coefficients = torch.rand(2, 2)
    encode_blended(x, tables, coefficients, frame, CONFIG)
    assert seen["tables"] == (coefficients.shape[0], CONFIG.total_entries, CONFIG.features)


def test_registration_needs_an_implementation():
    with pytest.raises(ValueError, match="hash_encode and/or encode_blended"):
        backends.register_encoder_backend("empty")


def test_import_of_nbskit_encoding_loads_no_compiled_module():
    import subprocess
    import sys

    code = "import sys, nbskit.encoding; print(any(m.startswith('nbskit_cuda') for m in sys.modules))"
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert result.stdout.strip() == "False"
