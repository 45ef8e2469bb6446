"""``ProceduralHead``: a small semantic head model built entirely in code (zero download).

The skin is an implicit surface (a smooth union of ellipsoids for cranium, face, neck, nose, brow
ridge, cheeks, lips and chin, with eye sockets carved out) sampled along rays from a centre placed
at the height of the lips, on a latitude/longitude grid. The equator row of that grid *is* the lip
line: its front vertices are duplicated so the upper and lower lip can separate (``jawOpen``).
Separate meshes add eyeballs (sclera + iris cap), ears, a mouth cavity and two rows of teeth.
Blendshapes are smooth displacement fields of the neutral positions. Metres, +z forward, y up.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from nbskit.face.blendshape import BlendshapeModel
from nbskit.geometry.camera import rotation_x

# --- grid of the skin ---------------------------------------------------------------------------
NUM_LATITUDES = 72  # rows from the top pole to the bottom pole (even: the equator is a row)
NUM_LONGITUDES = 96  # columns around the vertical axis; the seam is at the back of the head
RAY_SAMPLES = 64  # coarse samples per ray (4 mm apart) before bisection
BISECTION_STEPS = 18
MAX_RADIUS = 0.26  # metres: longest ray from the grid centre
SMOOTH_UNION = 0.012  # metres: blend radius of the smooth union between parts

MOUTH_Y = -0.054  # height of the lip line; the grid centre sits on it
GRID_CENTRE = np.array([0.0, MOUTH_Y, 0.0])
MOUTH_HALF_ANGLE = np.deg2rad(15.5)  # lip corners, as a longitude either side of the front

EYE_CENTRE = np.array([0.032, 0.018, 0.0665])  # left eye (+x); the right eye mirrors it
EYE_RADIUS = 0.0125
IRIS_HALF_ANGLE = 0.52  # radians from the eyeball's front pole to the iris rim

TEETH_HEIGHT = 0.012  # metres, each row
TEETH_SHOW = 0.006  # metres each row reaches past the lip line (visible once the jaw opens)

JAW_PIVOT = np.array([0.0, -0.02, -0.035])
JAW_OPEN_ANGLE = 0.25  # radians at jawOpen = 1


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]

    def distance(self, p: np.ndarray) -> np.ndarray:
        """Approximate signed distance of points [...,3] (negative inside)."""
        radii = np.asarray(self.radii)
        scaled = np.linalg.norm((p - np.asarray(self.centre)) / radii, axis=-1)
        return (scaled - 1.0) * radii.min()


def _mirrored(centre, radii) -> list[Ellipsoid]:
    x, y, z = centre
    return [Ellipsoid((x, y, z), radii), Ellipsoid((-x, y, z), radii)]


HEAD_PARTS = [
    Ellipsoid((0.0, 0.03, -0.012), (0.074, 0.090, 0.098)),  # cranium
    Ellipsoid((0.0, -0.035, 0.022), (0.060, 0.075, 0.073)),  # face and jaw
    Ellipsoid((0.0, -0.004, 0.086), (0.012, 0.028, 0.018)),  # nose bridge
    Ellipsoid((0.0, -0.026, 0.101), (0.011, 0.010, 0.011)),  # nose tip
    *_mirrored((0.012, -0.031, 0.090), (0.008, 0.007, 0.008)),  # nostrils
    Ellipsoid((0.0, 0.036, 0.074), (0.058, 0.014, 0.022)),  # brow ridge
    *_mirrored((0.040, -0.018, 0.058), (0.026, 0.022, 0.026)),  # cheekbones
    Ellipsoid((0.0, MOUTH_Y + 0.007, 0.087), (0.025, 0.008, 0.012)),  # upper lip
    Ellipsoid((0.0, MOUTH_Y - 0.007, 0.085), (0.022, 0.008, 0.012)),  # lower lip
    Ellipsoid((0.0, -0.090, 0.066), (0.020, 0.016, 0.018)),  # chin
]
EYE_SOCKETS = _mirrored((EYE_CENTRE[0], EYE_CENTRE[1], 0.085), (0.017, 0.010, 0.016))
NECK_RADIUS, NECK_BOTTOM, NECK_TOP, NECK_Z = 0.05, -0.18, -0.03, -0.015


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def head_distance(p: np.ndarray) -> np.ndarray:
    """Implicit skin surface: approximate signed distance of points [...,3] (negative inside)."""
    radial = np.hypot(p[..., 0], p[..., 2] - NECK_Z) - NECK_RADIUS
    vertical = np.maximum(NECK_BOTTOM - p[..., 1], p[..., 1] - NECK_TOP)
    d = np.maximum(radial, vertical)  # capped cylinder
    for part in HEAD_PARTS:
        d = _smooth_min(d, part.distance(p), SMOOTH_UNION)
    for socket in EYE_SOCKETS:
        d = -_smooth_min(-d, socket.distance(p), SMOOTH_UNION * 0.5)  # smooth subtraction
    return d


def _outermost_surface(directions: np.ndarray) -> np.ndarray:
    """Distance along each ray [N,3] from GRID_CENTRE to the outermost zero of head_distance."""
    t = np.linspace(0.0, MAX_RADIUS, RAY_SAMPLES)
    inside = head_distance(GRID_CENTRE + directions[:, None, :] * t[None, :, None]) < 0
    last_inside = RAY_SAMPLES - 1 - np.argmax(inside[:, ::-1], axis=1)
    lo, hi = t[last_inside], t[np.minimum(last_inside + 1, RAY_SAMPLES - 1)]
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        is_inside = head_distance(GRID_CENTRE + directions * mid[:, None]) < 0
        lo, hi = np.where(is_inside, mid, lo), np.where(is_inside, hi, mid)
    return 0.5 * (lo + hi)


def _grid_triangles(rows: int, cols: int, index: np.ndarray) -> np.ndarray:
    """Two triangles per quad of a (rows+1) x (cols+1) vertex grid with vertex ids ``index``."""
    a, b = index[:-1, :-1], index[:-1, 1:]
    c, d = index[1:, :-1], index[1:, 1:]
    return np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])


@dataclass
class _Part:
    """One mesh piece: positions [N,3], per-vertex uvs [N,2], triangles [T,3] (local ids), material."""

    positions: np.ndarray
    uvs: np.ndarray
    triangles: np.ndarray
    material: int


def _sphere_grid(rows: int, cols: int, polar_max: float = np.pi):
    """Unit sphere rows x cols grid around +z (pole at the front). Returns (dirs, uvs, triangles)."""
    polar = np.linspace(0.0, polar_max, rows + 1)
    azimuth = np.linspace(0.0, 2 * np.pi, cols + 1)
    pp, aa = np.meshgrid(polar, azimuth, indexing="ij")
    dirs = np.stack([np.sin(pp) * np.cos(aa), np.sin(pp) * np.sin(aa), np.cos(pp)], -1).reshape(-1, 3)
    uvs = np.stack([aa / (2 * np.pi), pp / polar_max], -1).reshape(-1, 2)
    index = np.arange((rows + 1) * (cols + 1)).reshape(rows + 1, cols + 1)
    return dirs, uvs, _grid_triangles(rows, cols, index)


# Material slots: each has its own UV chart in [0,1]^2.
MATERIALS = ["skin", "skin", "mouth_interior", "teeth", "sclera", "iris"]
SKIN, EARS, MOUTH, TEETH, SCLERA, IRIS = range(len(MATERIALS))


def _skin() -> tuple[_Part, np.ndarray, np.ndarray]:
    """The skin grid with its lip slit. Returns (part, upper-lip row ids, lower-lip copy ids)."""
    rows, cols = NUM_LATITUDES, NUM_LONGITUDES
    polar = np.linspace(0.0, np.pi, rows + 1)
    azimuth = np.linspace(-np.pi, np.pi, cols + 1)  # azimuth 0 looks down +z (the face)
    pp, aa = np.meshgrid(polar, azimuth, indexing="ij")
    dirs = np.stack([np.sin(pp) * np.sin(aa), np.cos(pp), np.sin(pp) * np.cos(aa)], -1).reshape(-1, 3)
    positions = GRID_CENTRE + dirs * _outermost_surface(dirs)[:, None]
    uvs = np.stack([(aa + np.pi) / (2 * np.pi), 1.0 - pp / np.pi], -1).reshape(-1, 2)
    index = np.arange((rows + 1) * (cols + 1)).reshape(rows + 1, cols + 1)

    # Split the lip line: quads below the equator use copies of the slit vertices.
    equator = rows // 2
    slit_cols = np.nonzero(np.abs(azimuth) < MOUTH_HALF_ANGLE)[0]
    upper = index[equator, slit_cols]
    lower = np.arange(len(slit_cols)) + positions.shape[0]
    lower_index = index.copy()
    lower_index[equator, slit_cols] = lower
    triangles = np.concatenate(
        [
            _grid_triangles(equator, cols, index[: equator + 1]),
            _grid_triangles(rows - equator, cols, lower_index[equator:]),
        ]
    )
    positions = np.concatenate([positions, positions[upper]])
    uvs = np.concatenate([uvs, uvs[upper]])
    return _Part(positions, uvs, triangles, SKIN), upper, lower


def _eyeballs() -> list[_Part]:
    parts = []
    for side in (1.0, -1.0):
        centre = EYE_CENTRE * np.array([side, 1.0, 1.0])
        for material, (lo, hi) in ((IRIS, (0.0, IRIS_HALF_ANGLE)), (SCLERA, (IRIS_HALF_ANGLE, np.pi))):
            dirs, uvs, tris = _sphere_grid(6 if material == IRIS else 14, 20, polar_max=1.0)
            polar = lo + (hi - lo) * uvs[:, 1]
            azimuth = 2 * np.pi * uvs[:, 0]
            dirs = np.stack(
                [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], -1
            )
            parts.append(_Part(centre + EYE_RADIUS * dirs, uvs, tris, material))
    return parts


def _ears() -> list[_Part]:
    """Flattened half-ellipsoids on the sides of the head, tilted back like real ears."""
    parts = []
    dirs, uvs, tris = _sphere_grid(10, 16)
    shell = dirs * np.array([0.020, 0.031, 0.006])  # flat in z before turning it sideways
    tilt = rotation_x(-0.25)
    for side in (1.0, -1.0):
        turn = np.array([[0.0, 0.0, side], [0.0, 1.0, 0.0], [-side, 0.0, 0.0]])  # z -> +-x
        positions = (shell @ turn.T) @ tilt.T + np.array([side * 0.074, 0.004, -0.016])
        parts.append(_Part(positions, uvs, tris, EARS))
    return parts


def _mouth_cavity() -> _Part:
    """A bowl behind the lips (its open side faces forward), dark inside."""
    dirs, uvs, tris = _sphere_grid(10, 24, polar_max=np.pi * 0.5)
    positions = dirs * np.array([0.030, 0.022, -0.030]) + np.array([0.0, MOUTH_Y - 0.004, 0.064])
    return _Part(positions, uvs, tris, MOUTH)


def _teeth_row(top: float, bottom: float, arch_radius: float, arch_centre_z: float) -> _Part:
    """A curved strip of teeth (an arc in x-z) spanning heights [bottom, top]."""
    cols, rows = 24, 2
    angle = np.linspace(-1.05, 1.05, cols + 1)
    height = np.linspace(bottom, top, rows + 1)
    hh, aa = np.meshgrid(height, angle, indexing="ij")
    positions = np.stack(
        [arch_radius * np.sin(aa), hh, arch_centre_z + arch_radius * np.cos(aa)], -1
    ).reshape(-1, 3)
    uvs = np.stack([(aa - angle[0]) / (angle[-1] - angle[0]), (hh - bottom) / (top - bottom)], -1)
    index = np.arange((rows + 1) * (cols + 1)).reshape(rows + 1, cols + 1)
    return _Part(positions, uvs.reshape(-1, 2), _grid_triangles(rows, cols, index), TEETH)


def _gaussian(p: np.ndarray, centre, radii) -> np.ndarray:
    return np.exp(-np.sum(((p - np.asarray(centre)) / np.asarray(radii)) ** 2, axis=-1))


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class ProceduralHead(BlendshapeModel):
    """A head written in code: ~9k vertices, 12 ARKit-named blendshapes, 68 landmarks, UVs.

    Vertex groups: 'face' (skin), 'ears', 'mouth_interior', 'teeth', 'upper_teeth',
    'lower_teeth', 'eyes' (sclera + iris), 'iris'.
    """

    EXPRESSIONS = (
        "jawOpen", "jawLeft", "eyeBlink_L", "eyeBlink_R", "mouthSmile_L", "mouthSmile_R",
        "mouthPucker", "mouthFunnel", "browInnerUp", "browDown_L", "browDown_R", "cheekPuff",
    )  # fmt: skip

    def __init__(self):
        skin, upper_lip, lower_lip = _skin()
        parts = [
            skin,
            *_ears(),
            _mouth_cavity(),
            _teeth_row(MOUTH_Y + TEETH_HEIGHT - TEETH_SHOW, MOUTH_Y - TEETH_SHOW, 0.031, 0.057),
            _teeth_row(MOUTH_Y + TEETH_SHOW, MOUTH_Y + TEETH_SHOW - TEETH_HEIGHT, 0.029, 0.057),
            *_eyeballs(),
        ]
        starts = np.cumsum([0] + [len(p.positions) for p in parts])
        neutral = np.concatenate([p.positions for p in parts])
        triangles = np.concatenate([p.triangles + s for p, s in zip(parts, starts)])
        materials = np.concatenate([np.full(len(p.triangles), p.material) for p in parts])
        ids = [np.arange(a, b) for a, b in itertools.pairwise(starts)]
        groups = {
            "face": ids[0],
            "ears": np.concatenate(ids[1:3]),
            "mouth_interior": ids[3],
            "upper_teeth": ids[4],
            "lower_teeth": ids[5],
            "teeth": np.concatenate(ids[4:6]),
            "eyes": np.concatenate(ids[6:]),
            "iris": np.concatenate([ids[6], ids[8]]),
        }
        lower_jaw = self._lower_jaw_weight(neutral, lower_lip, groups)
        deltas = self._expression_deltas(neutral, lower_jaw, lower_lip, groups)
        super().__init__(
            neutral=neutral,
            triangles=triangles,
            expression_deltas=deltas,
            expression_names=list(self.EXPRESSIONS),
            landmark_indices=self._landmarks(neutral, groups["face"], upper_lip, lower_lip),
            triangle_materials=materials,
            material_names=MATERIALS,
            vertex_groups=groups,
            uvs=np.concatenate([p.uvs for p in parts]),
        )

    @property
    def name(self) -> str:
        return "procedural"

    @staticmethod
    def _lower_jaw_weight(p: np.ndarray, lower_lip: np.ndarray, groups: dict) -> np.ndarray:
        """How much each vertex follows the lower jaw [V] (1 = rigidly)."""
        below_lips = _smoothstep(MOUTH_Y, MOUTH_Y - 0.012, p[:, 1])
        towards_front = _smoothstep(-0.03, 0.03, p[:, 2])
        above_neck = 1.0 - _smoothstep(-0.105, -0.135, p[:, 1]) * (1 - _smoothstep(0.04, 0.06, p[:, 2]))
        weight = below_lips * towards_front * above_neck
        weight[lower_lip] = 1.0
        weight[groups["lower_teeth"]] = 1.0
        mouth = groups["mouth_interior"]
        weight[mouth] = _smoothstep(MOUTH_Y + 0.004, MOUTH_Y - 0.012, p[mouth, 1])
        weight[groups["upper_teeth"]] = 0.0
        weight[groups["eyes"]] = 0.0
        weight[groups["ears"]] = 0.0
        return weight

    @staticmethod
    def _expression_deltas(p, lower_jaw, lower_lip, groups) -> np.ndarray:
        """[12,V,3] displacement fields (metres) of the neutral points p [V,3], in EXPRESSIONS order.

        Each is a smooth weight (Gaussian around the feature it moves) times a displacement sized
        like the real motion: a few millimetres for brows and lip corners, a jaw rotation.
        """
        skin = np.zeros(len(p))
        skin[groups["face"]] = 1.0
        lip_sign = np.zeros(len(p))  # +1 upper lip region, -1 lower lip region (for funnel)
        lip_sign[groups["face"]] = np.where(p[groups["face"], 1] >= MOUTH_Y, 1.0, -1.0)
        lip_sign[lower_lip] = -1.0

        pivoted = (p - JAW_PIVOT) @ rotation_x(JAW_OPEN_ANGLE).T + JAW_PIVOT
        jaw_open = (pivoted - p) * lower_jaw[:, None]
        jaw_left = np.array([0.009, 0.0, 0.0]) * lower_jaw[:, None]

        def blink(side: float) -> np.ndarray:
            # Pull the lids out onto a dome just in front of the eyeball.
            centre = EYE_CENTRE * np.array([side, 1.0, 1.0])
            offset = p - centre
            distance = np.linalg.norm(offset, axis=1, keepdims=True)
            lid_radius = EYE_RADIUS + 0.0018
            onto_dome = offset / np.maximum(distance, 1e-9) * lid_radius - offset
            inside = (distance[:, 0] < lid_radius) & (offset[:, 2] > -0.004)
            return onto_dome * (inside * skin)[:, None]

        def smile(side: float) -> np.ndarray:
            corner = (side * 0.025, MOUTH_Y, 0.085)
            weight = _gaussian(p, corner, (0.018, 0.016, 0.03)) * skin
            return weight[:, None] * np.array([side * 0.006, 0.008, -0.004])

        lips = _gaussian(p, (0.0, MOUTH_Y, 0.09), (0.028, 0.018, 0.03)) * skin
        pucker = lips[:, None] * np.stack([-0.35 * p[:, 0], np.zeros(len(p)), np.full(len(p), 0.009)], 1)
        funnel = lips[:, None] * np.stack([-0.2 * p[:, 0], 0.004 * lip_sign, np.full(len(p), 0.006)], 1)
        inner_brows = _gaussian(p, (0.0, 0.04, 0.085), (0.03, 0.018, 0.04)) * skin
        brow_inner_up = inner_brows[:, None] * np.array([0.0, 0.007, 0.0])

        def brow_down(side: float) -> np.ndarray:
            weight = _gaussian(p, (side * 0.03, 0.04, 0.08), (0.025, 0.016, 0.04)) * skin
            return weight[:, None] * np.array([-side * 0.002, -0.005, 0.002])

        cheeks = sum(_gaussian(p, (s * 0.042, -0.045, 0.06), (0.02, 0.02, 0.035)) for s in (1.0, -1.0)) * skin
        cheek_puff = cheeks[:, None] * np.stack(
            [np.sign(p[:, 0]) * 0.009, np.zeros(len(p)), np.full(len(p), 0.004)], 1
        )

        deltas = [
            jaw_open, jaw_left, blink(1.0), blink(-1.0), smile(1.0), smile(-1.0),
            pucker, funnel, brow_inner_up, brow_down(1.0), brow_down(-1.0), cheek_puff,
        ]  # fmt: skip
        return np.stack(deltas).astype(np.float32)

    @staticmethod
    def _landmarks(
        p: np.ndarray, face: np.ndarray, upper_lip: np.ndarray, lower_lip: np.ndarray
    ) -> np.ndarray:
        """Multi-PIE 68 landmark vertex ids: nearest front-facing skin vertex to designed points."""
        eye_x, eye_y = EYE_CENTRE[0], EYE_CENTRE[1]
        half_w, half_h = 0.0125, 0.0055
        jaw = np.linspace(-np.pi / 2, np.pi / 2, 17)
        targets = [(0.058 * np.sin(a), eye_y + (-0.103 - eye_y) * np.cos(a)) for a in jaw]
        brow = [(0.050, 0.037), (0.041, 0.044), (0.032, 0.046), (0.022, 0.045), (0.013, 0.041)]
        targets += [(-x, y) for x, y in brow] + [(x, y) for x, y in reversed(brow)]
        targets += [(0.0, y) for y in (0.016, 0.002, -0.012, -0.026)]
        targets += [(x, -0.036 + 0.002 * abs(x) / 0.014) for x in (-0.014, -0.007, 0.0, 0.007, 0.014)]
        for side in (-1.0, 1.0):  # subject's right eye (image left) first
            cx = side * eye_x
            ring = [(-half_w, 0.0), (-half_w / 3, half_h), (half_w / 3, half_h), (half_w, 0.0),
                    (half_w / 3, -half_h), (-half_w / 3, -half_h)]  # fmt: skip
            targets += [(cx + dx, eye_y + dy) for dx, dy in ring]
        outer_lip = [(-0.025, 0.0), (-0.016, 0.006), (-0.007, 0.009), (0.0, 0.008), (0.007, 0.009),
                     (0.016, 0.006), (0.025, 0.0), (0.016, -0.008), (0.007, -0.011), (0.0, -0.012),
                     (-0.007, -0.011), (-0.016, -0.008)]  # fmt: skip
        targets += [(x, MOUTH_Y + y) for x, y in outer_lip]

        front = face[p[face, 2] > 0.0]
        ids = [front[np.argmin(np.sum((p[front, :2] - t) ** 2, axis=1))] for t in targets]

        def slit(row: np.ndarray, x: float) -> int:
            return int(row[np.argmin(np.abs(p[row, 0] - x))])

        inner_x = 0.9 * p[upper_lip[0], 0]  # just inside the lip corners
        ids += [slit(upper_lip, x) for x in (inner_x, -0.008, 0.0, 0.008)]
        ids += [slit(upper_lip, -inner_x)] + [slit(lower_lip, x) for x in (0.008, 0.0, -0.008)]
        return np.asarray(ids)
