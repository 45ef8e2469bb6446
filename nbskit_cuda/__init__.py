"""nbskit_cuda: the compiled core of nbskit, and the loader that builds it on first use.

Two extensions are built from ``csrc/`` with ``torch.utils.cpp_extension.load``:

- ``cpu``: C++ kernels parallelised with ``at::parallel_for`` (hash encoding, marching,
  compositing); needs a C++ compiler and ninja.
- ``cuda``: the same kernels for NVIDIA GPUs; needs a CUDA build of torch, a visible GPU and nvcc.

Nothing is built at import. The first :func:`load_extension` call of a kind builds it (a minute or
two) into ``$NBSKIT_CACHE/torch_extensions/<torch>-<kind>-<source hash>`` (default cache
``~/.cache/nbskit``) under a file lock, so concurrent processes build once and then share it. A
failed build is reported once, with the path of its log, and the caller falls back to the torch
reference. ``NBSKIT_NO_COMPILED=1`` disables both extensions; ``python -m nbskit_cuda.build`` builds
ahead of time; ``nbskit doctor`` reports what is available and why not.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

CSRC = Path(__file__).resolve().parent / "csrc"
KINDS = ("cpu", "cuda")
SOURCES = {
    "cpu": (
        "bindings_cpu.cpp",
        "hash_encode_cpu.cpp",
        "large_buffer_cpu.cpp",
        "render_cpu.cpp",
        "row_sparse_adam_cpu.cpp",
    ),
    "cuda": ("bindings_cuda.cpp", "hash_encode_cuda.cu", "render_cuda.cu", "row_sparse_adam_cuda.cu"),
}
# -ffp-contract=off / --fmad=false: a fused multiply-add would round grid positions differently from the torch
# reference and move samples across cell boundaries on the fine levels. -fopenmp: at::parallel_for
# is inlined from the ATen headers and only runs in parallel when compiled with OpenMP.
# -fno-math-errno: sqrt may then compile to one SIMD instruction (no errno check), which lets the
# optimiser kernel vectorise; nothing reads errno. -fno-trapping-math (no value changes; nothing
# reads floating-point exception flags) lets g++ vectorise the hash-grid corner arithmetic across
# samples, which it otherwise refuses. -march=native (x86-64 only, where gcc and clang
# both take it): the build is for this machine (the cache key includes its CPU, see cpu_signature);
# AVX2/AVX-512 code cut the hash-encoding kernels' time by 15-25% on the 2-core EPYC test machine.
NATIVE_FLAGS = ("-march=native",) if platform.machine() in ("x86_64", "AMD64") else ()
CXX_FLAGS = ("-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", *NATIVE_FLAGS)
NVCC_FLAGS = ("-O3", "--fmad=false")
# Extra C++ flags, appended after CXX_FLAGS (so they win) and part of the build key, e.g.
# NBSKIT_CXX_FLAGS=-mno-avx512f to build and measure the AVX2 path on an AVX-512 machine.
EXTRA_CXX_FLAGS_ENV = "NBSKIT_CXX_FLAGS"
DISABLE_ENV = "NBSKIT_NO_COMPILED"
CHECK_INPUTS_ENV = "NBSKIT_CHECK_INPUTS"
CACHE_ENV = "NBSKIT_CACHE"
BUILD_LOG = "build.log"
LOCK_FILE = "nbskit-build.lock"
TORCH_BATON = "lock"  # torch's own build baton; a crashed build leaves it behind and hangs the next
SOURCE_HASH_CHARS = 12
BACKEND_PRIORITY = {"cpu": 10, "cuda": 20}  # in the encoding/render registries (torch is 0)


@dataclass(frozen=True)
class ExtensionStatus:
    """Whether one compiled extension can be used here, and why (not).

    Attributes:
        kind: ``"cpu"`` or ``"cuda"``.
        available: True when the extension is loaded and usable.
        reason: one line: where it was loaded from, or why it cannot be used.
        log_path: the compiler log of a failed build, else None.
    """

    kind: str
    available: bool
    reason: str
    log_path: Path | None = None


_LOADED: dict[str, tuple[ModuleType | None, ExtensionStatus]] = {}


def cache_root() -> Path:
    """Folder holding every build (``$NBSKIT_CACHE`` or ``~/.cache/nbskit``)."""
    base = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nbskit"
    return Path(base).expanduser() / "torch_extensions"


def source_files(kind: str) -> list[Path]:
    """The sources compiled for ``kind`` (headers included, since they change the build too)."""
    _check_kind(kind)
    return [CSRC / name for name in SOURCES[kind]] + sorted(CSRC.glob("*.h"))


def source_hash(kind: str) -> str:
    """Short hash of the sources, flags and interpreter: a new value means a fresh build."""
    digest = hashlib.sha256()
    for path in source_files(kind):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(repr((cxx_flags(), NVCC_FLAGS, sys.version_info[:2], cpu_signature())).encode())
    return digest.hexdigest()[:SOURCE_HASH_CHARS]


def cxx_flags() -> tuple[str, ...]:
    """CXX_FLAGS followed by those of ``$NBSKIT_CXX_FLAGS`` (split on whitespace)."""
    return (*CXX_FLAGS, *os.environ.get(EXTRA_CXX_FLAGS_ENV, "").split())


@functools.cache  # read once per process: the build key is asked for several times per load
def cpu_signature() -> str:
    """What -march=native compiles for: the CPU model and instruction-set flags (Linux), else the
    architecture name. A cache shared between different machines then keeps one build per CPU."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    wanted = [line for line in lines if line.split(":")[0].strip() in ("model name", "flags", "Features")]
    return "\n".join(sorted(set(wanted))) or platform.machine()


