"""Atomic checkpoints and JSON files of a run folder.

A run folder holds ``config.json`` (training config + subject path), ``log.json`` (losses, evals,
timings), ``checkpoints/last.pt`` and, after ``nbskit eval``, ``metrics_test.json``. Every file is
written to a temporary name in the same folder and renamed over the old one, so a run killed at
any instant leaves either the previous or the new file, never a torn one.

A checkpoint holds only tensors and a JSON skeleton (``nbskit.train.tensor_tree``) and is read with
``torch.load(weights_only=True)``: loading a run someone shared never executes code from it.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from nbskit.errors import UserError
from nbskit.train.tensor_tree import flatten, unflatten

CONFIG_FILE = "config.json"
LOG_FILE = "log.json"
CHECKPOINT_FILE = Path("checkpoints") / "last.pt"
TEST_METRICS_FILE = "metrics_test.json"
CHECKPOINT_FORMAT = "nbskit-checkpoint/2"  # tensors + JSON skeleton (format 1 was a plain pickle)


class RunFolderError(UserError):
    """A run folder, or a file in it, is missing, unreadable or does not match what was asked."""


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
        raise RunFolderError(f"{path} not found (is {path.parent} a run folder written by `nbskit train`?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFolderError(f"{path}: not valid JSON ({err})") from None


def rng_states() -> dict:
    """Global random states of torch, numpy and Python (restored on resume)."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save_checkpoint(run_dir: Path, step: int, model, optimizer, grid, history: dict, **extra) -> Path:
    """Atomically write ``run_dir/checkpoints/last.pt`` after ``step`` completed steps.

    ``extra``: any further state (tensors, arrays, JSON values, nested), stored and returned as is.
    """
    state = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "grid": grid.state_dict(),
        "rng": rng_states(),
        "history": history,
        **extra,
    }
    skeleton, tensors = flatten(state)
    payload = {"format": CHECKPOINT_FORMAT, "state": skeleton, "tensors": tensors}
    return _atomic_write(Path(run_dir) / CHECKPOINT_FILE, lambda stream: torch.save(payload, stream))


def load_checkpoint(run_dir: Path, map_location="cpu") -> dict:
    """The checkpoint dict of a run (keys: step, model, optimizer, grid, rng, history, and any extra).

    Raises RunFolderError when the file is missing, corrupt, or holds anything but tensors and
    plain data (a pickle that would run code is refused before anything in it is executed).
    """
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise RunFolderError(f"{path} not found: the run has not written a checkpoint yet")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise RunFolderError(
            f"{path}: refused to load: the file holds Python objects other than tensors and plain data, and loading "
            "it could run code from it (a tampered file, or a checkpoint written by an older nbskit). "
            f"Only tensors are accepted ({str(err).splitlines()[0][:120]})") from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise RunFolderError(f"{path}: not a readable checkpoint (truncated or corrupt?): {err}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise RunFolderError(f"{path}: not an nbskit checkpoint of format {CHECKPOINT_FORMAT!r}")
    try:
        return unflatten(payload["state"], payload["tensors"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunFolderError(f"{path}: checkpoint contents are inconsistent ({err})") from None


def load_states(run_dir: Path, state: dict, **modules) -> None:
    """``module.load_state_dict(state[name])`` for each ``name=module``; a mismatch (a checkpoint
    that does not belong to the run's config.json) raises RunFolderError naming the part."""
    for name, module in modules.items():
        try:
            module.load_state_dict(state[name])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise RunFolderError(f"{Path(run_dir) / CHECKPOINT_FILE}: the saved {name} does not match the run's "
                                 f"{CONFIG_FILE} ({str(err).splitlines()[0][:200]})") from None
