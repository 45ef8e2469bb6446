"""``nbskit doctor``: which compute backends can run here, and why the others cannot."""

from __future__ import annotations

import argparse
import platform
import shutil

import torch

from . import KINDS, cache_root, extension_status, missing_prerequisite


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="only check the prerequisites; do not compile the extensions (a first build takes minutes)",
    )


def environment_lines() -> list[str]:
    """What the backends depend on: torch, GPU, compilers, cache."""
    from torch.utils import cpp_extension

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible"
    return [
        f"python {platform.python_version()}, torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no'})",
        f"GPU: {gpu}",
        (
            f"C++ compiler: {shutil.which('c++') or 'not found'}; ninja: "
            f"{'yes' if cpp_extension.is_ninja_available() else 'no'}; CUDA_HOME: {cpp_extension.CUDA_HOME or 'not found'}"
        ),
        f"build cache: {cache_root()}",
    ]


def extension_lines(build: bool) -> list[str]:
    lines = []
    for kind in KINDS:
        status = extension_status(kind, build=build and missing_prerequisite(kind) is None)
        mark = "yes" if status.available else "no "
        log = f" (log: {status.log_path})" if status.log_path else ""
        lines.append(f"  {kind:<5} {mark}  {status.reason}{log}")
    return lines


def backend_lines(build: bool) -> list[str]:
    """Every registered encoder/render backend with its availability (probing builds if allowed)."""
    from nbskit.encoding import backends as encoding
    from nbskit.render import backends as render

    lines = []
    # Both registry modules answer backends_by_priority / backend_is_available / unavailable_reason.
    for title, module in (("encoding", encoding), ("render", render)):
        for entry in module.backends_by_priority():
            name = entry.name
            if build or name == "torch":
                ok = module.backend_is_available(name)
                why = "" if ok else module.unavailable_reason(name)
            else:
                ok, why = False, "not probed (--no-build)"
            devices = ",".join(sorted(entry.devices)) if entry.devices else "any"
            lines.append(f"  {title:<8} {name:<6} {'yes' if ok else 'no ':<3}  devices={devices:<5} {why}")
    return lines


def run(args: argparse.Namespace) -> int:
    build = not args.no_build
    print("nbskit doctor\n" + "\n".join(environment_lines()))
    print("\ncompiled extensions (kind, usable, why):")
    print("\n".join(extension_lines(build)))
    print("\nbackends (highest priority first; dispatch picks the first usable one per device):")
    print("\n".join(backend_lines(build)))
    return 0
