"""Shared pytest fixtures: locations of the shared assets that live beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    path = SHARED / "golden"
    if not path.is_dir():
        pytest.skip(f"golden vectors not found at {path}")
    return path


@pytest.fixture(scope="session")
def ict_npz() -> Path:
    path = SHARED / "ict_facekit_light" / "ict_light_v1.npz"
    if not path.is_file():
        pytest.skip(f"ICT face model not found at {path}")
    return path
