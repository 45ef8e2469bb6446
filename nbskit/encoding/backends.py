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

import importlib
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

# Modules that register compiled backends on import (owned by the compiled core).
COMPILED_BACKEND_MODULES = ("nbskit_cuda.encoding_backend",)

REFERENCE_BACKEND = "torch"
HASH_ENCODE = "hash_encode"
ENCODE_BLENDED = "encode_blended"
OPERATIONS = (HASH_ENCODE, ENCODE_BLENDED)


class EncoderBackendError(RuntimeError):
    """A requested encoder backend is unknown, unavailable, or cannot handle the inputs."""


@dataclass(frozen=True)
class EncoderBackend:
    """One registered implementation.

    Attributes:
        name: what ``backend=`` selects, e.g. ``"torch"``, ``"cpu"``, ``"cuda"``.
        hash_encode: ``f(x, tables, frame, config) -> [N, L*F]`` or None.
        encode_blended: ``f(x, tables, coefficients, frame, config) -> [N, L*F]`` or None; when
            None but ``hash_encode`` exists, blending runs in torch and the lookup here.
        is_available: called once per process (may build/load a library); result is cached.
        why_unavailable: a one-line reason shown when ``is_available()`` is False.
        priority: higher wins when several can run.
        devices: device types it runs on (``"cpu"``, ``"cuda"``); None means any.
        dtypes: table dtypes it accepts; None means any floating dtype.
    """

    name: str
    hash_encode: Callable | None
    encode_blended: Callable | None
    is_available: Callable[[], bool]
    why_unavailable: Callable[[], str] | None
    priority: int
    devices: frozenset[str] | None
    dtypes: frozenset[torch.dtype] | None

    def implements(self, operation: str) -> bool:
        if operation == HASH_ENCODE:
            return self.hash_encode is not None
        return self.encode_blended is not None or self.hash_encode is not None

    def supports(self, device_type: str, dtype: torch.dtype) -> bool:
        device_ok = self.devices is None or device_type in self.devices
        dtype_ok = self.dtypes is None or dtype in self.dtypes
        return device_ok and dtype_ok


_REGISTRY: dict[str, EncoderBackend] = {}
_AVAILABILITY: dict[str, bool] = {}
_PROBE_ERRORS: dict[str, str] = {}
_WARNED: set[str] = set()
_BUILTINS_LOADED = False


def register_encoder_backend(
    name: str,
    *,
    hash_encode: Callable | None = None,
    encode_blended: Callable | None = None,
    is_available: Callable[[], bool] = lambda: True,
    why_unavailable: Callable[[], str] | None = None,
    priority: int = 0,
    devices: Iterable[str] | None = None,
    dtypes: Iterable[torch.dtype] | None = None,
) -> EncoderBackend:
    """Add (or replace) a backend. At least one of ``hash_encode``/``encode_blended`` is required."""
    if hash_encode is None and encode_blended is None:
        raise ValueError(f"encoder backend {name!r}: give hash_encode and/or encode_blended")
    entry = EncoderBackend(
        name=name,
        hash_encode=hash_encode,
        encode_blended=encode_blended,
        is_available=is_available,
        why_unavailable=why_unavailable,
        priority=priority,
        devices=None if devices is None else frozenset(devices),
        dtypes=None if dtypes is None else frozenset(dtypes),
    )
    _REGISTRY[name] = entry
    _AVAILABILITY.pop(name, None)
    _PROBE_ERRORS.pop(name, None)
    return entry


def encoder_backends() -> dict[str, EncoderBackend]:
    """All registered backends by name (loads the compiled ones if present)."""
    _load_builtin_backends()
    return dict(_REGISTRY)


def backend_is_available(name: str) -> bool:
    """Whether a registered backend can run here (cached after the first call)."""
    entry = encoder_backends().get(name)
    if entry is None:
        return False
    if name not in _AVAILABILITY:
        try:
            _AVAILABILITY[name] = bool(entry.is_available())
        except Exception as err:  # noqa: BLE001 - any failing probe means "unavailable"; the reason is kept
            _AVAILABILITY[name] = False
            _PROBE_ERRORS[name] = f"availability check raised {type(err).__name__}: {err}"
    return _AVAILABILITY[name]


