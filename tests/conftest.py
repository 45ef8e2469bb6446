"""Shared pytest fixtures: the reference assets that ship with the repository."""

from __future__ import annotations

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
