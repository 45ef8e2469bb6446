"""How big each paper benchmark is: one Profile per machine budget (toy, quick, gpu).

- ``toy``: a few training steps on ``tiny`` and two seeds; only checks that every script runs (the
  tests use it); two seeds are too few to order anything, and its pages say so.
- ``quick``: the ``small`` subject, and ``tiny`` for the density-grid ablation, which only needs a
  trend; three training seeds. Sized with one seed at 6 min 43 s on two idle CPU cores (728 CPU
  seconds); three seeds train and evaluate three times as many runs.
- ``gpu``: the ``paper`` subject (``small`` for the ablation) on an H100/H200, sized for a second
  device call of about four minutes after ``bench/gpu_check.sh``'s first one, which leaves no
  time for it. Not yet measured on a GPU: the sizes assume ~50 training steps/s at 512² (the
  ``gpu`` preset's own assumption; gpu_check.sh's time_to_psnr step reports the real rate), so
  about 100 s for Fig. 8's two runs, 60 s for the ablation's three and 60 s of evaluations,
  synthesis of ``small`` and meshes. Re-size ``GPU_STEPS`` once the rate is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    """Sizes of one benchmark run.

    Attributes:
        subject / preset / schedule: the main synthetic subject (preset name), the training preset
            and the config overrides applied to it (Table 2, Fig. 8, 9, 10, 12).
        trend_subject / trend_preset / trend_schedule: the same for claims that only need a trend (Fig. 13).
        curve_points: evaluations along each training run (the PSNR-vs-time curves of Fig. 8).
        curve_frames: held-out frames rendered at each of those evaluations.
        eval_frames: test frames of Table 2 and Fig. 12 (None: all of them).
        gallery_bases: bases shown and scored in Fig. 9 (those with the widest training range).
        mesh_resolution: marching-cubes lattice of Fig. 10.
        mesh_optical_depth: iso-level (density x box length) of Fig. 10; None = the library default.
        surface_samples: points drawn on each surface for the Chamfer distance.
        crop_frames: mouth crops (rows) in the Fig. 12 grid.
        seeds: training seeds per compared variant (``--seeds`` overrides); an ordering needs >= 3.
    """

    name: str
    subject: str
    preset: str
    schedule: dict = field(default_factory=dict)
    trend_subject: str = "tiny"
    trend_preset: str = "cpu-smoke"
    trend_schedule: dict = field(default_factory=dict)
    curve_points: int = 4
    curve_frames: int = 4
    eval_frames: int | None = None
    gallery_bases: int = 8
    mesh_resolution: int = 128
    mesh_optical_depth: float | None = None
    surface_samples: int = 100_000
    crop_frames: int = 4
    seeds: int = 3


def schedule(total: int, stage2: int, stage3: int) -> dict:
    """Config overrides for a run of ``total`` steps whose stages 2 and 3 start at the given steps.

    Periodic evaluation and checkpoints only at the end: the benchmarks evaluate and time chunks
    themselves.
    """
    return {"total_steps": total, "stage2_start": stage2, "stage3_start": stage3, "eval_interval": total,
            "checkpoint_interval": total}


# The toy profile renders 32-pixel images with few rays: every code path, in seconds. Its patches
# stay above the perceptual network's smallest input (18 pixels).
TOY_SIZE = {"max_image_size": 32, "rays_per_frame": 64, "patch_size": 20, "march_max_steps": 64}

GPU_STEPS = 2000  # the gpu profile's main runs (stage 2 from a quarter, stage 3 from four fifths)

PROFILES: dict[str, Profile] = {
    "toy": Profile(
        name="toy", subject="tiny", preset="cpu-smoke", schedule={**schedule(4, 1, 3), **TOY_SIZE},
        trend_subject="tiny", trend_preset="cpu-smoke", trend_schedule={**schedule(2, 1, 2), **TOY_SIZE},
        curve_points=2, curve_frames=1, eval_frames=2, gallery_bases=2, mesh_resolution=24,
        mesh_optical_depth=0.01, surface_samples=2_000, crop_frames=2, seeds=2,
    ),
    "quick": Profile(
        name="quick", subject="small", preset="cpu", schedule=schedule(300, 75, 240),
        trend_subject="tiny", trend_preset="cpu-smoke", trend_schedule=schedule(150, 75, 150),
        curve_points=4, curve_frames=2, eval_frames=None, gallery_bases=8, mesh_resolution=96,
        surface_samples=200_000, crop_frames=4,
    ),
    "gpu": Profile(
        name="gpu", subject="paper", preset="gpu", schedule=schedule(GPU_STEPS, GPU_STEPS // 4, GPU_STEPS * 4 // 5),
        trend_subject="small", trend_preset="gpu", trend_schedule=schedule(GPU_STEPS // 2, GPU_STEPS // 8, GPU_STEPS // 2),
        # 40 of the 200 test frames: SSIM runs in float64 on the CPU (~1 CPU s per 512² frame measured here).
        curve_points=5, curve_frames=4, eval_frames=40, gallery_bases=8, mesh_resolution=192,
        surface_samples=200_000, crop_frames=6,
    ),
}
