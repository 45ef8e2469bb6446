"""Shared pytest fixtures (the reference assets that ship with the repository) and the options of
the GPU check's test run."""

from __future__ import annotations

import faulthandler
import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "data" / "golden"
ICT_NPZ = REPO / "data" / "ict_facekit_light" / "ict_light_v1.npz"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Vectors written by the original CUDA hash encoder (inputs, tables, features, gradients)."""
    assert GOLDEN_DIR.is_dir(), f"golden vectors missing from the repository: {GOLDEN_DIR}"
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def ict_npz() -> Path:
    """The ICT Face Model Light shipped under data/ict_facekit_light/."""
    assert ICT_NPZ.is_file(), f"ICT face model missing from the repository: {ICT_NPZ}"
    return ICT_NPZ


# Used by the GPU check (bench/gpu_check.sh) on a machine lent briefly: NBSKIT_TEST_CUDA_ONLY=1 keeps
# only the tests whose name or parameters say cuda (the CPU cases run in CI), and
# NBSKIT_TEST_TIMEOUT_S fails a test that runs longer (a hung kernel then costs one test, not the run).
CUDA_ONLY_ENV = "NBSKIT_TEST_CUDA_ONLY"
TIMEOUT_ENV = "NBSKIT_TEST_TIMEOUT_S"
HARD_TIMEOUT_GRACE_S = 15  # past the limit, a test stuck outside Python ends the process with a traceback


def pytest_collection_modifyitems(config, items):
    if os.environ.get(CUDA_ONLY_ENV, "") in ("", "0"):
        return
    kept = [item for item in items if "cuda" in item.name]
    config.hook.pytest_deselected(items=[item for item in items if "cuda" not in item.name])
    items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = float(os.environ.get(TIMEOUT_ENV, "0") or 0)
    if limit <= 0:
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"{item.nodeid} ran longer than {TIMEOUT_ENV}={limit:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    faulthandler.dump_traceback_later(limit + HARD_TIMEOUT_GRACE_S, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()
