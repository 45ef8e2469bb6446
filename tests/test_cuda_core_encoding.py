"""Compiled hash encoding (nbskit_cuda) against the torch reference and the golden vectors."""

from __future__ import annotations

import pytest
import torch
from cuda_core_helpers import (
    FP16_RTOL,
    GOLDEN_ATOL,
    assert_close,
    devices_with_extension,
    load_golden,
    require_extension,
)

from nbskit.encoding import HashGridConfig, encode_blended, hash_encode
from nbskit_cuda.encoding_backend import encode_blended_compiled, level_arguments

SMALL = HashGridConfig(levels=6, features=2, log2_table_size=10, base_resolution=4, finest_resolution=96)
PAPER = HashGridConfig()
NUM_SAMPLES = 3000


def random_inputs(config: HashGridConfig, num_tables: int, num_frames: int, device: str, dtype=torch.float32):
    """Fresh random x (some outside the cube, some on its faces), tables, coefficients, frames."""
    x = torch.rand(NUM_SAMPLES, 3, device=device) * 1.2 - 0.1
    x[:50] = torch.randint(0, 2, (50, 3), device=device).float()  # exact corners of the cube
    tables = torch.rand(num_tables, config.total_entries, config.features, device=device, dtype=dtype) * 2 - 1
    coefficients = torch.rand(num_frames, num_tables, device=device, dtype=dtype)
    frame = torch.randint(0, num_frames, (NUM_SAMPLES,), device=device)
    return x, tables, coefficients, frame


def reference(fn, *args, device: str):
    """Run the torch reference on CPU in float32 (it is the ground truth for every backend)."""
    moved = [a.detach().cpu().float() if a.is_floating_point() else a.cpu() for a in args]
    return fn(*moved)


@pytest.mark.parametrize("kind", devices_with_extension())
@pytest.mark.parametrize("config", [SMALL, PAPER], ids=["small", "paper"])
def test_lookup_matches_reference_and_fills_poisoned_output(kind, config):
    ext = require_extension(kind)
    x, tables, _, frame = random_inputs(config, num_tables=3, num_frames=3, device=kind)
    offsets, scales = level_arguments(config)
    out = torch.full((NUM_SAMPLES, config.output_dim), float("nan"), device=kind)
    ext.hash_encode_forward(x, tables, frame, offsets, scales, out=out)
    expected = reference(
        lambda a, t, f: hash_encode(a, t, f, config, backend="torch"), x, tables, frame, device=kind
    )
    assert_close(out.cpu(), expected, what="lookup forward")
    outside = ((x < 0) | (x > 1)).any(dim=1)
    assert (out[outside] == 0).all(), "samples outside [0,1]^3 must encode to zeros"


@pytest.mark.parametrize("kind", devices_with_extension())
@pytest.mark.parametrize("fused", [False, True], ids=["blend-then-lookup", "fused"])
def test_blended_forward_and_gradients_match_reference(kind, fused):
    require_extension(kind)
    config = SMALL
    x, tables, coefficients, frame = random_inputs(config, num_tables=4, num_frames=3, device=kind)
    grad_out = torch.randn(NUM_SAMPLES, config.output_dim, device=kind)

    def run(fn, x, tables, coefficients, frame, grad_out):
        tables = tables.clone().requires_grad_()
        coefficients = coefficients.clone().requires_grad_()
        out = fn(x, tables, coefficients, frame)
        out.backward(grad_out)
        return out.detach(), tables.grad, coefficients.grad

    got = run(
        lambda *a: encode_blended_compiled(*a, config, fused=fused), x, tables, coefficients, frame, grad_out
    )
    expected = reference(
        lambda *a: run(lambda *b: encode_blended(*b, config, backend="torch"), *a),
        x,
        tables,
        coefficients,
        frame,
        grad_out,
        device=kind,
    )
    for name, actual, want in zip(("output", "grad tables", "grad coefficients"), got, expected):
        assert_close(actual.cpu(), want, what=name)


@pytest.mark.parametrize("kind", devices_with_extension())
def test_lookup_gradient_matches_reference(kind):
    require_extension(kind)
    config = PAPER
    x, tables, _, frame = random_inputs(config, num_tables=2, num_frames=2, device=kind)
    grad_out = torch.randn(NUM_SAMPLES, config.output_dim, device=kind)

    def grad(backend, x, tables, frame, grad_out):
        tables = tables.clone().requires_grad_()
        hash_encode(x, tables, frame, config, backend=backend).backward(grad_out)
        return tables.grad

    expected = reference(lambda *a: grad("torch", *a), x, tables, frame, grad_out, device=kind)
    assert_close(grad(kind, x, tables, frame, grad_out).cpu(), expected, what="lookup backward")


