"""The skip policy of tests/conftest.py: skips stay local; under CI=true only CUDA cases may skip."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")
SKIPPING_TESTS = """
import pytest

def test_missing_optional_piece():
    pytest.skip("chromium not found")

@pytest.mark.cuda
def test_needs_a_gpu():
    pytest.skip("no CUDA GPU is visible")

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    raise AssertionError
"""
SKIPPING_MODULE = """
import pytest
pytest.importorskip("a_module_that_is_not_installed")

def test_never_collected():
    pass
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_skips=SKIPPING_TESTS, test_module_skip=SKIPPING_MODULE)
    return pytester


def test_locally_every_skip_stays_a_skip_with_its_reason(suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(["*a_module_that_is_not_installed*", "*chromium not found*"])


def test_under_ci_a_skip_fails_except_a_cuda_case_without_gpu(suite, monkeypatch):
    import torch

    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "--continue-on-collection-errors")
    gpu = torch.cuda.is_available()
    result.assert_outcomes(failed=2 if gpu else 1, skipped=0 if gpu else 1, xfailed=1, errors=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*chromium not found*"])
