"""Which model vertex each MediaPipe face-mesh landmark sits on.

MediaPipe's 478 points and a blendshape model's vertices come from unrelated topologies, so the
pairing is *measured*: render the model from a few near-frontal views, run the face mesh on each
render, and take for every landmark the nearest front-facing vertex in the image. A landmark is
kept only when the views agree (the chosen vertices lie within STABLE_SPREAD of each other) and it
is not on MediaPipe's face oval, whose points slide along the silhouette as the head turns.

A paired vertex is only where the landmark lands on the mean face. On faces of other people,
MediaPipe's points sit off their vertices by an amount that is partly the same for everyone (the
landmark's definition differs from the vertex's): `offsets` holds that common part, a head-frame
vector per landmark, and `bias_modes` how it varies between people, both measured on synthetic
subjects with known meshes (`nbskit.tracking.calibration`).

The ICT table is derived once (`python -m nbskit.tracking.calibration`) and shipped as a small JSON
file (`correspondence_tables/ict.json`, ~300 kB with its bias modes); other models derive theirs at run
time, without offsets or bias modes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nbskit.tracking.landmarks import IRIS_CENTRES, detect_landmarks

TABLE_DIR = Path(__file__).with_name("correspondence_tables")
STABLE_SPREAD = 0.006  # metres: the views' picks for one landmark must agree this well
VIEW_ANGLES_DEG = [(0, 0), (-15, 0), (15, 0), (0, -10), (0, 10), (-8, 6), (8, -6)]  # (yaw, pitch)
VIEW_DISTANCE = 1.0  # metres from the camera to the face centre in the derivation renders
VIEW_SIZE = 512  # pixels: derivation renders are square
OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])  # flips the camera's y and z axes

# render(vertices [V,3] head frame, camera-to-world [4,4] OpenGL) -> image [H,W,3] uint8
RenderFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Correspondence:
    """landmarks [L] MediaPipe indices paired with vertices [L] model indices; iris centres apart.

    iris_landmarks [2] / iris_vertices [2]: the two iris centres, fitted only to the gaze shapes.
    offsets [L,3] metres, head frame: where the landmark sits relative to its vertex (zeros: on it).
    bias_modes [M,L,3] metres: how that offset varies between people, one standard deviation per mode.
    """

    landmarks: np.ndarray
    vertices: np.ndarray
    iris_landmarks: np.ndarray
    iris_vertices: np.ndarray
    offsets: np.ndarray = field(default=None)
    bias_modes: np.ndarray = field(default=None)

    def __post_init__(self):
        count = len(self.landmarks)
        self.offsets = np.zeros((count, 3)) if self.offsets is None else np.asarray(self.offsets, np.float64)
        self.bias_modes = (np.zeros((0, count, 3)) if self.bias_modes is None
                           else np.asarray(self.bias_modes, np.float64))
        if self.offsets.shape != (count, 3):
            raise ValueError(f"Correspondence: offsets must be [{count},3], got {self.offsets.shape}")
        if self.bias_modes.ndim != 3 or self.bias_modes.shape[1:] != (count, 3):
            raise ValueError(f"Correspondence: bias_modes must be [M,{count},3], got {self.bias_modes.shape}")

    def landmark_points(self, vertices: np.ndarray) -> np.ndarray:
        """Where the landmarks sit on meshes [...,V,3] (head frame): their vertices plus offsets -> [...,L,3]."""
        return vertices[..., self.vertices, :] + self.offsets

    def save(self, path: Path, model_name: str, num_vertices: int) -> None:
        payload = {"model": model_name, "num_vertices": num_vertices,
                   "landmarks": self.landmarks.tolist(), "vertices": self.vertices.tolist(),
                   "iris_landmarks": self.iris_landmarks.tolist(), "iris_vertices": self.iris_vertices.tolist(),
                   "offsets": np.round(self.offsets, 6).tolist(), "bias_modes": np.round(self.bias_modes, 6).tolist()}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(payload))
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path, num_vertices: int) -> Correspondence:
        payload = json.loads(Path(path).read_text())
        if payload["num_vertices"] != num_vertices:
            raise ValueError(f"{path}: table is for a model with {payload['num_vertices']} vertices, "
                             f"got one with {num_vertices}")
        indices = (np.asarray(payload[key], np.int64) for key in ("landmarks", "vertices", "iris_landmarks", "iris_vertices"))
        return cls(*indices, offsets=payload.get("offsets"), bias_modes=payload.get("bias_modes"))


def face_oval_landmarks() -> np.ndarray:
    """MediaPipe's silhouette (face oval) point indices, read from the installed mediapipe."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_FACE_OVAL

    return np.array(sorted({i for edge in FACEMESH_FACE_OVAL for i in edge}), np.int64)