def unavailable_reason(name: str) -> str:
    """One line saying why a registered backend cannot run."""
    if name in _PROBE_ERRORS:
        return _PROBE_ERRORS[name]
    entry = _REGISTRY[name]
    return entry.why_unavailable() if entry.why_unavailable is not None else "not available on this machine"


def available_encoder_backends(
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> list[str]:
    """Names of the backends that can run on ``device`` with tables of ``dtype``, best first."""
    device_type = torch.device(device).type
    return [
        entry.name
        for entry in _by_priority()
        if entry.supports(device_type, dtype) and backend_is_available(entry.name)
    ]


def select_encoder_backend(
    operation: str, backend: str | None, device: torch.device, dtype: torch.dtype
) -> EncoderBackend:
    """The backend that runs ``operation`` (``"hash_encode"`` or ``"encode_blended"``)."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown encoder operation {operation!r}; expected one of {OPERATIONS}")
    registry = encoder_backends()
    if backend is not None:
        return _check_forced(registry, operation, backend, device, dtype)
    for entry in _by_priority():
        if not (entry.implements(operation) and entry.supports(device.type, dtype)):
            continue
        if backend_is_available(entry.name):
            return entry
        _warn_fallback_once(entry.name)
    raise EncoderBackendError(f"no encoder backend can run {operation} on {device.type} with {dtype}")


def _check_forced(
    registry: dict[str, EncoderBackend], operation: str, name: str, device: torch.device, dtype: torch.dtype
) -> EncoderBackend:
    entry = registry.get(name)
    if entry is None:
        raise EncoderBackendError(f"unknown encoder backend {name!r}; registered: {sorted(registry)}")
    if not entry.implements(operation):
        raise EncoderBackendError(f"encoder backend {name!r} does not implement {operation}")
    if not entry.supports(device.type, dtype):
        raise EncoderBackendError(
            f"encoder backend {name!r} runs on devices {sorted(entry.devices or ['any'])} with table dtypes "
            f"{sorted(str(d) for d in entry.dtypes or ['any'])}; got {device.type} and {dtype}"
        )
    if not backend_is_available(name):
        raise EncoderBackendError(f"encoder backend {name!r} is unavailable: {unavailable_reason(name)}")
    return entry


def _by_priority() -> list[EncoderBackend]:
    return sorted(encoder_backends().values(), key=lambda entry: -entry.priority)


def _warn_fallback_once(name: str) -> None:
    if name in _WARNED:
        return
    _WARNED.add(name)
    warnings.warn(
        f"nbskit: encoder backend {name!r} is unavailable ({unavailable_reason(name)}); "
        "falling back to the next one. Run `nbskit doctor` for details.",
        stacklevel=4,
    )


def _load_builtin_backends() -> None:
    """Register the torch reference and, if installed, the compiled backends (first use only)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    # Imported here: those modules import this one for dispatch.
    from .blended import encode_blended_torch
    from .hashgrid import hash_encode_torch

    register_encoder_backend(
        REFERENCE_BACKEND, hash_encode=hash_encode_torch, encode_blended=encode_blended_torch, priority=0
    )
    for module_name in COMPILED_BACKEND_MODULES:
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is None or not module_name.startswith(err.name):
                _warn_compiled_import_failed(module_name, err)
        except Exception as err:  # noqa: BLE001 - a broken compiled package must not break the torch path
            _warn_compiled_import_failed(module_name, err)


def _warn_compiled_import_failed(module_name: str, err: BaseException) -> None:
    warnings.warn(
        f"nbskit: could not load compiled encoder backends from {module_name} ({type(err).__name__}: {err}); "
        "using the torch reference",
        stacklevel=4,
    )
