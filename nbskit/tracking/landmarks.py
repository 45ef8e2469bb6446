"""MediaPipe 0.10.14 wrappers: face detection, the 478-point face mesh (with irises), selfie masks.

All three use the legacy `mediapipe.solutions` graphs whose models ship inside the 0.10.14 wheel,
so nothing is downloaded at run time. Install with `python -m nbskit.tracking.setup_mediapipe`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

NUM_MESH_POINTS = 478  # 468 face-mesh points + 2 x 5 iris points (refine_landmarks=True)
IRIS_CENTRES = (468, 473)  # centre point of each iris ring in the refined mesh
MIN_CONFIDENCE = 0.5
SELFIE_MODEL_GENERAL = 0  # 256x256 model: better for close-up heads than the landscape one


def require_mediapipe():
    """Import mediapipe's solutions or raise an ImportError that says how to install it."""
    try:
        import mediapipe as mp

        return mp.solutions
    except (ImportError, AttributeError) as error:
        raise ImportError(
            "tracking needs mediapipe 0.10.14 (models inside the wheel); install it with "
            "`python -m nbskit.tracking.setup_mediapipe` (no wheels exist for Python >= 3.13)"
        ) from error


@dataclass
class LandmarkTrack:
    """Face-mesh landmarks of a clip: points [N,478,2] pixels (x,y), found [N] bool, and depths
    [N,478]: MediaPipe's relative depth of each point (its z, in pixels like x; larger is farther)."""

    points: np.ndarray
    found: np.ndarray
    depths: np.ndarray

    def with_depths(self) -> np.ndarray:
        """[N,478,3]: x, y and relative depth, the input `fit_landmarks` takes."""
        return np.concatenate([self.points, self.depths[..., None]], -1)

    @property
    def detection_rate(self) -> float:
        return float(self.found.mean())


def detect_faces(frames: np.ndarray, progress: bool = True) -> list[np.ndarray]:
    """Every face the detector finds in frames [N,H,W,3] uint8 RGB: per frame, boxes [F,4] pixels
    (x0, y0, x1, y1), largest first (F may be 0)."""
    solutions = require_mediapipe()
    _, height, width, _ = frames.shape
    faces = []
    detector = solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=MIN_CONFIDENCE)
    with detector:
        for frame in tqdm(frames, desc="face detection", disable=not progress, leave=False):
            result = detector.process(np.ascontiguousarray(frame))
            boxes = [(box.xmin * width, box.ymin * height, (box.xmin + box.width) * width,
                      (box.ymin + box.height) * height)
                     for box in (d.location_data.relative_bounding_box for d in result.detections or [])]
            boxes = np.array(sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])), np.float32)
            faces.append(boxes.reshape(-1, 4))
    return faces


def detect_face_boxes(frames: np.ndarray, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Face detector boxes for frames [N,H,W,3] uint8 RGB.

    Returns (boxes [N,4] pixels x0,y0,x1,y1 of the largest face, found [N] bool): with two people
    in the clip, the one nearest the camera is tracked.
    """
    faces = detect_faces(frames, progress)
    boxes = np.array([f[0] if len(f) else np.zeros(4, np.float32) for f in faces], np.float32).reshape(-1, 4)
    return boxes, np.array([len(f) > 0 for f in faces], bool)


def detect_landmarks(frames: np.ndarray, video: bool = True) -> LandmarkTrack:
    """Run the refined face mesh on frames [N,H,W,3] uint8 RGB.

    `video=True` lets MediaPipe track between frames (faster, steadier); use False for unrelated
    images. Frames without a face get found=False and zero points.
    """
    solutions = require_mediapipe()
    count, height, width, _ = frames.shape
    points = np.zeros((count, NUM_MESH_POINTS, 3), np.float32)
    found = np.zeros(count, bool)
    mesh = solutions.face_mesh.FaceMesh(static_image_mode=not video, max_num_faces=1, refine_landmarks=True,
                                        min_detection_confidence=MIN_CONFIDENCE,
                                        min_tracking_confidence=MIN_CONFIDENCE)
    with mesh:
        for i, frame in enumerate(tqdm(frames, desc="face mesh", leave=False)):
            result = mesh.process(np.ascontiguousarray(frame))
            if not result.multi_face_landmarks:
                continue
            normalised = np.array([(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark], np.float32)
            points[i] = normalised * np.array([width, height, width], np.float32)  # z is scaled like x
            found[i] = True
    return LandmarkTrack(np.ascontiguousarray(points[..., :2]), found, np.ascontiguousarray(points[..., 2]))


def segment_people(frames: np.ndarray) -> np.ndarray:
    """Selfie segmentation: person probability [N,H,W] float32 in [0,1] for frames [N,H,W,3] uint8."""
    solutions = require_mediapipe()
    masks = np.zeros(frames.shape[:3], np.float32)
    with solutions.selfie_segmentation.SelfieSegmentation(model_selection=SELFIE_MODEL_GENERAL) as segmenter:
        for i, frame in enumerate(tqdm(frames, desc="selfie segmentation", leave=False)):
            masks[i] = segmenter.process(np.ascontiguousarray(frame)).segmentation_mask
    return masks


BOX_PADDING = 0.1  # fraction of a box's size added on every side
FOREHEAD_EXTENSION = 0.25  # the mesh stops mid-forehead; extend the face box up by this fraction


def landmark_boxes(points: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Face and mouth boxes [N,4] (x0,y0,x1,y1 pixels, clipped to the image) from points [N,478,2]."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_LIPS

    lips = np.array(sorted({i for edge in FACEMESH_LIPS for i in edge}))

    def boxes(subset: np.ndarray, extra_top: float) -> np.ndarray:
        low, high = subset.min(axis=1), subset.max(axis=1)
        size = high - low
        low = low - BOX_PADDING * size - np.stack([np.zeros(len(size)), extra_top * size[:, 1]], 1)
        high = high + BOX_PADDING * size
        limit = np.array([width, height], np.float32)
        return np.concatenate([np.clip(low, 0, limit), np.clip(high, 0, limit)], axis=1).astype(np.float32)

    return boxes(points, FOREHEAD_EXTENSION), boxes(points[:, lips], 0.0)
