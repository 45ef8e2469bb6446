"""Atomic checkpoints and JSON files of a run folder.

A run folder holds ``config.json`` (training config + subject path), ``log.json`` (losses, evals,
timings), ``checkpoints/last.pt`` and, after ``nbskit eval``, ``metrics_test.json``. Every file is
written to a temporary name in the same folder and renamed over the old one, so a run killed at
any instant leaves either the previous or the new file, never a torn one.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

CONFIG_FILE = "config.json"
LOG_FILE = "log.json"
CHECKPOINT_FILE = Path("checkpoints") / "last.pt"
TEST_METRICS_FILE = "metrics_test.json"


def publish(temporary: str | Path, path: Path) -> None:
    """Give a finished temporary file the usual permissions (mkstemp makes it owner-only) and rename it onto ``path``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    os.replace(temporary, path)


def _atomic_write(path: Path, write) -> Path:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        publish(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, data) -> Path:
    """Write ``data`` as indented JSON atomically."""
    return _atomic_write(path, lambda stream: stream.write(json.dumps(data, indent=2).encode() + b"\n"))


def read_json(path: Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (is this a run folder written by `nbskit train`?)")
    return json.loads(path.read_text())


def rng_states() -> dict:
    """Global random states of torch, numpy and Python (restored on resume)."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save_checkpoint(run_dir: Path, step: int, model, optimizer, grid, history: dict,
                    refinement: dict | None = None) -> Path:
    """Atomically write ``run_dir/checkpoints/last.pt`` after ``step`` completed steps.

    ``refinement``: the per-frame corrections and their optimiser's state, or None.
    """
    state = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "grid": grid.state_dict(),
        "refinement": refinement,
        "rng": rng_states(),
        "history": history,
    }
    return _atomic_write(Path(run_dir) / CHECKPOINT_FILE, lambda stream: torch.save(state, stream))


def load_checkpoint(run_dir: Path, map_location="cpu") -> dict:
    """The checkpoint dict of a run (keys: step, model, optimizer, grid, refinement, rng, history)."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the run has not written a checkpoint yet")
    # Not weights_only: the RNG states include Python/numpy objects. Only load runs you trust.
    return torch.load(path, map_location=map_location, weights_only=False)
