"""The frames of one split as tensors at the training resolution, with composited targets.

Targets follow docs/architecture.md, “Units and conventions”: the head (mask) over the chosen background — the subject's background
image (white if it has none), or plain white/black — so the renderer, which adds the same
background behind the field, can match them exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nbskit.data.subject import Subject, SubjectError
from nbskit.geometry.intrinsics import Intrinsics

BACKGROUND_COLOURS = {"white": 1.0, "black": 0.0}
MOUTH_FRACTION_OF_FACE = 1.0 / 3.0  # without a mouth box, the lower third of the face box
# Targets are kept as 8-bit (a 2000-frame 512^2 subject is 1.5 GB instead of 6 GB); the rounding
# error (RMS 1/(255*sqrt(12))) caps PSNR near 59 dB, far above what any model reaches.
LEVELS = 255.0


def quantise(values: torch.Tensor) -> torch.Tensor:
    """float in [0, 1] -> uint8."""
    return torch.round(values.clamp(0, 1) * LEVELS).to(torch.uint8)


def to_unit(values: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [0, 1]."""
    return values.float() / LEVELS


@dataclass
class FrameSet:
    """Frames of one split, resized so that the longest side is at most ``max_image_size``.

    Attributes:
        indices: int64 [N] frame indices in the subject.
        images: uint8 [N, H, W, 3] targets (head over ``background``); see :meth:`image`.
        masks: uint8 [N, H, W] head masks (area-resampled, so soft at edges when resized).
        visible: uint8 [N, H, W] weight of each pixel in the losses: 0 where the subject's ignore
            mask leaves it out (a hand in front of the face), 255 elsewhere; see :meth:`visibility`.
        c2w: float32 [N, 4, 4] camera-to-world matrices.
        expressions: float32 [N, K] coefficients (unclamped; the field clamps).
        background: float32 [H, W, 3] colour behind the head.
        intrinsics: intrinsics at this resolution.
        face_boxes, mouth_boxes: float32 [N, 4] (x0, y0, x1, y1) pixels at this resolution.
        background_label: how the background was chosen, for reports.
    """

    indices: np.ndarray
    images: torch.Tensor
    masks: torch.Tensor
    visible: torch.Tensor
    c2w: torch.Tensor
    expressions: torch.Tensor
    background: torch.Tensor
    intrinsics: Intrinsics
    face_boxes: torch.Tensor
    mouth_boxes: torch.Tensor
    background_label: str

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, row: int) -> torch.Tensor:
        """float32 [H, W, 3] target of one frame."""
        return to_unit(self.images[row])

    def visibility(self, row: int) -> torch.Tensor:
        """float32 [H, W] in [0, 1]: 1 = the pixel counts, 0 = ignored (soft at resized edges)."""
        return to_unit(self.visible[row])

    @property
    def height(self) -> int:
        return self.intrinsics.height

    @property
    def width(self) -> int:
        return self.intrinsics.width


def scaled_intrinsics(intrinsics: Intrinsics, max_image_size: int) -> Intrinsics:
    """Intrinsics of the image resized so its longest side is ``max_image_size`` (0 or larger: unchanged)."""
    longest = max(intrinsics.width, intrinsics.height)
    if max_image_size <= 0 or max_image_size >= longest:
        return intrinsics
    scale = max_image_size / longest
    width, height = max(1, round(intrinsics.width * scale)), max(1, round(intrinsics.height * scale))
    sx, sy = width / intrinsics.width, height / intrinsics.height
    return dataclasses.replace(intrinsics, width=width, height=height, fl_x=intrinsics.fl_x * sx,
                               fl_y=intrinsics.fl_y * sy, cx=intrinsics.cx * sx, cy=intrinsics.cy * sy)


def resize(image: np.ndarray, width: int, height: int) -> torch.Tensor:
    """Area-resample [H, W] or [H, W, C] float32 to the given size (no-op at the same size)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    if tensor.shape[:2] == (height, width):
        return tensor
    channels_first = tensor[None, None] if tensor.dim() == 2 else tensor.permute(2, 0, 1)[None]
    resized = F.interpolate(channels_first, size=(height, width), mode="area")[0]
    return resized[0] if tensor.dim() == 2 else resized.permute(1, 2, 0).contiguous()


def background_image(subject: Subject, mode: str, intrinsics: Intrinsics) -> tuple[torch.Tensor, str]:
    """([H, W, 3] background at ``intrinsics`` size, a label saying what it is)."""
    if mode == "subject":
        label = "subject background image" if subject.background_path else "white (subject has no background)"
        return resize(subject.background(), intrinsics.width, intrinsics.height), label
    if mode not in BACKGROUND_COLOURS:
        raise ValueError(f"background must be 'subject', 'white' or 'black', got {mode!r}")
    return torch.full((intrinsics.height, intrinsics.width, 3), BACKGROUND_COLOURS[mode]), mode


def mask_box(mask: torch.Tensor) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) bounding box of mask > 0.5, the whole image if the mask is empty."""
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    if len(xs) == 0:
        return 0.0, 0.0, float(mask.shape[1]), float(mask.shape[0])
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def lower_part(box: tuple[float, float, float, float], fraction: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return x0, y1 - fraction * (y1 - y0), x1, y1


def load_frames(subject: Subject, split: str, max_image_size: int = 0, background: str = "subject",
                progress: bool = True) -> FrameSet:
    """Load every frame of ``split`` at the training resolution and composite its targets."""
    indices = subject.indices(split)
    if len(indices) == 0:
        raise SubjectError(f"{subject.root}: split {split!r} has no frames")
    intrinsics = scaled_intrinsics(subject.intrinsics, max_image_size)
    sx = intrinsics.width / subject.intrinsics.width
    sy = intrinsics.height / subject.intrinsics.height
    to_pixels = torch.tensor([sx, sy, sx, sy])
    backdrop, label = background_image(subject, background, intrinsics)
    images, masks, visible, face_boxes, mouth_boxes = [], [], [], [], []
    for index in tqdm(indices, desc=f"loading {split} frames", disable=not progress, leave=False):
        image = resize(subject.load_image(int(index)), intrinsics.width, intrinsics.height)
        mask = resize(subject.load_mask(int(index)), intrinsics.width, intrinsics.height)
        images.append(quantise(mask[..., None] * image + (1 - mask[..., None]) * backdrop))
        masks.append(quantise(mask))
        visible.append(quantise(1 - resize(subject.load_ignore(int(index)), intrinsics.width, intrinsics.height)))
        record = subject.frames[int(index)]
        face = torch.tensor(record.face_box) * to_pixels if record.face_box is not None else torch.tensor(mask_box(mask))
        mouth = (torch.tensor(record.mouth_box) * to_pixels if record.mouth_box is not None
                 else torch.tensor(lower_part(tuple(face.tolist()), MOUTH_FRACTION_OF_FACE)))
        face_boxes.append(face)
        mouth_boxes.append(mouth)
    return FrameSet(
        indices=indices,
        images=torch.stack(images),
        masks=torch.stack(masks),
        visible=torch.stack(visible),
        c2w=torch.from_numpy(subject.camera_to_world(indices)),
        expressions=torch.from_numpy(subject.expressions(indices)),
        background=backdrop,
        intrinsics=intrinsics,
        face_boxes=torch.stack(face_boxes).float(),
        mouth_boxes=torch.stack(mouth_boxes).float(),
        background_label=label,
    )
