"""Synthetic subjects: a "talking head video" rendered from a blendshape model, with exact truth.

The head is fixed in world space (head space = world space, metres) and its pose is folded into
the camera, as docs/architecture.md, “Units and conventions” asks. Per frame the subject folder stores RGB over the background,
the mask (alpha > 0.5, hair included), z-depth of the head mesh, the 68 landmarks projected with
the stored camera (all of them, visible or not), the exact coefficients, the camera, and face and
mouth boxes derived from the landmarks. The last ``test_fraction`` of frames is the test split,
the ``val_fraction`` before it the validation split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nbskit.data.subject import SubjectWriter
from nbskit.data.synthetic.albedo import atlas_layout, paint_albedo, rasterise_position_map, textured_mesh
from nbskit.data.synthetic.hair import SHELL_OFFSETS, hair_shells, strand_texture
from nbskit.data.synthetic.motion import expression_tracks, pose_tracks
from nbskit.data.synthetic.presets import GENERATOR_VERSION, PRESETS, SynthPreset
from nbskit.data.synthetic.renderer import HeadRenderer, RenderedFrame, create_context
from nbskit.face.blendshape import BlendshapeModel
from nbskit.face.ict import ICTFaceModel, find_ict
from nbskit.face.procedural import ProceduralHead
from nbskit.geometry.camera import euler_to_matrix, look_at, project_points, rigid
from nbskit.geometry.intrinsics import Intrinsics

CAMERA_DISTANCE = 1.0  # metres from the face centre
FOCAL_OVER_WIDTH = 3.2  # focal length in units of the image width (about an 18 degree field of view)
AIM_ABOVE_FACE_CENTRE = 0.025  # metres
MASK_THRESHOLD = 0.5
IDENTITY_STD = 1.0  # identity coefficients ~ N(0, IDENTITY_STD^2), clipped to +-2 std
AABB_PADDING = 0.02  # metres around everything the head and hair can reach
DEPTH_QUANTUM = 2.0 / 65535  # metres per 16-bit depth step (2 m range)
FACE_BOX_FOREHEAD = 0.35  # the face box reaches this fraction of the landmark height above the brows
BOX_PADDING = 0.1  # fraction of a box's size added on every side
MOUTH_LANDMARKS = slice(48, 68)
BACKGROUND_LEVELS = (0.25, 0.85)  # range of each background colour channel: muted, never pure
PLAIN_BACKGROUND_PROBABILITY = 0.3  # otherwise a vertical gradient


def resolve_model(choice: str | BlendshapeModel | None, preset: SynthPreset) -> BlendshapeModel:
    """A model instance from 'ict', 'procedural', 'auto' (ICT when found), an instance, or None (preset)."""
    if isinstance(choice, BlendshapeModel):
        return choice
    choice = preset.model if choice is None else choice
    if choice == "auto":
        choice = "ict" if find_ict() is not None else "procedural"
    if choice == "ict":
        return ICTFaceModel.load()
    if choice == "procedural":
        return ProceduralHead()
    raise ValueError(f"unknown head model {choice!r}; expected 'ict', 'procedural' or 'auto'")


def background_image(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A plain colour or a smooth vertical gradient between two muted colours, [H,W,3] float32."""
    top = rng.uniform(*BACKGROUND_LEVELS, 3)
    bottom = top if rng.random() < PLAIN_BACKGROUND_PROBABILITY else rng.uniform(*BACKGROUND_LEVELS, 3)
    t = ((np.arange(height) + 0.5) / height)[:, None, None]
    gradient = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3))
    # Quantised to 8 bits up front, so background.png holds exactly the colours composited.
    return (np.round(gradient * 255) / 255).astype(np.float32)


