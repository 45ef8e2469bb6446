"""Writes notebooks/04_rendering.ipynb."""

from notebook_tools import write_notebook

CELLS = [
    ("md", """
    # 04 · Rays, occupancy and volume rendering

    A radiance field gives a density σ and a colour at every point. To turn it into an image we
    shoot one ray per pixel, keep the part of it inside the scene box, place samples along it
    (skipping space known to be empty) and composite them front to back:
    $\\alpha_i = 1 - e^{-\\sigma_i \\delta_i}$, $T_i = \\prod_{j<i} (1-\\alpha_j)$,
    $C = \\sum_i T_i \\alpha_i c_i + T_{\\text{final}} \\cdot \\text{background}$.

    To see every step with an exact answer we use a **toy field**: a sphere whose radius grows with
    one expression coefficient $w \\in [0, 1]$, coloured by its normal (`nbskit.render.toy`).

    **Time** on 2 CPU cores: smoke mode took 4 s on an idle machine; full mode took 8 s on two idle
    cores (`python -m bench.notebook_times 04`). GPU: not measured yet.
    """),
    ("parameters", "SMOKE = False  # True: smaller images and grids (what the tests use)"),
    ("code", """
    import numpy as np
    import plotly.graph_objects as go
    import torch
    from plotly.subplots import make_subplots

    from nbskit.render import (POLICIES, MarchConfig, OccupancyGrid, RenderConfig, composite, generate_rays,
                               march_rays, ray_aabb_intersect, render_image)
    from nbskit.render.toy import ToySphere, ToySphereField, orbit_cameras, render_toy_sphere, toy_intrinsics

    torch.set_num_threads(2)
    IMAGE_SIZE = 32 if SMOKE else 96
    GRID_RESOLUTION = 32 if SMOKE else 128
    sphere = ToySphere()
    field = ToySphereField(sphere)
    intrinsics = toy_intrinsics(IMAGE_SIZE)
    camera = orbit_cameras(1, 2.8, elevation_deg=25.0, phase_deg=30.0)[0]
    march_config = MarchConfig(cone_angle=1 / 128, min_step=1 / 512)
    print(sphere)
    """),
    ("md", """
    ## 1 · Rays

    Each pixel's ray goes through the pixel **centre** $(x + 0.5, y + 0.5)$; cameras use OpenGL
    axes (the camera looks down its −z, y is up, so image rows going down mean camera y going down).
    The slab test clips every ray to the box: `near` (where it enters) and `far` (where it leaves).
    """),
    ("code", """
    pixels = torch.stack(torch.meshgrid(torch.linspace(0, IMAGE_SIZE - 1, 5), torch.linspace(0, IMAGE_SIZE - 1, 5),
                                        indexing="xy"), dim=-1).reshape(1, -1, 2)
    origins, dirs = (r[0] for r in generate_rays(intrinsics, camera, pixels))
    near, far = ray_aabb_intersect(origins, dirs, sphere.aabb)
    hits = far > near

    def box_lines(aabb):
        lo, hi = aabb.tolist()
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        edges = [(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1]
        xyz = np.concatenate([[corners[a], corners[b], [np.nan] * 3] for a, b in edges])
        return go.Scatter3d(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="lines", name="aabb", line=dict(color="black"))

    traces = [box_lines(sphere.aabb)]
    for o, d, n, f, hit in zip(origins, dirs, near, far, hits):
        end = o + d * (f if hit else 4.0)
        traces.append(go.Scatter3d(x=[o[0], end[0]], y=[o[1], end[1]], z=[o[2], end[2]], mode="lines", showlegend=False,
                                   line=dict(color="gray", width=2)))
        if hit:  # the part inside the box
            a, b = o + d * n, o + d * f
            traces.append(go.Scatter3d(x=[a[0], b[0]], y=[a[1], b[1]], z=[a[2], b[2]], mode="lines", showlegend=False,
                                       line=dict(color="crimson", width=5)))
    figure = go.Figure(traces)
    figure.update_layout(height=450, title=f"{hits.sum()} of {len(hits)} rays cross the box (red: near → far)")
    figure.update_scenes(aspectmode="data")
    figure
    """),
    ("md", """
    ## 2 · The occupancy grid and its three policies

    A coarse grid marks the cells worth sampling. For a *dynamic* scene the question is **at which
    expression** to look. NeRFBlendShape (paper Eq. 9) evaluates the neutral table and each basis at
    its training maximum and keeps the element-wise maximum, then dilates by one cell; `neutral`
    looks at $w = 0$ only; `none` marks everything (dense sampling).
    """),
    ("code", """
    grids = {}
    for policy in POLICIES:
        grids[policy] = OccupancyGrid(sphere.aabb, resolution=GRID_RESOLUTION, policy=policy)
        grids[policy].update(field, field.expression_max, generator=torch.Generator().manual_seed(0))
        print(f"{policy:>10}: {100 * grids[policy].occupied_fraction():5.1f}% of cells occupied")

    middle = GRID_RESOLUTION // 2
    figure = make_subplots(1, 3, subplot_titles=list(grids))
    for column, grid in enumerate(grids.values(), start=1):
        figure.add_trace(go.Heatmap(z=grid.occupied()[:, :, middle].T.float().numpy(), colorscale="Greys",
                                    showscale=False), 1, column)
    figure.update_layout(height=320, title="occupied cells on the plane z = 0 (the sphere grows with w)")
    figure
    """),
    ("code", """
    cells = grids["expression"].occupied() & ~grids["neutral"].occupied()
    centres = grids["expression"].cell_centers()[cells.reshape(-1)]
    core = grids["neutral"].cell_centers()[grids["neutral"].occupied().reshape(-1)]
    keep = torch.randperm(len(centres), generator=torch.Generator().manual_seed(0))[:3000]
    figure = go.Figure([
        go.Scatter3d(x=core[:, 0], y=core[:, 1], z=core[:, 2], mode="markers", name="neutral grid",
                     marker=dict(size=1.5, color="steelblue")),
        go.Scatter3d(x=centres[keep, 0], y=centres[keep, 1], z=centres[keep, 2], mode="markers",
                     name="only expression-aware", marker=dict(size=1.5, color="orange", opacity=0.4)),
    ])
    figure.update_layout(height=450, title="cells kept only by the expression-aware policy: where w = max puts matter")
    figure.update_scenes(aspectmode="data")
    figure
    """),
    ("md", """
    ## 3 · Packed samples

    The marcher steps $dt = \\text{clamp}(t \\cdot \\gamma, dt_{min}, \\text{one cell})$ and jumps over
    unoccupied cells. Samples come back **packed**: flat arrays with the ray each one belongs to, no
    padding. Compare how many samples a ray takes with and without the grid.
    """),
    ("code", """
    origins, dirs = (r[0] for r in generate_rays(intrinsics, camera))
    near, far = ray_aabb_intersect(origins, dirs, sphere.aabb)
    packed = {policy: march_rays(origins, dirs, near, far, grids[policy], march_config) for policy in grids}
    figure = go.Figure()
    for policy, samples in packed.items():
        counts = samples.counts(origins.shape[0])
        figure.add_trace(go.Histogram(x=counts[far > near].numpy(), name=f"{policy}: {len(samples):,} samples",
                                      opacity=0.6, nbinsx=40))
    figure.update_layout(barmode="overlay", height=350, xaxis_title="samples per ray (rays that hit the box)",
                         yaxis_title="rays")
    figure
    """),
    ("md", """
    ## 4 · Compositing along one ray

    Weights $T_i\\alpha_i$ of the ray through the image centre at the largest sphere. The opacity
    (the mask the renderer outputs) is $1 - T_{final} = \\sum_i T_i\\alpha_i$; past $T < 10^{-4}$ the
    remaining samples are dropped.
    """),
    ("code", """
    centre_ray = (IMAGE_SIZE // 2) * IMAGE_SIZE + IMAGE_SIZE // 2
    samples = packed["none"]
    w = torch.ones(1, 1)
    sigma, rgb = field(samples.positions, samples.directions, torch.zeros(len(samples), dtype=torch.int64), w)
    out = composite(sigma, rgb, samples, origins.shape[0], torch.ones(3))
    on_ray = samples.ray_index == centre_ray
    t_mid = (0.5 * (samples.t_start + samples.t_end))[on_ray]
    weights = out["weights"][on_ray]
    transmittance = 1 - torch.cumsum(weights, 0) + weights
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Bar(x=t_mid, y=weights, name="weight Tα"))
    figure.add_trace(go.Scatter(x=t_mid, y=transmittance, name="transmittance T", mode="lines"), secondary_y=True)
    figure.update_layout(height=330, xaxis_title="t along the ray",
                         title=f"opacity {out['opacity'][centre_ray]:.4f}, depth {out['depth'][centre_ray]:.3f}")
    figure
    """),
    ("md", """
    ## 5 · Whole images against the exact answer

    `render_image` renders in chunks without gradients. Because the toy sphere can also be ray-traced
    exactly, we can see the renderer's error directly, for several coefficients.
    """),
    ("code", """
    config = RenderConfig(march=march_config)
    coefficients = (0.0, 0.5, 1.0)
    rendered, exact = [], []
    for value in coefficients:
        rendered.append(render_image(field, grids["expression"], intrinsics, camera, torch.tensor([value]), config=config))
        exact.append(render_toy_sphere(sphere, intrinsics, camera, value))
    figure = make_subplots(2, 3, subplot_titles=[f"rendered w={v}" for v in coefficients] + [f"exact w={v}" for v in coefficients])
    for column, (image, (truth, _)) in enumerate(zip(rendered, exact), start=1):
        figure.add_trace(go.Image(z=(image["rgb"].clamp(0, 1) * 255).numpy()), 1, column)
        figure.add_trace(go.Image(z=(truth * 255).numpy()), 2, column)
    figure.update_layout(height=480)
    figure
    """),
    ("code", """
    errors = [float((image["rgb"] - truth).abs().mean()) for image, (truth, _) in zip(rendered, exact)]
    mask_errors = [float((image["opacity"] - mask).abs().mean()) for image, (_, mask) in zip(rendered, exact)]
    print("mean |rgb error| per coefficient:", np.round(errors, 4))
    print("mean |mask error| per coefficient:", np.round(mask_errors, 4))
    """),
    ("md", "## Checks"),
    ("code", """
    occupied = {policy: grid.occupied_fraction() for policy, grid in grids.items()}
    assert occupied["none"] == 1.0
    assert occupied["neutral"] < occupied["expression"] < 0.5, occupied
    assert (grids["expression"].occupied() | ~grids["neutral"].occupied()).all(), "expression grid must contain the neutral one"
    assert len(packed["expression"]) < 0.5 * len(packed["none"]), "skipping empty space must cut samples"
    assert abs(float(out["opacity"][centre_ray]) - 1.0) < 1e-3
    assert max(errors) < 0.03 and max(mask_errors) < 0.03, (errors, mask_errors)
    print("all checks passed")
    """),
]

if __name__ == "__main__":
    print(write_notebook("04_rendering", CELLS))
