"""A registry of interchangeable kernel implementations ("backends") and the choice among them.

:mod:`nbskit.encoding.backends` and :mod:`nbskit.render.backends` each keep one
:class:`BackendRegistry`; this module holds what they share. A backend names the operations it
implements, a priority, the device types and dtypes it accepts, and an availability probe that is
called at most once per process (it may build a compiled library). The choice of a backend:

- a forced name must be able to run the operation here, or :attr:`BackendRegistry.error` is raised
  saying why (unknown, lacks the operation, wrong device or dtype, unavailable);
- otherwise the highest-priority backend that implements the operation, supports the device and
  dtype, and is available runs; a better one that is unavailable is warned about once per process.

The built-in backends register lazily, on the first look at the registry: the torch reference
first, then every compiled module that is installed, each of which registers itself on import.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch

# warnings.warn -> BackendRegistry.select -> select_*_backend -> public function -> its caller.
_FALLBACK_WARNING_STACKLEVEL = 5
# warnings.warn -> _load_builtins -> entries -> the first lookup (select, is_available, ...) -> caller.
_IMPORT_WARNING_STACKLEVEL = 5


@dataclass(frozen=True, kw_only=True)
class Backend:
    """What every backend has besides its operations (subclasses add those as ``Callable | None``
    fields defaulting to None: an operation left out is not provided).

    Attributes:
        name: what ``backend=`` selects, e.g. ``"torch"``, ``"cpu"``, ``"cuda"``.
        is_available: called once per process (may build/load a library); the result is cached and
            an exception counts as unavailable.
        why_unavailable: a one-line reason shown when ``is_available()`` is False.
        priority: higher wins when several can run.
        devices: device types it runs on (``"cpu"``, ``"cuda"``); None means any.
        dtypes: floating dtypes it accepts; None means any.
    """

    name: str
    is_available: Callable[[], bool]
    why_unavailable: Callable[[], str] | None
    priority: int
    devices: frozenset[str] | None
    dtypes: frozenset[torch.dtype] | None

    def implements(self, operation: str) -> bool:
        """Whether the backend provides ``operation`` (the name of one of its fields)."""
        return getattr(self, operation) is not None

    def supports(self, device_type: str, dtype: torch.dtype) -> bool:
        device_ok = self.devices is None or device_type in self.devices
        dtype_ok = self.dtypes is None or dtype in self.dtypes
        return device_ok and dtype_ok


BackendT = TypeVar("BackendT", bound=Backend)


class BackendRegistry(Generic[BackendT]):
    """Backends of one family by name, with availability probed once and fallbacks warned once.

    Args:
        entry_type: the family's :class:`Backend` subclass; its extra fields are the operations.
        family: names the backends in messages, e.g. ``"encoder"`` or ``"render"``.
        error: the exception raised when no backend, or not the forced one, can run.
        register_reference: registers the reference backend on the first look at the registry.
        compiled_modules: modules imported after that, which register compiled backends on import;
            a module that is not installed is skipped silently, one that fails to import is warned
            about (the reference still runs).
    """

    def __init__(
        self,
        entry_type: type[BackendT],
        family: str,
        error: type[RuntimeError],
        register_reference: Callable[[], None] | None = None,
        compiled_modules: Iterable[str] = (),
    ) -> None:
        self.entry_type = entry_type
        self.family = family
        self.error = error
        self._register_reference = register_reference
        self._compiled_modules = tuple(compiled_modules)
        self._builtins_loaded = False
        self._entries: dict[str, BackendT] = {}
        self._availability: dict[str, bool] = {}
        self._probe_errors: dict[str, str] = {}
        self._warned: set[str] = set()

    def register(
        self,
        name: str,
        *,
        is_available: Callable[[], bool] = lambda: True,
        why_unavailable: Callable[[], str] | None = None,
        priority: int = 0,
        devices: Iterable[str] | None = None,
        dtypes: Iterable[torch.dtype] | None = None,
        **operations: Callable | None,
    ) -> BackendT:
        """Add (or replace, to be probed again) a backend; ``operations`` maps each operation field
        of the entry type to its function or None, and at least one must be given."""
        if all(function is None for function in operations.values()):
            raise ValueError(f"{self.family} backend {name!r}: give {' and/or '.join(operations)}")
        entry = self.entry_type(
            name=name,
            is_available=is_available,
            why_unavailable=why_unavailable,
            priority=priority,
            devices=None if devices is None else frozenset(devices),
            dtypes=None if dtypes is None else frozenset(dtypes),
            **operations,
        )
        self._entries[name] = entry
        self._availability.pop(name, None)
        self._probe_errors.pop(name, None)
        return entry

    def entries(self) -> dict[str, BackendT]:
        """All registered backends by name (registers the built-in ones on the first call)."""
        self._load_builtins()
        return dict(self._entries)

    def is_available(self, name: str) -> bool:
        """Whether a registered backend can run here (False for an unknown name)."""
        entry = self.entries().get(name)
        if entry is None:
            return False
        if name not in self._availability:
            try:
                self._availability[name] = bool(entry.is_available())
            except Exception as err:  # noqa: BLE001 - any failing probe means "unavailable"; the reason is kept
                self._availability[name] = False
                self._probe_errors[name] = f"availability check raised {type(err).__name__}: {err}"
        return self._availability[name]

    def unavailable_reason(self, name: str) -> str:
        """One line saying why a registered backend cannot run."""
        if name in self._probe_errors:
            return self._probe_errors[name]
        entry = self.entries()[name]
        return (
            entry.why_unavailable() if entry.why_unavailable is not None else "not available on this machine"
        )

    def by_priority(self) -> list[BackendT]:
        """Every registered backend, highest priority first."""
        return sorted(self.entries().values(), key=lambda entry: -entry.priority)

    def available(
        self, device: str | torch.device, dtype: torch.dtype, operations: Iterable[str] = ()
    ) -> list[str]:
        """Names of the available backends for ``device`` and ``dtype`` that implement all
        ``operations``, best first."""
        device_type = torch.device(device).type
        operations = tuple(operations)
        return [
            entry.name
            for entry in self.by_priority()
            if all(entry.implements(operation) for operation in operations)
            and entry.supports(device_type, dtype)
            and self.is_available(entry.name)
        ]

    def select(
        self, operation: str, backend: str | None, device: torch.device, dtype: torch.dtype
    ) -> BackendT:
        """The backend that runs ``operation`` on ``device`` with ``dtype``: the forced one, or the best."""
        if backend is not None:
            return self._check_forced(operation, backend, device, dtype)
        for entry in self.by_priority():
            if not (entry.implements(operation) and entry.supports(device.type, dtype)):
                continue
            if self.is_available(entry.name):
                return entry
            self._warn_fallback_once(entry.name)
        raise self.error(f"no {self.family} backend can run {operation} on {device.type} with {dtype}")

    def _check_forced(self, operation: str, name: str, device: torch.device, dtype: torch.dtype) -> BackendT:
        entries = self.entries()
        entry = entries.get(name)
        if entry is None:
            raise self.error(f"unknown {self.family} backend {name!r}; registered: {sorted(entries)}")
        if not entry.implements(operation):
            raise self.error(f"{self.family} backend {name!r} does not implement {operation}")
        if not entry.supports(device.type, dtype):
            raise self.error(
                f"{self.family} backend {name!r} runs on devices {sorted(entry.devices or ['any'])} with dtypes "
                f"{sorted(str(d) for d in entry.dtypes or ['any'])}; got {device.type} and {dtype}"
            )
        if not self.is_available(name):
            raise self.error(
                f"{self.family} backend {name!r} is unavailable: {self.unavailable_reason(name)}"
            )
        return entry

    def _warn_fallback_once(self, name: str) -> None:
        if name in self._warned:
            return
        self._warned.add(name)
        warnings.warn(
            f"nbskit: {self.family} backend {name!r} is unavailable ({self.unavailable_reason(name)}); "
            "falling back to the next one. Run `nbskit doctor` for details.",
            stacklevel=_FALLBACK_WARNING_STACKLEVEL,
        )

    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True  # first: the modules imported below register backends
        if self._register_reference is not None:
            self._register_reference()
        for module_name in self._compiled_modules:
            try:
                importlib.import_module(module_name)
            except ModuleNotFoundError as err:
                if err.name is None or not module_name.startswith(err.name):
                    self._warn_import_failed(module_name, err)
            except Exception as err:  # noqa: BLE001 - a broken compiled package must not break the reference
                self._warn_import_failed(module_name, err)

    def _warn_import_failed(self, module_name: str, err: BaseException) -> None:
        warnings.warn(
            f"nbskit: could not load compiled {self.family} backends from {module_name} "
            f"({type(err).__name__}: {err}); using the torch reference",
            stacklevel=_IMPORT_WARNING_STACKLEVEL,
        )