def view_rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Head-to-OpenCV-camera rotation [3,3] for a head (y up, facing +z) turned by yaw and pitch."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    turn_y = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    turn_x = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    facing_camera = np.diag([1.0, -1.0, -1.0])  # OpenCV: y down, camera looks along +z
    return facing_camera @ turn_y @ turn_x


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals [V,3]."""
    corners = vertices[triangles]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face_normals)
    return normals / (np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12)


def derive_correspondence(neutral: np.ndarray, triangles: np.ndarray, candidates: np.ndarray,
                          iris_candidates: np.ndarray, render: RenderFunction, camera_matrix: np.ndarray,
                          face_centre: np.ndarray) -> Correspondence:
    """Measure the landmark -> vertex pairing on renders of the neutral mesh.

    neutral [V,3] metres (head frame), triangles [T,3], candidates [C] vertex indices allowed for
    face landmarks (skin), iris_candidates [E] vertex indices of the eyeballs, camera_matrix [3,3]
    intrinsics of `render`, face_centre [3] head-frame point put at the image centre.
    """
    normals = vertex_normals(neutral, triangles)
    picks = []
    for yaw, pitch in VIEW_ANGLES_DEG:
        head_to_camera = np.eye(4)
        head_to_camera[:3, :3] = view_rotation(yaw, pitch)
        head_to_camera[:3, 3] = np.array([0.0, 0.0, VIEW_DISTANCE]) - head_to_camera[:3, :3] @ face_centre
        camera = neutral @ head_to_camera[:3, :3].T + head_to_camera[:3, 3]
        image = render(neutral, np.linalg.inv(head_to_camera) @ OPENCV_TO_OPENGL)
        track = detect_landmarks(image[None], video=False)
        if not track.found[0]:
            raise RuntimeError(f"MediaPipe found no face on the derivation render at yaw={yaw}, pitch={pitch}")
        projected = camera @ camera_matrix.T
        pixels = projected[:, :2] / projected[:, 2:]
        towards_camera = -(camera / np.linalg.norm(camera, axis=1, keepdims=True))
        front = np.einsum("vc,vc->v", normals @ head_to_camera[:3, :3].T, towards_camera) > 0
        picks.append(np.array([_nearest(pixels, point, pool[front[pool]])
                               for point, pool in _pools(track.points[0], candidates, iris_candidates)]))
    picks = np.stack(picks)  # [views, 478]
    positions = neutral[picks]  # [views, 478, 3]
    median = np.median(positions, axis=0)
    spread = np.linalg.norm(positions - median, axis=2).max(axis=0)
    chosen = np.array([picks[np.argmin(np.linalg.norm(positions[:, j] - median[j], axis=1)), j]
                       for j in range(picks.shape[1])])
    iris = np.array(IRIS_CENTRES)
    stable = spread <= STABLE_SPREAD
    stable[face_oval_landmarks()] = False
    stable[iris.min():] = False  # iris rings and centres are handled apart
    keep = np.flatnonzero(stable)
    return Correspondence(keep, chosen[keep], iris, chosen[iris])


def derive_model_correspondence(model) -> Correspondence:
    """Derive the table for a blendshape model on renders of its synthetic-subject look."""
    from nbskit.data.synthetic.generate import SyntheticScene
    from nbskit.data.synthetic.presets import SynthPreset

    scene = SyntheticScene(SynthPreset("correspondence", VIEW_SIZE, 1, model.name, VIEW_SIZE // 2), seed=0, model=model)
    try:
        neutral = model.vertices(np.zeros(model.num_expressions, np.float32)).astype(np.float64)
        groups = model.vertex_groups
        face_centre = neutral[model.landmark_indices].mean(axis=0)

        def render(vertices, c2w):
            frame = scene.renderer.render(vertices, c2w)
            return np.round(255 * frame.over(scene.background)).astype(np.uint8)

        return derive_correspondence(neutral, np.asarray(model.triangles), groups["face"], groups["eyes"],
                                     render, scene.K, face_centre)
    finally:
        scene.release()


def correspondence_for(model) -> Correspondence:
    """The shipped table for the model if there is one, else derive it now (takes ~10 s)."""
    table = TABLE_DIR / f"{model.name}.json"
    if table.is_file():
        return Correspondence.load(table, model.num_vertices)
    return derive_model_correspondence(model)


def _pools(points: np.ndarray, candidates: np.ndarray, iris_candidates: np.ndarray):
    for j, point in enumerate(points):
        yield point, (iris_candidates if j in IRIS_CENTRES else candidates)


def _nearest(pixels: np.ndarray, point: np.ndarray, pool: np.ndarray) -> int:
    return int(pool[np.argmin(np.linalg.norm(pixels[pool] - point, axis=1))])
