"""Make sure a synthetic subject exists, and describe it (for the GPU check).

    python -m bench.gpu_subject --preset paper --work WORK --out subject.json     # what run_all uses
    python -m bench.gpu_subject --preset paper --frames 160 --root DIR           # a shorter clip at DIR

With ``--work`` the folder is ``WORK/subjects/synthetic_<preset>_seed0_<code version>``
(``bench.paper.training.synthetic_subject``), so ``bench.paper.run_all --work WORK`` reuses it.
With ``--root`` it is that folder, and ``--frames`` may shorten the clip (same resolution and head
model; the shortened preset is named e.g. ``paper-160`` in its transforms.json). Synthesis needs
moderngl with an EGL driver and, for the ``small``/``paper`` presets, the ICT face model. Prints and
writes: folder, frames per split, resolution, bytes on disk, the seconds it took and whether an
existing folder was reused.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from bench.common import write_results

SUBJECT_SEED = 0


def folder_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def describe(root: Path, seconds: float, reused: bool) -> dict:
    from nbskit.data.subject import Subject

    subject = Subject.load(root)
    return {
        "path": str(root),
        "frames": {split: len(subject.indices(split)) for split in ("train", "val", "test")},
        "resolution": [subject.intrinsics.width, subject.intrinsics.height],
        "expressions": subject.num_expressions,
        "bytes": folder_bytes(root),
        "synthesis_s": seconds,
        "reused": reused,
    }


def make_subject(preset: str, work: Path | None, root: Path | None, frames: int | None) -> Path:
    """The subject folder, synthesised unless complete (transforms.json is written last)."""
    from nbskit.data.synthetic import PRESETS, synthesize_subject

    if root is None:
        from bench.paper.training import synthetic_subject

        return synthetic_subject(preset, work)
    if not (root / "transforms.json").is_file():
        settings = PRESETS[preset]
        if frames is not None:
            settings = dataclasses.replace(settings, name=f"{preset}-{frames}", num_frames=frames)
        synthesize_subject(root, settings, seed=SUBJECT_SEED)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper", help="synthetic subject preset (tiny, small, paper)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--work", type=Path, help="the paper benchmarks' --work folder")
    where.add_argument("--root", type=Path, help="the subject folder itself")
    parser.add_argument("--frames", type=int, default=None, help="with --root: frames of the clip (default: the preset's)")
    parser.add_argument("--out", type=Path, help="JSON description of the subject")
    args = parser.parse_args(argv)
    if args.frames is not None and args.root is None:
        parser.error("--frames needs --root (run_all's folder always holds the preset's full clip)")
    start, start_epoch = time.perf_counter(), time.time()
    root = make_subject(args.preset, args.work, args.root, args.frames)
    # transforms.json is written last: older than this call means the folder was already complete.
    reused = (root / "transforms.json").stat().st_mtime < start_epoch
    description = {"preset": args.preset, **describe(root, time.perf_counter() - start, reused)}
    print(description)
    if args.out:
        write_results(args.out, description)
    return 0


if __name__ == "__main__":
    sys.exit(main())
