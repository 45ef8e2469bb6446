"""Bad inputs: the compiled backends raise what the torch reference raises, and never read or
write outside their arrays; on a GPU the hot-path calls never wait for the device."""

from __future__ import annotations

import pytest
import torch
from cuda_core_helpers import devices_with_extension, require_extension

import nbskit_cuda
from nbskit.encoding import HashGridConfig, encode_blended, hash_encode
from nbskit.render import composite, march_rays
from nbskit.render.samples import PackedSamples
from nbskit.train.table_optimizer import RowSparseAdam
from nbskit_cuda.encoding_backend import level_arguments
from nbskit_cuda.render_backend import ray_starts

CONFIG = HashGridConfig(levels=4, features=2, log2_table_size=8, base_resolution=4, finest_resolution=32)
SAMPLES = 600
NUM_TABLES = 3


@pytest.fixture(params=devices_with_extension())
def kind(request, monkeypatch):
    """A compiled kind that can run here; on CUDA with the value checks on (off by default, since
    they make the GPU wait: see nbskit_cuda.checks_values)."""
    require_extension(request.param)
    monkeypatch.setenv(nbskit_cuda.CHECK_INPUTS_ENV, "1")
    return request.param


def encoder_inputs(device: str):
    x = torch.rand(SAMPLES, 3, device=device)
    tables = torch.rand(NUM_TABLES, CONFIG.total_entries, CONFIG.features, device=device)
    frame = torch.randint(0, NUM_TABLES, (SAMPLES,), device=device)
    return x, tables, frame


def packed_samples(device: str, num_rays: int = 5, per_ray: int = 4) -> PackedSamples:
    ray_index = torch.arange(num_rays, device=device).repeat_interleave(per_ray)
    count = ray_index.numel()
    t_start = torch.arange(count, device=device, dtype=torch.float32) * 0.1
    return PackedSamples(ray_index, t_start, t_start + 0.1, torch.zeros(count, 3, device=device),
                         torch.zeros(count, 3, device=device))


def with_ray_index(samples: PackedSamples, ray_index: torch.Tensor) -> PackedSamples:
    return PackedSamples(ray_index, samples.t_start, samples.t_end, samples.positions, samples.directions)


def outcome(call):
    """(error type, message) of a call that must fail."""
    with pytest.raises(Exception) as caught:  # any type: the types of both backends are compared
        call()
    return type(caught.value), str(caught.value)


