"""Metrics against independent references (numpy, scikit-image) and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nbskit.train import metrics


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    target = rng.random((40, 48, 3)).astype(np.float32)
    prediction = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1).astype(np.float32)
    return torch.from_numpy(prediction), torch.from_numpy(target)


def test_mse_l1_psnr_match_numpy(images):
    prediction, target = images
    diff = prediction.numpy().astype(np.float64) - target.numpy()
    assert metrics.mse(prediction, target) == pytest.approx(np.mean(diff**2), rel=1e-9)
    assert metrics.l1(prediction, target) == pytest.approx(np.mean(np.abs(diff)), rel=1e-9)
    assert metrics.psnr(prediction, target) == pytest.approx(-10 * np.log10(np.mean(diff**2)), rel=1e-9)


def test_psnr_is_mean_of_per_image_values(images):
    prediction, target = images
    batch_prediction = torch.stack([prediction, target])
    batch_target = torch.stack([target, target * 0.5])
    expected = (metrics.psnr(prediction, target) + metrics.psnr(target, target * 0.5)) / 2
    assert metrics.psnr(batch_prediction, batch_target) == pytest.approx(expected)
    assert metrics.psnr(target, target) == math.inf


def test_ssim_of_identical_images_is_one(images):
    _, target = images
    assert metrics.ssim(target, target) == pytest.approx(1.0, abs=1e-12)


def test_ssim_matches_scikit_image(images):
    skimage_metrics = pytest.importorskip("skimage.metrics")
    prediction, target = images
    expected = skimage_metrics.structural_similarity(
        prediction.numpy().astype(np.float64), target.numpy().astype(np.float64),
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1,
    )
    assert metrics.ssim(prediction, target) == pytest.approx(expected, abs=1e-6)


def test_ssim_decreases_with_noise(images):
    _, target = images
    rng = np.random.default_rng(1)
    values = []
    for sigma in (0.02, 0.1, 0.3):
        noisy = np.clip(target.numpy() + rng.normal(0, sigma, target.shape), 0, 1)
        values.append(metrics.ssim(torch.from_numpy(noisy), target))
    assert values[0] > values[1] > values[2]
