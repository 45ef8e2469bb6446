"""Options and outputs shared by the paper benchmarks: profile choice, folders, JSON and small PNGs.

Each claim writes ``OUT/<claim>.json`` (git commit, dirty flag, code version, machine, command,
profile, seeds and the numbers) and ``OUT/<claim>.png`` (one small figure).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from bench.common import TARGET_MACHINE_THREADS, apply_thread_setting, write_results
from bench.paper.profiles import PROFILES, Profile

DEFAULT_ROOT = Path("runs") / "paper"
MAX_PNG_BYTES = 200_000  # figures are committed under docs/img/: keep each one small
FIGURE_DPI = 100
MODEL_COLOURS = {"blend": "tab:blue", "concatenate": "tab:orange"}  # the same in every figure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--profile --out --work --seeds --threads --progress`` and ``--workers``/``--ray``, common to every claim."""
    from bench.paper import executors

    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="benchmark size: toy (seconds), quick (2 CPU cores, minutes), gpu (one GPU call)")
    parser.add_argument("--out", type=Path, help=f"folder for JSON + PNG (default: {DEFAULT_ROOT}/PROFILE)")
    parser.add_argument("--work", type=Path, default=DEFAULT_ROOT / "work",
                        help="synthetic subjects and run folders, reused between claims and invocations")
    parser.add_argument("--threads", type=int, default=None,
                        help=f"torch CPU threads (default: {TARGET_MACHINE_THREADS} without a GPU)")
    parser.add_argument("--seeds", type=int, default=None, metavar="N",
                        help="training seeds 0..N-1 of every compared variant (default: the profile's)")
    parser.add_argument("--progress", action="store_true", help="show the trainer's progress bars")
    executors.add_arguments(parser)


def setup(args: argparse.Namespace) -> Profile:
    """Apply the thread setting, resolve the seeds, create the output folder; returns the profile.

    Every run uses the same number of torch threads whichever way it is executed, so that the
    sums inside it are done in the same order and its numbers do not depend on the executor.
    """
    import torch

    from bench.provenance import code_version

    code_version()  # fixed from here on for this process: every run it plans and every result it writes
    profile = PROFILES[args.profile]
    if args.threads is None and not torch.cuda.is_available():
        args.threads = TARGET_MACHINE_THREADS
    apply_thread_setting(args.threads)
    count = profile.seeds if getattr(args, "seeds", None) is None else args.seeds
    if isinstance(count, int):
        if count < 1:
            raise SystemExit(f"--seeds must be at least 1, got {count}")
        args.seeds = list(range(count))
    args.out = Path(args.out or DEFAULT_ROOT / args.profile)
    args.out.mkdir(parents=True, exist_ok=True)
    return profile


def budget(profile: Profile, args: argparse.Namespace):
    """How every run of this invocation is measured (``bench.paper.jobs.Budget``)."""
    from bench.paper.jobs import Budget

    return Budget(profile.curve_points, profile.curve_frames, profile.eval_frames, args.threads)


def prepare(profile: Profile, args: argparse.Namespace, needs: list) -> None:
    """Train and evaluate the runs ``needs`` lists that are not finished yet (``bench.paper.executors``)."""
    from bench.paper import executors

    executors.execute(needs, args, budget(profile, args))


def write_result(args: argparse.Namespace, claim: str, payload: dict) -> dict:
    """Write and return ``OUT/<claim>.json``: code and machine (``bench.common.results_header``),
    claim, profile, training seeds, then ``payload``."""
    path = args.out / f"{claim}.json"
    write_results(path, {"claim": claim, "profile": args.profile, "seeds": list(args.seeds), **payload})
    print(f"wrote {path}")
    return read_result(path)


def read_result(path: Path) -> dict:
    """A claim's JSON back as a dict."""
    return json.loads(Path(path).read_text())


def write_text(path: Path, text: str) -> Path:
    """Write a text file atomically (temp file, then rename)."""
    return write_bytes(path, text.encode())


def save_figure(figure, path: Path) -> Path:
    """Save a matplotlib figure as a small PNG, atomically; warns if it is over ``MAX_PNG_BYTES``."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(figure)
    return write_bytes(path, buffer.getvalue())


def save_image(image: np.ndarray, path: Path) -> Path:
    """Save uint8 [H, W, 3] as a PNG, atomically."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png", optimize=True)
    return write_bytes(path, buffer.getvalue())


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` atomically; a PNG over ``MAX_PNG_BYTES`` is warned about."""
    path = Path(path)
    if path.suffix == ".png" and len(data) > MAX_PNG_BYTES:
        warnings.warn(f"{path}: {len(data)} bytes, over the {MAX_PNG_BYTES} bytes meant for docs/img/", stacklevel=3)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


def new_figure(columns: int, width_per_panel: float = 3.0, height: float = 2.6):
    """A matplotlib figure with ``columns`` panels in one row (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, columns, figsize=(width_per_panel * columns, height), squeeze=False)
    return figure, axes[0]


def mean_and_std(values) -> tuple[float, float]:
    """(mean, sample standard deviation; 0 for a single value) ignoring NaNs."""
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table; floats printed with 4 significant digits."""
    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
