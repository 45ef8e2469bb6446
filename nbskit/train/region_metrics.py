"""PSNR inside face regions (mouth, eyes): where the paper says blending learns fastest (Fig. 8).

A region is a union of axis-aligned pixel boxes per frame: the mouth is the frame's mouth box (as
the patch sampler uses it), the eyes are one box around each eye's landmarks when the subject has
68-point (Multi-PIE) landmarks. Other landmark layouts (e.g. MediaPipe's 478 points) get no eye
region rather than a guessed one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from nbskit.train.metrics import psnr_from_mse

MULTI_PIE_POINTS = 68
EYE_LANDMARKS = (slice(36, 42), slice(42, 48))  # Multi-PIE 68: subject's right eye, left eye
# Eyelids and brows move well beyond the eye-contour landmarks; pad each eye box by this fraction
# of its larger side on every side.
EYE_BOX_PADDING = 0.5
MASK_HALF = 127  # uint8 masks (head, visible): above this is inside


def padded_box(points: np.ndarray, padding: float) -> np.ndarray:
    """[4] (x0, y0, x1, y1) around points [M, 2], grown by ``padding`` x its larger side on every side."""
    low, high = points.min(axis=0), points.max(axis=0)
    margin = padding * float((high - low).max())
    return np.concatenate([low - margin, high + margin])


def eye_boxes(landmarks: np.ndarray | None, scale: tuple[float, float]) -> np.ndarray | None:
    """float32 [N, 2, 4] one padded box per eye for each frame, or None without 68-point landmarks.

    Args:
        landmarks: [N, M, 2] pixel positions at the subject's resolution (None: no landmarks).
        scale: (sx, sy) from the subject's pixels to the evaluation resolution.
    """
    if landmarks is None or landmarks.shape[1] != MULTI_PIE_POINTS:
        return None
    factors = np.array([scale[0], scale[1], scale[0], scale[1]], dtype=np.float32)
    boxes = [[padded_box(points[group], EYE_BOX_PADDING) for group in EYE_LANDMARKS] for points in landmarks]
    return (np.asarray(boxes, dtype=np.float32) * factors).astype(np.float32)


def boxes_mask(boxes: np.ndarray | torch.Tensor, height: int, width: int) -> torch.Tensor:
    """bool [H, W]: pixels whose centres lie inside any of ``boxes`` [G, 4] (x0, y0, x1, y1)."""
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)
    ys = torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(width, dtype=torch.float32)[None, :] + 0.5
    mask = torch.zeros(height, width, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes.tolist():
        mask |= (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    return mask


def masked_psnr(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR in dB over the pixels of ``mask`` [H, W] (images [H, W, 3] in [0, 1]); NaN for an empty mask."""
    if prediction.shape != target.shape or prediction.shape[:2] != mask.shape:
        raise ValueError(f"shapes disagree: prediction {tuple(prediction.shape)}, target {tuple(target.shape)}, "
                         f"mask {tuple(mask.shape)}")
    if not bool(mask.any()):
        return math.nan
    error = (prediction.double() - target.double())[mask]
    return psnr_from_mse(float(torch.mean(error**2)))


class FaceRegions:
    """Mouth and eye regions of the frames of one FrameSet (see ``nbskit.train.dataset.load_frames``).

    Args:
        subject: the subject the frames come from (for its landmarks).
        frames: the FrameSet (its mouth boxes and resolution are used).
    """

    def __init__(self, subject, frames):
        self.height, self.width = frames.height, frames.width
        self.mouth = frames.mouth_boxes.numpy()  # [N, 4]
        landmarks = subject.landmarks()
        scale = (frames.width / subject.intrinsics.width, frames.height / subject.intrinsics.height)
        self.eyes = eye_boxes(None if landmarks is None else landmarks[frames.indices], scale)  # [N, 2, 4] | None

    @property
    def names(self) -> list[str]:
        return ["mouth"] + (["eyes"] if self.eyes is not None else [])

    def masks(self, row: int) -> dict[str, torch.Tensor]:
        """{region name: bool [H, W]} for frame ``row`` of the FrameSet."""
        masks = {"mouth": boxes_mask(self.mouth[row], self.height, self.width)}
        if self.eyes is not None:
            masks["eyes"] = boxes_mask(self.eyes[row], self.height, self.width)
        return masks

    def psnr(self, prediction: torch.Tensor, target: torch.Tensor, row: int) -> dict[str, float]:
        """{'psnr': whole image, 'psnr_mouth', 'psnr_eyes' (when known)} of one frame [H, W, 3]."""
        values = {"psnr": masked_psnr(prediction, target, torch.ones(prediction.shape[:2], dtype=torch.bool))}
        for name, mask in self.masks(row).items():
            values[f"psnr_{name}"] = masked_psnr(prediction, target, mask)
        return values
