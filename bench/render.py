"""Time to render one image of a randomly initialised NeRFBlendShape field, per backend.

Scene: the paper's field (hash grid of Table 1, K expressions) in a head-sized box, an occupancy
grid before any update (every cell occupied, as for an untrained field), and a camera that sees
the whole box. The issue's target: a 64² image in at most 2 s on a CPU.

Run ``python -m bench.render`` from the repository root.
"""

from __future__ import annotations

import argparse
import sys

import torch

from bench.common import (
    add_case_arguments,
    add_timing_arguments,
    apply_thread_setting,
    report,
    run_script,
    time_call,
)
from nbskit.data.subject import Intrinsics
from nbskit.geometry.camera import look_at
from nbskit.model import NeRFBlendShape, NeRFBlendShapeConfig
from nbskit.render import OccupancyGrid, RenderConfig, available_render_backends, render_image

HEAD_AABB = ((-0.12, -0.16, -0.12), (0.12, 0.16, 0.14))  # metres, about a head
CAMERA_DISTANCE = 0.6
FIELD_OF_VIEW_FOCAL = 1.2  # focal length in image widths: the box fills most of the view
TARGET_SECONDS_64 = 2.0
TABLE_COLUMNS = [
    ("backend", "render backend", ""),
    ("size", "image", ""),
    ("median_s", "median s", ".3f"),
    ("median_cpu_s", "cpu s", ".3f"),
    ("samples", "samples", ","),
    ("msamples_per_s", "M samples/s", ".3f"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=64, help="image width and height (default 64)")
    parser.add_argument("--expressions", type=int, default=46, help="K, number of basis tables (default 46)")
    add_case_arguments(parser, devices=False)
    add_timing_arguments(parser, default_out="render.json")


def run(args: argparse.Namespace) -> int:
    apply_thread_setting(args.threads)
    torch.manual_seed(args.seed)
    k = args.expressions
    model = NeRFBlendShape(NeRFBlendShapeConfig(), torch.tensor(HEAD_AABB), torch.zeros(k), torch.ones(k))
    grid = OccupancyGrid(model.aabb)
    intrinsics = Intrinsics(
        args.size,
        args.size,
        FIELD_OF_VIEW_FOCAL * args.size,
        FIELD_OF_VIEW_FOCAL * args.size,
        args.size / 2,
        args.size / 2,
    )
    camera = torch.tensor(look_at((0.1, 0.05, CAMERA_DISTANCE), (0.0, 0.0, 0.0)), dtype=torch.float32)
    w = torch.full((k,), 0.5)
    backends = args.backends.split(",") if args.backends else available_render_backends("cpu")
    rows = []
    for backend in backends:
        config = RenderConfig(backend=backend)
        samples = render_image(model, grid, intrinsics, camera, w, config=config)["num_samples"]
        timing = time_call(
            lambda config=config: render_image(model, grid, intrinsics, camera, w, config=config),
            torch.device("cpu"),
            args.warmup,
            args.repeats,
        )
        rows.append(
            {
                "backend": backend,
                "size": f"{args.size}x{args.size}",
                "samples": samples,
                "msamples_per_s": samples / timing.median / 1e6,
                **timing.as_dict(),
            }
        )
    notes = []
    if args.size == 64:
        met = min(row["median_s"] for row in rows) <= TARGET_SECONDS_64
        notes.append(f"target: 64x64 in <= {TARGET_SECONDS_64:.1f} s -> {'met' if met else 'NOT met'}")
    report(args.out, rows, TABLE_COLUMNS, {"expressions": k, "rows": rows}, benchmark="render", notes=notes)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
