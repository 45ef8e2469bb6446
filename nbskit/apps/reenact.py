"""Reenactment: drive a trained head with another subject's expressions and cameras.

The driver's coefficients are clamped to the *target's* training range (docs/architecture.md, “Units and conventions”): a basis was
only ever seen between its training min and max, and extrapolating it produces artefacts.
Cameras are used as they are: subject folders fold the head pose into the camera around a head
fixed near the world origin, so the driver's head motion becomes the target's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nbskit.apps.render import render_expression
from nbskit.data.subject import Subject, SubjectError
from nbskit.train.dataset import scaled_intrinsics
from nbskit.train.run import TrainedRun


def check_expression_names(run: TrainedRun, driver: Subject) -> None:
    if list(driver.expression_names) != run.expression_names:
        raise SubjectError(
            f"{driver.root}: expression names differ from the trained subject's "
            f"({len(driver.expression_names)} vs {len(run.expression_names)}); both must use the same blendshape model"
        )


def driving_expressions(run: TrainedRun, driver: Subject, indices) -> np.ndarray:
    """float32 [N, K]: the driver's coefficients of frames ``indices``, clamped to the target's range."""
    check_expression_names(run, driver)
    low, high = run.expression_range
    return np.clip(driver.expressions(indices), low, high)


def reenact(run: TrainedRun, driver: Subject, indices=None, progress: bool = True) -> list[np.ndarray]:
    """uint8 frames [H, W, 3] of the trained head performing the driver's frames ``indices`` (default: all).

    Rendered with the driver's cameras and intrinsics, at the run's training resolution. A driver
    that is the run's own subject is read with its refined training frames (see
    :meth:`TrainedRun.refined_subject`; pass ``load_run(other).refined_subject()`` to drive with
    another run's refined frames).
    """
    if Path(driver.root).resolve() == Path(run.subject.root).resolve():
        driver = run.refined_subject()
    indices = np.arange(len(driver.frames)) if indices is None else np.asarray(indices)
    expressions = driving_expressions(run, driver, indices)
    cameras = driver.camera_to_world(indices)
    intrinsics = scaled_intrinsics(driver.intrinsics, run.config.max_image_size)
    background = run.background(intrinsics)
    return [render_expression(run, w, c2w, intrinsics, background)
            for w, c2w in tqdm(list(zip(expressions, cameras)), desc="reenacting", disable=not progress)]
