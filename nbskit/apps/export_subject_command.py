"""`nbskit export-subject RUN OUT`: the run's subject with its refined training cameras and coefficients.

OUT is a complete subject folder (images, masks and the other files are copied; absolute paths stay
as they are), so `nbskit info`, training, reenactment and any viewer read it like the original.
Held-out frames keep their tracked values. ``transforms.json`` says where the values came from
under ``refined_by``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="run folder written by `nbskit train` (with refinement on)")
    parser.add_argument("out", type=Path, help="new subject folder to write (must not exist or be empty)")


def copy_files(subject, out: Path) -> None:
    """Copy every relative file the subject's frames and header point at (and its landmarks) into ``out``."""
    from nbskit.data.subject import LANDMARKS_FILE

    relative = [subject.background_path] + [getattr(frame, field.name) for frame in subject.frames
                                            for field in dataclasses.fields(frame) if field.name.endswith("_path")]
    relative += [LANDMARKS_FILE] if (subject.root / LANDMARKS_FILE).is_file() else []
    for path in relative:
        if path is None or Path(path).is_absolute():
            continue
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(subject.path(path), out / path)


def write_subject_copy(subject, out: Path, frames=None, extra: dict | None = None) -> Path:
    """Copy ``subject``'s files into the new folder ``out`` and write its transforms.json with
    ``frames`` (default: its own) and ``extra`` (default: its own); returns the transforms.json path."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: exists and is not empty; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    copy_files(subject, out)
    changes = {"root": out, **({"frames": frames} if frames is not None else {}),
               **({"extra": extra} if extra is not None else {})}
    return dataclasses.replace(subject, **changes).save_transforms()


def export_refined_subject(run_dir: Path, out: Path) -> Path:
    """Write the refined subject of run ``run_dir`` to ``out``; returns its transforms.json."""
    from nbskit.train.run import load_run

    trained = load_run(run_dir, device="cpu")
    if trained.refined is None:
        raise ValueError(f"{run_dir}: this run did not refine its frames (train with --set refine=on)")
    refined = trained.refined_subject()
    extra = {**refined.extra, "refined_by": {"run": str(Path(run_dir).resolve()), "step": trained.step,
                                             "source_subject": str(Path(trained.subject.root).resolve())}}
    return write_subject_copy(refined, out, extra=extra)


def run(args: argparse.Namespace) -> int:
    print(f"wrote {export_refined_subject(args.run, args.out)}")
    return 0
