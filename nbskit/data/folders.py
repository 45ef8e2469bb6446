"""Where commands may write a new folder: never over anything the user already has."""

from __future__ import annotations

import os
from pathlib import Path

from nbskit.errors import UserError

LISTED_ENTRIES = 3  # how many of a folder's entries an error message names


def describe_entries(folder: Path) -> str:
    """'a, b, c and 4 more': the first few entries of ``folder``, for messages."""
    names = sorted(entry.name for entry in folder.iterdir())
    shown = ", ".join(names[:LISTED_ENTRIES])
    return shown if len(names) <= LISTED_ENTRIES else f"{shown} and {len(names) - LISTED_ENTRIES} more"


def require_new_folder(out: str | os.PathLike, source: str | os.PathLike | None = None, what: str = "OUT") -> Path:
    """``out`` as a Path, after checking that writing into it destroys nothing.

    ``out`` must not exist or be an empty folder, and must not be the ``source`` folder being
    converted. Raises UserError otherwise (nothing is created here).
    """
    out = Path(out)
    if source is not None and out.resolve() == Path(source).resolve():
        raise UserError(f"{what} {out} is the source folder; choose a new folder for the result")
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} {out} is a file; choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"{what} {out} already holds files ({describe_entries(out)}); "
                        "choose a new or empty folder (nothing was written)")
    return out


def require_absent(paths: list[Path], overwrite: bool) -> None:
    """Refuse to replace existing outputs (files, or non-empty folders) unless ``overwrite``."""
    existing = [path for path in paths if path.is_file() or (path.is_dir() and any(path.iterdir()))]
    if existing and not overwrite:
        shown = ", ".join(str(path) for path in existing[:LISTED_ENTRIES])
        raise UserError(f"{shown} already exist(s); pass --overwrite to replace, or choose another --out")
