"""Batched fit of a blendshape model to 2D landmarks of a whole clip (torch, Adam, projected).

Unknowns, all frames at once:
    rotation [N,3] (axis-angle on top of a PnP initialisation), translation [N,3] metres,
    one focal length (pixels, principal point at the image centre), identity [I] (shared),
    expression [N,K] kept in [0,1] by projection after every step.

Camera convention inside this module: OpenCV (x right, y down, looking along +z); a head-frame
point X maps to camera space as R X + t. `FitResult.camera_to_world_opengl` folds the head pose
into cameras for the subject format (world = head frame, OpenGL axes).

Priors and what they fix:
    sparsity (L1 on w >= 0)        many shapes explain the same few landmarks; prefer few active ones
    temporal smoothness            landmark jitter otherwise becomes expression/pose jitter
    left/right coupling            one-sided landmark noise otherwise becomes asymmetric expressions
    identity (L2)                  identity and expression are not separable from one frame
    gaze from irises only          eye-look shapes see only the iris centres, so they cannot absorb
                                   eyelid or pose errors (and the iris cannot pull the pose)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from nbskit.tracking.correspondence import Correspondence

RIGID_MOTION_LIMIT = 0.002  # metres: a vertex moving less than this under every expression is rigid
GAZE_PREFIX = "eyeLook"
TRANSLATION_TO_RADIANS = 10.0  # 1 cm of head motion weighs like 0.1 rad of rotation in the pose prior
DTYPE = torch.float64  # the depth/rotation valley is so flat that float32 losses stall L-BFGS
LOSS_NAMES = ("landmarks", "iris", "sparsity", "identity", "smoothness", "pose_smoothness", "symmetry")
LBFGS_INNER_ITERATIONS = 20
LBFGS_HISTORY = 20
FINAL_LR_FRACTION = 0.05  # learning rates decay to this fraction over a stage


@dataclass
class FitConfig:
    """Weights and schedule of the fit. Loss terms are per frame; landmark residuals in pixels."""

    rigid_iterations: int = 150
    iterations: int = 500
    focal: float | None = None  # known focal length in pixels; None: search, then refine
    focal_candidates: tuple = (0.8, 1.2, 1.8, 2.7, 4.0)  # focal / image size: phone lens to telephoto
    focal_search_frames: int = 12
    search_iterations: int = 200
    polish_steps: int = 10  # L-BFGS steps after Adam (each up to LBFGS_INNER_ITERATIONS evaluations)
    huber_pixels: float = 3.0  # residuals beyond this count linearly (MediaPipe outliers)
    sparsity: float = 0.01
    smoothness: float = 0.5  # on expression differences between neighbouring frames
    pose_smoothness: float = 50.0  # on rotation (rad) and translation accelerations
    symmetry: float = 0.1
    identity: float = 0.001
    iris: float = 1.0
    learning_rates: dict = field(default_factory=lambda: {
        "rotation": 0.01, "translation": 0.003, "log_focal": 0.01, "identity": 0.05, "expression": 0.03})


@dataclass
class FitResult:
    """Fitted parameters: rotation [N,3,3], translation [N,3] (head -> OpenCV camera), focal (px),
    identity [I], expression [N,K], reprojection_error [N] mean landmark error in pixels (NaN where
    no face was found), loss_history: total loss per step, final_terms: each loss term at the end."""

    rotation: np.ndarray
    translation: np.ndarray
    focal: float
    identity: np.ndarray
    expression: np.ndarray
    reprojection_error: np.ndarray
    loss_history: list
    final_terms: dict

    def head_to_camera(self) -> np.ndarray:
        """[N,4,4] head-frame -> OpenCV camera transforms."""
        pose = np.tile(np.eye(4), (len(self.rotation), 1, 1))
        pose[:, :3, :3] = self.rotation
        pose[:, :3, 3] = self.translation
        return pose

    def camera_to_world_opengl(self) -> np.ndarray:
        """[N,4,4] camera-to-world with world = head frame and OpenGL camera axes (y up, looks -z)."""
        opencv_to_opengl = np.diag([1.0, -1.0, -1.0, 1.0])  # flip y and z of the camera frame
        return np.linalg.inv(self.head_to_camera()) @ opencv_to_opengl


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues: [...,3] -> [...,3,3]; smooth at zero (uses the series-free cross-product form)."""
    angle = torch.sqrt((axis_angle * axis_angle).sum(-1, keepdim=True) + 1e-12)
    axis = axis_angle / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    cross = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*axis.shape[:-1], 3, 3)
    sin, cos = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype).expand_as(cross)
    return eye + sin * cross + (1 - cos) * (cross @ cross)


