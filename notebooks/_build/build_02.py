"""Writes notebooks/02_blended_hash_table.ipynb (without outputs): `python notebooks/_build/build_02.py`."""

from notebook_tools import CellRecorder

notebook = CellRecorder()
md, code = notebook.md, notebook.code


md(r"""
# 02 · The blended hash table

NeRFBlendShape stores a head not in one hash grid but in **K+1** of them: a mean table $h_0$ and
one table $h_i$ per expression coefficient. A frame with coefficients $w$ reads the blended table
$h = h_0 + \sum_i w_i h_i$. This notebook takes the pieces apart:

1. **levels**: how the 16 resolutions are laid out and how much memory they take;
2. **collisions**: how many grid corners share one table entry on each level;
3. **blending is linear algebra**: blending tables then looking up equals looking up then blending;
4. **what a basis stores**: we fit a toy "face" (a sphere that grows with $w_1$ and moves with
   $w_2$) and look at slices of the mean table and of each basis.

Everything runs on a CPU. Full mode (`SMOKE = False`) uses the paper-sized grid; `SMOKE = True`
(what the tests use) a smaller grid and fewer steps.

**Time** on 2 CPU cores: smoke mode took 6 s on an idle machine; full mode took 56 s on two idle
cores (`python -m bench.notebook_times 02`). GPU: not measured yet.
""")
code("SMOKE = False  # True: a smaller grid and fewer steps (what the tests use)", tags=["parameters"])
code(r"""
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from tqdm.auto import tqdm

from nbskit.encoding import (
    BlendedHashGrid,
    HashGridConfig,
    corner_loads,
    encode_blended,
    hash_encode,
)

torch.manual_seed(0)
PAPER = HashGridConfig()  # L=16, F=4, T=2^14, N_min=16, N_max=1024 (paper Table 1)
SMALL = HashGridConfig(levels=8, features=2, log2_table_size=12, base_resolution=4, finest_resolution=64)
CONFIG = SMALL if SMOKE else PAPER  # the grid used below
""")

md(r"""
## 1 · Levels

Level $l$ has resolution growing by $b = (N_{max}/N_{min})^{1/(L-1)}$ per level. Coarse levels have
fewer grid corners than the table size $T$ and are stored **densely** (one entry per corner);
fine levels **hash** their corners into $T$ entries. `describe()` prints the layout and the memory
of the K+1 = 47 tables of a FaceWarehouse-sized model.
""")
code("print(PAPER.describe(num_tables=47))")
code(r"""
levels = list(range(PAPER.levels))
colours = ["seagreen" if PAPER.is_dense(level) else "indianred" for level in levels]
fig = make_subplots(rows=1, cols=2, subplot_titles=("grid resolution (green: dense, red: hashed)",
                                                    "grid corners vs table entries"))
fig.add_bar(x=levels, y=[PAPER.resolution(level) for level in levels], marker_color=colours,
            showlegend=False, row=1, col=1)
fig.add_bar(x=levels, y=[(PAPER.resolution(level) + 1) ** 3 for level in levels], name="grid corners",
            row=1, col=2)
fig.add_bar(x=levels, y=[PAPER.entries(level) for level in levels], name="table entries", row=1, col=2)
fig.update_yaxes(type="log", row=1, col=2)
fig.update_xaxes(title_text="level")
fig.update_layout(height=350, barmode="group")
fig.show()
""")

md(r"""
## 2 · Collisions

On a hashed level, $(res+1)^3$ corners share $T$ entries. `corner_loads` enumerates every corner
of a level (one z-slice at a time) and counts how many land on each entry. The hash spreads them
almost uniformly, so the load is close to corners / entries; the MLP and the multi-resolution
structure have to disambiguate what collides.
""")
code(r"""
rows = []
for level in tqdm(range(CONFIG.levels), desc="counting corners"):
    loads = corner_loads(CONFIG, level)
    rows.append({
        "level": level,
        "mode": "dense" if CONFIG.is_dense(level) else "hashed",
        "corners": int(loads.sum()),
        "entries": loads.numel(),
        "used": float((loads > 0).float().mean()),
        "mean_load": float(loads[loads > 0].float().mean()),
        "max_load": int(loads.max()),
    })
print(f"{'level':>5} {'mode':>6} {'corners':>13} {'entries':>8} {'used':>6} {'mean load':>10} {'max load':>9}")
for row in rows:
    print(f"{row['level']:>5} {row['mode']:>6} {row['corners']:>13,} {row['entries']:>8,} "
          f"{row['used']:>6.1%} {row['mean_load']:>10.2f} {row['max_load']:>9}")
""")
code(r"""
finest_loads = corner_loads(CONFIG, CONFIG.levels - 1)
fig = make_subplots(rows=1, cols=2, subplot_titles=("corners per used entry, by level",
                                                    f"load histogram, finest level {CONFIG.levels - 1}"))
fig.add_bar(x=[r["level"] for r in rows], y=[r["mean_load"] for r in rows], name="mean", row=1, col=1)
fig.add_bar(x=[r["level"] for r in rows], y=[r["max_load"] for r in rows], name="max", row=1, col=1)
fig.add_histogram(x=finest_loads.numpy(), nbinsx=50, showlegend=False, row=1, col=2)
fig.update_yaxes(type="log", row=1, col=1)
fig.update_xaxes(title_text="level", row=1, col=1)
fig.update_xaxes(title_text="corners sharing one entry", row=1, col=2)
fig.update_layout(height=350, barmode="group")
fig.show()
""")

