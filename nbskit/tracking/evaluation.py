"""Tracking accuracy against synthetic subjects, whose meshes, poses and coefficients are exact.

Shared by the tests and `bench/tracking.py`. Errors are measured on the face region of the mesh
(what landmarks can see), in the head frame, so a correct fit scores zero whatever the pose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from nbskit.tracking.correspondence import OPENCV_TO_OPENGL, Correspondence
from nbskit.tracking.fit import FitResult, relative_depth

TRACKED_SHAPES = {"jawOpen": ("jawOpen",), "eyeBlink": ("eyeBlink_L", "eyeBlink_R"),
                  "mouthSmile": ("mouthSmile_L", "mouthSmile_R")}
METRES_TO_MM = 1000.0


@dataclass
class SyntheticTruth:
    """Ground truth of a synthetic subject: model, identity [I] | None, expression [N,K],
    head_to_camera [N,4,4] (OpenCV), camera_matrix [3,3], image_size (w, h), images [N,H,W,3] uint8,
    and the seed the subject was made from."""

    model: object
    identity: np.ndarray | None
    expression: np.ndarray
    head_to_camera: np.ndarray
    camera_matrix: np.ndarray
    image_size: tuple[int, int]
    images: np.ndarray
    seed: int

    @classmethod
    def load(cls, root: str | Path) -> SyntheticTruth:
        from nbskit.data.subject import Subject
        from nbskit.data.synthetic.generate import resolve_model
        from nbskit.data.synthetic.presets import PRESETS

        subject = Subject.load(root)
        info = (subject.extra or {}).get("synthetic")
        if info is None:
            raise ValueError(f"{Path(root) / 'transforms.json'}: not a synthetic subject (no 'synthetic' entry)")
        model = resolve_model(info["model"], PRESETS["tiny"])
        identity = None if info["identity"] is None else np.asarray(info["identity"], np.float32)
        c2w = np.stack([frame.transform_matrix for frame in subject.frames]).astype(np.float64)
        images = np.stack([np.round(255 * subject.load_image(i)).astype(np.uint8) for i in range(len(c2w))])
        intrinsics = subject.intrinsics
        return cls(model, identity, np.stack([f.expression for f in subject.frames]),
                   OPENCV_TO_OPENGL @ np.linalg.inv(c2w), intrinsics.matrix(),
                   (intrinsics.width, intrinsics.height), images, int(info["seed"]))

    def vertices(self) -> np.ndarray:
        """Head-frame mesh [N,V,3]."""
        return np.asarray(self.model.vertices(self.expression.astype(np.float32), self.identity))

    def project(self, vertex_indices: np.ndarray) -> np.ndarray:
        """Pixels [N,P,2] of the given vertices in every frame."""
        return self.project_points(self.vertices()[:, vertex_indices])

    def project_points(self, points: np.ndarray) -> np.ndarray:
        """Pixels [N,P,2] of head-frame points [N,P,3] in every frame."""
        projected = self.camera_points(points) @ self.camera_matrix.T
        return projected[..., :2] / projected[..., 2:]

    def camera_points(self, points: np.ndarray) -> np.ndarray:
        """OpenCV camera-space points [N,P,3] of head-frame points [N,P,3] in every frame."""
        points = np.asarray(points, np.float64)
        return np.einsum("nij,npj->npi", self.head_to_camera[:, :3, :3], points) + self.head_to_camera[:, None, :3, 3]

    def exact_depths(self, correspondence: Correspondence, num_points: int = 478) -> np.ndarray:
        """MediaPipe-ordered relative depths [N,478] of the paired landmarks (others 0), in pixels at
        the landmarks' mean depth, like MediaPipe's z times the image width."""
        camera = torch.as_tensor(self.camera_points(correspondence.landmark_points(self.vertices())))
        every_landmark = torch.ones(len(correspondence.landmarks), dtype=camera.dtype)
        depths = np.zeros((len(self.expression), num_points), np.float32)
        depths[:, correspondence.landmarks] = relative_depth(camera, torch.tensor(self.camera_matrix[0, 0]),
                                                             every_landmark).numpy()
        return depths

    def exact_landmarks(self, correspondence: Correspondence, num_points: int = 478) -> np.ndarray:
        """MediaPipe-ordered landmarks [N,478,2] made by projecting where the correspondence puts
        them on the true meshes (vertex plus offset; others 0)."""
        points = np.zeros((len(self.expression), num_points, 2), np.float32)
        points[:, correspondence.landmarks] = self.project_points(correspondence.landmark_points(self.vertices()))
        points[:, correspondence.iris_landmarks] = self.project(correspondence.iris_vertices)
        return points


def fitted_vertices(model, fit: FitResult) -> np.ndarray:
    """Head-frame mesh [N,V,3] of a fit."""
    return np.asarray(model.vertices(fit.expression.astype(np.float32), fit.identity.astype(np.float32)))


def mesh_error_mm(truth: SyntheticTruth, fit: FitResult) -> float:
    """Mean distance (mm) between fitted and true face-region vertices, head frame, all frames."""
    face = truth.model.vertex_groups["face"]
    difference = fitted_vertices(truth.model, fit)[:, face] - truth.vertices()[:, face]
    return float(np.linalg.norm(difference, axis=-1).mean() * METRES_TO_MM)


def similarity_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """source [M,3] moved by the similarity transform (scale, rotation, translation) that best fits
    it to target [M,3] in the least-squares sense (Umeyama's closed form)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(source_centred.T @ target_centred)
    reflection = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])  # a proper rotation, never a mirror
    rotation = u @ reflection @ vt  # acts on row vectors: aligned = scale * source @ rotation
    scale = (singular * np.diag(reflection)).sum() / (source_centred**2).sum()
    return scale * source_centred @ rotation + target_mean


