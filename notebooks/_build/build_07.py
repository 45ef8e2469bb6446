"""Writes notebooks/07_geometry.ipynb."""

from notebook_tools import write_notebook

CELLS = [
    ("md", """
    # 07 · Geometry: meshes out of a radiance field

    A NeRF has no surface, only a density σ(x) — how much light a small step through x absorbs. Yet
    a head is mostly empty space and a thin shell where σ climbs steeply, so a *level set* of σ is a
    good surface. This notebook pulls meshes out of a trained NeRFBlendShape:

    1. look at a slice of the density and choose the iso-level;
    2. run **marching cubes** (scikit-image) and export the mesh with **trimesh** (PLY, OBJ, GLB);
    3. view it in **plotly**, coloured by the colour network;
    4. compare it with the synthetic subject's ground-truth mesh;
    5. sweep one coefficient and watch the geometry move: a **mesh sequence**.

    The expression enters through the blended table $h_0 + \\sum_i w_i h_i$: changing $w$ changes σ,
    so every expression has its own mesh.

    **Time** on 2 CPU cores: smoke mode took 13 s on an idle machine. Full mode (`small` subject,
    `cpu` preset, 128³ cubes) has not been timed end to end; most of it is the training, about 4
    minutes on an idle machine (as in `make demo`). The run is shared with notebook 08: whichever
    runs second reuses it. GPU: not measured yet.
    """),
    ("parameters", "SMOKE = False  # True: a tiny subject, a short run and coarse meshes (what the tests use)"),
    ("code", """
    from pathlib import Path

    import numpy as np
    import plotly.graph_objects as go
    import torch
    import trimesh
    from scipy.spatial import cKDTree

    from nbskit.apps.edit import edit_expression
    from nbskit.apps.head_mesh import head_mesh
    from nbskit.data.synthetic import SyntheticScene
    from nbskit.geometry.mesh import export_mesh, mesh_figure, sample_grid
    from nbskit.viz.course import course_config, course_subject, mesh_optical_depth, train_or_load

    if SMOKE:
        torch.set_num_threads(2)
    RESOLUTION = 48 if SMOKE else 128  # marching-cubes lattice points per side
    SWEEP_STEPS = 4 if SMOKE else 8
    OUT = Path("runs") / "07_meshes"
    SUBJECT_DIR = course_subject(SMOKE)
    course = train_or_load(SUBJECT_DIR, course_config(SMOKE))
    run = course.run
    names, (low, high) = run.expression_names, run.expression_range
    aabb = np.asarray(run.subject.aabb, dtype=np.float64)
    box_length = float((aabb[1] - aabb[0]).max())
    OPTICAL_DEPTH = mesh_optical_depth(SMOKE)  # iso-level as σ x box length (see section 1)
    LEVEL = OPTICAL_DEPTH / box_length  # the same in density units (1 / world length)
    neutral = low.copy()  # every coefficient at its training minimum: the closest the clamp allows to zero
    print(run.run_dir, f"({run.step} steps)")
    """),
    ("md", """
    ## 1 · Where is the surface?

    A vertical slice through the middle of the head box, σ on a log scale. We measure σ in units of
    one *box length*: σ·L is the optical depth of a ray crossing the whole box at that density. The
    iso-level defaults to σ·L = 50: a layer 1/50 of the box thick then absorbs 63% of the light —
    about where a render looks opaque. The white contour is that level. (Smoke mode cuts at σ·L = 1:
    a smoke run's 100 steps leave a faint fog.)
    """),
    ("code", """
    w = torch.as_tensor(neutral)[None]

    def density(x):
        return run.model.density(x, torch.zeros(len(x), dtype=torch.int64), w)

    volume = sample_grid(density, aabb, RESOLUTION, progress=False) * box_length  # [x, y, z], optical depth per box
    middle = volume[RESOLUTION // 2].T  # the x = centre plane, rows = y, columns = z
    figure = go.Figure(go.Heatmap(z=np.log10(middle + 1e-3), colorscale="Viridis", colorbar=dict(title="log10 σ·L")))
    figure.add_trace(go.Contour(z=middle, contours=dict(start=OPTICAL_DEPTH,
                                                        end=OPTICAL_DEPTH, coloring="none"),
                                line=dict(color="white", width=2), showscale=False))
    figure.update_layout(title="density on the middle sagittal plane (z → right is the face)", height=420,
                         width=460, yaxis=dict(autorange=True, title="y"), xaxis=dict(title="z"))
    """),
    ("md", """
    How much of the box lies above each level? Too low a level wraps the head in fog, too high a
    level eats holes into thin parts (ears, lips).
    """),
    ("code", """
    levels = np.geomspace(1, 1000, 31)
    occupied = [(volume > level).mean() for level in levels]
    go.Figure(go.Scatter(x=levels, y=occupied, mode="lines+markers")).update_layout(
        xaxis=dict(type="log", title="iso-level σ·L"), yaxis_title="fraction of the box inside", height=320,
        shapes=[dict(type="line", x0=OPTICAL_DEPTH, x1=OPTICAL_DEPTH, y0=0,
                     y1=max(occupied), line=dict(dash="dash"))])
    """),
    ("md", """
    ## 2 · Marching cubes and export

    `head_mesh` samples σ on a lattice, runs marching cubes at the level, and colours every vertex
    with the colour network looking from the front. trimesh writes it in the three usual formats.
    """),
    ("code", """
    mesh = head_mesh(run, neutral, resolution=RESOLUTION, level=LEVEL)
    print(mesh)
    paths = [export_mesh(mesh, OUT / f"neutral{suffix}") for suffix in (".ply", ".obj", ".glb")]
    for path in paths:
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    """),
    ("md", "## 3 · The plotly viewer (drag to turn, scroll to zoom)"),
    ("code", """
    mesh_figure(mesh, title="neutral expression").update_layout(height=480)
    """),
    ("md", """
    ## 4 · Against the ground truth

    The subject is synthetic, so we know the real mesh. For every vertex of our mesh we look up the
    distance to the nearest point of the true skin surface. Expect most vertices within a few
    millimetres and a tail: the synthetic hair is a semi-transparent shell that the NeRF sees but the
    blendshape mesh does not have.
    """),
    ("code", """
    scene = SyntheticScene.from_subject(SUBJECT_DIR)
    truth = trimesh.Trimesh(scene.vertices(neutral), scene.head.triangles, process=False)
    scene.release()
    surface_points, _ = trimesh.sample.sample_surface(truth, 100_000, seed=0)
    distances, _ = cKDTree(surface_points).query(np.asarray(mesh.vertices))
    distances_mm = 1000 * distances  # synthetic subjects are in metres
    go.Figure(go.Histogram(x=distances_mm, nbinsx=60)).update_layout(
        title=f"distance to the true surface: median {np.median(distances_mm):.1f} mm", xaxis_title="mm", height=320)
    """),
    ("md", """
    ## 5 · A mesh sequence across an expression sweep

    `jawOpen` from its training minimum to its maximum, everything else neutral. Each mesh is saved
    as a numbered PLY (ready for Blender or MeshLab); the figure's slider steps through them.
    """),
    ("code", """
    sweep = np.linspace(low[names.index("jawOpen")], high[names.index("jawOpen")], SWEEP_STEPS)
    sequence = [head_mesh(run, edit_expression(neutral, names, {"jawOpen": value}), resolution=RESOLUTION,
                          level=LEVEL, progress=False) for value in sweep]
    for step, item in enumerate(sequence):
        export_mesh(item, OUT / "jaw_sweep" / f"jaw_{step:03d}.ply")

    def trace(item):
        v, f = np.asarray(item.vertices), np.asarray(item.faces)
        return go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], color="lightpink",
                         flatshading=True, lighting=dict(ambient=0.4, diffuse=0.8))

    figure = go.Figure(trace(sequence[0]), frames=[go.Frame(data=[trace(m)], name=str(n)) for n, m in enumerate(sequence)])
    figure.update_layout(
        height=480, scene=dict(aspectmode="data"), title="jawOpen sweep",
        sliders=[dict(steps=[dict(method="animate", label=f"{value:.2f}", args=[[str(n)], dict(mode="immediate")])
                             for n, value in enumerate(sweep)], currentvalue=dict(prefix="jawOpen = "))])
    figure
    """),
    ("md", """
    Where does the surface move? The distance from each vertex of the open-jaw mesh to the closed-jaw
    mesh, by height: the motion should sit below the nose (the jaw and lips), not in the forehead.
    """),
    ("code", """
    closed, opened = sequence[0], sequence[-1]
    moved, _ = cKDTree(np.asarray(closed.vertices)).query(np.asarray(opened.vertices))
    heights = np.asarray(opened.vertices)[:, 1]
    go.Figure(go.Scatter(x=1000 * moved, y=heights, mode="markers", marker=dict(size=2, opacity=0.4))).update_layout(
        xaxis_title="distance to the closed-jaw surface (mm)", yaxis_title="height y", height=360)
    """),
    ("md", "## Checks"),
    ("code", """
    assert len(mesh.faces) > 500, "the neutral mesh is nearly empty"
    for path in paths:
        reloaded = trimesh.load(path, force="mesh", process=False)
        assert len(reloaded.faces) == len(mesh.faces), f"{path.name}: {len(reloaded.faces)} faces after reloading"
    head_size = float((truth.bounds[1] - truth.bounds[0]).max())
    tolerance = 0.15 if SMOKE else 0.05  # of the head's size
    assert np.median(distances) < tolerance * head_size, f"median distance {np.median(distances):.4f} m to the true surface"
    assert moved.max() > 0, "the jawOpen sweep did not change the geometry"
    if not SMOKE:  # a 100-step smoke run is still a fog: its changes are not yet local
        lower = heights < np.median(heights)
        assert moved[lower].mean() > moved[~lower].mean(), "opening the jaw moved the upper head more than the lower"
    print("all checks passed")
    """),
]

if __name__ == "__main__":
    print(write_notebook("07_geometry", CELLS))
