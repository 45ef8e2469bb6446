#!/usr/bin/env bash
# Compile-only check of the CUDA kernels (nbskit_cuda/csrc/*.cu) on a machine without a GPU.
#
# The CPU torch cannot build CUDA code, so this creates a separate venv with the CUDA build of
# torch, then compiles and links the CUDA extension with setuptools (nothing is imported or run).
# Usage: .ci/cuda_compile_check.sh            (env: NBSKIT_CUDA_VENV, NBSKIT_CUDA_TORCH, CUDA_HOME,
#                                               TORCH_CUDA_ARCH_LIST, MAX_JOBS)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
VENV="${NBSKIT_CUDA_VENV:-/tmp/nbskit-cuda-venv}"
TORCH_SPEC="${NBSKIT_CUDA_TORCH:-torch==2.14.1}"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
# Without an explicit architecture list torch asks the (absent) GPU and fails; 9.0 = H100/H200.
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
export MAX_JOBS="${MAX_JOBS:-2}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.version.cuda is None)" 2>/dev/null; then
  "$VENV/bin/pip" install -q "$TORCH_SPEC" ninja setuptools
fi

# cuBLAS/cuSPARSE headers of the pip CUDA packages (pulled in by some torch headers).
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
EXTRA_INCLUDE=""
for dir in "$SITE"/nvidia/cu[0-9]*/include; do  # e.g. nvidia/cu13/include
  [ -d "$dir" ] && EXTRA_INCLUDE="$dir"
done

WORK="$(mktemp -d /tmp/nbskit-cuda-check.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
NBSKIT_EXTRA_INCLUDE="$EXTRA_INCLUDE" PYTHONPATH="$REPO" "$VENV/bin/python" - build_ext --build-temp "$WORK/tmp" \
  --build-lib "$WORK/lib" <<'PY'
import os

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

import nbskit_cuda

includes = [str(nbskit_cuda.CSRC)] + [p for p in [os.environ.get("NBSKIT_EXTRA_INCLUDE")] if p]
setup(
    name="nbskit_cuda_compile_check",
    ext_modules=[
        CUDAExtension(
            "nbskit_cuda_compile_check",
            [str(nbskit_cuda.CSRC / name) for name in nbskit_cuda.SOURCES["cuda"]],
            include_dirs=includes,
            extra_compile_args={"cxx": list(nbskit_cuda.cxx_flags()), "nvcc": list(nbskit_cuda.NVCC_FLAGS)},
        )
    ],
    cmdclass={"build_ext": BuildExtension},
    script_args=None,
)
PY
ls -l "$WORK"/lib/*.so
echo "cuda_compile_check: OK (the CUDA extension compiles and links for sm_${TORCH_CUDA_ARCH_LIST//./})"