def similarity_aligned_mesh_error_mm(truth: SyntheticTruth, fit: FitResult) -> float:
    """Like `mesh_error_mm`, after one similarity transform for the whole clip (`similarity_align`
    of all frames' face-region vertices at once).

    A monocular video cannot tell a larger head further away from a smaller one nearer (the images
    are identical), so the head's size is not measurable from landmarks; this error leaves it out,
    as face-reconstruction benchmarks do, and measures the shape alone.
    """
    face = truth.model.vertex_groups["face"]
    fitted = fitted_vertices(truth.model, fit)[:, face].reshape(-1, 3).astype(np.float64)
    true = truth.vertices()[:, face].reshape(-1, 3).astype(np.float64)
    return float(np.linalg.norm(similarity_align(fitted, true) - true, axis=-1).mean() * METRES_TO_MM)


def rotation_error_deg(truth: SyntheticTruth, fit: FitResult) -> np.ndarray:
    """Per-frame angle [N] (degrees) of the relative rotation between fitted and true head pose."""
    relative = np.einsum("nji,njk->nik", fit.rotation, truth.head_to_camera[:, :3, :3])
    cosine = np.clip((np.trace(relative, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


def shape_correlations(truth: SyntheticTruth, fit: FitResult) -> dict[str, float]:
    """Pearson correlation of fitted vs true tracks for jawOpen, eyeBlink and mouthSmile (L+R summed)."""
    names = list(truth.model.expression_names)
    correlations = {}
    for label, members in TRACKED_SHAPES.items():
        columns = [names.index(m) for m in members if m in names]
        if columns:
            correlations[label] = float(np.corrcoef(truth.expression[:, columns].sum(1),
                                                    fit.expression[:, columns].sum(1))[0, 1])
    return correlations


def fit_accuracy(truth: SyntheticTruth, fit: FitResult) -> dict[str, float]:
    """Every accuracy measure of a fit against the truth: reprojection_px, mesh_mm, shape_mm,
    rotation_deg (mean over frames), focal_ratio (fitted / true) and the shape-track correlations."""
    return {
        "reprojection_px": float(np.nanmean(fit.reprojection_error)),
        "mesh_mm": mesh_error_mm(truth, fit),
        "shape_mm": similarity_aligned_mesh_error_mm(truth, fit),
        "rotation_deg": float(rotation_error_deg(truth, fit).mean()),
        "focal_ratio": fit.focal / float(truth.camera_matrix[0, 0]),
        **shape_correlations(truth, fit),
    }


def synthetic_tracks(seeds, frames: int, resolution: int, work: Path, model: str = "ict", progress: bool = True):
    """Yield (SyntheticTruth, LandmarkTrack) for a synthetic subject of each seed (rendered under
    `work`), with what MediaPipe found on its frames."""
    from nbskit.data.synthetic.generate import synthesize_subject
    from nbskit.data.synthetic.presets import SynthPreset
    from nbskit.tracking.landmarks import detect_landmarks

    for seed in tqdm(list(seeds), desc="synthetic subjects", disable=not progress):
        root = synthesize_subject(Path(work) / f"{model}-seed{seed}", SynthPreset("tracking", resolution, frames, model, 128),
                                  seed=seed, model=model, progress=False)
        truth = SyntheticTruth.load(root)
        yield truth, detect_landmarks(truth.images)
