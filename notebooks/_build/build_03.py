"""Writes notebooks/03_decoder.ipynb."""

from notebook_tools import write_notebook

CELLS = [
    ("md", """
    # 03 · The decoder: from hash features and a view direction to density and colour

    Notebook 02 built the blended table $h = h_0 + \\sum_i w_i h_i$ and its encoding $\\eta(x; h)$.
    The paper's Eq. 3 turns that encoding and the view direction $d$ into what a renderer needs:
    $g_\\theta: (\\eta(x; h), \\gamma(d)) \\mapsto (\\sigma, c)$, with $\\gamma$ the first 16
    spherical-harmonic (SH) values of $d$ and $g_\\theta$ a small MLP (4 layers of 64, §3.2). nbskit
    splits $g_\\theta$ in two heads, as instant-ngp does:

        η(x; h) ─ density MLP (4×64) ─┬─ raw σ ─ softplus · scale / box length ─ σ
                                      └─ 64 geometry features ─┐
        γ(d) = SH(d), 16 values ───────────────────────────────┴─ colour MLP (1×64) ─ sigmoid ─ rgb

    This notebook takes the decoder apart, one idea per section, each with a figure and a check
    against a closed form:

    1. **the SH encoding** of the view direction: the 16 functions, orthonormal on the sphere;
    2. **the two heads**: density sees position only, colour sees position and direction;
    3. **the density activation and scale**: why σ is predicted per box length, and why 128;
    4. **the initial fog**: the density an untrained field starts with, and why −6;
    5. **the coefficient clamp**: every $w_i$ is cut to the range seen in training, and what
       "neutral" then means.

    Nothing here is trained: the decoder's design decisions are visible at initialisation.

    **Time** on 2 CPU cores: smoke mode took 34 s on a heavily loaded machine (load average about
    13); full mode (finer sphere grids, the `small` subject, one 128² render) took 10 s on two idle
    cores (`python -m bench.notebook_times 03`). GPU: not measured.
    """),
    ("parameters", "SMOKE = False  # True: coarser sphere grids and the tiny subject (what the tests use)"),
    ("code", """
    import math

    import numpy as np
    import plotly.graph_objects as go
    import torch
    import torch.nn.functional as F
    from plotly.subplots import make_subplots

    from nbskit.data.subject import Subject
    from nbskit.encoding import SH_OUTPUT_DIM, sh_encode
    from nbskit.model import DecoderConfig
    from nbskit.render import generate_rays, ray_aabb_intersect, render_image
    from nbskit.train.components import build_model, build_occupancy, build_render_config
    from nbskit.train.dataset import scaled_intrinsics
    from nbskit.viz.course import course_config, course_subject

    torch.set_num_threads(2)
    torch.manual_seed(0)
    SPHERE = 90 if SMOKE else 360  # grid points along the polar angle (twice as many in azimuth)
    DECODER = DecoderConfig()  # the defaults every field uses
    SUBJECT_DIR = course_subject(SMOKE)
    subject = Subject.load(SUBJECT_DIR)
    low, high = subject.expression_range()
    print(DECODER)
    """),
    ("md", """
    ## 1 · Spherical harmonics of the view direction

    A colour that depends on where you look from (a highlight on the nose, the sheen of an eye) is
    a function on the sphere of directions. Real SH are the sphere's Fourier basis: band $l$ has
    $2l+1$ functions that oscillate $l$ times around it. Degree 4 keeps bands 0–3, 16 values: band 0
    is a constant (the diffuse colour), higher bands sharper view effects. Below each function over
    azimuth (x axis) and polar angle (y axis).
    """),
    ("code", """
    polar = (torch.arange(SPHERE) + 0.5) * math.pi / SPHERE  # midpoint rule in the polar angle
    azimuth = (torch.arange(2 * SPHERE) + 0.5) * math.pi / SPHERE
    theta, phi = torch.meshgrid(polar, azimuth, indexing="ij")
    directions = torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos()], dim=-1).reshape(-1, 3)
    sh = sh_encode(directions).reshape(SPHERE, 2 * SPHERE, SH_OUTPUT_DIM)

    figure = make_subplots(4, 7, horizontal_spacing=0.01, vertical_spacing=0.04)
    limit = float(sh.abs().max())
    for band in range(4):
        for order in range(2 * band + 1):
            index = band * band + order
            figure.add_trace(go.Heatmap(z=sh[::2, ::2, index].numpy(), zmin=-limit, zmax=limit, colorscale="RdBu",
                                        showscale=index == 0), band + 1, order + 4 - band)
    figure.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False, autorange="reversed")
    figure.update_layout(height=420, title="the 16 SH functions: band l in row l, order m = -l..l from left to right")
    """),
    ("md", """
    Two closed forms pin the encoding down. **Orthonormality**: $\\int Y_i Y_j \\, d\\Omega = \\delta_{ij}$,
    so the 16 values carry 16 independent pieces of information about $d$. **The addition theorem**:
    $\\sum_m Y_{lm}(d)^2 = (2l+1)/4\\pi$ for *every* direction, so no direction is favoured; turning the
    camera moves energy between the orders of a band, never between bands.
    """),
    ("code", """
    solid_angle = (theta.sin() * (math.pi / SPHERE) ** 2).reshape(-1, 1)  # dΩ = sin θ dθ dφ
    flat = sh.reshape(-1, SH_OUTPUT_DIM).double()
    gram = (flat * solid_angle.double()).T @ flat
    orthonormal_error = float((gram - torch.eye(SH_OUTPUT_DIM, dtype=torch.float64)).abs().max())
    band_energy = torch.stack([(flat[:, l * l:(l + 1) ** 2] ** 2).sum(dim=1) for l in range(4)], dim=1)
    expected_energy = torch.tensor([(2 * l + 1) / (4 * math.pi) for l in range(4)], dtype=torch.float64)
    addition_error = float((band_energy - expected_energy).abs().max())

    go.Figure(go.Heatmap(z=gram.numpy(), colorscale="RdBu", zmid=0)).update_layout(
        title=f"∫ Y_i Y_j dΩ on the {SPHERE}×{2 * SPHERE} grid: max |G - I| = {orthonormal_error:.1e}",
        yaxis_autorange="reversed", height=360, width=420)
    """),
    ("code", """
    print(f"max |Σ_m Y_lm² - (2l+1)/4π| over {len(flat):,} directions: {addition_error:.1e}")
    """),
    ("md", """
    ## 2 · Two heads

    The density MLP reads only the hash encoding: geometry cannot depend on the viewpoint (a nose
    must not move when the camera does). It outputs one raw density and 64 **geometry features**;
    the colour MLP reads those features next to the 16 SH values. A real NeRFBlendShape field, built
    as the trainer builds it for this subject:
    """),
    ("code", """
    config = course_config(SMOKE, grid_policy="none")
    model = build_model(config, subject.aabb, low, high).eval()
    print(model.summary())
    print("density MLP:", model.density_mlp)
    print("colour MLP: ", model.color_mlp)
    """),
    ("md", """
    One point seen from 200 directions around the vertical axis: the density stays put, the colour
    moves. (An untrained colour head is a random function of its inputs, so the colour curve is
    arbitrary; what matters is which outputs can move at all.)
    """),
    ("code", """
    aabb = torch.as_tensor(subject.aabb)
    centre = aabb.mean(dim=0)
    angles = torch.linspace(0, 2 * math.pi, 200)
    views = torch.stack([angles.sin(), torch.zeros_like(angles), angles.cos()], dim=1)
    point = centre.expand(len(views), 3)
    frame = torch.zeros(len(views), dtype=torch.int64)
    with torch.no_grad():
        sigma, rgb = model(point, views, frame, torch.as_tensor(low)[None])
    figure = make_subplots(1, 2, subplot_titles=["density σ (1/m)", "colour"])
    figure.add_trace(go.Scatter(x=angles.numpy(), y=sigma.numpy(), name="σ"), 1, 1)
    for channel, colour in enumerate(("red", "green", "blue")):
        figure.add_trace(go.Scatter(x=angles.numpy(), y=rgb[:, channel].numpy(), name=colour, line_color=colour), 1, 2)
    figure.update_xaxes(title_text="view azimuth (rad)").update_layout(height=320)
    """),
    ("md", """
    ## 3 · Density activation and scale

    The network's raw output becomes $\\sigma = s \\cdot \\mathrm{softplus}(\\text{raw}) / L$, with $L$
    the longest side of the head box and $s$ = `density_scale` = 128. Two choices hide in there:

    - **per box length.** $\\sigma L$ is the optical depth of a ray crossing the whole box. Predicting
      that instead of σ in metres⁻¹ makes the same weights describe the same picture whether the
      scene is measured in metres or centimetres.
    - **the scale.** A surface looks opaque when a layer about one grid cell thick (1/128 of the box
      on the paper's 128³ occupancy grid) absorbs most of the light: $\\sigma L \\approx 128$. With
      $s = 128$ that is softplus(raw) ≈ 1, raw ≈ 0.5; with $s = 1$ the network would have to output
      about 128, far from where its weights start, on softplus's slow linear tail.
    """),
    ("code", """
    raw = torch.linspace(-12, 6, 200)
    figure = go.Figure()
    for scale in (1.0, DECODER.density_scale):
        figure.add_trace(go.Scatter(x=raw.numpy(), y=(scale * F.softplus(raw)).numpy(), name=f"s = {scale:g}"))
    figure.add_hline(y=DECODER.density_scale, line_dash="dot", annotation_text="opaque within one cell of 128")
    figure.add_vline(x=DECODER.density_bias, line_dash="dash", annotation_text="initial raw")
    figure.update_layout(yaxis_type="log", xaxis_title="raw density output", yaxis_title="σ · L (optical depth per box)",
                         height=340)
    """),
    ("code", """
    # The same weights in a box 100 times larger: σ drops 100x, the optical depth of a ray does not.
    scaled = build_model(config, subject.aabb * 100, low, high).eval()
    scaled.load_state_dict({k: v for k, v in model.state_dict().items() if k != "aabb"}, strict=False)
    probe = aabb[0] + torch.rand(1000, 3) * (aabb[1] - aabb[0])
    probe_frame = torch.zeros(len(probe), dtype=torch.int64)
    with torch.no_grad():
        sigma_m = model.density(probe, probe_frame, torch.as_tensor(low)[None])
        sigma_cm = scaled.density(probe * 100, probe_frame, torch.as_tensor(low)[None])
    unit_error = float(((sigma_cm * 100 - sigma_m).abs() / sigma_m).max())
    print(f"max relative |100 σ_cm - σ_m| = {unit_error:.1e}")
    """),
    ("md", """
    ## 4 · The initial fog

    Hash entries start tiny ($U(-10^{-4}, 10^{-4})$, paper Table 1), so at step 0 the raw density is
    the output bias everywhere, `density_bias` = −6: $\\sigma L = 128\\,\\mathrm{softplus}(-6) \\approx
    0.32$. The field starts as a uniform, faint fog. For a uniform density the render has a closed
    form: a ray whose chord through the box has length $\\ell$ has opacity $1 - e^{-\\sigma \\ell}$.
    Left: an untrained field rendered from the subject's first camera; right: the closed form.
    """),
    ("code", """
    intrinsics = scaled_intrinsics(subject.intrinsics, config.max_image_size)
    camera = torch.as_tensor(subject.frames[0].transform_matrix, dtype=torch.float32)
    grid = build_occupancy(config, subject.aabb)  # policy "none": every cell may hold matter
    fog = render_image(model, grid, intrinsics, camera, low, None, build_render_config(config))
    origins, dirs = (r[0] for r in generate_rays(intrinsics, camera))
    near, far = ray_aabb_intersect(origins, dirs, aabb)
    chord = (far - near).clamp(min=0).reshape(intrinsics.height, intrinsics.width)
    box_length = float((aabb[1] - aabb[0]).max())


    def fog_opacity(bias, length):
        return 1 - torch.exp(-DECODER.density_scale * F.softplus(torch.as_tensor(bias)) * length / box_length)


    expected_opacity = fog_opacity(DECODER.density_bias, chord)
    fog_error = float((fog["opacity"] - expected_opacity).abs().max())
    figure = make_subplots(1, 2, subplot_titles=["rendered opacity at step 0", "closed form 1 - exp(-σℓ)"])
    for column, image in enumerate((fog["opacity"], expected_opacity), start=1):
        figure.add_trace(go.Heatmap(z=image.numpy(), zmin=0, zmax=0.5, colorscale="Greys", showscale=column == 2), 1, column)
    figure.update_yaxes(autorange="reversed", scaleanchor="x").update_layout(
        height=330, title=f"max |rendered - closed form| = {fog_error:.1e}")
    """),
    ("md", """
    Why −6? The colour gradient a sample receives is its compositing weight $T_i \\alpha_i$ (how much
    of the pixel it paints); the density gradient is $s\\,\\mathrm{sigmoid}(\\text{raw})/L$ (the
    softplus slope). Along one ray through the box centre, for three initial biases:

    - **0**: $\\sigma L \\approx 89$; the first 1/30 of the box absorbs almost everything, so samples
      behind it get no colour gradient until the fog clears, and the mask loss must first carve the
      empty space out of a solid block;
    - **−12**: $\\sigma L \\approx 0.0008$; the render is the background, every weight is ~0 and so is
      the density slope: training starts almost without gradient;
    - **−6**: a fog that absorbs about a quarter of the light across the box: every sample along the
      ray gets a similar share of the colour gradient, the density slope is usable, and what lies
      behind stays visible. Near −6, softplus(raw) ≈ exp(raw), so density first changes by factors,
      like instant-ngp's exponential activation.
    """),
    ("code", """
    depth = torch.linspace(0, 1, 200)  # position along a chord of one box length
    step = depth[1] - depth[0]
    figure = go.Figure()
    shares = {}
    for bias in (0.0, DECODER.density_bias, -12.0):
        optical = DECODER.density_scale * F.softplus(torch.tensor(bias))  # σ L
        weights = torch.exp(-optical * depth) * (1 - torch.exp(-optical * step))
        shares[bias] = float(weights[depth >= 0.5].sum() / weights.sum())
        figure.add_trace(go.Scatter(x=depth.numpy(), y=(weights / step).numpy(),
                                    name=f"bias {bias:g}: σL = {float(optical):.3g}, opacity {float(fog_opacity(bias, box_length)):.2f}"))
    figure.update_layout(yaxis_type="log", xaxis_title="depth along the ray (box lengths)",
                         yaxis_title="compositing weight per box length", height=360)
    """),
    ("code", """
    print(f"{'bias':>6} {'opacity':>8} {'weight in back half':>20} {'density slope s·sigmoid(raw)':>30}")
    for bias, share in shares.items():
        slope = DECODER.density_scale * torch.sigmoid(torch.tensor(bias))
        print(f"{bias:>6g} {float(fog_opacity(bias, box_length)):>8.3f} {share:>20.3f} {float(slope):>30.4f}")
    """),
    ("md", """
    ## 5 · The coefficient clamp, and what "neutral" means

    Before the blend, every coefficient is clamped to the range the **training** frames span:
    $c = (1, \\mathrm{clamp}(w, w_{min}, w_{max}))$. A basis table was only ever multiplied by values in
    that range, so what it does outside it is untested; the authors' code clamps the same way, and it
    matters for reenactment, where another person's coefficients drive the head. Below: each
    coefficient's training range, and where 0 lands after the clamp.
    """),
    ("code", """
    names = subject.expression_names
    train = subject.expressions(subject.indices("train"))
    figure = go.Figure(go.Bar(x=names, y=high - low, base=low, name="training range", opacity=0.5))
    figure.add_trace(go.Scatter(x=names, y=np.zeros(len(names)), mode="markers", name="w = 0 (the mesh's neutral)"))
    clamped_zero = model.coefficients(torch.zeros(1, len(names)))[0, 1:].numpy()
    figure.add_trace(go.Scatter(x=names, y=clamped_zero, mode="markers", marker_symbol="x", name="w = 0 after the clamp"))
    figure.add_trace(go.Scatter(x=names, y=train.mean(axis=0), mode="markers", marker_symbol="diamond",
                                name="training mean"))
    figure.update_layout(height=360, yaxis_title="coefficient")
    """),
    ("md", """
    So for the field, "neutral" ($w = 0$) means **every coefficient at its training minimum**. On a
    mesh blendshape model $w = 0$ is the rest face; here it is the least-activated value each
    coefficient took somewhere in the clip, all at once: an expression that no single training frame
    need show. How far is it from the frames the field was fitted to, compared with how far frames
    lie from each other?
    """),
    ("code", """
    from scipy.spatial import cKDTree

    tree = cKDTree(train)
    spacing = tree.query(train, k=2)[0][:, 1]  # each training frame to its nearest other frame
    to_neutral, _ = tree.query(clamped_zero)
    to_mean, _ = tree.query(train.mean(axis=0))
    go.Figure(go.Histogram(x=spacing, nbinsx=30, name="frame to nearest other frame")).add_vline(
        x=to_neutral, line_color="red", annotation_text="clamped zero").add_vline(
        x=to_mean, line_color="green", annotation_text="training mean", annotation_position="bottom right").update_layout(
        xaxis_title="coefficient-space distance to the nearest training frame", height=320)
    """),
    ("code", """
    # The clamp is exact: any w is encoded as its clamped version.
    beyond = torch.as_tensor(high)[None] + 5.0
    below = torch.as_tensor(low)[None] - 5.0
    with torch.no_grad():
        at = {name: model.density(probe, probe_frame, w) for name, w in
              (("beyond", beyond), ("max", torch.as_tensor(high)[None]), ("below", below),
               ("zero", torch.zeros(1, len(names))), ("min", torch.as_tensor(low)[None]))}
    clamp_error = max(float((at["beyond"] - at["max"]).abs().max()), float((at["below"] - at["min"]).abs().max()),
                      float((at["zero"] - at["min"]).abs().max()))
    print(f"max |σ(w outside the range) - σ(clamped w)| = {clamp_error:.1e}")
    """),
    ("md", """
    Notebooks 07 and 08 come back to this: a mesh at "neutral" (all minima) is a mesh of an expression
    the field has barely seen, so notebook 07 measures geometry at the training-mean coefficients
    instead, while the basis gallery of notebook 08 keeps all minima as its reference, for the model
    and the mesh blendshape alike.

    ## Checks

    Each against a closed form: SH orthonormality and the addition theorem; density independent of
    the view and colour not; the box-length parametrisation unit-free; the untrained render equal to
    the uniform-fog formula; the fog's weight spread along the ray; the clamp exact.
    """),
    ("code", """
    assert orthonormal_error < (5e-3 if SMOKE else 1e-3), orthonormal_error  # midpoint-rule quadrature error
    assert addition_error < 1e-5, addition_error
    assert float(sigma.max() - sigma.min()) == 0.0, "density must not depend on the view direction"
    assert float((rgb.max(dim=0).values - rgb.min(dim=0).values).max()) > 1e-4, "colour must see the view direction"
    assert unit_error < 1e-4, unit_error
    assert fog_error < 1e-3, fog_error
    softplus_bias = float(F.softplus(torch.tensor(DECODER.density_bias)))
    assert abs(softplus_bias / math.exp(DECODER.density_bias) - 1) < 0.01  # softplus ≈ exp at the initial bias
    assert shares[DECODER.density_bias] > 0.4, "the initial fog should leave the back half of a ray most of its share"
    assert shares[0.0] < 0.01, "an opaque start gives the back half no gradient"
    assert float(fog_opacity(-12.0, box_length)) < 1e-3 < float(fog_opacity(DECODER.density_bias, box_length))
    assert np.allclose(clamped_zero, np.clip(0.0, low, high)) and clamp_error == 0.0
    print("all checks passed")
    """),
]

if __name__ == "__main__":
    print(write_notebook("03_decoder", CELLS))