md(r"""
## 3 · Blending is linear algebra

`encode_blended` forms one table per frame, $c_b\,H$ with $c_b = (1, w_b)$ and $H$ the stacked
$[K+1, \text{entries}, F]$ tables, then looks every sample up in its frame's table. Trilinear
interpolation is linear in the table, so the same numbers come out if each table is encoded alone
and the **encodings** are blended per sample. (A fused kernel can exploit this: it never builds
the blended tables.)
""")
code(r"""
K = 3
tables = torch.rand(K + 1, CONFIG.total_entries, CONFIG.features) * 2 - 1
coefficients = torch.tensor([[1.0, 0.2, -0.5, 0.9], [1.0, 0.0, 0.3, 0.1]])  # two frames, (1, w)
x = torch.rand(4096, 3)
frame = torch.randint(0, len(coefficients), (len(x),))

blend_then_lookup = encode_blended(x, tables, coefficients, frame, CONFIG)
single_table = torch.zeros_like(frame)
per_table = torch.stack([hash_encode(x, tables[k : k + 1], single_table, CONFIG) for k in range(K + 1)])
lookup_then_blend = torch.einsum("nk,knd->nd", coefficients[frame], per_table)
blend_difference = float((blend_then_lookup - lookup_then_blend).abs().max())
print(f"encodings: {tuple(blend_then_lookup.shape)}; max |blend->lookup - lookup->blend| = {blend_difference:.2e}")
""")
code(r"""
# Sweep w_1 for one point: every output feature moves on a straight line.
sweep = torch.linspace(-1, 1, 21)
sweep_coefficients = coefficients[:1].repeat(len(sweep), 1)
sweep_coefficients[:, 1] = sweep
point = torch.full((len(sweep), 3), 0.37)
sweep_features = encode_blended(point, tables, sweep_coefficients, torch.arange(len(sweep)), CONFIG)
second_difference = float((sweep_features[2:] - 2 * sweep_features[1:-1] + sweep_features[:-2]).abs().max())

fig = go.Figure()
for feature in range(0, CONFIG.output_dim, CONFIG.output_dim // 8):
    fig.add_scatter(x=sweep.numpy(), y=sweep_features[:, feature].numpy(), mode="lines+markers",
                    name=f"feature {feature}")
fig.update_layout(title=f"encoding of one point vs w_1 (max second difference {second_difference:.1e})",
                  xaxis_title="w_1", yaxis_title="feature value", height=350)
fig.show()
""")

