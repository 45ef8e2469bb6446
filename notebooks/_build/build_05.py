"""Writes notebooks/05_density_grid_ablations.ipynb."""

from notebook_tools import write_notebook

CELLS = [
    ("md", """
    # 05 · Density-grid ablations: which cells may hold matter?

    Marching a ray through empty space is wasted work, so instant-ngp style renderers keep an
    **occupancy grid**: a coarse 3D bitfield of the cells where the density can be non-zero, and the
    marcher jumps over the rest. For a *dynamic* head this raises a question: non-zero **for which
    expression**? A grid built from the neutral face ($w = 0$) has no matter where an open jaw or
    pouted lips will be, and the marcher then skips exactly the samples the mouth needs.

    NeRFBlendShape's answer (paper Eq. 9) evaluates the density at the neutral table and at every
    basis pushed to its training maximum, $h_0 + \\hat w_i h_i$, and keeps the element-wise maximum.
    This notebook compares three policies on the same subject:

    | policy | cells evaluated at | cost |
    |---|---|---|
    | `expression` (paper) | neutral + each basis at its max (K+1 probes) | K+1 density passes per update |
    | `neutral` | the neutral table only | 1 pass per update |
    | `none` | no grid: every cell occupied | dense sampling everywhere |

    and measures **samples per ray**, **time per training step** and **test PSNR on mouth-open
    frames** (paper Fig. 13–14).

    **Time** on 2 CPU cores: smoke mode (three 60-step runs, so its numbers are noisy) took 14 s on
    an idle machine. Full mode trains three `small`-subject runs with the `cpu` preset; it has not
    been timed end to end, but one such run takes about 4 minutes on an idle machine (as in `make
    demo`), so expect a quarter of an hour. GPU: not measured yet.
    """),
    ("parameters", "SMOKE = False  # True: tiny subject, short runs (what the tests use)"),
    ("code", """
    import numpy as np
    import plotly.graph_objects as go
    import torch
    from plotly.subplots import make_subplots

    from nbskit.render import POLICIES, OccupancyGrid, render_image
    from nbskit.train.dataset import load_frames
    from nbskit.viz import image_strip
    from nbskit.viz.course import (course_config, course_subject, frame_statistics, mouth_open_frames,
                                   seconds_per_step, train_or_load)

    if SMOKE:
        torch.set_num_threads(2)
    # Three runs must fit the two-minute smoke budget: shorter ones than the other notebooks use.
    SHORT = {"total_steps": 60, "stage2_start": 30, "stage3_start": 60, "eval_interval": 60,
             "checkpoint_interval": 60} if SMOKE else {}
    SUBJECT_DIR = course_subject(SMOKE)
    print(SUBJECT_DIR)
    """),
    ("md", """
    ## 1 · One model, two grids

    First the cheapest experiment: take the model trained with the expression-aware grid and rebuild
    its grid both ways. Cells the neutral grid drops but the expression-aware grid keeps are where
    some expression puts matter that the neutral face does not have.
    """),
    ("code", """
    paper = train_or_load(SUBJECT_DIR, course_config(SMOKE, grid_policy="expression", **SHORT)).run
    device = paper.model.aabb.device

    def rebuilt_grid(policy, **cutoff):
        grid = OccupancyGrid(paper.subject.aabb, resolution=paper.occupancy.resolution, policy=policy, **cutoff).to(device)
        # The same seed gives every grid the same jittered probe positions: only the policy differs.
        grid.update(paper.model, paper.model.expression_max, generator=torch.Generator(device=device).manual_seed(0))
        return grid

    # A smoke run's field is still a fog denser than the default threshold everywhere (every cell would be
    # occupied), so smoke mode cuts both grids at the neutral grid's mean density instead.
    grids = {"neutral": rebuilt_grid("neutral", **({"threshold": float("inf")} if SMOKE else {}))}
    neutral_mean = float(grids["neutral"].density.mean()) * grids["neutral"].box_length
    grids["expression"] = rebuilt_grid("expression", **({"threshold": neutral_mean} if SMOKE else {}))
    for policy in ("expression", "neutral"):
        print(f"{policy:>10}: {100 * grids[policy].occupied_fraction():5.1f}% of cells occupied")
    """),
    ("code", """
    expression_cells = grids["expression"].occupied().cpu()
    neutral_cells = grids["neutral"].occupied().cpu()
    only_expression = expression_cells & ~neutral_cells
    middle = paper.occupancy.resolution // 2  # the x = centre plane: rows y, columns z (face towards +z)
    figure = make_subplots(1, 3, subplot_titles=["neutral grid", "expression-aware grid", "kept only by expression-aware"])
    for column, cells in enumerate((neutral_cells, expression_cells, only_expression), start=1):
        figure.add_trace(go.Heatmap(z=cells[middle].T.float().numpy(), colorscale="Greys", showscale=False), 1, column)
    figure.update_yaxes(autorange=True)
    figure.update_layout(height=330, title="occupied cells on the middle sagittal plane")
    """),
    ("md", """
    Now render the frames with the widest-open mouths through each grid, with the same model. With
    the neutral grid, rays skip the cells of the open mouth and chin. (These are training frames:
    here we test the grid, not generalisation, and a short clip's test split may have no open mouth.)
    """),
    ("code", """
    widest = mouth_open_frames(paper.subject, "train", fraction=0.1)
    jaw = paper.subject.expression_names.index("jawOpen")
    print("widest-open training frames:", widest.tolist(), "jawOpen =", paper.subject.expressions(widest)[:, jaw].round(2).tolist())
    same_model = {policy: frame_statistics(paper, widest, grid, split="train") for policy, grid in grids.items()}
    for policy, stats in same_model.items():
        print(f"{policy:>10}: PSNR {stats['psnr'].mean():6.2f} dB, {stats['samples_per_ray'].mean():6.1f} samples/ray")
    """),
    ("code", """
    frames = load_frames(paper.subject, "train", paper.config.max_image_size, paper.config.background, progress=False)
    row = list(frames.indices).index(int(widest[np.argmax(paper.subject.expressions(widest)[:, jaw])]))
    shown = [frames.image(row)]
    for policy in ("expression", "neutral"):
        shown.append(render_image(paper.model, grids[policy], frames.intrinsics, frames.c2w[row], frames.expressions[row],
                                  frames.background, paper.render_config)["rgb"].clamp(0, 1).cpu())
    image_strip(shown, labels=["ground truth", "expression grid", "neutral grid"], scale=3)
    """),
    ("md", """
    ## 2 · Training with each policy

    The grid also steers *training*: samples the marcher skips get no gradient. So we train three
    runs that differ only in `grid_policy` and measure, on the mouth-open test frames, how many
    samples a ray takes, how long a training step takes, and the PSNR.
    """),
    ("code", """
    mouth_frames = mouth_open_frames(paper.subject, "test")
    print("mouth-open test frames:", mouth_frames.tolist(), "jawOpen =", paper.subject.expressions(mouth_frames)[:, jaw].round(2).tolist())
    runs = {policy: train_or_load(SUBJECT_DIR, course_config(SMOKE, grid_policy=policy, **SHORT)) for policy in POLICIES}
    results = {}
    for policy, course in runs.items():
        stats = frame_statistics(course.run, mouth_frames)
        results[policy] = {"samples_per_ray": stats["samples_per_ray"].mean(), "psnr": stats["psnr"].mean(),
                           "seconds_per_step": seconds_per_step(course.history, course.run.step),
                           "render_seconds": stats["seconds"].mean(),
                           "occupied": course.run.occupancy.occupied_fraction()}
    print(f"{'policy':>10} {'samples/ray':>12} {'s/step':>8} {'s/image':>8} {'occupied':>9} {'PSNR (mouth open)':>18}")
    for policy, r in results.items():
        print(f"{policy:>10} {r['samples_per_ray']:12.1f} {r['seconds_per_step']:8.3f} {r['render_seconds']:8.3f} "
              f"{100 * r['occupied']:8.1f}% {r['psnr']:15.2f} dB")
    """),
    ("code", """
    figure = make_subplots(1, 3, subplot_titles=["samples per ray", "seconds per training step", "PSNR, mouth-open test frames (dB)"])
    for column, key in enumerate(("samples_per_ray", "seconds_per_step", "psnr"), start=1):
        figure.add_trace(go.Bar(x=list(results), y=[results[p][key] for p in POLICIES], showlegend=False), 1, column)
    figure.update_layout(height=340)
    """),
    ("md", """
    What to look for: without a grid every ray takes the most samples and every step is slowest;
    the neutral grid is cheapest but loses the mouth; the expression-aware grid costs a little more
    than the neutral one and keeps the mouth. In smoke mode the runs are too short for the PSNR
    column to mean much — their fields are still a fog that fills every grid, so the three policies
    barely differ yet; run the full mode for the real comparison.

    ## Checks
    """),
    ("code", """
    # Eq. 9 takes a max over probes that include the neutral one: it adds cells (the occupancy cutoff,
    # min(threshold, mean density), may move a little, hence the 1% allowance).
    lost = int((neutral_cells & ~expression_cells).sum())
    assert lost <= 0.01 * int(neutral_cells.sum()), f"the expression-aware grid dropped {lost} neutral cells"
    assert only_expression.any(), "the expression-aware grid keeps no cell the neutral grid drops"
    gridded = max(results["expression"]["samples_per_ray"], results["neutral"]["samples_per_ray"])
    assert results["none"]["samples_per_ray"] >= gridded, "dense sampling should take the most samples per ray"
    assert runs["none"].run.occupancy.occupied_fraction() == 1.0
    for policy, r in results.items():
        assert np.isfinite(r["psnr"]) and r["psnr"] > 10, f"{policy}: PSNR {r['psnr']:.1f} dB, training failed"
    if not SMOKE:  # a smoke run is still a fog that fills its grid: the policies only part ways later
        assert results["none"]["samples_per_ray"] > gridded, "the grids skipped no empty space"
        assert same_model["expression"]["psnr"].mean() >= same_model["neutral"]["psnr"].mean() - 0.05, \\
            "the neutral grid rendered open mouths better than the expression-aware grid (same model)"
        assert results["expression"]["psnr"] > results["neutral"]["psnr"], "paper Fig. 14: expression-aware should win on open mouths"
    print("all checks passed")
    """),
]

if __name__ == "__main__":
    print(write_notebook("05_density_grid_ablations", CELLS))
