"""What the GPU check runs on: card, driver, versions, and which optional Python modules are missing.

    python -m bench.gpu_env --out env.json
    python -m bench.gpu_env --missing moderngl scipy    # prints the missing ones (empty line: none)

``bench/gpu_check.sh`` calls it first (the machine record of the summary) and before each step
that needs optional modules, so a step whose modules are absent is skipped with their names
instead of failing half-way. Imports nothing heavy itself (torch only for its version).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

# Modules some step imports at run time beyond torch/numpy (the package name where it differs).
OPTIONAL_MODULES = {
    "tqdm": "tqdm",
    "PIL": "pillow",
    "scipy": "scipy",
    "skimage": "scikit-image",
    "matplotlib": "matplotlib",
    "trimesh": "trimesh",
    "moderngl": "moderngl",
    "pytest": "pytest",
    "ninja": "ninja",
    "stlpips_pytorch": "stlpips-pytorch",
}
NVIDIA_SMI_FIELDS = ("name", "memory.total", "driver_version", "compute_cap")
COMMAND_TIMEOUT_S = 30


def missing_modules(names: list[str]) -> list[str]:
    """The names in ``names`` that cannot be imported here (found by spec, nothing is imported)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def command_output(command: list[str]) -> str | None:
    """Stripped stdout of ``command``, or None if it is absent or fails."""
    if shutil.which(command[0]) is None:
        return None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return result.stdout.strip()


def gpu_cards() -> list[dict]:
    """One dict per GPU from nvidia-smi (name, memory, driver, compute capability); [] without one."""
    text = command_output(["nvidia-smi", f"--query-gpu={','.join(NVIDIA_SMI_FIELDS)}", "--format=csv,noheader"])
    if not text:
        return []
    return [dict(zip(NVIDIA_SMI_FIELDS, (part.strip() for part in line.split(",")))) for line in text.splitlines()]


def torch_description() -> dict:
    try:
        import torch
    except ImportError as err:
        return {"torch": None, "error": str(err)}
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": cuda,
        "torch_device_name": torch.cuda.get_device_name(0) if cuda else None,
    }


def describe() -> dict:
    nvcc = command_output(["nvcc", "--version"])
    return {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu_cores": os.cpu_count(),
        "gpus": gpu_cards(),
        **torch_description(),
        "nvcc": nvcc.splitlines()[-1] if nvcc else None,
        "missing_modules": {name: OPTIONAL_MODULES[name] for name in missing_modules(list(OPTIONAL_MODULES))},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the description as JSON here")
    parser.add_argument("--missing", nargs="+", metavar="MODULE", help="only print which of these are missing")
    args = parser.parse_args(argv)
    if args.missing:
        print(" ".join(missing_modules(args.missing)))
        return 0
    from bench.common import write_results  # imports torch: only on this path

    description = describe()
    for key, value in description.items():
        print(f"{key}: {value}")
    if args.out:
        write_results(args.out, description)
    return 0


if __name__ == "__main__":
    sys.exit(main())
