"""Hands in front of the face: MediaPipe Hands (0.10.14 wheel) -> a per-frame ignore mask.

A hand is not part of the head: where one covers the face, its pixels must reach no training loss
and the face-mesh landmarks under it are MediaPipe's guesses. MediaPipe Hands gives 21 points per
hand; the region is a capsule along each bone of the hand skeleton plus the filled palm, as wide
as a finger (a fraction of the palm's width), then cut to the person's silhouette from the selfie
segmentation (so the region ends where the hand ends against the background) and grown by a
small margin for the blurred edge.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from nbskit.tracking.landmarks import MIN_CONFIDENCE, require_mediapipe

MAX_HANDS = 2
PALM_POINTS = (0, 1, 2, 5, 9, 13, 17)  # wrist, thumb base and the four knuckles
PALM_WIDTH_PAIR = (5, 17)  # index and little-finger knuckles: the palm's width
FINGER_RADIUS = 0.3  # capsule radius as a fraction of the palm width (a finger is ~1/4 of it wide)
MIN_RADIUS_PX = 2.0
PERSON_THRESHOLD = 0.3  # selfie probability above which a pixel may belong to the hand
EDGE_MARGIN = 0.01  # fraction of the image size the region grows by after the cut (blurred edges)
OCCLUDED_LANDMARK_WEIGHT = 0.01  # fit weight of a face landmark inside the ignore mask (its guess barely counts)


def detect_hands(frames: np.ndarray, video: bool = True, progress: bool = True) -> list[np.ndarray]:
    """MediaPipe Hands on frames [N,H,W,3] uint8 RGB.

    Returns one float32 array [hands, 21, 2] of pixel positions (x, y) per frame (hands may be 0).
    """
    solutions = require_mediapipe()
    _, height, width, _ = frames.shape
    found = []
    detector = solutions.hands.Hands(static_image_mode=not video, max_num_hands=MAX_HANDS,
                                     min_detection_confidence=MIN_CONFIDENCE,
                                     min_tracking_confidence=MIN_CONFIDENCE)
    with detector:
        for frame in tqdm(frames, desc="hands", disable=not progress, leave=False):
            result = detector.process(np.ascontiguousarray(frame))
            hands = [np.array([(p.x * width, p.y * height) for p in hand.landmark], np.float32)
                     for hand in (result.multi_hand_landmarks or [])]
            found.append(np.stack(hands) if hands else np.zeros((0, 21, 2), np.float32))
    return found


def hand_bones() -> list[tuple[int, int]]:
    """The 21-point hand skeleton's connections (MediaPipe's HAND_CONNECTIONS), sorted."""
    from mediapipe.python.solutions.hands_connections import HAND_CONNECTIONS

    return sorted(HAND_CONNECTIONS)


def hand_region(points: np.ndarray, bones: list[tuple[int, int]], shape: tuple[int, int]) -> np.ndarray:
    """bool [H,W]: capsules along the bones and the filled palm of one hand, points [21,2] pixels."""
    import cv2

    palm_width = float(np.linalg.norm(points[PALM_WIDTH_PAIR[0]] - points[PALM_WIDTH_PAIR[1]]))
    radius = max(MIN_RADIUS_PX, FINGER_RADIUS * palm_width)
    canvas = np.zeros(shape, np.uint8)
    for a, b in bones:
        start, end = (tuple(int(v) for v in np.round(points[i])) for i in (a, b))
        cv2.line(canvas, start, end, 1, thickness=max(1, round(2 * radius)), lineType=cv2.LINE_8)
    palm = cv2.convexHull(np.round(points[list(PALM_POINTS)]).astype(np.int32))
    cv2.fillConvexPoly(canvas, palm, 1)
    return canvas.astype(bool)


def ignore_masks(hands: list[np.ndarray], person: np.ndarray) -> np.ndarray:
    """bool [N,H,W] pixels to leave out of training: every detected hand, cut to the person.

    hands: per frame [hands, 21, 2] pixels (``detect_hands``); person [N,H,W] selfie probabilities.
    """
    import cv2

    count, height, width = person.shape
    bones = hand_bones()
    margin = max(1, round(EDGE_MARGIN * max(height, width)))
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    masks = np.zeros((count, height, width), bool)
    for i, frame_hands in enumerate(hands):
        if len(frame_hands) == 0:
            continue
        region = np.zeros((height, width), bool)
        for points in frame_hands:
            region |= hand_region(points, bones, (height, width))
        region &= person[i] > PERSON_THRESHOLD
        masks[i] = cv2.dilate(region.astype(np.uint8), kernel).astype(bool)
    return masks


def landmark_weights(points: np.ndarray, ignore: np.ndarray, weight: float = OCCLUDED_LANDMARK_WEIGHT) -> np.ndarray:
    """float [N,P]: ``weight`` for landmarks points [N,P,2] (pixels) that fall in ignore [N,H,W], else 1."""
    count, height, width = ignore.shape
    columns = np.clip(np.floor(points[..., 0]).astype(int), 0, width - 1)
    rows = np.clip(np.floor(points[..., 1]).astype(int), 0, height - 1)
    covered = ignore[np.arange(count)[:, None], rows, columns]
    return np.where(covered, weight, 1.0)
