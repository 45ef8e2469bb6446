"""Batched fit of a blendshape model to 2D landmarks of a whole clip (torch, Gauss-Newton / LM).

Unknowns, all frames at once:
    per frame: rotation (axis-angle increment on a PnP start), translation [3] metres,
               expression [K] kept in [0,1] (active set + projection);
    shared:    log focal length (pixels, principal point at the image centre), identity [I], and
               the landmark bias [M] along the correspondence's bias modes (how MediaPipe's points
               sit off the model's differs between people; see nbskit.tracking.calibration).

Each Levenberg-Marquardt step linearises the landmark residuals (Huber via iteratively
reweighted least squares) and solves the normal equations exactly for the arrowhead structure:
one small dense block per frame plus the shared unknowns, eliminated with a Schur complement
(batched Cholesky solves over frames). The temporal priors couple neighbouring frames; their
Hessian is replaced by a diagonal that bounds it (row sums), so a step never overshoots them.

Stages: rigid (pose, focal), face (everything but gaze, weak identity prior), refit (the same with
the identity prior set from the landmark misfit the face stage left, see FitConfig), depth (with
MediaPipe's relative depths: the same, plus how those depths change over the clip), gaze.

Camera convention inside this module: OpenCV (x right, y down, looking along +z); a head-frame
point X maps to camera space as R X + t. `FitResult.camera_to_world_opengl` folds the head pose
into cameras for the subject format (world = head frame, OpenGL axes).

Priors and what they fix:
    sparsity (L1 on w >= 0)        many shapes explain the same few landmarks; prefer few active ones
    temporal smoothness            landmark jitter otherwise becomes expression/pose jitter
    left/right coupling            one-sided landmark noise otherwise becomes asymmetric expressions
    identity (Gaussian)            identity and expression are not separable from one frame, and
                                   the landmarks' own bias would otherwise be fitted as face shape
    landmark bias (Gaussian)       the part of that bias that is correlated across the face, measured
                                   on synthetic people, gets its own coefficients (N(0,1) per mode)
    gaze from irises only          eye-look shapes see only the iris centres, so they cannot absorb
                                   eyelid or pose errors (and the iris cannot pull the pose)
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from nbskit.tracking.correspondence import Correspondence

RIGID_MOTION_LIMIT = 0.002  # metres: a vertex moving less than this under every expression is rigid
GAZE_PREFIX = "eyeLook"
TRANSLATION_TO_RADIANS = 10.0  # 1 cm of head motion weighs like 0.1 rad of rotation in the pose prior
DTYPE = torch.float64  # the depth/focal valley is flat: losses and gradients need float64
HESSIAN_DTYPE = torch.float32
FIRST_DIFFERENCE = (-1.0, 1.0)  # stencils of the temporal priors along frames
SECOND_DIFFERENCE = (1.0, -2.0, 1.0)
DAMPING_UP, DAMPING_DOWN = 4.0, 3.0  # LM: factor on a rejected / accepted step
MAX_REJECTIONS = 8  # LM tries per iteration before giving up
MIN_DAMPING = 1e-9
DIAGONAL_FLOOR = 1e-9  # keeps blocks of unobserved frames solvable


@dataclass
class FitConfig:
    """Weights and schedule of the fit. Loss terms are per frame; landmark residuals in pixels."""

    rigid_iterations: int = 8  # LM iterations on pose (and focal) only
    iterations: int = 15  # LM iterations on everything but gaze (weak identity prior)
    gaze_iterations: int = 4  # LM iterations on the eye-look shapes against the irises
    tolerance: float = 1e-7  # stop a stage when an accepted step lowers the loss by less (relative)
    focal: float | None = None  # known focal length in pixels; None: search, then refine
    focal_candidates: tuple = (0.8, 1.2, 1.8, 2.7, 4.0)  # focal / image size: phone lens to telephoto
    focal_search_frames: int = 12
    search_iterations: int = 10
    damping: float = 1e-3  # initial LM damping, relative to the diagonal of the normal equations
    huber_pixels: float = 3.0  # residuals beyond this count linearly (MediaPipe outliers)
    sparsity: float = 0.002
    smoothness: float = 0.1  # on expression differences between neighbouring frames
    pose_smoothness: float = 50.0  # on rotation (rad) and translation accelerations
    symmetry: float = 0.1
    # identity prior: coefficients ~ N(0,1) against a landmark bias of landmark_bias_px. MediaPipe
    # sits ~1.3 px RMS from the model's points on renders of the ICT head (face ~120 px wide), and
    # most of that is an offset per landmark that depends on the person and stays for the whole
    # clip: it does not average out over frames, so the prior is weighed against one frame's worth
    # of landmarks (a weight that shrank with clip length let long clips fit the bias as face shape).
    # None: measure it, as the RMS landmark residual left by a first face stage run with
    # initial_landmark_bias_px (exact landmarks leave ~0 and keep a weak prior; MediaPipe's ~1.2 px)
    landmark_bias_px: float | None = None
    initial_landmark_bias_px: float = 0.5
    # how many of the correspondence's landmark bias modes (MediaPipe's bias, person by person) get
    # coefficients. 0 for landmarks without that bias (e.g. projected ground truth): with nothing
    # to tell a bias from a face, the modes would take part of the face shape
    bias_modes: int = 20
    refit_iterations: int = 6  # LM iterations of the face stage with the bias modes, after the bias was measured
    iris: float = 1.0
    # depth stage (with [N,478,3] input): MediaPipe's per-landmark relative depth (its z) against
    # the model's, weight of a depth pixel against an image pixel. Its static part is MediaPipe's
    # idea of a face (as far from the truth as the fitted depths, ~2 px RMS on the ICT renders),
    # so it is measured and removed per landmark; what is left, how the depths change over the
    # clip, pins the head's pitch, which the 2D points under-report (a nod moves them little)
    depth_weight: float = 0.5
    depth_iterations: int = 4
    # only landmarks whose vertex moves less than this (metres) under every expression: MediaPipe's
    # depths of the mouth and chin follow expressions poorly and would drag the jaw with them
    depth_motion_limit: float = 0.01

    def starting_landmark_bias(self) -> float:
        """The landmark bias (pixels) the identity prior starts from: the given one, else the initial guess."""
        return self.initial_landmark_bias_px if self.landmark_bias_px is None else self.landmark_bias_px


@dataclass
class FitResult:
    """Fitted parameters: rotation [N,3,3], translation [N,3] (head -> OpenCV camera), focal (px),
    identity [I], expression [N,K], reprojection_error [N] mean landmark error in pixels (NaN where
    no face was found), loss_history: total loss per accepted step, final_terms: each loss term."""

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
    cross = skew(axis)
    sin, cos = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype).expand_as(cross)
    return eye + sin * cross + (1 - cos) * (cross @ cross)


def skew(vectors: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices [...,3,3] of vectors [...,3]: skew(a) @ b == a x b."""
    x, y, z = vectors.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*vectors.shape[:-1], 3, 3)


