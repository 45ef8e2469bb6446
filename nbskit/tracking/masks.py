"""Head masks: selfie segmentation cut below the chin, united with the projected mesh, then GrabCut.

The selfie model finds the whole person (hair included, but also shoulders); the fitted mesh knows
where the head ends. So: keep selfie pixels above a cut plane fixed in the head frame below the
chin, add the mesh silhouette (the selfie model misses parts of faces at the image border), and
let GrabCut snap the union to colour edges, with the eroded mesh and the confident selfie pixels
as sure foreground (left to itself, GrabCut gives dark hair in front of a dark wall to the
background).
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

PERSON_THRESHOLD = 0.5
SURE_PERSON_THRESHOLD = 0.9  # selfie pixels this confident (above the cut) stay: GrabCut drops dark hair
NECK_MARGIN = 0.03  # metres below the lowest landmark vertex (the chin) where the head mask ends
CUT_HALF_WIDTH = 0.15  # metres: half the span of the cut line (wider than any head)
GRABCUT_ITERATIONS = 2
GRABCUT_SIZE = 256  # GrabCut runs at this resolution (its cost grows with pixels), then upsamples
SURE_FOREGROUND_EROSION = 0.04  # fraction of the image size: mesh interior certainly head
UNCERTAIN_BAND = 0.03  # fraction of the image size around the union left for GrabCut to decide


def mesh_silhouette(pixels: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled projection of a mesh: pixels [V,2] (x,y), triangles [T,3] -> bool [H,W]."""
    import cv2

    canvas = np.zeros(shape, np.uint8)
    polygons = np.round(pixels[triangles]).astype(np.int32)
    cv2.fillPoly(canvas, list(polygons), 1)
    return canvas.astype(bool)


def above_cut(line_points: np.ndarray, head_pixel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool [H,W]: pixels on the same side of the line through line_points [2,2] as head_pixel [2]."""
    height, width = shape
    direction = line_points[1] - line_points[0]
    normal = np.array([-direction[1], direction[0]])
    ys, xs = np.mgrid[0:height, 0:width]
    side = (xs + 0.5 - line_points[0, 0]) * normal[0] + (ys + 0.5 - line_points[0, 1]) * normal[1]
    head_side = np.dot(head_pixel - line_points[0], normal)
    return np.sign(side) == np.sign(head_side)


def neck_cut_points(chin_height: float) -> np.ndarray:
    """Head-frame points [3,3]: two ends of the cut line below the chin, then the head origin."""
    cut = chin_height - NECK_MARGIN
    return np.array([[-CUT_HALF_WIDTH, cut, 0.0], [CUT_HALF_WIDTH, cut, 0.0], [0.0, 0.0, 0.0]])


def refine_with_grabcut(image: np.ndarray, union: np.ndarray, sure: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """GrabCut on image [H,W,3] uint8, seeded by union/sure/allowed bool [H,W] -> bool [H,W]."""
    import cv2

    height, width = union.shape
    scale = GRABCUT_SIZE / max(height, width)
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    shrink = lambda m: cv2.resize(m.astype(np.uint8), small, interpolation=cv2.INTER_NEAREST).astype(bool)
    union_s, sure_s, allowed_s = shrink(union), shrink(sure), shrink(allowed)
    band = max(1, int(UNCERTAIN_BAND * GRABCUT_SIZE))
    near = cv2.dilate(union_s.astype(np.uint8), np.ones((2 * band + 1, 2 * band + 1), np.uint8)).astype(bool)
    labels = np.full(union_s.shape, cv2.GC_BGD, np.uint8)
    labels[near & allowed_s] = cv2.GC_PR_BGD
    labels[union_s & allowed_s] = cv2.GC_PR_FGD
    labels[sure_s] = cv2.GC_FGD
    if not (labels == cv2.GC_BGD).any() or not sure_s.any():
        return union  # GrabCut needs both a sure background and a sure foreground sample
    background_model, foreground_model = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(cv2.resize(image, small, interpolation=cv2.INTER_AREA), labels, None, background_model,
                foreground_model, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    head = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    return cv2.resize(head, (width, height), interpolation=cv2.INTER_LINEAR).astype(bool) & allowed


def head_masks(frames: np.ndarray, person: np.ndarray, vertices_pixels: np.ndarray, triangles: np.ndarray,
               cut_pixels: np.ndarray, refine: bool = True, progress: bool = True) -> np.ndarray:
    """Head masks {0,1} float32 [N,H,W].

    frames [N,H,W,3] uint8, person [N,H,W] selfie probabilities, vertices_pixels [N,V,2] projected
    fitted mesh, triangles [T,3], cut_pixels [N,3,2] projections of `neck_cut_points`.
    """
    import cv2

    count, height, width = person.shape
    erosion = max(1, int(SURE_FOREGROUND_EROSION * max(height, width)))
    kernel = np.ones((2 * erosion + 1, 2 * erosion + 1), np.uint8)
    masks = np.zeros((count, height, width), np.float32)
    for i in tqdm(range(count), desc="head masks", disable=not progress, leave=False):
        allowed = above_cut(cut_pixels[i, :2], cut_pixels[i, 2], (height, width))
        silhouette = mesh_silhouette(vertices_pixels[i], triangles, (height, width)) & allowed
        union = ((person[i] > PERSON_THRESHOLD) & allowed) | silhouette
        if refine:
            sure = cv2.erode(silhouette.astype(np.uint8), kernel).astype(bool)
            sure |= (person[i] > SURE_PERSON_THRESHOLD) & allowed
            union = refine_with_grabcut(frames[i], union, sure, allowed) | sure
        masks[i] = union
    return masks
