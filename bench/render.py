"""Time to render one image, per render backend: a randomly initialised field, or a trained run.

Random field (default): the paper's field (hash grid of Table 1, K expressions) in a head-sized
box, an occupancy grid before any update (every cell occupied, as for an untrained field: the worst
case, every ray takes the most samples), and a camera that sees the whole box.
Trained run (``--run RUN``): the run's model and occupancy grid at its training resolution, seen
from the first test frame's camera with that frame's coefficients, over the run's background.

Each timed call is ``render_image``: rays, marching, the field (which blends the K+1 tables with the
frame's coefficients on every call, so the blend is included), compositing; on CUDA the device is
synchronised before the clock stops. ``--chunks`` times the library's default ray chunk and/or the
whole image as one chunk. Targets: a 64² image in at most 2 s on a CPU; a 512² frame in at most
10 ms on a GPU (measured on a trained run).

    python -m bench.render                                   # CPU, 64², random field
    python -m bench.render --device cuda --size 512          # GPU, 512², random field
    python -m bench.render --device cuda --run RUN           # GPU, a trained run's frame
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
from nbskit.geometry.camera import look_at
from nbskit.geometry.intrinsics import Intrinsics
from nbskit.model import NeRFBlendShape, NeRFBlendShapeConfig
from nbskit.render import OccupancyGrid, RenderConfig, available_render_backends, render_image

HEAD_AABB = ((-0.12, -0.16, -0.12), (0.12, 0.16, 0.14))  # metres, about a head
CAMERA_DISTANCE = 0.6
FIELD_OF_VIEW_FOCAL = 1.2  # focal length in image widths: the box fills most of the view
TARGETS = {  # (device type, image side) -> seconds
    ("cpu", 64): 2.0,
    ("cuda", 512): 0.010,
}
CHUNK_CHOICES = ("default", "frame")  # RenderConfig.chunk_rays, or every ray of the image at once
TABLE_COLUMNS = [
    ("device", "device", ""),
    ("backend", "render backend", ""),
    ("size", "image", ""),
    ("chunk", "chunk rays", ","),
    ("median_ms", "median ms", ".2f"),
    ("median_cpu_s", "cpu s", ".3f"),
    ("samples", "samples", ","),
    ("msamples_per_s", "M samples/s", ".3f"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=64, help="random field: image width and height (default 64)")
    parser.add_argument("--expressions", type=int, default=46, help="random field: K, basis tables (default 46)")
    parser.add_argument("--run", default=None, help="time this trained run's first test frame instead")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--chunks", default="default",
                        help=f"comma-separated ray chunkings to time: {', '.join(CHUNK_CHOICES)} (default: default)")
    add_case_arguments(parser, devices=False)
    add_timing_arguments(parser, default_out="render.json")


def random_scene(args: argparse.Namespace, device: torch.device) -> dict:
    """render_image's arguments for a freshly initialised field (see the module doc)."""
    k = args.expressions
    model = NeRFBlendShape(NeRFBlendShapeConfig(), torch.tensor(HEAD_AABB), torch.zeros(k), torch.ones(k))
    focal = FIELD_OF_VIEW_FOCAL * args.size
    intrinsics = Intrinsics(args.size, args.size, focal, focal, args.size / 2, args.size / 2)
    camera = torch.tensor(look_at((0.1, 0.05, CAMERA_DISTANCE), (0.0, 0.0, 0.0)), dtype=torch.float32)
    return {"model": model.to(device), "grid": OccupancyGrid(model.aabb).to(device), "intrinsics": intrinsics,
            "c2w": camera, "w": torch.full((k,), 0.5), "background": None, "march": RenderConfig().march,
            "label": f"random field, K={k}"}


def trained_scene(run_dir: str, device: torch.device) -> dict:
    """render_image's arguments for the first test frame of a trained run (its camera and
    coefficients only: the split's images are not loaded)."""
    from nbskit.train.run import load_run

    run = load_run(run_dir, device=str(device))
    first = run.subject.indices("test")[:1]
    return {"model": run.model, "grid": run.occupancy, "intrinsics": run.intrinsics,
            "c2w": torch.from_numpy(run.subject.camera_to_world(first))[0],
            "w": torch.from_numpy(run.subject.expressions(first))[0], "background": run.background().to(device),
            "march": run.render_config.march, "label": f"trained run {run_dir} (step {run.step}), test frame 0"}


def chunk_sizes(names: str, intrinsics: Intrinsics) -> list[int]:
    sizes = []
    for name in names.split(","):
        if name not in CHUNK_CHOICES:
            raise SystemExit(f"--chunks: unknown chunking {name!r}; choose from {', '.join(CHUNK_CHOICES)}")
        sizes.append(RenderConfig().chunk_rays if name == "default" else intrinsics.width * intrinsics.height)
    return sizes


def run(args: argparse.Namespace) -> int:
    apply_thread_setting(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    scene = trained_scene(args.run, device) if args.run else random_scene(args, device)
    intrinsics = scene["intrinsics"]
    size = f"{intrinsics.width}x{intrinsics.height}"
    backends = args.backends.split(",") if args.backends else available_render_backends(device)
    chunks = chunk_sizes(args.chunks, intrinsics)
    rows = []
    for backend in backends:
        for chunk in chunks:
            config = RenderConfig(march=scene["march"], chunk_rays=chunk, backend=backend)

            def render(config=config):
                return render_image(scene["model"], scene["grid"], intrinsics, scene["c2w"], scene["w"],
                                    scene["background"], config=config)

            samples = render()["num_samples"]
            timing = time_call(render, device, args.warmup, args.repeats)
            rows.append({"device": device.type, "backend": backend, "size": size, "chunk": chunk, "samples": samples,
                         "median_ms": timing.median * 1e3, "msamples_per_s": samples / timing.median / 1e6,
                         **timing.as_dict()})
    notes = [scene["label"]]
    target = TARGETS.get((device.type, intrinsics.width)) if intrinsics.width == intrinsics.height else None
    if target is not None:
        best = min(row["median_s"] for row in rows)
        notes.append(f"target: {size} in <= {target * 1e3:g} ms -> {'met' if best <= target else 'NOT met'} "
                     f"(best {best * 1e3:.2f} ms)")
    payload = {"scene": scene["label"], "expressions": scene["w"].numel(), "target_s": target, "rows": rows}
    report(args.out, rows, TABLE_COLUMNS, payload, benchmark="render", notes=notes)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