def head_pose(angles: np.ndarray, translation: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """Head-to-camera-rig transform [4,4]: rotate about ``pivot`` [3], then translate."""
    rotation = euler_to_matrix(*angles)
    return rigid(rotation, pivot + translation - rotation @ pivot)


def landmark_boxes(points: np.ndarray, width: int, height: int) -> tuple[list[float], list[float]]:
    """Face and mouth boxes [x0, y0, x1, y1] (pixels, clipped to the image) from 68 landmarks [68,2]."""

    def box(p: np.ndarray, extra_top: float = 0.0) -> list[float]:
        low, high = p.min(axis=0), p.max(axis=0)
        size = high - low
        low = low - BOX_PADDING * size - [0.0, extra_top * size[1]]
        high = high + BOX_PADDING * size
        return [
            float(np.clip(low[0], 0, width)), float(np.clip(low[1], 0, height)),
            float(np.clip(high[0], 0, width)), float(np.clip(high[1], 0, height)),
        ]  # fmt: skip

    return box(points, FACE_BOX_FOREHEAD), box(points[MOUTH_LANDMARKS])


def _aabb(model: BlendshapeModel, identity, neutral: np.ndarray) -> np.ndarray:
    """World box [2,3] around the head at every single-coefficient extreme, plus the hair."""
    extremes = model.vertices(np.eye(model.num_expressions, dtype=np.float32), identity)  # [K,V,3]
    points = np.concatenate([extremes.reshape(-1, 3), neutral])
    reach = AABB_PADDING + max(SHELL_OFFSETS)
    return np.stack([points.min(axis=0) - reach, points.max(axis=0) + reach]).astype(np.float32)


class SyntheticScene:
    """Everything that stays fixed over a synthetic video: the person, the renderer, the camera rig.

    Built from (preset, seed, model) alone, so ``from_subject`` can rebuild the exact scene of a
    stored subject (to re-render a frame or rebuild its ground-truth mesh).
    """

    def __init__(self, settings: SynthPreset, seed: int, model: str | BlendshapeModel | None = None):
        self.settings, self.seed = settings, int(seed)
        self.head = resolve_model(model, settings)
        head = self.head
        appearance_rng, self.motion_rng, identity_rng, background_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(4)
        )
        self.identity = None
        if head.num_identities:
            draw = identity_rng.normal(0.0, IDENTITY_STD, head.num_identities)
            self.identity = np.clip(draw, -2 * IDENTITY_STD, 2 * IDENTITY_STD).astype(np.float32)
        neutral = head.vertices(np.zeros(head.num_expressions, np.float32), self.identity)

        size = settings.resolution
        focal = FOCAL_OVER_WIDTH * size
        self.intrinsics = Intrinsics(
            width=size, height=size, fl_x=focal, fl_y=focal, cx=size / 2, cy=size / 2
        )
        self.K = self.intrinsics.matrix()
        face_centre = neutral[head.landmark_indices].mean(axis=0).astype(np.float64)
        self.pivot = np.array([0.0, face_centre[1], 0.5 * (neutral[:, 2].min() + neutral[:, 2].max())])
        aim = face_centre + [0.0, AIM_ABOVE_FACE_CENTRE, 0.0]  # frame the hair as well as the face
        self.rig_camera = look_at(aim + [0.0, 0.0, CAMERA_DISTANCE], aim)
        self.aabb = _aabb(head, self.identity, neutral)
        self.background = background_image(background_rng, size, size)

        self.ctx = create_context()
        self.renderer = HeadRenderer(self.ctx, size, size, self.K)
        mesh = textured_mesh(head)
        texels = rasterise_position_map(self.ctx, mesh, head, neutral, _atlas_size(head, settings))
        self.atlas, palette = paint_albedo(*texels, head, neutral, appearance_rng)
        self.renderer.set_head(mesh, self.atlas)
        self.renderer.set_hair(
            hair_shells(head, neutral, self.pivot), strand_texture(palette["hair"], appearance_rng)
        )

    @classmethod
    def from_subject(cls, root: str | os.PathLike) -> SyntheticScene:
        """The scene that rendered a stored synthetic subject (reads ``extra['synthetic']``)."""
        from nbskit.data.subject import Subject

        subject = Subject.load(root)
        info = subject.extra.get("synthetic") if subject.extra else None
        if info is None:
            raise ValueError(
                f"{Path(root) / 'transforms.json'}: no 'synthetic' entry; not a synthetic subject"
            )
        settings = PRESETS.get(info["preset"]) or SynthPreset(**info["settings"])
        return cls(settings, info["seed"], info["model"])

    def vertices(self, expression: np.ndarray) -> np.ndarray:
        """Ground-truth mesh vertices [V,3] (world = head space, metres) for coefficients [K]."""
        return self.head.vertices(np.asarray(expression, np.float32), self.identity)

    def camera(self, angles: np.ndarray, translation: np.ndarray) -> np.ndarray:
        """Camera-to-world [4,4] for a head pose (yaw, pitch, roll; translation) folded into the camera."""
        return np.linalg.inv(head_pose(angles, translation, self.pivot)) @ self.rig_camera

    def render(self, expression: np.ndarray, c2w: np.ndarray) -> RenderedFrame:
        return self.renderer.render(self.vertices(expression), c2w)

    def landmarks(self, expression: np.ndarray, c2w: np.ndarray) -> np.ndarray:
        """The 68 landmarks [68,2] in pixels (projected whether visible or not)."""
        return project_points(self.vertices(expression)[self.head.landmark_indices], self.K, c2w)[0]

    def extra(self) -> dict:
        """What transforms.json records so the scene can be rebuilt."""
        s = self.settings
        return {
            "synthetic": {
                "model": self.head.name,
                "seed": self.seed,
                "preset": s.name,
                "settings": {
                    k: getattr(s, k)
                    for k in ("name", "resolution", "num_frames", "model", "atlas_slot", "test_fraction",
                              "val_fraction")
                },
                "identity": None if self.identity is None else self.identity.tolist(),
                "head_to_world": np.eye(4).tolist(),
                "depth": "z-depth of the head mesh (hair excluded) at pixel centres, metres",
                "landmarks": "68 Multi-PIE landmark vertices projected with the frame's camera; "
                "occluded ones are projected too",
            }
        }

    def release(self) -> None:
        self.ctx.release()


