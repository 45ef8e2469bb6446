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
    4. compare it with the synthetic subject's ground-truth mesh: two-sided Chamfer distance and
       normal consistency against baselines, and an error map on the mesh;
    5. sweep one coefficient and watch the geometry move: a **mesh sequence**.

    The expression enters through the blended table $h_0 + \\sum_i w_i h_i$: changing $w$ changes σ,
    so every expression has its own mesh.

    **Time** on 2 CPU cores: smoke mode took 49 CPU-seconds (48 s wall) on a machine shared with
    other jobs (load average about 1.4), so about 25 s on two idle cores. Full mode (`small` subject,
    `cpu` preset, 128³ cubes) took 4.0 minutes on two idle cores, training included
    (`python -m bench.notebook_times 07`). The run is shared with notebook 08: whichever runs second
    reuses it. GPU: not measured yet.
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
    # "Neutral" here: every coefficient at its mean over the training frames (see below).
    neutral = run.subject.expressions(run.subject.indices("train")).mean(axis=0).astype(np.float32)
    print(run.run_dir, f"({run.step} steps)")
    """),
    ("md", """
    Which expression should stand for "neutral"? For a mesh blendshape model it is $w = 0$. The field
    clamps $w$ to the training range (notebook 03), so $w = 0$ becomes *every coefficient at its
    training minimum*: a corner of the data that no frame shows, where a short run has barely
    constrained the field (it may have no surface there at all). We use the **training mean** of the
    coefficients instead: the centre of the data the field was fitted to. The subject is synthetic,
    so the true mesh is known at any $w$, the mean included; section 4 measures all three candidates.

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
    mesh_figure(mesh, title="training-mean expression").update_layout(height=480)
    """),
    ("md", """
    ## 4 · Against the ground truth

    The subject is synthetic, so we know the real mesh at the same coefficients. Both surfaces are
    sampled uniformly by area (`nbskit.geometry.compare`) and each sample is matched to the nearest
    sample of the other surface:

    - **accuracy**: mean distance from our mesh to the truth (is what we made really there?);
    - **completeness**: mean distance from the truth to our mesh (is every part of the face there?);
    - **Chamfer**: their mean, two-sided; **normal consistency**: mean $|n \\cdot n'|$ over the matched
      pairs (1: the surfaces face the same way).

    Only the truth's face skin is scored: the NeRF also sees the semi-transparent hair shell, the
    back of the head and the neck cut, which the face mesh does not model (our mesh is cropped to
    the samples nearest the scored skin). Two baselines frame the numbers: **the box** (the head box
    itself as a surface: what a field that only learnt "matter is somewhere in the box" gives) and
    **an ellipsoid** fitted to the true face's bounding box (a guess that already knows where the
    face is and how big it is). The truth against itself is the sampling floor.
    """),
    ("code", """
    from nbskit.geometry.compare import compare_surfaces, faces_within

    SAMPLES = 20_000 if SMOKE else 100_000
    scene = SyntheticScene.from_subject(SUBJECT_DIR)
    head = scene.head
    material = np.asarray(head.material_names)[head.triangle_materials]
    visible = material != "helper"  # helper geometry is never rendered
    truth_faces = head.triangles[visible]
    scored = faces_within(truth_faces, head.vertex_groups["face"], len(head.neutral)) & (material[visible] == "skin")


    def score(vertices, faces, w, with_samples=False):
        result = compare_surfaces(np.asarray(vertices), np.asarray(faces), scene.vertices(w), truth_faces, scored,
                                  samples=SAMPLES, with_samples=with_samples)
        for key in ("chamfer", "accuracy", "completeness"):
            result[key + "_mm"] = 1000 * result[key]  # synthetic subjects are in metres
        return result


    truth_vertices = scene.vertices(neutral)
    face_vertices = np.unique(truth_faces[scored])
    lower, upper = truth_vertices[face_vertices].min(axis=0), truth_vertices[face_vertices].max(axis=0)
    unit_sphere = trimesh.creation.icosphere(subdivisions=4)
    ellipsoid = unit_sphere.vertices * (upper - lower) / 2 + (upper + lower) / 2
    box = trimesh.creation.box(bounds=aabb)
    results = {
        "our mesh (training mean)": score(mesh.vertices, mesh.faces, neutral, with_samples=True),
        "box (baseline)": score(box.vertices, box.faces, neutral),
        "ellipsoid on the face's bounds (baseline)": score(ellipsoid, unit_sphere.faces, neutral),
        "truth itself (sampling floor)": score(truth_vertices, truth_faces, neutral),
    }
    print(f"{'surface':<44} {'Chamfer mm':>10} {'accuracy':>9} {'complete':>9} {'normals':>8}")
    for label, r in results.items():
        print(f"{label:<44} {r['chamfer_mm']:>10.2f} {r['accuracy_mm']:>9.2f} {r['completeness_mm']:>9.2f} "
              f"{r['normal_consistency']:>8.3f}")
    """),
    ("md", """
    The error map: the true face coloured by how far each of its points is from our surface
    (completeness, point by point). Turn it to see where the field's geometry is weakest.
    """),
    ("code", """
    ours = results["our mesh (training mean)"]
    points, errors = ours["reference_points"], 1000 * ours["reference_distances"]
    vertex_error = np.zeros(len(truth_vertices))
    vertex_error[face_vertices] = errors[cKDTree(points).query(truth_vertices[face_vertices])[1]]
    skin = truth_faces[scored]
    go.Figure(go.Mesh3d(x=truth_vertices[:, 0], y=truth_vertices[:, 1], z=truth_vertices[:, 2], i=skin[:, 0],
                        j=skin[:, 1], k=skin[:, 2], intensity=vertex_error, cmin=0,
                        cmax=float(np.percentile(errors, 95)), colorscale="Magma", reversescale=True,
                        colorbar=dict(title="mm"))).update_layout(
        height=480, title="true face skin, coloured by its distance to our mesh",
        scene=dict(aspectmode="data", camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=0, y=0, z=2))))
    """),
    ("md", """
    Why the training mean? The same measurement for the three candidates named at the top (a
    candidate whose density never reaches the iso-level has no surface). The choice rests on what
    the expression *is* (the centre of the supervised data, with a known true mesh), not on it
    scoring best here: after a short run the three are similar. With the default iso-level, the
    all-minimum corner is the one that can lose its surface: in `docs/results.md` (Fig. 10, 300-step
    runs) it has none at all.
    """),
    ("code", """
    train_expressions = run.subject.expressions(run.subject.indices("train"))
    rest_frame = int(run.subject.indices("train")[np.argmin(np.linalg.norm(train_expressions, axis=1))])
    candidates = {"training mean": neutral, "all at the training minimum (clamped 0)": low,
                  f"training frame {rest_frame} (smallest |w|)": run.subject.frames[rest_frame].expression}
    candidate_scores = {}
    for label, w in candidates.items():
        try:
            candidate = head_mesh(run, w, resolution=RESOLUTION, level=LEVEL, progress=False)
        except ValueError as error:  # no surface at this level
            print(f"{label:<42} {error}")
            continue
        candidate_scores[label] = score(candidate.vertices, candidate.faces, w)
        print(f"{label:<42} Chamfer {candidate_scores[label]['chamfer_mm']:6.2f} mm, "
              f"normals {candidate_scores[label]['normal_consistency']:.3f}")
    scene.release()
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
    # Against the truth: closer than a field that only knows the box; the Chamfer is the mean of both
    # directions; nothing gets below the truth's own sampling floor.
    box_score = results["box (baseline)"]
    assert ours["chamfer_mm"] < box_score["chamfer_mm"], "the mesh is no closer to the face than the box"
    # Normals pointing in random directions would give mean |n . n'| = 1/2.
    assert ours["normal_consistency"] > 0.5, "the mesh's normals are no better than random directions"
    assert np.isclose(ours["chamfer_mm"], (ours["accuracy_mm"] + ours["completeness_mm"]) / 2)
    floor = results["truth itself (sampling floor)"]["chamfer_mm"]
    assert all(r["chamfer_mm"] > floor for label, r in results.items() if "floor" not in label)
    assert "training mean" in candidate_scores, "the training-mean expression has no surface"
    assert moved.max() > 0, "the jawOpen sweep did not change the geometry"
    if not SMOKE:  # a 100-step smoke run is still a fog: its changes are not yet local
        lower = heights < np.median(heights)
        assert moved[lower].mean() > moved[~lower].mean(), "opening the jaw moved the upper head more than the lower"
    print("all checks passed")
    """),
]

if __name__ == "__main__":
    print(write_notebook("07_geometry", CELLS))
