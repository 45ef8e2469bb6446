"""Image-quality metrics of the paper's Table 2: MSE, L1, PSNR and SSIM (own implementation).

All functions take images as float tensors in [0, 1] with shape [H, W, 3] or [B, H, W, 3]
(channels last, the layout the renderer returns) and return a Python float averaged over the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SSIM_WINDOW_SIZE = 11  # Wang et al. 2004: an 11x11 Gaussian window ...
SSIM_WINDOW_SIGMA = 1.5  # ... with standard deviation 1.5 pixels
SSIM_K1 = 0.01  # stabilisers C1 = (K1 L)^2, C2 = (K2 L)^2 with dynamic range L = 1
SSIM_K2 = 0.03


def _batched(image: torch.Tensor) -> torch.Tensor:
    """[H,W,C] or [B,H,W,C] -> [B,H,W,C] float64 (metrics are reported, not trained on)."""
    if image.dim() == 3:
        image = image[None]
    if image.dim() != 4:
        raise ValueError(f"expected an image [H,W,C] or a batch [B,H,W,C], got shape {tuple(image.shape)}")
    return image.double()


def mse(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean squared error over all pixels and channels."""
    return float(torch.mean((_batched(prediction) - _batched(target)) ** 2))


def l1(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean absolute error over all pixels and channels."""
    return float(torch.mean(torch.abs(_batched(prediction) - _batched(target))))


def psnr_from_mse(value: float) -> float:
    """PSNR in dB for images in [0, 1]; infinite for identical images."""
    return math.inf if value <= 0.0 else -10.0 * math.log10(value)


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB, averaged over the batch (per-image PSNR, then mean, as NeRF papers report)."""
    errors = torch.mean((_batched(prediction) - _batched(target)) ** 2, dim=(1, 2, 3))
    return float(sum(psnr_from_mse(float(e)) for e in errors) / len(errors))


def gaussian_window(size: int = SSIM_WINDOW_SIZE, sigma: float = SSIM_WINDOW_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian [size] (float64)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    window = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return window / window.sum()


def _blur(image: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter of [B,C,H,W] per channel."""
    channels = image.shape[1]
    horizontal = window.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = window.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    return F.conv2d(F.conv2d(image, horizontal, groups=channels), vertical, groups=channels)


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Structural similarity (Wang et al. 2004), Gaussian window 11 / sigma 1.5, data range 1.

    Local statistics are computed only where the whole window fits in the image ('valid'), per
    channel; the SSIM map is averaged over pixels, channels and the batch.
    """
    x = _batched(prediction).permute(0, 3, 1, 2)
    y = _batched(target).permute(0, 3, 1, 2)
    if min(x.shape[-2:]) < SSIM_WINDOW_SIZE:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW_SIZE} pixels, got {tuple(x.shape[-2:])}")
    window = gaussian_window()
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    var_x = _blur(x * x, window) - mu_x**2
    var_y = _blur(y * y, window) - mu_y**2
    cov_xy = _blur(x * y, window) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float(torch.mean(numerator / denominator))
