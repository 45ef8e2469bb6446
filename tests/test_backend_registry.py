"""The registry shared by the encoder and render backends: choice, forced names, warnings, loading."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from nbskit._backend_registry import Backend, BackendRegistry
from nbskit.render import backends as render_backends

CPU = torch.device("cpu")


class ToyError(RuntimeError):
    pass


@dataclass(frozen=True)
class ToyBackend(Backend):
    square: Callable | None = None
    cube: Callable | None = None


def toy_registry(**kwargs) -> BackendRegistry[ToyBackend]:
    return BackendRegistry(ToyBackend, "toy", ToyError, **kwargs)


def test_best_available_backend_that_implements_the_operation_wins():
    registry = toy_registry()
    registry.register("slow", square=lambda v: v * v, cube=lambda v: v**3, priority=0)
    registry.register("fast", square=lambda v: v * v, priority=5)
    assert registry.select("square", None, CPU, torch.float32).name == "fast"
    assert registry.select("cube", None, CPU, torch.float32).name == "slow"  # fast has no cube
    assert registry.available(CPU, torch.float32) == ["fast", "slow"]
    assert registry.available(CPU, torch.float32, ("square", "cube")) == ["slow"]


def test_device_and_dtype_limits():
    registry = toy_registry()
    registry.register("gpu", square=abs, priority=5, devices=("cuda",))
    registry.register("fp64", square=abs, priority=4, dtypes=(torch.float64,))
    registry.register("any", square=abs)
    assert registry.select("square", None, CPU, torch.float32).name == "any"
    assert registry.select("square", None, CPU, torch.float64).name == "fp64"


def test_forced_backend_errors_say_why():
    registry = toy_registry()
    registry.register("gpu", square=abs, devices=("cuda",))
    registry.register("broken", square=abs, is_available=lambda: False, why_unavailable=lambda: "no compiler")
    with pytest.raises(ToyError, match=r"unknown toy backend 'nope'; registered: \['broken', 'gpu'\]"):
        registry.select("square", "nope", CPU, torch.float32)
    with pytest.raises(ToyError, match="'gpu' does not implement cube"):
        registry.select("cube", "gpu", CPU, torch.float32)
    with pytest.raises(ToyError, match=r"'gpu' runs on devices \['cuda'\].*got cpu"):
        registry.select("square", "gpu", CPU, torch.float32)
    with pytest.raises(ToyError, match="'broken' is unavailable: no compiler"):
        registry.select("square", "broken", CPU, torch.float32)
    with pytest.raises(ToyError, match="no toy backend can run square on cpu"), pytest.warns(UserWarning):
        registry.select("square", None, CPU, torch.float32)


def test_unavailable_better_backend_is_probed_and_warned_about_once():
    probes = []

    def probe():
        probes.append(1)
        return False

    registry = toy_registry()
    registry.register("better", square=abs, priority=5, is_available=probe, why_unavailable=lambda: "no GPU")
    registry.register("fallback", square=abs)
    with pytest.warns(UserWarning, match=r"toy backend 'better' is unavailable \(no GPU\); falling back"):
        assert registry.select("square", None, CPU, torch.float32).name == "fallback"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registry.select("square", None, CPU, torch.float32).name == "fallback"
    assert len(probes) == 1


def test_failing_probe_counts_as_unavailable_and_keeps_its_error():
    def probe():
        raise OSError("libcuda.so missing")

    registry = toy_registry()
    registry.register("flaky", square=abs, is_available=probe)
    assert not registry.is_available("flaky")
    assert registry.unavailable_reason("flaky") == "availability check raised OSError: libcuda.so missing"


def test_re_registering_a_backend_probes_it_again():
    registry = toy_registry()
    registry.register("late", square=abs, is_available=lambda: False)
    assert not registry.is_available("late")
    registry.register("late", square=abs, is_available=lambda: True)
    assert registry.is_available("late")


def test_registration_needs_an_operation():
    with pytest.raises(ValueError, match="give square and/or cube"):
        toy_registry().register("empty", square=None, cube=None)


def test_builtins_load_once_and_a_broken_compiled_module_is_reported(tmp_path, monkeypatch):
    (tmp_path / "toy_broken_backend.py").write_text("import toy_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    calls = []
    registry = toy_registry(
        register_reference=lambda: calls.append(registry.register("reference", square=abs)),
        compiled_modules=("toy_not_installed.backend", "toy_broken_backend"),
    )
    with pytest.warns(UserWarning, match="could not load compiled toy backends from toy_broken_backend") as caught:
        assert list(registry.entries()) == ["reference"]
    assert len(caught) == 1  # the module that is not installed at all is skipped silently
    registry.entries()
    assert len(calls) == 1


def test_render_module_answers_through_its_registry():
    assert "torch" in render_backends.available_render_backends("cpu")
    assert render_backends.backend_is_available("torch")
    with pytest.raises(render_backends.RenderBackendError, match="unknown render backend 'nope'"):
        render_backends.select_render_backend("composite", "nope", CPU)
    composite = render_backends.select_render_backend("composite", "torch", CPU)
    assert composite is render_backends.render_backends()["torch"].composite
