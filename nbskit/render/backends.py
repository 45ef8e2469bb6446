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

from collections.abc import Callable
from dataclasses import dataclass

import torch

from nbskit._backend_registry import Backend, BackendRegistry

from .composite import composite_torch
from .marching import march_rays_torch

COMPILED_BACKEND_MODULES = ("nbskit_cuda.render_backend",)
REFERENCE_BACKEND = "torch"
OPERATIONS = ("march_rays", "composite")


class RenderBackendError(RuntimeError):
    """A requested render backend is unknown, unavailable, or lacks the operation."""


@dataclass(frozen=True)
class RenderBackend(Backend):
    """One registered implementation; an operation set to None is not provided by it (the common
    fields are described in :class:`nbskit._backend_registry.Backend`)."""

    march_rays: Callable | None = None
    composite: Callable | None = None


def _register_reference() -> None:
    register_render_backend(REFERENCE_BACKEND, march_rays=march_rays_torch, composite=composite_torch)


_REGISTRY: BackendRegistry[RenderBackend] = BackendRegistry(
    RenderBackend, "render", RenderBackendError, _register_reference, COMPILED_BACKEND_MODULES
)


def register_render_backend(
    name: str, *, march_rays: Callable | None = None, composite: Callable | None = None, **options
) -> RenderBackend:
    """Add (or replace) a backend providing ``march_rays`` and/or ``composite``; ``options`` as for
    :func:`nbskit.encoding.backends.register_encoder_backend`."""
    return _REGISTRY.register(name, march_rays=march_rays, composite=composite, **options)


# All registered backends by name (loads the compiled ones if installed), whether one can run here
# (probed once per process), and why not.
render_backends = _REGISTRY.entries
backends_by_priority = _REGISTRY.by_priority
backend_is_available = _REGISTRY.is_available
unavailable_reason = _REGISTRY.unavailable_reason


def available_render_backends(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> list[str]:
    """Names of the backends with both kernels that can run on ``device`` with ``dtype``, best first."""
    return _REGISTRY.available(device, dtype, OPERATIONS)


def select_render_backend(operation: str, backend: str | None, device: torch.device,
                          dtype: torch.dtype = torch.float32) -> Callable:
    """The function that runs ``operation`` ('march_rays' or 'composite') on ``device`` with ``dtype``."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown render operation {operation!r}; expected one of {OPERATIONS}")
    return getattr(_REGISTRY.select(operation, backend, device, dtype), operation)