def build_directory(kind: str) -> Path:
    """Where ``kind`` is built and cached for this torch version and these sources."""
    return cache_root() / f"{torch.__version__}-{kind}-{source_hash(kind)}"


def missing_prerequisite(kind: str) -> str | None:
    """Why ``kind`` cannot be built here (no compiler, no GPU...), or None if it can be tried."""
    _check_kind(kind)
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return f"disabled by {DISABLE_ENV}={os.environ[DISABLE_ENV]}"
    from torch.utils import cpp_extension

    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler ({compiler!r} not on PATH; set CXX)"
    if not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    if kind == "cuda":
        if torch.version.cuda is None:
            return f"this torch ({torch.__version__}) is a CPU-only build"
        if not torch.cuda.is_available():
            return "no CUDA GPU is visible"
        if cpp_extension.CUDA_HOME is None or not (Path(cpp_extension.CUDA_HOME) / "bin" / "nvcc").exists():
            return "nvcc not found (set CUDA_HOME to the CUDA toolkit)"
    return None


def load_extension(kind: str) -> ModuleType | None:
    """The compiled extension ``kind``, building it on first use; None (warned once) if unusable."""
    _check_kind(kind)
    if kind not in _LOADED:
        _LOADED[kind] = _load_or_explain(kind)
        module, status = _LOADED[kind]
        if module is None and status.log_path is not None:
            warnings.warn(
                f"nbskit: building the compiled {kind} core failed (log: {status.log_path}); "
                f"using the torch reference. Run `nbskit doctor` for details.\n{log_tail(status.log_path)}",
                stacklevel=2,
            )
    return _LOADED[kind][0]


