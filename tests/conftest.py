"""Shared pytest fixtures (the reference assets that ship with the repository), the skip policy
and the options of the GPU check's test run.

Skip policy: locally a test may skip when an optional piece is missing (the reason is printed by
``pytest -rs``, which ``make test`` passes). Under ``CI=true`` every piece ``.ci/run`` installs is
required, so a skip there is turned into a failure; the only skips allowed in CI are tests marked
``cuda``, and only while no GPU is visible.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO / "tests" / "data" / "golden"
ICT_NPZ = REPO / "data" / "ict_facekit_light" / "ict_light_v1.npz"
CI_ENV = "CI"


def running_in_ci() -> bool:
    """True when ``$CI`` is set to a true value (``true``, ``1``, ``yes``), as CI services do."""
    return os.environ.get(CI_ENV, "").strip().lower() in ("1", "true", "yes")


def gpu_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def skip_allowed_in_ci(item: pytest.Item) -> bool:
    """A CUDA case may skip in CI, and only because there is no GPU."""
    return item.get_closest_marker("cuda") is not None and not gpu_visible()


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _fail_instead_of_skip(report, what: str) -> None:
    report.outcome = "failed"
    report.longrepr = (f"{what} skipped under {CI_ENV}=true, where everything .ci/run installs is required "
                       f"(only CUDA cases may skip, without a GPU): {_skip_reason(report)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (running_in_ci() and report.skipped and not hasattr(report, "wasxfail")
            and not skip_allowed_in_ci(item)):
        _fail_instead_of_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if running_in_ci() and report.skipped:  # e.g. a module-level importorskip
        _fail_instead_of_skip(report, collector.nodeid)


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU; the only test allowed to skip under CI=true")


@pytest.fixture(scope="session")
def perceptual_network():
    """The perceptual network training uses (ST-LPIPS or LPIPS), or skip saying how to install it."""
    from nbskit.train.perceptual import load_perceptual

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its "unavailable" warning becomes the skip reason below
        network = load_perceptual()
    if network is None:
        pytest.skip("no perceptual network: install the 'perceptual' extra (stlpips-pytorch)")
    return network


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


# Used by the GPU check (bench/gpu_check.sh) on a GPU machine used briefly: NBSKIT_TEST_CUDA_ONLY=1 keeps
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