def synthesize_subject(
    out: str | os.PathLike,
    preset: str | SynthPreset = "tiny",
    seed: int = 0,
    model: str | BlendshapeModel | None = None,
    progress: bool = True,
) -> Path:
    """Render a synthetic subject folder at ``out``; same bytes for the same arguments.

    preset: a key of ``PRESETS`` ('tiny', 'small', 'paper') or a ``SynthPreset``. model: 'ict',
    'procedural', 'auto', a ``BlendshapeModel``, or None for the preset's choice.
    Returns the folder.
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    scene = SyntheticScene(preset, seed, model)
    try:
        n = preset.num_frames
        coefficients = expression_tracks(scene.motion_rng, scene.head.expression_names, n)
        angles, translations = pose_tracks(scene.motion_rng, n)
        first_test, first_val = split_starts(preset)
        writer = SubjectWriter(
            out, scene.intrinsics, scene.aabb, scene.head.expression_names,
            background=scene.background, extra=scene.extra(), depth_scale=DEPTH_QUANTUM,
        )  # fmt: skip
        with writer:
            for i in tqdm(range(n), desc=f"synth {preset.name}", disable=not progress, unit="frame"):
                # Render with exactly the float32 camera that transforms.json stores.
                c2w = scene.camera(angles[i], translations[i]).astype(np.float32).astype(np.float64)
                frame = scene.render(coefficients[i], c2w)
                landmarks = scene.landmarks(coefficients[i], c2w)
                face_box, mouth_box = landmark_boxes(landmarks, preset.resolution, preset.resolution)
                writer.add_frame(
                    image=frame.over(scene.background),
                    mask=frame.alpha > MASK_THRESHOLD,
                    c2w=c2w,
                    expression=coefficients[i],
                    split="test" if i >= first_test else "val" if i >= first_val else "train",
                    face_box=face_box,
                    mouth_box=mouth_box,
                    landmarks=landmarks,
                    depth=frame.depth,
                )
    finally:
        scene.release()
    return Path(out)


def split_starts(preset: SynthPreset) -> tuple[int, int]:
    """(first test frame, first validation frame): frames are train | val | test, in time order,
    so validation frames are held out from training the way the test frames are."""
    n = preset.num_frames
    first_test = n - int(np.ceil(preset.test_fraction * n))
    return first_test, first_test - int(np.ceil(preset.val_fraction * n))


def _atlas_size(head: BlendshapeModel, settings: SynthPreset) -> tuple[int, int]:
    """(width, height) in texels of the albedo atlas: one square slot per material."""
    columns, rows = atlas_layout(len(head.material_names))
    return settings.atlas_slot * columns, settings.atlas_slot * rows


# Where synthetic subjects (the demo's, the course's, reenactment drivers) are made once and kept.
SUBJECT_CACHE = Path.home() / ".cache" / "nbskit" / "subjects"


def default_subject(cache_dir: str | os.PathLike, seed: int = 0, preset: str = "small",
                    model: str | None = None) -> Path:
    """A synthetic subject made once and cached under ``cache_dir``; by default the demo's: the
    ``small`` preset, ICT if found, else procedural. The folder name includes GENERATOR_VERSION."""
    model = model or ("ict" if find_ict() is not None else "procedural")
    root = Path(cache_dir) / f"synthetic_{preset}_{model}_seed{seed}_v{GENERATOR_VERSION}"
    if not (root / "transforms.json").is_file():
        synthesize_subject(root, preset, seed=seed, model=model)
    return root