LOG_TAIL_LINES = 25  # of a failed build's log, shown where the failure is reported


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a build log (the compiler's errors end it), indented."""
    try:
        text = Path(path).read_text(errors="replace").rstrip().splitlines()
    except OSError as err:
        return f"    (log unreadable: {err})"
    return "\n".join("    " + line for line in text[-lines:])


def extension_status(kind: str, build: bool = True) -> ExtensionStatus:
    """Status of ``kind``; with ``build=False`` nothing is compiled (unbuilt means unavailable)."""
    _check_kind(kind)
    if kind in _LOADED:
        return _LOADED[kind][1]
    if not build:
        missing = missing_prerequisite(kind)
        if missing is not None:
            return ExtensionStatus(kind, False, missing)
        cached = any(build_directory(kind).glob(f"{_module_name(kind)}*.so"))
        return ExtensionStatus(
            kind, False, "built in the cache, not loaded yet" if cached else "not built yet"
        )
    load_extension(kind)
    return _LOADED[kind][1]


def kind_for(device: torch.device) -> str:
    """The extension kind that serves tensors on ``device``: ``"cuda"`` or ``"cpu"``."""
    return "cuda" if device.type == "cuda" else "cpu"


def checks_values() -> bool:
    """Whether the CUDA kernels' inputs get the value checks of the torch reference (frame and
    ray indices in range, ray indices sorted) before the launch: ``NBSKIT_CHECK_INPUTS=1``.

    Off by default: reading index values back from the GPU makes every call wait for it. The
    kernels never read or write through a bad index either way (they bound it). The CPU kernels
    always check (no wait there).
    """
    return os.environ.get(CHECK_INPUTS_ENV, "") not in ("", "0")


def extension_for(device: torch.device) -> ModuleType:
    """The loaded extension for tensors on ``device`` (dispatch has already checked it is available)."""
    kind = kind_for(device)
    module = load_extension(kind)
    if module is None:  # only reachable if dispatch skipped the availability check
        raise RuntimeError(f"nbskit_cuda: the {kind} extension is unavailable")
    return module


def backend_options(kind: str) -> dict:
    """What every compiled backend of ``kind`` registers besides its functions: the availability
    probe (builds the extension on first call), the reason shown while it is unavailable (never
    builds), its priority (cuda outranks cpu where both could run) and its device."""
    _check_kind(kind)
    return {
        "is_available": lambda: load_extension(kind) is not None,
        "why_unavailable": lambda: extension_status(kind, build=False).reason,
        "priority": BACKEND_PRIORITY[kind],
        "devices": (kind,),
    }


def _load_or_explain(kind: str) -> tuple[ModuleType | None, ExtensionStatus]:
    missing = missing_prerequisite(kind)
    if missing is not None:
        return None, ExtensionStatus(kind, False, missing)
    directory = build_directory(kind)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with _exclusive_lock(directory / LOCK_FILE):
            (directory / TORCH_BATON).unlink(missing_ok=True)  # we hold the lock: any baton is stale
            module = _compile(kind, directory)
    except Exception as err:  # noqa: BLE001 -- any failure means "fall back", never crash the caller
        log_path = directory / BUILD_LOG
        _write_atomic(log_path, f"{type(err).__name__}: {err}\n")
        return None, ExtensionStatus(kind, False, f"build failed ({type(err).__name__})", log_path)
    (directory / BUILD_LOG).unlink(missing_ok=True)
    if kind == "cpu":
        keep_freed_memory()
    return module, ExtensionStatus(kind, True, f"built in {directory}")


# glibc malloc settings (mallopt parameter numbers): keep up to 1 GiB of freed memory at the top of
# the heap and 64 MiB of padding, and serve requests below 32 MiB from the heap. By default glibc
# hands freed memory back to the system and maps it again at the next step: a training step's
# activations (a few MB to tens of MB each) then page-fault afresh on every step. Measured with
# `/usr/bin/time -v` over 80 steps of the cpu preset on the tiny subject (2 loaded cores): 768k ->
# 272k minor page faults, 2.4 -> 1.4 s system time, +3 % peak resident memory.
MALLOC_SETTINGS = {-1: 1 << 30, -2: 64 << 20, -3: 32 << 20}  # M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD
MALLOC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (MALLOC_SETTINGS); called when the CPU core loads.

    Returns False where it does not apply: not glibc, or the user set any of MALLOC_ENV (their
    settings win).
    """
    if any(name in os.environ for name in MALLOC_ENV):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in MALLOC_SETTINGS.items())


def _snapshot_sources(kind: str, directory: Path) -> Path:
    """Copy ``kind``'s sources into the build folder and return that copy's folder.

    The build folder is named by the sources' content and flags, so every checkout on a machine
    shares it; compiling from a copy inside it keeps the paths in its ninja file the same for all
    of them, and ninja then sees nothing to rebuild when another checkout loads the extension.
    """
    snapshot = directory / "src"
    snapshot.mkdir(exist_ok=True)
    for path in source_files(kind):
        target = snapshot / path.name
        if not target.is_file() or target.read_bytes() != path.read_bytes():
            _write_atomic_bytes(target, path.read_bytes())
    return snapshot


def _compile(kind: str, directory: Path) -> ModuleType:
    from torch.utils import cpp_extension

    sources = _snapshot_sources(kind, directory)
    return cpp_extension.load(
        name=_module_name(kind),
        sources=[str(sources / name) for name in SOURCES[kind]],
        extra_cflags=list(cxx_flags()),
        extra_cuda_cflags=list(NVCC_FLAGS),
        extra_include_paths=[str(sources)],
        build_directory=str(directory),
        verbose=False,
    )


def _module_name(kind: str) -> str:
    return f"nbskit_{kind}_{source_hash(kind)}"


@contextlib.contextmanager
def _exclusive_lock(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (no-op where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    _write_atomic_bytes(path, text.encode())


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown compiled extension kind {kind!r}; expected one of {KINDS}")
