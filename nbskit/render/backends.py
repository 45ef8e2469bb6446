"""Registry of render-kernel backends (marching and compositing) and the choice among them.

Same pattern as :mod:`nbskit.encoding.backends`: ``torch`` (the readable reference in this package)
is always registered; compiled backends register themselves from ``nbskit_cuda.render_backend`` the
first time a kernel is needed, never at ``import nbskit``::

    from nbskit.render.backends import register_render_backend
    register_render_backend(
        "cpu", march_rays=..., composite=..., is_available=compiled_cpu_is_built,
        why_unavailable=lambda: "no C++ compiler (see nbskit doctor)", priority=10, devices=("cpu",),
        dtypes=(torch.float32,),
    )

Implementations take the arguments of :func:`nbskit.render.march_rays` /
:func:`nbskit.render.composite` (minus ``backend=``) and must match the reference (a compiled
``composite`` must be differentiable in ``sigma`` and ``rgb``). With ``backend=None`` the
highest-priority available backend for the device and dtype (of ``origins`` / ``sigma``) runs; an
unavailable better one is reported once.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

COMPILED_BACKEND_MODULES = ("nbskit_cuda.render_backend",)
REFERENCE_BACKEND = "torch"
OPERATIONS = ("march_rays", "composite")


class RenderBackendError(RuntimeError):
    """A requested render backend is unknown, unavailable, or lacks the operation."""


@dataclass(frozen=True)
class RenderBackend:
    """One registered implementation; an operation set to None is not provided by it.

    ``devices`` / ``dtypes``: device types and floating dtypes it accepts (None: any).
    """

    name: str
    march_rays: Callable | None
    composite: Callable | None
    is_available: Callable[[], bool]
    why_unavailable: Callable[[], str] | None
    priority: int
    devices: frozenset[str] | None
    dtypes: frozenset[torch.dtype] | None

    def runs(self, operation: str, device_type: str, dtype: torch.dtype) -> bool:
        return (getattr(self, operation) is not None and (self.devices is None or device_type in self.devices)
                and (self.dtypes is None or dtype in self.dtypes))


_REGISTRY: dict[str, RenderBackend] = {}
_AVAILABILITY: dict[str, bool] = {}
_REASONS: dict[str, str] = {}
_WARNED: set[str] = set()
_BUILTINS_LOADED = False


def register_render_backend(
    name: str,
    *,
    march_rays: Callable | None = None,
    composite: Callable | None = None,
    is_available: Callable[[], bool] = lambda: True,
    why_unavailable: Callable[[], str] | None = None,
    priority: int = 0,
    devices: Iterable[str] | None = None,
    dtypes: Iterable[torch.dtype] | None = None,
) -> RenderBackend:
    """Add (or replace) a backend providing ``march_rays`` and/or ``composite``."""
    if march_rays is None and composite is None:
        raise ValueError(f"render backend {name!r}: give march_rays and/or composite")
    entry = RenderBackend(name, march_rays, composite, is_available, why_unavailable, priority,
                          None if devices is None else frozenset(devices),
                          None if dtypes is None else frozenset(dtypes))
    _REGISTRY[name] = entry
    _AVAILABILITY.pop(name, None)
    _REASONS.pop(name, None)
    return entry


def render_backends() -> dict[str, RenderBackend]:
    """All registered backends by name (loads the compiled ones if installed)."""
    _load_builtin_backends()
    return dict(_REGISTRY)


def backend_is_available(name: str) -> bool:
    """Whether a registered backend can run here (probed once per process)."""
    entry = render_backends().get(name)
    if entry is None:
        return False
    if name not in _AVAILABILITY:
        try:
            _AVAILABILITY[name] = bool(entry.is_available())
        except Exception as err:  # noqa: BLE001 - a failing probe means "unavailable"; reported once
            _AVAILABILITY[name] = False
            _REASONS[name] = f"availability check raised {type(err).__name__}: {err}"
        if not _AVAILABILITY[name] and name not in _REASONS:
            _REASONS[name] = entry.why_unavailable() if entry.why_unavailable else "not available here"
    return _AVAILABILITY[name]


def available_render_backends(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> list[str]:
    """Names of the backends with both kernels that can run on ``device`` with ``dtype``, best first."""
    device_type = torch.device(device).type
    return [e.name for e in _by_priority()
            if all(e.runs(op, device_type, dtype) for op in OPERATIONS) and backend_is_available(e.name)]


def select_render_backend(operation: str, backend: str | None, device: torch.device,
                          dtype: torch.dtype = torch.float32) -> Callable:
    """The function that runs ``operation`` ('march_rays' or 'composite') on ``device`` with ``dtype``."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown render operation {operation!r}; expected one of {OPERATIONS}")
    registry = render_backends()
    if backend is not None:
        entry = registry.get(backend)
        if entry is None:
            raise RenderBackendError(f"unknown render backend {backend!r}; registered: {sorted(registry)}")
        if not entry.runs(operation, device.type, dtype):
            raise RenderBackendError(f"render backend {backend!r} has no {operation} for {device.type} / {dtype}")
        if not backend_is_available(backend):
            raise RenderBackendError(f"render backend {backend!r} is unavailable: {_REASONS[backend]}")
        return getattr(entry, operation)
    for entry in _by_priority():
        if not entry.runs(operation, device.type, dtype):
            continue
        if backend_is_available(entry.name):
            return getattr(entry, operation)
        _warn_fallback_once(entry.name)
    raise RenderBackendError(f"no render backend can run {operation} on {device.type} with {dtype}")


def _by_priority() -> list[RenderBackend]:
    return sorted(render_backends().values(), key=lambda entry: -entry.priority)


def _warn_fallback_once(name: str) -> None:
    if name in _WARNED:
        return
    _WARNED.add(name)
    warnings.warn(f"nbskit: render backend {name!r} is unavailable ({_REASONS[name]}); falling back to the "
                  "next one. Run `nbskit doctor` for details.", stacklevel=4)


def _load_builtin_backends() -> None:
    """Register the torch reference and, if installed, the compiled backends (first use only)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    # Imported here: the compiled modules import this one to register themselves.
    from .composite import composite_torch
    from .marching import march_rays_torch

    register_render_backend(REFERENCE_BACKEND, march_rays=march_rays_torch, composite=composite_torch)
    for module_name in COMPILED_BACKEND_MODULES:
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is None or not module_name.startswith(err.name):
                _warn_import_failed(module_name, err)
        except Exception as err:  # noqa: BLE001 - a broken compiled package must not break the reference
            _warn_import_failed(module_name, err)


def _warn_import_failed(module_name: str, err: BaseException) -> None:
    warnings.warn(f"nbskit: could not load compiled render backends from {module_name} "
                  f"({type(err).__name__}: {err}); using the torch reference", stacklevel=4)