def frame_set(frame: torch.Tensor, value: int) -> torch.Tensor:
    frame = frame.clone()
    frame[SAMPLES // 2] = value
    return frame


def encoder_cases(device: str) -> dict:
    """name -> call(backend) for bad encoder inputs."""
    x, tables, frame = encoder_inputs(device)
    coefficients = torch.rand(2, NUM_TABLES, device=device)
    # One non-zero coefficient per row and few samples: encode_blended takes its sparse-row path.
    one_hot = torch.eye(NUM_TABLES, device=device)
    few, all_minus_one = slice(0, 8), torch.full((8,), -1, device=device)
    return {
        "frame past the tables": lambda b: hash_encode(x, tables, frame_set(frame, NUM_TABLES), CONFIG, backend=b),
        "frame -1": lambda b: hash_encode(x, tables, frame_set(frame, -1), CONFIG, backend=b),
        "blended frame past the rows": lambda b: encode_blended(
            x, tables, coefficients, frame_set(frame, 2), CONFIG, backend=b),
        "sparse-row path frame -1": lambda b: encode_blended(
            x[few], tables, one_hot, all_minus_one, CONFIG, backend=b),
        "x [N,2]": lambda b: hash_encode(x[:, :2], tables, frame, CONFIG, backend=b),
        "tables of another grid": lambda b: hash_encode(x, tables[:, 1:], frame, CONFIG, backend=b),
        "float frame": lambda b: hash_encode(x, tables, frame.float(), CONFIG, backend=b),
        "frame of another length": lambda b: hash_encode(x, tables, frame[1:], CONFIG, backend=b),
        "coefficients of another K": lambda b: encode_blended(
            x, tables, coefficients[:, 1:], frame.clamp_max(1), CONFIG, backend=b),
    }


def render_cases(device: str) -> dict:
    """name -> call(backend) for bad compositing and marching inputs."""
    samples = packed_samples(device)
    count = len(samples)
    sigma, rgb = torch.rand(count, device=device), torch.rand(count, 3, device=device)
    longer = torch.cat([samples.ray_index, samples.ray_index.new_full((3,), 4)])
    unsorted = samples.ray_index.flip(0)
    rays = torch.zeros(5, 3, device=device)
    return {
        "ray_index longer than the samples": lambda b: composite(
            sigma, rgb, with_ray_index(samples, longer), 5, backend=b),
        "unsorted ray_index": lambda b: composite(sigma, rgb, with_ray_index(samples, unsorted), 5, backend=b),
        "ray_index past num_rays": lambda b: composite(sigma, rgb, samples, 4, backend=b),
        "negative ray_index": lambda b: composite(
            sigma, rgb, with_ray_index(samples, samples.ray_index - 1), 5, backend=b),
        "rgb [S,4]": lambda b: composite(sigma, torch.rand(count, 4, device=device), samples, 5, backend=b),
        "dirs [R,2]": lambda b: march_rays(rays, rays[:, :2], rays[:, 0], rays[:, 0] + 1, None, None, backend=b),
    }


@pytest.mark.parametrize("case", list(encoder_cases("cpu")) + list(render_cases("cpu")))
def test_bad_input_raises_what_the_reference_raises(kind, case):
    cases = {**encoder_cases(kind), **render_cases(kind)}
    expected = outcome(lambda: cases[case]("torch"))
    assert outcome(lambda: cases[case](kind)) == expected


def test_cpu_entry_points_check_index_values():
    """Called directly (no Python checks in front), the CPU kernels refuse what would take them
    outside their arrays, with the reference's error type."""
    ext = require_extension("cpu")
    x, tables, frame = encoder_inputs("cpu")
    offsets, scales = level_arguments(CONFIG)
    with pytest.raises(IndexError, match=r"frame indices must lie in \[0, 3\)"):
        ext.hash_encode_forward(x, tables, frame_set(frame, 3), offsets, scales)
    grad_out = torch.rand(SAMPLES, CONFIG.output_dim)
    with pytest.raises(IndexError, match="frame indices"):
        ext.hash_encode_backward(grad_out, x, frame, offsets, scales, 2, CONFIG.features)
    samples = packed_samples("cpu")
    count = len(samples)
    starts = ray_starts(samples.ray_index, 5)
    starts[-1] = count + 3  # a ray reaching past the samples: read out of bounds before
    with pytest.raises(ValueError, match="ray_start must rise from 0"):
        ext.composite_forward(torch.rand(count), torch.rand(count, 3), samples.t_start, samples.t_end, starts)


def test_level_metadata_must_stay_on_the_host():
    ext = require_extension("cpu")
    x, tables, frame = encoder_inputs("cpu")
    offsets, scales = level_arguments(CONFIG)
    with pytest.raises(ValueError, match="offsets must be an int32"):
        ext.hash_encode_forward(x, tables, frame, offsets.long(), scales)


def cuda_or_skip():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    return require_extension("cuda")


@pytest.mark.cuda
def test_cuda_kernels_bound_bad_indices_without_checks():
    """With the value checks off, a bad index still never leads a CUDA kernel outside its arrays:
    its sample encodes to NaN, and a ray range past the samples is cut at S."""
    ext = cuda_or_skip()
    x, tables, frame = encoder_inputs("cuda")
    offsets, scales = level_arguments(CONFIG)
    bad = frame_set(frame, NUM_TABLES)
    out = ext.hash_encode_forward(x, tables, bad, offsets, scales)
    assert out[SAMPLES // 2].isnan().all() and not out[bad < NUM_TABLES].isnan().any()
    samples = packed_samples("cuda")
    count = len(samples)
    starts = ray_starts(samples.ray_index, 5)
    starts[-1] = count + 1000
    colour, opacity, _, weights = ext.composite_forward(
        torch.rand(count, device="cuda"), torch.rand(count, 3, device="cuda"), samples.t_start, samples.t_end, starts)
    torch.cuda.synchronize()
    assert torch.isfinite(colour).all() and torch.isfinite(weights).all() and (opacity <= 1).all()


@pytest.mark.cuda
@pytest.mark.parametrize("fused", [None, True], ids=["dispatched", "fused"])
def test_cuda_training_calls_never_wait_for_the_device(fused, monkeypatch):
    """Encoding forward and backward, compositing forward and backward and the row-sparse Adam
    step make no host synchronisation (torch raises on one in sync-debug mode "error")."""
    cuda_or_skip()
    monkeypatch.delenv(nbskit_cuda.CHECK_INPUTS_ENV, raising=False)
    from nbskit_cuda.encoding_backend import encode_blended_compiled

    x, tables, frame = encoder_inputs("cuda")
    frame = frame.clamp_max(1)
    tables.requires_grad_()
    coefficients = torch.rand(2, NUM_TABLES, device="cuda")
    samples = packed_samples("cuda")
    sigma = torch.rand(len(samples), device="cuda", requires_grad=True)
    rgb = torch.rand(len(samples), 3, device="cuda", requires_grad=True)
    optimizer = RowSparseAdam([tables], lr=1e-2)
    encode_blended_compiled(x, tables, coefficients, frame, CONFIG, fused=bool(fused)).sum().backward()
    optimizer.step()  # the first step creates the state (not the steady state being checked)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        if fused is None:
            features = encode_blended(x, tables, coefficients, frame, CONFIG, backend="cuda")
        else:
            features = encode_blended_compiled(x, tables, coefficients, frame, CONFIG, fused=fused)
        out = composite(sigma, rgb, samples, 5, backend="cuda")
        (features.sum() + out["rgb"].sum() + out["depth"].sum()).backward()
        optimizer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert optimizer.last_rows_updated > 0