def project(points: torch.Tensor, focal: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Pinhole projection of OpenCV camera-space points [...,3] -> pixels [...,2]."""
    return focal * points[..., :2] / points[..., 2:].clamp_min(1e-4) + centre


class LandmarkBasis:
    """The model restricted to the fitted vertices (fast): neutral [P,3], deltas [K,P,3], [I,P,3]."""

    def __init__(self, model, vertex_indices: np.ndarray):
        take = lambda array: torch.as_tensor(np.asarray(array, np.float64)[..., vertex_indices, :])
        self.neutral = take(model.neutral)
        self.expression = take(model.expression_deltas)
        identity = getattr(model, "identity_deltas", None)
        self.identity = take(identity) if identity is not None else torch.zeros(0, len(vertex_indices), 3, dtype=DTYPE)

    def vertices(self, expression: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """expression [N,K], identity [I] -> head-frame points [N,P,3]."""
        shape = self.neutral + torch.einsum("i,ipc->pc", identity, self.identity)
        return shape + torch.einsum("nk,kpc->npc", expression, self.expression)


def rigid_landmarks(model, correspondence: Correspondence) -> np.ndarray:
    """Indices into correspondence.landmarks whose vertex barely moves under any expression."""
    deltas = np.asarray(model.expression_deltas, np.float32)[:, correspondence.vertices]
    motion = np.linalg.norm(deltas, axis=-1).max(axis=0)
    return np.flatnonzero(motion < RIGID_MOTION_LIMIT)


def initial_poses(model, correspondence: Correspondence, points: np.ndarray, found: np.ndarray,
                  focal: float, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame PnP on the rigid landmarks of the neutral mesh -> (axis-angle [N,3], t [N,3]).

    Frames without a face copy the nearest frame that has one.
    """
    import cv2

    rigid = rigid_landmarks(model, correspondence)
    object_points = np.asarray(model.neutral, np.float64)[correspondence.vertices[rigid]]
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], np.float64)
    facing_camera = cv2.Rodrigues(np.diag([1.0, -1.0, -1.0]))[0]  # head looks back at the camera
    guess_t = np.array([[0.0], [0.0], [focal * 0.15 / (2 * centre[0])]])  # a 15 cm face filling ~half
    rotations = np.zeros((len(points), 3))
    translations = np.zeros((len(points), 3))
    with_face = np.flatnonzero(found)
    for i in with_face:
        image_points = points[i, correspondence.landmarks[rigid]].astype(np.float64)
        _, rvec, tvec = cv2.solvePnP(object_points, image_points, camera, None, facing_camera.copy(),
                                      guess_t.copy(), useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
        rotations[i], translations[i] = rvec[:, 0], tvec[:, 0]
    nearest = with_face[np.abs(np.arange(len(points))[:, None] - with_face[None]).argmin(axis=1)]
    return rotations[nearest], translations[nearest]


def second_difference(sequence: torch.Tensor) -> torch.Tensor:
    """[N,...] -> [N-2,...]: x[t+1] - 2 x[t] + x[t-1]."""
    return sequence[2:] - 2 * sequence[1:-1] + sequence[:-2]


def symmetric_pairs(names: list[str]) -> list[tuple[int, int]]:
    """(left, right) index pairs that should move together; gaze pairs are conjugate (In_L ~ Out_R)."""
    index = {name: i for i, name in enumerate(names)}
    conjugate = {"eyeLookIn_L": "eyeLookOut_R", "eyeLookOut_L": "eyeLookIn_R"}
    pairs = []
    for name, i in index.items():
        if name.endswith("_L"):
            partner = conjugate.get(name, name[:-2] + "_R")
            if partner in index:
                pairs.append((i, index[partner]))
    return pairs


def fit_landmarks(model, correspondence: Correspondence, points: np.ndarray, found: np.ndarray,
                  image_size: tuple[int, int], config: FitConfig | None = None,
                  progress: bool = True) -> FitResult:
    """Fit pose, focal, identity and expressions to landmarks.

    points [N,478,2] pixels (MediaPipe order), found [N] bool, image_size (width, height).
    Unless config.focal is given, the focal length is first chosen from config.focal_candidates
    by short fits on a few frames: focal and depth trade off almost exactly (only perspective
    distortion tells them apart), so gradient steps from one guess barely move it.
    """
    config = config or FitConfig()
    size = max(image_size)
    if config.focal is not None:
        return _fit_with_focal(model, correspondence, points, found, image_size, config, config.focal, False, progress)
    with_face = np.flatnonzero(found)
    subset = with_face[np.linspace(0, len(with_face) - 1, min(config.focal_search_frames, len(with_face))).astype(int)]
    search = replace(config, rigid_iterations=config.search_iterations // 2, iterations=config.search_iterations,
                     polish_steps=0)
    losses = []
    for fraction in tqdm(config.focal_candidates, desc="fit: focal search", disable=not progress, leave=False):
        trial = _fit_with_focal(model, correspondence, points[subset], found[subset], image_size, search,
                                fraction * size, False, False)
        losses.append(trial.final_terms["landmarks"] + trial.final_terms["identity"])
    best = config.focal_candidates[int(np.argmin(losses))] * size
    return _fit_with_focal(model, correspondence, points, found, image_size, config, best, True, progress)


def _fit_with_focal(model, correspondence: Correspondence, points: np.ndarray, found: np.ndarray,
                    image_size: tuple[int, int], config: FitConfig, focal0: float, fit_focal: bool,
                    progress: bool) -> FitResult:
    """The fit from an initial focal length (kept fixed unless fit_focal)."""
    width, height = image_size
    centre_np = np.array([width / 2, height / 2])
    rotation0, translation0 = initial_poses(model, correspondence, points, found, focal0, centre_np)

    num_frames, num_expressions = len(points), len(model.expression_names)
    landmark_basis = LandmarkBasis(model, correspondence.vertices)
    iris_basis = LandmarkBasis(model, correspondence.iris_vertices)
    targets = torch.as_tensor(points[:, correspondence.landmarks], dtype=DTYPE)
    iris_targets = torch.as_tensor(points[:, correspondence.iris_landmarks], dtype=DTYPE)
    frame_weight = torch.as_tensor(found, dtype=DTYPE)[:, None]
    centre = torch.as_tensor(centre_np, dtype=DTYPE)
    gaze = torch.tensor([name.startswith(GAZE_PREFIX) for name in model.expression_names])
    pairs = torch.tensor(symmetric_pairs(list(model.expression_names)), dtype=torch.long).reshape(-1, 2)

    base_rotation = axis_angle_to_matrix(torch.as_tensor(rotation0, dtype=DTYPE))
    params = {
        "rotation": torch.zeros(num_frames, 3, dtype=DTYPE),
        "translation": torch.as_tensor(translation0, dtype=DTYPE),
        "log_focal": torch.tensor(float(np.log(focal0)), dtype=DTYPE),
        "identity": torch.zeros(landmark_basis.identity.shape[0], dtype=DTYPE),
        "expression": torch.zeros(num_frames, num_expressions, dtype=DTYPE),
    }
    for tensor in params.values():
        tensor.requires_grad_(True)

    def pose_points(basis, expression, identity, rotation, translation):
        rotations = base_rotation @ axis_angle_to_matrix(rotation)
        return basis.vertices(expression, identity) @ rotations.transpose(1, 2) + translation[:, None]

    def huber(residual):
        distance = residual.norm(dim=-1)
        delta = config.huber_pixels
        return torch.where(distance < delta, 0.5 * distance**2, delta * (distance - 0.5 * delta))

    def loss_terms():
        p = params
        focal = p["log_focal"].exp()
        face = project(pose_points(landmark_basis, p["expression"], p["identity"], p["rotation"], p["translation"]),
                       focal, centre)
        eyes = project(pose_points(iris_basis, p["expression"], p["identity"], p["rotation"], p["translation"]),
                       focal, centre)
        per_frame = found.sum().item()
        w = p["expression"]
        terms = {
            "landmarks": (huber(face - targets) * frame_weight).mean(-1).sum() / per_frame,
            "iris": config.iris * (huber(eyes - iris_targets) * frame_weight).mean(-1).sum() / per_frame,
            "sparsity": config.sparsity * w.sum(-1).mean(),
            "identity": config.identity * (p["identity"] ** 2).sum(),
        }
        if num_frames > 1:
            terms["smoothness"] = config.smoothness * ((w[1:] - w[:-1]) ** 2).sum(-1).mean()
        if num_frames > 2:
            # acceleration, not velocity: a head turning at constant speed is not penalised
            rotations = base_rotation @ axis_angle_to_matrix(p["rotation"])
            rotation_jerk = (second_difference(rotations) ** 2).sum((-2, -1)) / 2  # ~ angle^2 for small turns
            translation_jerk = ((TRANSLATION_TO_RADIANS * second_difference(p["translation"])) ** 2).sum(-1)
            terms["pose_smoothness"] = config.pose_smoothness * (rotation_jerk + translation_jerk).mean()
        if len(pairs):
            terms["symmetry"] = config.symmetry * ((w[:, pairs[:, 0]] - w[:, pairs[:, 1]]) ** 2).sum(-1).mean()
        return terms, face

    # Two blocks, alternated, each a proper objective: the face block (pose, focal, identity, all
    # non-gaze coefficients) ignores the irises, so they cannot pull the pose; the gaze block (the
    # eye-look coefficients alone) sees only the irises, so eyelid errors cannot drive the gaze.
    face_block = (~gaze, [name for name in LOSS_NAMES if name != "iris"])
    gaze_block = (gaze, ["iris", "sparsity", "smoothness", "symmetry"])
    history = []

    def objective(terms_used):
        terms, _ = loss_terms()
        return sum(terms[name] for name in terms_used if name in terms)

    def mask_gradients(free_columns):
        w, grad = params["expression"], params["expression"].grad
        if grad is not None:
            grad[:, ~free_columns] = 0
            # active set: coefficients pressing against a bound stay there (keeps L-BFGS consistent)
            grad[((w <= 0) & (grad > 0)) | ((w >= 1) & (grad < 0))] = 0

    def adam(names, block, iterations, label):
        free_columns, terms_used = block
        optimiser = torch.optim.Adam([{"params": [params[n]], "lr": config.learning_rates[n]} for n in names])
        # decay so the last steps settle instead of rattling around the optimum
        decay = torch.optim.lr_scheduler.ExponentialLR(optimiser, FINAL_LR_FRACTION ** (1 / max(iterations, 1)))
        for _ in tqdm(range(iterations), desc=label, disable=not progress, leave=False):
            optimiser.zero_grad()
            loss = objective(terms_used)
            loss.backward()
            mask_gradients(free_columns)
            optimiser.step()
            decay.step()
            with torch.no_grad():
                params["expression"].clamp_(0.0, 1.0)
            history.append(loss.item())

    def polish(names, block, steps, label):
        # quasi-Newton finish: Adam stalls along the weakly determined depth/rotation directions
        free_columns, terms_used = block
        optimiser = torch.optim.LBFGS([params[n] for n in names], lr=1.0, max_iter=LBFGS_INNER_ITERATIONS,
                                      history_size=LBFGS_HISTORY, line_search_fn="strong_wolfe")

        def closure():
            optimiser.zero_grad()
            loss = objective(terms_used)
            loss.backward()
            mask_gradients(free_columns)
            return loss

        for _ in tqdm(range(steps), desc=label, disable=not progress, leave=False):
            history.append(optimiser.step(closure).item())
            with torch.no_grad():
                params["expression"].clamp_(0.0, 1.0)

    rigid = ["rotation", "translation"] + (["log_focal"] if fit_focal else [])
    everything = rigid + ["identity", "expression"]
    adam(rigid, face_block, config.rigid_iterations, "fit: rigid")
    adam(everything, face_block, config.iterations, "fit: face")
    polish(everything, face_block, config.polish_steps, "fit: face polish")
    polish(["expression"], gaze_block, config.polish_steps, "fit: gaze")

    with torch.no_grad():
        terms, face = loss_terms()
        error = (face - targets).norm(dim=-1).mean(-1).numpy()
        rotation = (base_rotation @ axis_angle_to_matrix(params["rotation"])).numpy()
    error = np.where(found, error, np.nan)
    return FitResult(rotation.astype(np.float64), params["translation"].detach().numpy().astype(np.float64),
                     params["log_focal"].exp().item(), params["identity"].detach().numpy(),
                     params["expression"].detach().numpy(), error, history,
                     {name: value.item() for name, value in terms.items()})
