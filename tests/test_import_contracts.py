"""The architecture contracts of pyproject.toml (layers, the compiled core as a plugin, no import
cycles) hold for the checkout under test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def lint_imports_command() -> list[str]:
    """``lint-imports`` from the interpreter's own environment (a venv's bin/ need not be on PATH)."""
    beside_python = Path(sys.executable).with_name("lint-imports")
    found = str(beside_python) if beside_python.is_file() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed (pip install -e '.[dev]' provides import-linter)")
    return [found, "--no-cache"]


def test_import_contracts_are_kept():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(lint_imports_command(), cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, f"lint-imports found broken contracts:\n{result.stdout}\n{result.stderr}"