@pytest.mark.parametrize("kind", devices_with_extension())
@pytest.mark.parametrize("name", ["small", "paper"])
@pytest.mark.parametrize("fused", [False, True], ids=["blend-then-lookup", "fused"])
def test_golden_vectors(kind, name, fused, golden_dir):
    require_extension(kind)
    golden = load_golden(golden_dir / f"golden_hashgrid_{name}.npz")
    config = golden["config"]
    tables = torch.from_numpy(golden["tables"]).to(kind).requires_grad_()
    out = encode_blended_compiled(
        torch.from_numpy(golden["x"]).to(kind),
        tables,
        torch.from_numpy(golden["coef"]).to(kind),
        torch.from_numpy(golden["frame"]).to(kind),
        config,
        fused=fused,
    )
    out.backward(torch.from_numpy(golden["grad_out"]).to(kind))
    atol = GOLDEN_ATOL[name]
    assert (out.detach().cpu() - torch.from_numpy(golden["out"])).abs().max() <= atol
    grad = tables.grad.cpu()
    if "grad_tables" in golden:
        assert (grad - torch.from_numpy(golden["grad_tables"])).abs().max() <= atol
    else:
        picked = grad.reshape(-1)[torch.from_numpy(golden["grad_pick_index"])]
        assert (picked - torch.from_numpy(golden["grad_pick_value"])).abs().max() <= atol


@pytest.mark.parametrize("kind", devices_with_extension())
def test_blend_forward_matches_reference(kind):
    ext = require_extension(kind)
    _, tables, coefficients, _ = random_inputs(PAPER, num_tables=5, num_frames=3, device=kind)
    expected = reference(lambda t, c: torch.einsum("bk,ktf->btf", c, t), tables, coefficients, device=kind)
    assert_close(ext.blend_forward(tables, coefficients).cpu(), expected, what="blend forward")


def test_cpu_recycled_large_buffers_never_leak_old_contents():
    """Outputs and gradients of a training-sized call come from recycled buffers (nbskit_cuda keeps
    a few freed large mappings): poisoning and freeing them must not change the next results."""
    ext = require_extension("cpu")
    config = PAPER
    samples = 20_000  # [N, L*F] float32 output of 5 MB: above the recycling threshold
    x = torch.rand(samples, 3)
    frame = torch.randint(0, 2, (samples,))
    tables = torch.rand(3, config.total_entries, config.features) * 2 - 1
    coefficients = torch.rand(2, 3)
    grad_out = torch.randn(samples, config.output_dim)
    offsets, scales = level_arguments(config)

    def results():
        blended = ext.blend_forward(tables, coefficients)
        out = ext.hash_encode_forward(x, blended, frame, offsets, scales)
        grad_blended = ext.hash_encode_backward(grad_out, x, frame, offsets, scales, 2, config.features)
        grad_tables = ext.blend_backward(grad_blended, coefficients)
        return [blended, out, grad_blended, grad_tables]

    first = results()
    expected = [tensor.clone() for tensor in first]
    for tensor in first:
        tensor.fill_(float("nan"))
    del first, tensor  # the poisoned buffers go back to the recycler
    for name, got, want in zip(("blended", "output", "grad blended", "grad tables"), results(), expected):
        assert torch.equal(got, want), f"{name}: a recycled buffer changed the result"


def test_cpu_gradcheck_float64():
    require_extension("cpu")
    config = HashGridConfig(levels=2, features=2, log2_table_size=3, base_resolution=2, finest_resolution=4)
    x = torch.rand(12, 3)
    frame = torch.randint(0, 2, (12,))
    tables = torch.randn(3, config.total_entries, config.features, dtype=torch.float64, requires_grad=True)
    coefficients = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)
    for fused in (False, True):
        assert torch.autograd.gradcheck(
            lambda t, c, fused=fused: encode_blended_compiled(x, t, c, frame, config, fused=fused),
            (tables, coefficients),
            fast_mode=True,
        )


def test_cpu_rejects_frames_out_of_range():
    require_extension("cpu")
    x, tables, _, frame = random_inputs(SMALL, num_tables=2, num_frames=2, device="cpu")
    frame[7] = 2
    with pytest.raises(IndexError, match="frame indices"):
        hash_encode(x, tables, frame, SMALL, backend="cpu")


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["cuda"])
def test_cuda_half_tables_match_reference(kind):
    if not torch.cuda.is_available():
        pytest.skip("fp16 tables are a CUDA feature; no GPU visible")
    require_extension(kind)
    config = PAPER
    x, tables, coefficients, frame = random_inputs(config, num_tables=3, num_frames=2, device=kind)
    half = tables.half()
    got = encode_blended_compiled(x, half, coefficients.half(), frame, config).float()
    expected = reference(
        lambda a, t, c, f: encode_blended(a, t, c, f, config, backend="torch"),
        x,
        half.float(),
        coefficients.half().float(),
        frame,
        device=kind,
    )
    assert_close(got.cpu(), expected, rtol=FP16_RTOL, what="fp16 blended forward")