def project(points: torch.Tensor, focal: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Pinhole projection of OpenCV camera-space points [...,3] -> pixels [...,2]."""
    return focal * points[..., :2] / points[..., 2:].clamp_min(1e-4) + centre


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of values [N,P,...] where mask [P] (0/1) is set, keeping the dim."""
    weights = mask.reshape(1, -1, *([1] * (values.dim() - 2)))
    return (values * weights).sum(1, keepdim=True) / mask.sum()


def relative_depth(points: torch.Tensor, focal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Depths of camera-space points [N,P,3] relative to each frame's mean over mask [P], in pixels
    at that mean depth -> [N,P]: the units of MediaPipe's z (scaled by the image width)."""
    depth = points[..., 2]
    mean = masked_mean(depth, mask)
    return focal * (depth - mean) / mean


def centred_depths(depths: np.ndarray, columns: np.ndarray, mask: torch.Tensor) -> torch.Tensor:
    """Measured relative depths [N,478] (pixels) at `columns`, centred per frame over mask -> [N,P]."""
    taken = torch.as_tensor(np.asarray(depths, np.float64)[:, columns], dtype=DTYPE)
    return taken - masked_mean(taken, mask)


class LandmarkBasis:
    """The model restricted to the fitted vertices (fast): neutral [P,3], deltas [K,P,3], and the
    shared shape modes [I+M,P,3]: the model's identity modes, then M bias modes (see Correspondence).

    offsets [P,3] (metres, head frame) move the points off their vertices; bias_modes [M,P,3]
    (default: M zero modes) are how that offset varies between people.
    """

    def __init__(self, model, vertex_indices: np.ndarray, offsets: np.ndarray | None = None,
                 bias_modes: np.ndarray | None = None, num_bias_modes: int = 0):
        take = lambda array: torch.as_tensor(np.asarray(array, np.float64)[..., vertex_indices, :])
        self.neutral = take(model.neutral)
        if offsets is not None:
            self.neutral = self.neutral + torch.as_tensor(offsets, dtype=DTYPE)
        self.expression = take(model.expression_deltas)
        identity = getattr(model, "identity_deltas", None)
        identity = take(identity) if identity is not None else torch.zeros(0, len(vertex_indices), 3, dtype=DTYPE)
        if bias_modes is None:
            bias_modes = torch.zeros(num_bias_modes, len(vertex_indices), 3, dtype=DTYPE)
        self.identity = torch.cat([identity, torch.as_tensor(bias_modes, dtype=DTYPE)])

    def vertices(self, expression: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """expression [N,K], identity [I] -> head-frame points [N,P,3]."""
        shape = self.neutral + torch.einsum("i,ipc->pc", identity, self.identity)
        return shape + torch.einsum("nk,kpc->npc", expression, self.expression)


def rigid_landmarks(model, correspondence: Correspondence, limit: float = RIGID_MOTION_LIMIT) -> np.ndarray:
    """Indices into correspondence.landmarks whose vertex moves less than limit (metres) under every expression."""
    deltas = np.asarray(model.expression_deltas, np.float32)[:, correspondence.vertices]
    motion = np.linalg.norm(deltas, axis=-1).max(axis=0)
    return np.flatnonzero(motion < limit)


def initial_poses(model, correspondence: Correspondence, points: np.ndarray, found: np.ndarray,
                  focal: float, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame PnP on the rigid landmarks of the neutral mesh -> (axis-angle [N,3], t [N,3]).

    Frames without a face copy the nearest frame that has one.
    """
    import cv2

    rigid = rigid_landmarks(model, correspondence)
    object_points = correspondence.landmark_points(np.asarray(model.neutral, np.float64))[rigid]
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], np.float64)
    facing_camera = cv2.Rodrigues(np.diag([1.0, -1.0, -1.0]))[0]  # head looks back at the camera
    guess_t = np.array([[0.0], [0.0], [focal * 0.15 / (2 * centre[0])]])  # a 15 cm face filling ~half
    rotations = np.zeros((len(points), 3))
    translations = np.zeros((len(points), 3))
    with_face = np.flatnonzero(found)
    for i in with_face:
        image_points = points[i, correspondence.landmarks[rigid], :2].astype(np.float64)
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


def difference_gram_diagonal(frames: int, stencil: tuple) -> torch.Tensor:
    """Diagonal [N] of D^T D for the difference operator D along frames with `stencil`."""
    width = len(stencil)
    diagonal = torch.zeros(frames, dtype=DTYPE)
    if frames >= width:
        for j, c in enumerate(stencil):
            diagonal[j:frames - width + 1 + j] += c * c
    return diagonal


def difference_gram_band(frames: int, stencil: tuple) -> list[torch.Tensor]:
    """Off-diagonals of D^T D (D: see difference_gram_diagonal): entry d-1 is [N-d], the coupling of frames t, t+d."""
    width = len(stencil)
    bands = [torch.zeros(max(frames - d, 0), dtype=DTYPE) for d in range(1, width)]
    if frames >= width:
        for d in range(1, width):
            for j in range(width - d):
                bands[d - 1][j:frames - width + 1 + j] += stencil[j] * stencil[j + d]
    return bands


@contextmanager
def one_torch_thread():
    """Run torch single-threaded inside: the fit is many small batched solves, which a second
    thread does not speed up and which slow down by 10-100x when threads wait on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_landmarks(model, correspondence: Correspondence, points: np.ndarray, found: np.ndarray,
                  image_size: tuple[int, int], config: FitConfig | None = None,
                  progress: bool = True, point_weights: np.ndarray | None = None) -> FitResult:
    """Fit pose, focal, identity and expressions to landmarks (see `_fit_landmarks`); single-threaded."""
    if point_weights is None:
        point_weights = np.ones(points.shape[:2])
    with one_torch_thread():
        return _fit_landmarks(model, correspondence, points, found, image_size, config, progress, point_weights)


def _fit_landmarks(model, correspondence: Correspondence, points: np.ndarray, found: np.ndarray,
                   image_size: tuple[int, int], config: FitConfig | None, progress: bool,
                   point_weights: np.ndarray) -> FitResult:
    """Fit pose, focal, identity and expressions to landmarks.

    points [N,478,2] pixels (MediaPipe order), or [N,478,3] with each landmark's relative depth
    (MediaPipe's z times the image width) as a third column, fitted with FitConfig.depth_weight;
    found [N] bool, image_size (width, height); point_weights [N,478] scale each landmark's terms
    (below 1 for landmarks a hand covers, which MediaPipe can only guess).
    Unless config.focal is given, the focal length is first chosen from config.focal_candidates
    by short fits on a few frames, then refined with everything else: focal and depth trade off
    almost exactly (only perspective distortion tells them apart), so the valley is long and flat
    and a good start matters.
    """
    config = config or FitConfig()
    found = np.asarray(found, bool)
    if not found.any():
        raise ValueError("fit_landmarks: no frame has landmarks (found is all False)")
    if config.focal is not None:
        return LandmarkFit(model, correspondence, points, found, image_size, config, config.focal,
                           point_weights).run(False, progress)
    size = max(image_size)
    with_face = np.flatnonzero(found)
    subset = with_face[np.linspace(0, len(with_face) - 1, min(config.focal_search_frames, len(with_face))).astype(int)]
    # a fixed identity prior, so that the candidates' losses compare like with like
    search = replace(config, rigid_iterations=config.search_iterations, iterations=config.search_iterations,
                     refit_iterations=0, gaze_iterations=0, depth_iterations=0,
                     landmark_bias_px=config.starting_landmark_bias())
    losses = []
    for fraction in tqdm(config.focal_candidates, desc="fit: focal search", disable=not progress, leave=False):
        trial = LandmarkFit(model, correspondence, points[subset], found[subset], image_size, search, fraction * size,
                            point_weights[subset])
        result = trial.run(False, False)
        losses.append(result.final_terms["landmarks"] + result.final_terms["identity"])
    best = config.focal_candidates[int(np.argmin(losses))] * size
    return LandmarkFit(model, correspondence, points, found, image_size, config, best, point_weights).run(True, progress)


class LandmarkFit:
    """One Levenberg-Marquardt fit from an initial focal length (see module docstring).

    Per-frame unknowns, in this order: rotation increment [3], translation [3], expression [K];
    shared: log focal [1], identity [I]. A stage frees a subset of them (boolean masks).
    """

    def __init__(self, model, correspondence: Correspondence, points: np.ndarray, found: np.ndarray,
                 image_size: tuple[int, int], config: FitConfig, focal: float, point_weights: np.ndarray):
        width, height = image_size
        self.config = config
        self.centre = torch.tensor([width / 2, height / 2], dtype=DTYPE)
        rotation0, translation0 = initial_poses(model, correspondence, points, found, focal, self.centre.numpy())
        self.num_frames, self.num_expressions = len(points), len(model.expression_names)
        # the bias modes are shared unknowns like the identity, with the same N(0,1) prior, that
        # move only the face landmarks
        bias_modes = correspondence.bias_modes[:config.bias_modes]
        self.face = LandmarkBasis(model, correspondence.vertices, correspondence.offsets, bias_modes)
        self.iris = LandmarkBasis(model, correspondence.iris_vertices, num_bias_modes=len(bias_modes))
        self.num_model_identities = self.face.identity.shape[0] - len(bias_modes)
        self.face_targets = torch.as_tensor(points[:, correspondence.landmarks, :2], dtype=DTYPE)
        self.iris_targets = torch.as_tensor(points[:, correspondence.iris_landmarks, :2], dtype=DTYPE)
        weights = torch.as_tensor(np.asarray(point_weights), dtype=DTYPE)  # [N,478]
        self.point_weights = {id(self.face): weights[:, correspondence.landmarks],
                              id(self.iris): weights[:, correspondence.iris_landmarks]}
        self.depth_mask = torch.zeros(len(correspondence.landmarks), dtype=DTYPE)
        self.depth_mask[rigid_landmarks(model, correspondence, config.depth_motion_limit)] = 1.0
        with_depth = (points.shape[-1] == 3 and config.depth_weight > 0 and config.depth_iterations > 0
                      and bool(self.depth_mask.any()))
        self.measured_depths = (centred_depths(points[..., 2], correspondence.landmarks, self.depth_mask)
                                if with_depth else None)
        self.depth_targets = None  # the measured depths less their static part, from the depth stage on
        self.found = torch.as_tensor(found, dtype=DTYPE)
        self.gaze = torch.tensor([name.startswith(GAZE_PREFIX) for name in model.expression_names])
        self.pairs = torch.tensor(symmetric_pairs(list(model.expression_names)), dtype=torch.long).reshape(-1, 2)
        self.num_identities = self.face.identity.shape[0]
        self.set_landmark_bias(config.starting_landmark_bias())
        self.state = {
            "rotation": axis_angle_to_matrix(torch.as_tensor(rotation0, dtype=DTYPE)),
            "translation": torch.as_tensor(translation0, dtype=DTYPE),
            "log_focal": torch.tensor([float(np.log(focal))], dtype=DTYPE),
            "identity": torch.zeros(self.num_identities, dtype=DTYPE),
            "expression": torch.zeros(self.num_frames, self.num_expressions, dtype=DTYPE),
        }
        self.history: list[float] = []

    def set_landmark_bias(self, bias_px: float) -> None:
        """Identity prior for a landmark bias of bias_px shared by all frames: a Gaussian in the
        units of the data term (mean over frames of half the squared pixel residual per landmark)."""
        self.identity_weight = bias_px**2 / (2 * self.face_targets.shape[1])

    def static_depth_bias(self) -> torch.Tensor:
        """Per-landmark mean [P] over frames with a face of measured minus model relative depth."""
        with torch.no_grad():
            camera, focal = self.project_landmarks(self.state, self.face)[1:3]
            weight = self.found[:, None] * self.point_weights[id(self.face)]  # [N,P]
            difference = (self.measured_depths - relative_depth(camera, focal, self.depth_mask)) * weight
        return difference.sum(0) / weight.sum(0).clamp_min(1e-12)

    def measured_landmark_bias(self) -> float:
        """RMS landmark residual (pixels) of the current state over frames with a face, each landmark
        counted with its point weight (those under a hand would pass for a large bias)."""
        with torch.no_grad():
            residual = self.project_landmarks(self.state, self.face)[3] - self.face_targets
        weight = self.found[:, None] * self.point_weights[id(self.face)]  # [N,P]
        return float(torch.sqrt(((residual**2).sum(-1) * weight).sum() / weight.sum()))

    # ----------------------------------------------------------------------------------- loss
    def project_landmarks(self, state: dict, basis: LandmarkBasis):
        """The model landmarks of ``state``: head-frame points [N,P,3], camera-space points [N,P,3],
        the focal length and their pixels [N,P,2]."""
        focal = state["log_focal"].exp()
        head = basis.vertices(state["expression"], state["identity"])
        camera = head @ state["rotation"].transpose(1, 2) + state["translation"][:, None]
        return head, camera, focal, project(camera, focal, self.centre)

    def data_term(self, state: dict, basis: LandmarkBasis, targets: torch.Tensor, weight: float,
                  depth_targets: torch.Tensor | None = None, jacobian: bool = False):
        """Huber landmark loss (mean over points, sum over frames / frames with a face), plus with
        depth_targets [N,P] a quadratic loss on the landmarks' relative depths (see `relative_depth`).

        Returns loss, and with jacobian=True also residuals r [N,P,C], their weights [N,P,C] (IRLS
        for x and y) scaled like the loss, and the Jacobians (d residual / d unknowns): frame
        [N,P,C,6+K], shared [N,P,C,1+I]; C = 2 (x, y), or 3 (x, y, depth) with depth_targets.
        """
        rotation = state["rotation"]
        head, camera, focal, pixels = self.project_landmarks(state, basis)
        residual = pixels - targets
        distance = residual.norm(dim=-1)
        delta = self.config.huber_pixels
        scale = (weight * self.found[:, None] * self.point_weights[id(basis)]
                 / (self.found.sum() * residual.shape[1]))  # [N,P]
        huber = torch.where(distance < delta, 0.5 * distance**2, delta * (distance - 0.5 * delta))
        loss = (huber * scale).sum()
        if depth_targets is not None:
            depth_residual = relative_depth(camera, focal, self.depth_mask) - depth_targets
            depth_scale = self.config.depth_weight * scale * self.depth_mask  # [N,P]
            loss = loss + (0.5 * depth_residual**2 * depth_scale).sum()
        if not jacobian:
            return loss
        irls = torch.where(distance < delta, torch.ones_like(distance), delta / distance.clamp_min(1e-12)) * scale
        depth = camera[..., 2:].clamp_min(1e-4)
        zero = torch.zeros_like(depth)
        rows = [torch.cat([1 + zero, zero, -camera[..., :1] / depth], -1),
                torch.cat([zero, 1 + zero, -camera[..., 1:2] / depth], -1)]
        weights = [irls, irls]
        if depth_targets is not None:
            # d relative depth / d camera point, with the frame's mean depth held fixed (it moves
            # with every point, by 1/P each: the centring below accounts for that to first order)
            mean_depth = masked_mean(camera[..., 2:], self.depth_mask)
            rows.append(torch.cat([zero, zero, depth / mean_depth], -1))
            weights.append(depth_scale)
            residual = torch.cat([residual, depth_residual[..., None]], -1)
        d_pixel_d_camera = (focal / depth)[..., None] * torch.stack(rows, -2)  # [N,P,C,3]
        through_rotation = d_pixel_d_camera @ rotation[:, None]  # [N,P,C,3]: d residual / d head point
        # R <- R exp(rho): d(R X)/d rho = -R skew(X)
        d_rotation = -through_rotation @ skew(head)
        d_expression = torch.einsum("npab,kpb->npak", through_rotation, basis.expression)
        d_identity = torch.einsum("npab,ipb->npai", through_rotation, basis.identity)
        d_log_focal = (pixels - self.centre)[..., None]
        if depth_targets is not None:
            d_log_focal = torch.cat([d_log_focal, (depth_residual + depth_targets)[..., None, None]], -2)
        frame_jacobian = torch.cat([d_rotation, d_pixel_d_camera, d_expression], -1)
        shared_jacobian = torch.cat([d_log_focal, d_identity], -1)
        if depth_targets is not None:  # relative depths are centred over each frame's masked points
            frame_jacobian[..., 2, :] -= masked_mean(frame_jacobian[..., 2, :], self.depth_mask)
            shared_jacobian[..., 2, 1:] -= masked_mean(shared_jacobian[..., 2, 1:], self.depth_mask)
        return loss, residual, torch.stack(weights, -1), frame_jacobian, shared_jacobian

    def prior_terms(self, state: dict, increment: torch.Tensor | None = None) -> dict:
        """Prior losses; `increment` [N,3] (rotation increments, for autograd) is applied first."""
        config, w = self.config, state["expression"]
        rotation = state["rotation"] if increment is None else state["rotation"] @ axis_angle_to_matrix(increment)
        terms = {"sparsity": config.sparsity * w.sum(-1).mean(),
                 "identity": self.identity_weight * (state["identity"] ** 2).sum()}
        if self.num_frames > 1:
            terms["smoothness"] = config.smoothness * ((w[1:] - w[:-1]) ** 2).sum(-1).mean()
        if self.num_frames > 2:
            # acceleration, not velocity: a head turning at constant speed is not penalised
            rotation_jerk = (second_difference(rotation) ** 2).sum((-2, -1)) / 2  # ~ angle^2 for small turns
            translation_jerk = ((TRANSLATION_TO_RADIANS * second_difference(state["translation"])) ** 2).sum(-1)
            terms["pose_smoothness"] = config.pose_smoothness * (rotation_jerk + translation_jerk).mean()
        if len(self.pairs):
            terms["symmetry"] = config.symmetry * ((w[:, self.pairs[:, 0]] - w[:, self.pairs[:, 1]]) ** 2).sum(-1).mean()
        return terms

    def prior_normal_equations(self, state: dict) -> dict:
        """Prior gradients and Gauss-Newton Hessian pieces.

        Returns frame_gradient [N,6+K], shared_gradient [1+I], frame_hessian [N,6+K,6+K] (symmetry
        coupling within a frame), shared_hessian [1+I,1+I], and the temporal couplings as per-column
        weights: first_difference [6+K] (expressions: w D1^T D1) and second_difference [6+K] (pose:
        w D2^T D2, rotation increments treated as angles).
        """
        config, frames = self.config, self.num_frames
        leaves = {name: state[name].clone().requires_grad_(True) for name in ("translation", "expression", "identity")}
        increment = torch.zeros(frames, 3, dtype=DTYPE, requires_grad=True)
        total = sum(self.prior_terms({**state, **leaves}, increment).values())
        grads = torch.autograd.grad(total, [increment, leaves["translation"], leaves["expression"], leaves["identity"]])

        size = 6 + self.num_expressions
        first = torch.zeros(size, dtype=DTYPE)
        second = torch.zeros(size, dtype=DTYPE)
        if frames > 1:
            first[6:] = 2 * config.smoothness / (frames - 1)
        if frames > 2:
            second[:3] = 2 * config.pose_smoothness / (frames - 2)
            second[3:6] = second[0] * TRANSLATION_TO_RADIANS**2
        frame_hessian = torch.zeros(frames, size, size, dtype=DTYPE)
        if len(self.pairs):
            left, right = 6 + self.pairs[:, 0], 6 + self.pairs[:, 1]
            coupling = 2 * config.symmetry / frames
            frame_hessian[:, left, left] += coupling
            frame_hessian[:, right, right] += coupling
            frame_hessian[:, left, right] -= coupling
            frame_hessian[:, right, left] -= coupling
        identity_curvature = torch.full((self.num_identities,), 2 * self.identity_weight, dtype=DTYPE)
        return {"frame_gradient": torch.cat(grads[:3], -1),
                "shared_gradient": torch.cat([torch.zeros(1, dtype=DTYPE), grads[3]]),
                "frame_hessian": frame_hessian,
                "shared_hessian": torch.diag(torch.cat([torch.zeros(1, dtype=DTYPE), identity_curvature])),
                "first_difference": first, "second_difference": second}

    def total_loss(self, state: dict, gaze_stage: bool) -> torch.Tensor:
        data = (self.data_term(state, self.iris, self.iris_targets, self.config.iris) if gaze_stage
                else self.data_term(state, self.face, self.face_targets, 1.0, self.depth_targets))
        return data + sum(self.prior_terms(state).values())

    # ----------------------------------------------------------------------------------- solver
    def run(self, fit_focal: bool, progress: bool) -> FitResult:
        """Rigid stage, face stage (everything but gaze and the bias modes), the face stage again
        with the bias modes and with the identity prior set from the measured landmark bias (unless
        FitConfig gives it), with measured depths a depth stage (that, with their changes over the
        clip added), gaze stage. The bias modes join only once the face stage has found a face:
        where the landmarks are exact it already fits them, and the modes stay at zero."""
        size = 6 + self.num_expressions
        pose = torch.zeros(size, dtype=torch.bool)
        pose[:6] = True
        shared_focal = torch.zeros(1 + self.num_identities, dtype=torch.bool)
        shared_focal[0] = fit_focal
        everything = pose.clone()
        everything[6:] = ~self.gaze
        shared_face = shared_focal.clone()
        shared_face[1:1 + self.num_model_identities] = True
        shared_all = shared_focal.clone()
        shared_all[1:] = True
        gaze_only = torch.zeros(size, dtype=torch.bool)
        gaze_only[6:] = self.gaze
        config = self.config
        self.levenberg_marquardt(pose, shared_focal, False, config.rigid_iterations, "fit: rigid", progress)
        self.levenberg_marquardt(everything, shared_face, False, config.iterations, "fit: face", progress)
        if config.refit_iterations:
            if config.landmark_bias_px is None:
                self.set_landmark_bias(self.measured_landmark_bias())
            self.levenberg_marquardt(everything, shared_all, False, config.refit_iterations, "fit: refit", progress)
        if self.measured_depths is not None:
            self.depth_targets = self.measured_depths - self.static_depth_bias()
            self.levenberg_marquardt(everything, shared_all, False, config.depth_iterations, "fit: depth", progress)
        self.levenberg_marquardt(gaze_only, torch.zeros_like(shared_all), True, config.gaze_iterations, "fit: gaze",
                                 progress)
        return self.result()

    def levenberg_marquardt(self, frame_free: torch.Tensor, shared_free: torch.Tensor, gaze_stage: bool,
                            iterations: int, label: str, progress: bool) -> None:
        """Damped Gauss-Newton on the free unknowns: accept steps that lower the loss."""
        damping = self.config.damping
        loss = self.total_loss(self.state, gaze_stage).item()
        for _ in tqdm(range(iterations), desc=label, disable=not progress, leave=False):
            system = self.normal_equations(self.state, frame_free, shared_free, gaze_stage)
            for _ in range(MAX_REJECTIONS):
                candidate = self.solve(system, damping)
                candidate_loss = self.total_loss(candidate, gaze_stage).item()
                if candidate_loss < loss:
                    break
                damping *= DAMPING_UP
            else:
                return  # no step lowers the loss: converged as far as float64 can tell
            improvement = (loss - candidate_loss) / max(loss, 1e-300)
            self.state, loss = candidate, candidate_loss
            self.history.append(loss)
            damping = max(damping / DAMPING_DOWN, MIN_DAMPING)
            if improvement < self.config.tolerance:
                return

    def normal_equations(self, state: dict, frame_free: torch.Tensor, shared_free: torch.Tensor,
                         gaze_stage: bool) -> dict:
        """Gradient and Gauss-Newton Hessian of the free unknowns at `state`.

        Blocks: frame [N,F,F] (data, symmetry, diagonal of the temporal priors), cross [N,F,S],
        shared [S,S]; pose_coupling [N,p]: the second-difference weight between the same pose
        unknown of neighbouring frames (a stage frees all six pose unknowns or none of them).
        Unknowns pinned at a bound (active set) get identity rows and zero gradient.
        """
        basis, targets, weight, depths = ((self.iris, self.iris_targets, self.config.iris, None) if gaze_stage
                                          else (self.face, self.face_targets, 1.0, self.depth_targets))
        _, residual, row_weights, frame_jacobian, shared_jacobian = self.data_term(state, basis, targets, weight,
                                                                                   depths, True)
        frames, rows = self.num_frames, residual.shape[1] * residual.shape[2]  # every coordinate of every point
        num_frame = int(frame_free.sum())
        jacobian = torch.cat([frame_jacobian[..., frame_free], shared_jacobian[..., shared_free]], -1)
        jacobian = jacobian.reshape(frames, rows, -1)  # [N,2P,F+S]
        weighted = row_weights.reshape(frames, rows, 1) * jacobian
        gradient = (weighted.transpose(1, 2) @ residual.reshape(frames, rows, 1))[..., 0]  # [N,F+S]
        # the Hessian only shapes the step (the gradient and the loss stay float64): float32 halves the cost
        hessian = (jacobian.transpose(1, 2).to(HESSIAN_DTYPE) @ weighted.to(HESSIAN_DTYPE)).to(DTYPE)
        prior = self.prior_normal_equations(state)
        first = prior["first_difference"][frame_free]
        second = prior["second_difference"][frame_free]
        # expressions: weak coupling next to their data term, replaced by a diagonal that bounds it
        # (twice the diagonal of D1^T D1 bounds its row sums); poses: solved exactly (band)
        temporal_diagonal = (2 * first * difference_gram_diagonal(frames, FIRST_DIFFERENCE)[:, None]
                             + second * difference_gram_diagonal(frames, SECOND_DIFFERENCE)[:, None])

        frame_gradient = gradient[:, :num_frame] + prior["frame_gradient"][:, frame_free]
        shared_gradient = gradient[:, num_frame:].sum(0) + prior["shared_gradient"][shared_free]
        frame_hessian = (hessian[:, :num_frame, :num_frame] + prior["frame_hessian"][:, frame_free][:, :, frame_free]
                         + torch.diag_embed(temporal_diagonal))
        cross_hessian = hessian[:, :num_frame, num_frame:]  # [N,F,S]
        shared_hessian = hessian[:, num_frame:, num_frame:].sum(0) + prior["shared_hessian"][shared_free][:, shared_free]

        # active set: a coefficient at a bound whose gradient pushes it further out stays put
        free_pose = int(frame_free[:6].sum())
        w = state["expression"][:, frame_free[6:]]
        g_w = frame_gradient[:, free_pose:]
        pinned = ((w <= 0) & (g_w > 0)) | ((w >= 1) & (g_w < 0))  # [N,free expressions]
        keep = (~torch.cat([torch.zeros(frames, free_pose, dtype=torch.bool), pinned], 1)).to(DTYPE)
        frame_hessian = frame_hessian * keep[:, :, None] * keep[:, None, :] + torch.diag_embed(1.0 - keep)
        return {"state": state, "frame_free": frame_free, "shared_free": shared_free, "keep": keep,
                "frame_gradient": frame_gradient * keep, "shared_gradient": shared_gradient,
                "frame_hessian": frame_hessian, "cross_hessian": cross_hessian * keep[:, :, None],
                "shared_hessian": shared_hessian, "free_pose": free_pose,
                "pose_coupling": second[:free_pose].expand(frames, free_pose)}

    def solve(self, system: dict, damping: float) -> dict:
        """Damped step (H + damping diag(H)) step = -gradient -> candidate state.

        Per frame, the expressions are eliminated first (batched solves); what is left couples
        the poses of frames up to two apart, a band matrix ordered frame by frame (banded
        Cholesky); the shared unknowns go last, through the Schur complement of that band.
        """
        from scipy.linalg import cho_solve_banded, cholesky_banded

        def damped(hessian):
            diagonal = hessian.diagonal(dim1=-2, dim2=-1)
            return hessian + torch.diag_embed(damping * diagonal + DIAGONAL_FLOOR)

        frame_h, shared_h = damped(system["frame_hessian"]), damped(system["shared_hessian"])
        cross, gradient = system["cross_hessian"], system["frame_gradient"]
        pose = system["free_pose"]
        frames, num_shared = len(frame_h), cross.shape[-1]
        # eliminate the expressions of every frame: X = E^-1 [Q^T | B_e | g_e]
        coupling, expression_h = frame_h[:, :pose, pose:], frame_h[:, pose:, pose:]
        # (batched LU: torch's batched cholesky_solve is two orders of magnitude slower on CPU)
        eliminated = torch.linalg.solve(expression_h, torch.cat([coupling.transpose(1, 2), cross[:, pose:],
                                                                 gradient[:, pose:, None]], -1))
        x_pose, x_shared, x_gradient = eliminated.split([pose, num_shared, 1], -1)
        pose_h = frame_h[:, :pose, :pose] - coupling @ x_pose
        pose_cross = cross[:, :pose] - coupling @ x_shared
        pose_gradient = gradient[:, :pose, None] - coupling @ x_gradient
        shared_h = shared_h - torch.einsum("nes,net->st", cross[:, pose:], x_shared)
        shared_gradient = system["shared_gradient"] - torch.einsum("nes,ne->s", cross[:, pose:], x_gradient[..., 0])

        if pose:
            band = self.pose_band(pose_h, system["pose_coupling"])
            rhs = torch.cat([-pose_gradient, pose_cross], -1).reshape(frames * pose, -1).numpy()
            solved = cho_solve_banded((cholesky_banded(band, lower=False, check_finite=False), False), rhs,
                                      check_finite=False)
            solved = torch.as_tensor(solved).reshape(frames, pose, -1)
            pose_base, pose_per_shared = solved[..., 0], solved[..., 1:]  # P^-1 (-g_p), P^-1 B_p
        else:
            pose_base = torch.zeros(frames, 0, dtype=DTYPE)
            pose_per_shared = torch.zeros(frames, 0, num_shared, dtype=DTYPE)
        if num_shared:
            schur = shared_h - torch.einsum("nps,npt->st", pose_cross, pose_per_shared)
            shared_step = torch.linalg.solve(schur, -shared_gradient - torch.einsum("nps,np->s", pose_cross, pose_base))
        else:
            shared_step = torch.zeros(0, dtype=DTYPE)
        pose_step = pose_base - (pose_per_shared @ shared_step[:, None])[..., 0]
        expression_step = -(x_gradient[..., 0] + (x_pose @ pose_step[..., None])[..., 0]
                            + (x_shared @ shared_step[:, None])[..., 0])
        frame_step = torch.cat([pose_step, expression_step], -1)
        return self.apply(system["state"], system["frame_free"], system["shared_free"], frame_step, shared_step)

    @staticmethod
    def pose_band(pose_hessian: torch.Tensor, pose_coupling: torch.Tensor) -> np.ndarray:
        """Upper band storage [u+1, N*p] (LAPACK, u = 2p) of the pose normal equations: blocks
        pose_hessian [N,p,p] on the diagonal, pose_coupling [N,p] (weight of the second-difference
        prior per pose unknown) between the same unknown of frames one and two apart."""
        frames, width, _ = pose_hessian.shape
        upper = (len(SECOND_DIFFERENCE) - 1) * width
        band = np.zeros((upper + 1, frames * width))
        rows, cols = np.triu_indices(width)
        columns = (np.arange(frames)[:, None] * width + cols).reshape(-1)
        band[np.tile(upper + rows - cols, frames), columns] = pose_hessian[:, rows, cols].reshape(-1).numpy()
        for offset, gram in enumerate(difference_gram_band(frames, SECOND_DIFFERENCE), start=1):
            band[upper - offset * width, offset * width:] = (gram[:, None] * pose_coupling[offset:]).reshape(-1).numpy()
        return np.asfortranarray(band)

    def apply(self, state: dict, frame_free: torch.Tensor, shared_free: torch.Tensor, frame_step: torch.Tensor,
              shared_step: torch.Tensor) -> dict:
        """State plus a step on the free unknowns; expressions projected back into [0,1]."""
        frames = self.num_frames
        full_frame = torch.zeros(frames, 6 + self.num_expressions, dtype=DTYPE)
        full_frame[:, frame_free] = frame_step
        full_shared = torch.zeros(1 + self.num_identities, dtype=DTYPE)
        full_shared[shared_free] = shared_step
        return {
            "rotation": state["rotation"] @ axis_angle_to_matrix(full_frame[:, :3]),
            "translation": state["translation"] + full_frame[:, 3:6],
            "expression": (state["expression"] + full_frame[:, 6:]).clamp(0.0, 1.0),
            "log_focal": state["log_focal"] + full_shared[:1],
            "identity": state["identity"] + full_shared[1:],
        }

    def result(self) -> FitResult:
        state = self.state
        with torch.no_grad():
            landmarks = self.data_term(state, self.face, self.face_targets, 1.0)
            terms = {"landmarks": landmarks,
                     "depths": self.data_term(state, self.face, self.face_targets, 1.0, self.depth_targets) - landmarks,
                     "iris": self.data_term(state, self.iris, self.iris_targets, self.config.iris),
                     **self.prior_terms(state)}
            error = (self.project_landmarks(state, self.face)[3] - self.face_targets).norm(dim=-1).mean(-1)
        error = np.where(self.found.numpy() > 0, error.numpy(), np.nan)
        return FitResult(state["rotation"].numpy().copy(), state["translation"].numpy().copy(),
                         float(state["log_focal"].exp()), state["identity"][:self.num_model_identities].numpy().copy(),
                         state["expression"].numpy().copy(), error, list(self.history),
                         {name: float(value) for name, value in terms.items()})
