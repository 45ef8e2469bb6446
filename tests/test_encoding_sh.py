"""Spherical harmonics: orthonormality (exact quadrature) and the addition theorem."""

from __future__ import annotations

import math

import numpy as np
import torch

from nbskit.encoding import SH_OUTPUT_DIM, sh_encode

BANDS = math.isqrt(SH_OUTPUT_DIM)


def sphere_quadrature(num_polar=8, num_azimuth=16):
    """Gauss-Legendre in cos(theta) x uniform azimuth: exact for polynomials up to degree 7 on S^2."""
    cos_theta, polar_weights = np.polynomial.legendre.leggauss(num_polar)
    phi = 2 * np.pi * np.arange(num_azimuth) / num_azimuth
    cos_grid, phi_grid = np.meshgrid(cos_theta, phi, indexing="ij")
    sin_grid = np.sqrt(1 - cos_grid**2)
    directions = np.stack([sin_grid * np.cos(phi_grid), sin_grid * np.sin(phi_grid), cos_grid], -1).reshape(
        -1, 3
    )
    weights = np.repeat(polar_weights, num_azimuth) * (2 * np.pi / num_azimuth)
    return torch.from_numpy(directions), torch.from_numpy(weights)


def test_real_sh_are_orthonormal_on_the_sphere():
    directions, weights = sphere_quadrature()
    values = sh_encode(directions)
    assert values.shape == (directions.shape[0], SH_OUTPUT_DIM)
    gram = values.T @ (weights[:, None] * values)
    torch.testing.assert_close(gram, torch.eye(SH_OUTPUT_DIM, dtype=gram.dtype), atol=1e-10, rtol=0)


def test_addition_theorem_holds_per_band():
    # sum_m Y_lm(d)^2 = (2l+1) / (4 pi) for every unit d: fixes each band's normalisation.
    directions = torch.nn.functional.normalize(torch.randn(100, 3, dtype=torch.float64), dim=1)
    values = sh_encode(directions)
    for band in range(BANDS):
        energy = values[:, band**2 : (band + 1) ** 2].square().sum(dim=1)
        torch.testing.assert_close(energy, torch.full_like(energy, (2 * band + 1) / (4 * math.pi)))


def test_float32_in_float32_out():
    assert sh_encode(torch.tensor([[0.0, 0.0, 1.0]])).dtype == torch.float32
