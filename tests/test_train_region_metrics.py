"""Region PSNR (nbskit.train.region_metrics): masks, eye boxes and PSNR over a region."""

from __future__ import annotations

import math

import numpy as np
import torch

from nbskit.train import metrics
from nbskit.train.region_metrics import MULTI_PIE_POINTS, boxes_mask, eye_boxes, masked_psnr


def test_box_mask_counts_pixel_centres():
    mask = boxes_mask(np.array([[1.0, 2.0, 4.0, 3.0], [6.0, 0.0, 6.4, 1.0]]), height=5, width=8)
    # first box: x centres 1.5, 2.5, 3.5 on row y=2.5; second box: x 6.5 > 6.4, so nothing
    assert mask.sum() == 3
    assert mask[2, 1:4].all()


def test_masked_psnr_matches_whole_image_psnr_and_is_local():
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(16, 20, 3, generator=generator)
    prediction = truth.clone()
    prediction[:4, :5] += 0.1  # error only in the top-left corner
    everything = torch.ones(16, 20, dtype=torch.bool)
    assert math.isclose(masked_psnr(prediction, truth, everything), metrics.psnr(prediction, truth), rel_tol=1e-9)
    corner = boxes_mask(np.array([0.0, 0.0, 5.0, 4.0]), 16, 20)
    assert math.isclose(masked_psnr(prediction, truth, corner), 20.0, rel_tol=1e-5)  # MSE 0.01
    assert masked_psnr(prediction, truth, ~corner) == math.inf
    assert math.isnan(masked_psnr(prediction, truth, torch.zeros(16, 20, dtype=torch.bool)))


def test_eye_boxes_scale_and_pad_only_multi_pie_layouts():
    landmarks = np.zeros((1, MULTI_PIE_POINTS, 2), np.float32)
    landmarks[0, 36:42] = [[10, 20], [14, 20], [12, 22], [10, 21], [14, 21], [12, 19]]
    landmarks[0, 42:48] = [[30, 20], [34, 20], [32, 22], [30, 21], [34, 21], [32, 19]]
    boxes = eye_boxes(landmarks, scale=(0.5, 0.5))
    assert boxes.shape == (1, 2, 4)
    # right eye spans x 10..14 and y 19..22 (larger side 4, padding 0.5 -> 2 px), then halved
    assert np.allclose(boxes[0, 0], np.array([8, 17, 16, 24]) * 0.5)
    assert eye_boxes(np.zeros((1, 478, 2), np.float32), (1.0, 1.0)) is None
    assert eye_boxes(None, (1.0, 1.0)) is None
