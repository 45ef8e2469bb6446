"""Marching and compositing throughput per render backend: rays/s and samples/s.

Scene: a 128^3 occupancy grid over a unit box whose occupied cells form a spherical shell (a
stand-in for a head's surface), rays from a camera on a circle around it. Three timed calls:
``march`` (packed samples), ``composite`` (forward) and ``composite+backward``.

Run ``nbskit bench march`` (or ``python -m bench.march``) from the repository root.
"""

from __future__ import annotations

import argparse
import sys

import torch
from tqdm import tqdm

from bench.common import (
    CASE_COLUMNS,
    SPEEDUP_COLUMN,
    add_case_arguments,
    add_speedups,
    add_timing_arguments,
    apply_thread_setting,
    device_backend_cases,
    report,
    run_script,
    time_call,
    timing_settings,
)
from nbskit.render import MarchConfig, OccupancyGrid, available_render_backends, composite, march_rays
from nbskit.render.occupancy import pack_bits
from nbskit.render.rays import ray_aabb_intersect

GRID_RESOLUTION = 128
SHELL_RADII = (0.3, 0.4)  # occupied between these distances from the box centre (box side 1)
CAMERA_DISTANCE = 1.5
OPERATIONS = ("march", "composite", "composite+backward")
TABLE_COLUMNS = [
    *CASE_COLUMNS,
    ("operation", "operation", ""),
    ("median_ms", "median ms", ".2f"),
    ("mrays_per_s", "M rays/s", ".3f"),
    ("msamples_per_s", "M samples/s", ".2f"),
    SPEEDUP_COLUMN,
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rays", type=int, default=2**14, help="rays per call (default 2^14)")
    add_case_arguments(parser)
    add_timing_arguments(parser, default_out="march.json")


def make_scene(num_rays: int, device: torch.device, generator: torch.Generator):
    """Shell-shaped occupancy grid and rays aimed at random points of the box."""
    grid = OccupancyGrid(torch.tensor([[-0.5] * 3, [0.5] * 3]), resolution=GRID_RESOLUTION, policy="none")
    centres = grid.cell_centers().norm(dim=-1).reshape([GRID_RESOLUTION] * 3)
    grid.bitfield.copy_(pack_bits((centres > SHELL_RADII[0]) & (centres < SHELL_RADII[1])))
    angle = torch.rand(num_rays, generator=generator) * 2 * torch.pi
    origins = torch.stack([angle.cos(), torch.zeros_like(angle), angle.sin()], dim=1) * CAMERA_DISTANCE
    targets = torch.rand(num_rays, 3, generator=generator) - 0.5
    dirs = torch.nn.functional.normalize(targets - origins, dim=1)
    grid = grid.to(device)
    origins, dirs = origins.to(device), dirs.to(device)
    near, far = ray_aabb_intersect(origins, dirs, grid.aabb)
    return grid, origins, dirs, near, far


def make_calls(device: torch.device, backend: str, config: MarchConfig, args: argparse.Namespace):
    """({operation: zero-argument timed call}, number of samples the scene produces)."""
    generator = torch.Generator().manual_seed(args.seed)
    grid, origins, dirs, near, far = make_scene(args.rays, device, generator)
    samples = march_rays(origins, dirs, near, far, grid, config, backend=backend)
    sigma = torch.rand(len(samples), generator=generator).mul_(50).to(device).requires_grad_()
    rgb = torch.rand(len(samples), 3, generator=generator).to(device).requires_grad_()
    background = torch.ones(args.rays, 3, device=device)

    def march():
        march_rays(origins, dirs, near, far, grid, config, backend=backend)

    def composite_forward():
        with torch.no_grad():
            composite(sigma, rgb, samples, args.rays, background, backend=backend)

    def composite_backward():
        out = composite(sigma, rgb, samples, args.rays, background, backend=backend)
        torch.autograd.grad(out["rgb"].sum() + out["opacity"].sum(), [sigma, rgb])

    return dict(zip(OPERATIONS, (march, composite_forward, composite_backward))), len(samples)


def run(args: argparse.Namespace) -> int:
    apply_thread_setting(args.threads)
    cases = device_backend_cases(args, available_render_backends)
    config = MarchConfig()
    rows = []
    progress = tqdm(total=len(cases) * len(OPERATIONS), desc="bench march", unit="case")
    for device, backend in cases:
        calls, num_samples = make_calls(device, backend, config, args)
        for operation, fn in calls.items():
            progress.set_postfix_str(f"{device.type}/{backend}/{operation}")
            timing = time_call(fn, device, args.warmup, args.repeats)
            rows.append(
                {
                    "device": device.type,
                    "backend": backend,
                    "operation": operation,
                    "samples": num_samples,
                    "median_ms": timing.median * 1e3,
                    "mrays_per_s": args.rays / timing.median / 1e6,
                    "msamples_per_s": num_samples / timing.median / 1e6,
                    **timing.as_dict(),
                }
            )
            progress.update()
    progress.close()
    add_speedups(rows, same_case=("device", "operation"))
    settings = {
        "rays": args.rays,
        "grid_resolution": GRID_RESOLUTION,
        "march_config": vars(config),
        **timing_settings(args),
    }
    heading = f"marching + compositing, {GRID_RESOLUTION}^3 shell grid, {args.rays:,} rays, {config}"
    payload = {"settings": settings, "rows": rows}
    report(args.out, rows, TABLE_COLUMNS, payload, benchmark="march", heading=heading)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(__doc__, add_arguments, run))
