"""Procedural albedo painted in UV space (a texture atlas with one square slot per material).

The painter never works with UV coordinates directly. It first rasterises the neutral mesh into
the atlas (each texel learns which 3D point of the neutral head and which material it shows),
then colours every texel from that 3D point: skin with noise, lips and brows placed from the
model's landmarks, iris rings and pupils around each iris centre, teeth, gums, sclera. The same
code thus paints any ``BlendshapeModel`` whatever its UV layout.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from nbskit.data.synthetic.renderer import TexturedMesh
from nbskit.face.blendshape import BlendshapeModel

SLOT_MARGIN = 0.02  # fraction of a slot left empty on each side so mip-mapping does not bleed
NOISE_LATTICE = 0.004  # metres between random lattice points of the skin noise (fine octave)

# Lip polygon (outer lip, Multi-PIE 48..59) and brows (17..21, 22..26).
OUTER_LIP = list(range(48, 60))
BROWS = (list(range(17, 22)), list(range(22, 27)))
LIP_SOFTNESS = 0.0015  # metres over which lip colour fades into skin
BROW_HALF_THICKNESS = 0.0045  # metres
IRIS_RADIUS = 0.006  # metres (a human iris is about 12 mm across)
PUPIL_FRACTION = 0.42  # pupil radius / iris radius
LIMBAL_RING = 0.85  # darker rim of the iris starts at this fraction of its radius


def atlas_layout(num_materials: int) -> tuple[int, int]:
    """(columns, rows) of the square slot grid that holds ``num_materials`` charts."""
    columns = int(np.ceil(np.sqrt(num_materials)))
    return columns, int(np.ceil(num_materials / columns))


def textured_mesh(model: BlendshapeModel) -> TexturedMesh:
    """Render vertices and atlas UVs for the drawn (non-helper) triangles of ``model``."""
    drawn = np.array([model.material_names[m] != "helper" for m in model.triangle_materials])
    triangles = model.triangles[drawn]
    materials = model.triangle_materials[drawn]
    corner_uv = model.corner_uvs()
    if corner_uv is None:
        raise ValueError(f"{model.name}: synthetic subjects need a model with UVs")
    corner_uv = corner_uv[drawn].astype(np.float64)
    tile = np.floor(corner_uv.min(axis=1, keepdims=True) + 1e-6)  # UDIM tile of each triangle
    local = SLOT_MARGIN + np.clip(corner_uv - tile, 0.0, 1.0) * (1 - 2 * SLOT_MARGIN)
    columns, rows = atlas_layout(len(model.material_names))
    slot = np.stack([materials % columns, materials // columns], axis=-1)[:, None, :]
    atlas_uv = (local + slot) / np.array([columns, rows])

    # One render vertex per distinct (model vertex, atlas uv) pair: UV seams split vertices.
    keys = np.concatenate([triangles.reshape(-1, 1), np.round(atlas_uv.reshape(-1, 2) * 2**20)], axis=1)
    unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return TexturedMesh(
        source_vertex=unique[:, 0].astype(np.int64),
        atlas_uv=atlas_uv.reshape(-1, 2)[first].astype(np.float32),
        triangles=inverse.reshape(-1, 3).astype(np.int64),
        model_triangles=triangles,
    )


_UV_VERTEX_SHADER = """
#version 330
in vec2 in_uv;
in vec3 in_position;
in float in_material;
out vec3 v_position;
out float v_material;
void main() {
    v_position = in_position;
    v_material = in_material;
    gl_Position = vec4(in_uv * 2.0 - 1.0, 0.0, 1.0);
}
"""

_UV_FRAGMENT_SHADER = """
#version 330
in vec3 v_position;
in float v_material;
out vec4 f_out;
void main() { f_out = vec4(v_position, v_material + 1.0); }
"""


def rasterise_position_map(
    ctx, mesh: TexturedMesh, model: BlendshapeModel, neutral: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """3D point on ``neutral`` [V,3] and material id (-1 = empty) of every atlas texel.

    size: (width, height). Returns ([H,W,3] float64, [H,W] int64), row 0 at v = 0.
    """
    import moderngl

    material_of_vertex = np.zeros(len(mesh.source_vertex), np.float32)
    drawn = np.array([model.material_names[m] != "helper" for m in model.triangle_materials])
    material_of_vertex[mesh.triangles.ravel()] = np.repeat(model.triangle_materials[drawn], 3)
    program = ctx.program(vertex_shader=_UV_VERTEX_SHADER, fragment_shader=_UV_FRAGMENT_SHADER)
    vao = ctx.vertex_array(
        program,
        [
            (ctx.buffer(mesh.atlas_uv.astype("f4").tobytes()), "2f", "in_uv"),
            (ctx.buffer(neutral[mesh.source_vertex].astype("f4").tobytes()), "3f", "in_position"),
            (ctx.buffer(material_of_vertex.tobytes()), "1f", "in_material"),
        ],
        index_buffer=ctx.buffer(mesh.triangles.astype("i4").tobytes()),
    )
    target = ctx.texture(size, 4, dtype="f4")
    fbo = ctx.framebuffer([target])
    fbo.use()
    fbo.clear(0.0, 0.0, 0.0, 0.0)
    ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND | moderngl.CULL_FACE)
    vao.render(moderngl.TRIANGLES)
    texels = np.frombuffer(target.read(), dtype=np.float32).reshape(size[1], size[0], 4)
    for resource in (vao, program, fbo, target):
        resource.release()
    material = np.rint(texels[..., 3]).astype(np.int64) - 1
    return texels[..., :3].astype(np.float64), material


def smooth_noise(
    points: np.ndarray, rng: np.random.Generator, lattice: float, octaves: int = 3
) -> np.ndarray:
    """Band-limited 3D value noise at points [N,3], roughly in [-1,1], deterministic for ``rng``."""
    low, high = points.min(axis=0), points.max(axis=0)
    total, weight = np.zeros(len(points)), 0.0
    for octave in range(octaves):
        spacing = lattice * 2**octave
        shape = np.ceil((high - low) / spacing).astype(int) + 4
        grid = rng.uniform(-1.0, 1.0, size=tuple(shape))
        coords = ((points - low) / spacing + 1.0).T
        total += ndimage.map_coordinates(grid, coords, order=3, mode="nearest") * 0.5**octave
        weight += 0.5**octave
    return total / weight


def _inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of 2D points [N,2] against a closed polygon [M,2]."""
    inside = np.zeros(len(points), bool)
    x, y = points[:, 0], points[:, 1]
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0)):
        crosses = (y0 > y) != (y1 > y)
        at = x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1e-12, y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def _distance_to_polyline(points: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of 2D points [N,2] to a polyline [M,2] and the arc fraction (0..1) of the foot."""
    best = np.full(len(points), np.inf)
    where = np.zeros(len(points))
    lengths = np.linalg.norm(np.diff(line, axis=0), axis=1)
    starts = np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum()
    for i, (a, b) in enumerate(itertools.pairwise(line)):
        t = np.clip(((points - a) @ (b - a)) / max(float((b - a) @ (b - a)), 1e-12), 0.0, 1.0)
        d = np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1)
        closer = d < best
        best[closer] = d[closer]
        where[closer] = starts[i] + t[closer] * (starts[i + 1] - starts[i])
    return best, where


def _palette(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random but plausible colours for one synthetic person (linear-ish RGB in [0,1])."""
    skin_tones = np.array([[0.93, 0.76, 0.64], [0.85, 0.64, 0.50], [0.70, 0.50, 0.36], [0.48, 0.32, 0.22]])
    iris_tones = np.array([[0.25, 0.40, 0.60], [0.35, 0.25, 0.12], [0.30, 0.45, 0.25], [0.20, 0.15, 0.10]])
    hair_tones = np.array([[0.10, 0.07, 0.05], [0.30, 0.18, 0.09], [0.55, 0.38, 0.20], [0.05, 0.05, 0.05]])
    skin = skin_tones[rng.integers(len(skin_tones))] * rng.uniform(0.95, 1.05)
    return {
        "skin": skin,
        "lips": skin * np.array([0.85, 0.55, 0.55]),
        "hair": hair_tones[rng.integers(len(hair_tones))],
        "iris": iris_tones[rng.integers(len(iris_tones))],
        "sclera": np.array([0.92, 0.90, 0.87]),
        "teeth": np.array([0.93, 0.91, 0.82]),
        "mouth_interior": np.array([0.55, 0.20, 0.22]),
        "eyelashes": np.array([0.12, 0.09, 0.08]),
        "pupil": np.array([0.03, 0.03, 0.03]),
    }


def paint_albedo(
    positions: np.ndarray,
    material: np.ndarray,
    model: BlendshapeModel,
    neutral: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Colour atlas texels [S,S] from their 3D points [S,S,3] on ``neutral`` [V,3] and materials [S,S].

    Material -1 marks empty texels. Returns (atlas [H,W,3] uint8 with empty texels filled from their nearest painted neighbour,
    the palette used, so that the hair can reuse the person's hair colour).
    """
    palette = _palette(rng)
    kinds = np.array(model.material_names)
    covered = material >= 0
    p = positions[covered]
    kind = kinds[material[covered]]
    colour = np.zeros((len(p), 3))
    landmarks = neutral[model.landmark_indices].astype(np.float64)

    skin = kind == "skin"
    noise = smooth_noise(p[skin], rng, NOISE_LATTICE)
    blotches = smooth_noise(p[skin], rng, NOISE_LATTICE * 6, octaves=1)
    colour[skin] = palette["skin"] * (
        1.0 + 0.07 * noise[:, None] + 0.05 * blotches[:, None] * [1.0, -0.4, -0.4]
    )
    front = p[skin, 2] > landmarks[OUTER_LIP, 2].min() - 0.01

    # Lips: inside the outer-lip polygon seen from the front, faded at the border.
    lip_polygon = landmarks[OUTER_LIP, :2]
    lip_distance, _ = _distance_to_polyline(p[skin, :2], np.vstack([lip_polygon, lip_polygon[:1]]))
    inside_lips = _inside_polygon(p[skin, :2], lip_polygon) & front
    lip_weight = np.where(inside_lips, np.clip(0.5 + lip_distance / LIP_SOFTNESS, 0.0, 1.0), 0.0)
    colour[skin] += lip_weight[:, None] * (palette["lips"] * (1 + 0.05 * noise[:, None]) - colour[skin])

    # Brows: a tapered band along each brow polyline with streaky hair noise.
    streaks = smooth_noise(p[skin] * [1.0, 4.0, 1.0], rng, NOISE_LATTICE * 0.5, octaves=1)
    for brow in BROWS:
        distance, along = _distance_to_polyline(p[skin, :2], landmarks[brow, :2])
        inner_end = along if brow[0] < 22 else 1.0 - along  # thicker towards the nose
        half_thickness = BROW_HALF_THICKNESS * (1.2 - 0.5 * inner_end)
        weight = np.clip(1.5 - distance / half_thickness, 0.0, 1.0) * front * (0.75 + 0.25 * streaks)
        colour[skin] += weight[:, None] * (palette["hair"] - colour[skin])

    for name in ("teeth", "mouth_interior", "sclera", "eyelashes"):
        selected = kind == name
        variation = smooth_noise(p[selected], rng, NOISE_LATTICE, octaves=1) if selected.any() else 0.0
        colour[selected] = palette[name] * (1.0 + 0.06 * np.asarray(variation)[..., None])

    eye = (kind == "iris") | (kind == "sclera")
    if eye.any():
        colour[eye] = _paint_irises(p[eye], colour[eye], palette, rng)

    atlas = np.zeros(positions.shape[:2] + (3,))
    atlas[covered] = np.clip(colour, 0.0, 1.0)
    # Fill empty texels with their nearest painted texel so filtering never pulls in black.
    _, nearest = ndimage.distance_transform_edt(~covered, return_indices=True)
    atlas = atlas[nearest[0], nearest[1]]
    return np.round(atlas * 255).astype(np.uint8), palette


def _paint_irises(
    points: np.ndarray, colour: np.ndarray, palette: dict, rng: np.random.Generator
) -> np.ndarray:
    """Eye texels [N,3] (sclera and iris) -> colours with radial iris fibres, limbus and pupil.

    The neutral eyes look down +z; the iris is painted by distance from each eyeball's forward
    axis, so an outer sclera layer that covers the iris like a cornea (as in ICT) shows it too.
    """
    colour = colour.copy()
    fibre_count, fibre_phase = rng.integers(18, 30), rng.uniform(0, 2 * np.pi)
    for side in (points[:, 0] < 0, points[:, 0] >= 0):
        if not side.any():
            continue
        offset = points[side] - points[side].mean(axis=0)  # from the eyeball centre
        r = np.hypot(offset[:, 0], offset[:, 1]) / IRIS_RADIUS
        angle = np.arctan2(offset[:, 1], offset[:, 0])
        fibres = 0.12 * np.cos(angle * fibre_count + fibre_phase)
        iris = palette["iris"] * (0.8 + 0.4 * r + fibres)[:, None]
        iris = np.where((r > LIMBAL_RING)[:, None], iris * 0.55, iris)
        iris = np.where((r < PUPIL_FRACTION)[:, None], palette["pupil"], iris)
        inside = (r < 1.0) & (offset[:, 2] > 0)
        side_colour = colour[side]
        side_colour[inside] = iris[inside]
        colour[side] = side_colour
    return colour