md(r"""
## 4 · What a basis stores

A toy subject: a soft sphere whose radius grows with $w_1$ and whose centre moves along $x$ with
$w_2$. We fit a `BlendedHashGrid` with K = 2 so that the **sum of its features** (a linear
read-out, no MLP) matches the sphere's density for random coefficients. The mean table must then
hold the sphere at $w = 0$, basis 1 the ring where the surface moves as the radius grows, and basis
2 the two lobes of a shift along $x$.
""")
code(r"""
# A small grid on purpose: with a linear read-out (no MLP to untangle collisions), finer hashed
# levels only add collision noise to this smooth toy.
TOY_CONFIG = SMALL
STEPS = 300 if SMOKE else 1500
RADIUS, GROWTH, SHIFT, SOFTNESS = 0.2, 0.1, 0.1, 0.03


def toy_density(points, w):
    # points [N, 3] in [0,1]^3, w [N, 2] -> density [N] in (0, 1)
    centre = torch.tensor([0.5, 0.5, 0.5]) + SHIFT * w[:, 1:2] * torch.tensor([1.0, 0.0, 0.0])
    radius = RADIUS + GROWTH * w[:, 0]
    return torch.sigmoid((radius - (points - centre).norm(dim=1)) / SOFTNESS)


grid = BlendedHashGrid(TOY_CONFIG, num_expressions=2, expression_min=[0.0, -1.0], expression_max=[1.0, 1.0])
optimizer = torch.optim.Adam(grid.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
frames_per_step, samples_per_step = 4, 8192
losses = []
for step in (bar := tqdm(range(STEPS), desc="fitting the toy")):
    w = torch.rand(frames_per_step, 2) * torch.tensor([1.0, 2.0]) - torch.tensor([0.0, 1.0])
    points = torch.rand(samples_per_step, 3)
    frame = torch.randint(0, frames_per_step, (samples_per_step,))
    prediction = grid(points, frame, w).sum(dim=1)
    loss = torch.mean((prediction - toy_density(points, w[frame])) ** 2)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    bar.set_postfix(mse=f"{losses[-1]:.2e}")

fig = go.Figure(go.Scatter(y=losses, mode="lines"))
fig.update_layout(title="training loss", xaxis_title="step", yaxis_title="MSE", yaxis_type="log", height=300)
fig.show()
""")
code(r"""
# Slices z = 0.5 through each table on its own (one table, coefficient 1).
SIDE = 64 if SMOKE else 128
axis = (torch.arange(SIDE) + 0.5) / SIDE
plane_y, plane_x = torch.meshgrid(axis, axis, indexing="ij")
plane = torch.stack([plane_x, plane_y, torch.full_like(plane_x, 0.5)], dim=-1).reshape(-1, 3)
with torch.no_grad():
    all_tables = grid.tables
    table_slices = [
        hash_encode(plane, all_tables[k : k + 1], torch.zeros(len(plane), dtype=torch.int64), TOY_CONFIG)
        .sum(dim=1).reshape(SIDE, SIDE)
        for k in range(len(all_tables))
    ]
names = ["mean table h0", "basis h1 (radius)", "basis h2 (shift in x)"]
fig = make_subplots(rows=1, cols=3, subplot_titles=names)
for column, image in enumerate(table_slices, start=1):
    limit = float(image.abs().max())
    fig.add_heatmap(z=image.numpy(), zmin=-limit, zmax=limit, colorscale="RdBu", showscale=False, row=1, col=column)
fig.update_yaxes(scaleanchor="x", autorange="reversed")
fig.update_layout(height=330, title="read-out of each table alone, slice z = 0.5")
fig.show()
""")
code(r"""
# Each level's contribution to the mean table: coarse levels are smooth, fine hashed levels add detail.
shown_levels = [0, TOY_CONFIG.levels // 2, TOY_CONFIG.levels - 1]
with torch.no_grad():
    mean_features = hash_encode(plane, grid.mean_table, torch.zeros(len(plane), dtype=torch.int64), TOY_CONFIG)
per_level = mean_features.reshape(SIDE, SIDE, TOY_CONFIG.levels, TOY_CONFIG.features).sum(dim=3)
fig = make_subplots(rows=1, cols=len(shown_levels),
                    subplot_titles=[f"level {level} ({'dense' if TOY_CONFIG.is_dense(level) else 'hashed'})"
                                    for level in shown_levels])
for column, level in enumerate(shown_levels, start=1):
    fig.add_heatmap(z=per_level[..., level].numpy(), colorscale="RdBu", zmid=0, showscale=False, row=1, col=column)
fig.update_yaxes(scaleanchor="x", autorange="reversed")
fig.update_layout(height=330, title="mean table, per level")
fig.show()
""")
code(r"""
# Held-out coefficients: prediction vs ground truth on the slice.
held_out_w = torch.tensor([[0.9, -0.6]])
with torch.no_grad():
    predicted = grid(plane, torch.zeros(len(plane), dtype=torch.int64), held_out_w).sum(dim=1).reshape(SIDE, SIDE)
truth = toy_density(plane, held_out_w.expand(len(plane), -1)).reshape(SIDE, SIDE)
held_out_psnr = float(-10 * torch.log10(torch.mean((predicted.clamp(0, 1) - truth) ** 2)))
fig = make_subplots(rows=1, cols=2, subplot_titles=("ground truth", f"blended grid ({held_out_psnr:.1f} dB)"))
for column, image in enumerate((truth, predicted), start=1):
    fig.add_heatmap(z=image.numpy(), zmin=0, zmax=1, colorscale="Greys", showscale=False, row=1, col=column)
fig.update_yaxes(scaleanchor="x", autorange="reversed")
fig.update_layout(height=330, title=f"w = ({held_out_w[0, 0]:.1f}, {held_out_w[0, 1]:.1f}), a combination not seen in training")
fig.show()
""")

md("## Checks\nThese fail loudly if a result above is wrong.")
code(r"""
assert blend_difference < 1e-5, blend_difference  # blending commutes with the lookup
assert second_difference < 1e-5, second_difference  # encodings are linear in the coefficients
for row in rows:
    assert row["corners"] == (CONFIG.resolution(row["level"]) + 1) ** 3
    if row["mode"] == "dense":
        assert row["max_load"] == 1, row
    else:
        assert row["mean_load"] > 1, row
final_loss = float(np.mean(losses[-20:]))  # averaged: single steps are noisy
assert final_loss < 0.1 * losses[0], (losses[0], final_loss)
assert held_out_psnr > 20, held_out_psnr

# Basis 1 (radius) must live on the ring the surface sweeps, not in the sphere's centre.
radius_map = ((plane[:, :2] - 0.5).norm(dim=1)).reshape(SIDE, SIDE)
radius_basis = table_slices[1].abs()
ring = radius_basis[(radius_map > RADIUS - 0.02) & (radius_map < RADIUS + GROWTH + 0.02)].mean()
centre = radius_basis[radius_map < RADIUS / 2].mean()
assert ring > 3 * centre, (float(ring), float(centre))
print("all checks passed")
""")

target = notebook.write("02_blended_hash_table")
print(f"wrote {target} ({len(notebook.cells)} cells)")
