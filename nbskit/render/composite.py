"""Front-to-back alpha compositing of packed samples (reference torch implementation).

For the samples i of one ray, with optical depth τ_i = σ_i (t_end − t_start):

    α_i = 1 − exp(−τ_i),   T_i = exp(−Σ_{j<i} τ_j),   weight_i = T_i α_i,
    rgb = Σ weight_i c_i + (1 − opacity) · background,   opacity = Σ weight_i,
    depth = Σ weight_i · t_mid_i  (expected distance, not divided by the opacity).

Samples reached with T_i < ``EARLY_STOP_TRANSMITTANCE`` get weight 0, as a marcher that stops the
ray there would produce. Everything is plain autograd, so gradients reach σ and rgb.
"""

from __future__ import annotations

import torch

# Once a ray's transmittance falls below this, its remaining samples are ignored (instant-ngp's
# early ray termination); the colour they could add is below 1e-4 of the range.
EARLY_STOP_TRANSMITTANCE = 1e-4


def segment_starts(ray_index: torch.Tensor, num_rays: int) -> torch.Tensor:
    """[S] position of the first sample of each sample's ray in the packed arrays.

    Requires the packed order of :class:`~nbskit.render.samples.PackedSamples` (rays contiguous).
    """
    counts = torch.bincount(ray_index, minlength=num_rays)
    first = torch.cumsum(counts, dim=0) - counts
    return first[ray_index]


def exclusive_segment_cumsum(values: torch.Tensor, ray_index: torch.Tensor, num_rays: int) -> torch.Tensor:
    """[S] Σ of ``values`` over the earlier samples of the same ray (0 for a ray's first sample).

    One global running sum minus its value at each segment start. The running sum is taken in
    float64: over many rays it grows large, and float32 would lose the small per-ray differences.
    """
    running = torch.cumsum(values.to(torch.float64), dim=0)
    exclusive = running - values.to(torch.float64)
    return (exclusive - exclusive[segment_starts(ray_index, num_rays)]).to(values.dtype)


def check_composite_inputs(sigma: torch.Tensor, rgb: torch.Tensor, samples, num_rays: int) -> None:
    """Raise a ValueError naming the input whose shape, dtype or device does not fit ``sigma`` [S].

    Looks at shapes only (no device wait); :func:`check_ray_index` checks the values.
    """
    if sigma.ndim != 1 or not sigma.is_floating_point():
        raise ValueError(f"composite: sigma must be a floating tensor [S]; got {tuple(sigma.shape)} {sigma.dtype}")
    count = sigma.shape[0]
    expected = {"rgb": (rgb, (count, 3)), "samples.ray_index": (samples.ray_index, (count,)),
                "samples.t_start": (samples.t_start, (count,)), "samples.t_end": (samples.t_end, (count,))}
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"composite: {name} must be {list(shape)} for S={count} samples; got {list(tensor.shape)}")
        if tensor.device != sigma.device:
            raise ValueError(f"composite: {name} is on {tensor.device} but sigma on {sigma.device}")
    if samples.ray_index.dtype != torch.int64:
        raise ValueError(f"composite: samples.ray_index must be int64; got {samples.ray_index.dtype}")
    if num_rays < 0:
        raise ValueError(f"composite: num_rays must be >= 0; got {num_rays}")


def check_ray_index(ray_index: torch.Tensor, num_rays: int) -> None:
    """Raise unless ``ray_index`` [S] is in packed order: every index in [0, num_rays) (IndexError)
    and never decreasing (ValueError). Reads the values, so on a GPU it waits for the device."""
    if ray_index.numel() == 0:
        return
    low, high = (int(value) for value in torch.aminmax(ray_index))
    if low < 0 or high >= num_rays:
        raise IndexError(f"composite: ray_index must lie in [0, {num_rays}); got range [{low}, {high}]")
    if bool((ray_index[1:] < ray_index[:-1]).any()):
        raise ValueError("composite: ray_index must be sorted (each ray's samples together, rays in increasing order)")


def composite_torch(sigma: torch.Tensor, rgb: torch.Tensor, samples, num_rays: int,
                    background: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Reference compositing; see :func:`nbskit.render.composite` for the contract."""
    check_ray_index(samples.ray_index, num_rays)
    ray_index = samples.ray_index
    delta = samples.t_end - samples.t_start
    tau = sigma * delta
    transmittance = torch.exp(-exclusive_segment_cumsum(tau, ray_index, num_rays))
    alpha = 1.0 - torch.exp(-tau)
    alive = (transmittance >= EARLY_STOP_TRANSMITTANCE).to(alpha.dtype)
    weights = transmittance * alpha * alive

    t_mid = 0.5 * (samples.t_start + samples.t_end)
    zeros = torch.zeros(num_rays, dtype=weights.dtype, device=weights.device)
    opacity = zeros.index_add(0, ray_index, weights)
    depth = zeros.index_add(0, ray_index, weights * t_mid)
    colour = torch.zeros(num_rays, 3, dtype=rgb.dtype, device=rgb.device).index_add(
        0, ray_index, weights[:, None] * rgb
    )
    if background is not None:
        colour = colour + (1.0 - opacity)[:, None] * background.to(colour.dtype).expand(num_rays, 3)
    return {"rgb": colour, "opacity": opacity, "depth": depth, "weights": weights}
