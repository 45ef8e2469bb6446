"""Registry of hash-encoding backends and the choice among them.

A backend is a set of functions with the signatures of :func:`nbskit.encoding.hash_encode` and
:func:`nbskit.encoding.encode_blended` (minus ``backend=``), plus when it can run. ``torch`` (the
readable reference in this package) is always registered. Compiled backends register themselves
from ``nbskit_cuda.encoding_backend`` when that module is first needed, never at ``import nbskit``,
so importing the library never triggers a C++ build::

    from nbskit.encoding.backends import register_encoder_backend
    register_encoder_backend(
        "cpu", hash_encode=..., encode_blended=..., is_available=compiled_cpu_is_built,
        why_unavailable=lambda: "no C++ compiler (see nbskit doctor)",
        priority=10, devices=("cpu",), dtypes=(torch.float32,),
    )

With ``backend=None`` the highest-priority available backend that supports the device and table
dtype runs; if a better one is registered but unavailable, a warning says why, once per process.
A forced ``backend="name"`` raises :class:`EncoderBackendError` when it cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from nbskit._backend_registry import Backend, BackendRegistry

from .blended import encode_blended_torch
from .hashgrid import hash_encode_torch
from .row_sparse_adam import row_sparse_adam_step_torch

# Modules that register compiled backends on import (owned by the compiled core).
COMPILED_BACKEND_MODULES = ("nbskit_cuda.encoding_backend",)

REFERENCE_BACKEND = "torch"
HASH_ENCODE = "hash_encode"
ENCODE_BLENDED = "encode_blended"
ROW_SPARSE_ADAM_STEP = "row_sparse_adam_step"
OPERATIONS = (HASH_ENCODE, ENCODE_BLENDED, ROW_SPARSE_ADAM_STEP)


class EncoderBackendError(RuntimeError):
    """A requested encoder backend is unknown, unavailable, or cannot handle the inputs."""


@dataclass(frozen=True)
class EncoderBackend(Backend):
    """One registered implementation (common fields: :class:`nbskit._backend_registry.Backend`).

    Attributes:
        hash_encode: ``f(x, tables, frame, config) -> [N, L*F]`` or None.
        encode_blended: ``f(x, tables, coefficients, frame, config) -> [N, L*F]`` or None; when
            None but ``hash_encode`` exists, blending runs in torch and the lookup here.
        row_sparse_adam_step: ``f(param, grad, exp_avg, exp_avg_sq, beta1, beta2, eps, step_size,
            bias_correction2_sqrt) -> rows updated`` (one lazy-Adam step on a table) or None.
    """

    hash_encode: Callable | None = None
    encode_blended: Callable | None = None
    row_sparse_adam_step: Callable | None = None

    def implements(self, operation: str) -> bool:
        if operation == ENCODE_BLENDED:
            return self.encode_blended is not None or self.hash_encode is not None
        return getattr(self, operation) is not None


def _register_reference() -> None:
    register_encoder_backend(
        REFERENCE_BACKEND,
        hash_encode=hash_encode_torch,
        encode_blended=encode_blended_torch,
        row_sparse_adam_step=row_sparse_adam_step_torch,
        priority=0,
    )


_REGISTRY: BackendRegistry[EncoderBackend] = BackendRegistry(
    EncoderBackend, "encoder", EncoderBackendError, _register_reference, COMPILED_BACKEND_MODULES
)


def register_encoder_backend(
    name: str,
    *,
    hash_encode: Callable | None = None,
    encode_blended: Callable | None = None,
    row_sparse_adam_step: Callable | None = None,
    **options,
) -> EncoderBackend:
    """Add (or replace) a backend providing at least one of the :data:`OPERATIONS`.

    ``options``: ``is_available``, ``why_unavailable``, ``priority``, ``devices``, ``dtypes`` (see
    :class:`nbskit._backend_registry.Backend`; by default always available, priority 0, any device
    and dtype).
    """
    return _REGISTRY.register(
        name,
        hash_encode=hash_encode,
        encode_blended=encode_blended,
        row_sparse_adam_step=row_sparse_adam_step,
        **options,
    )


# All registered backends by name (loads the compiled ones if present), whether one can run here
# (probed once per process), and why not.
encoder_backends = _REGISTRY.entries
backends_by_priority = _REGISTRY.by_priority
backend_is_available = _REGISTRY.is_available
unavailable_reason = _REGISTRY.unavailable_reason


def available_encoder_backends(
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> list[str]:
    """Names of the backends that can run on ``device`` with tables of ``dtype``, best first."""
    return _REGISTRY.available(device, dtype)


def select_encoder_backend(
    operation: str, backend: str | None, device: torch.device, dtype: torch.dtype
) -> EncoderBackend:
    """The backend that runs ``operation`` (one of :data:`OPERATIONS`)."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown encoder operation {operation!r}; expected one of {OPERATIONS}")
    return _REGISTRY.select(operation, backend, device, dtype)
