"""Row-sparse (lazy) Adam for the hash tables: parity with torch Adam where they must agree, untouched
rows left exactly alone, the compiled kernels against the torch reference, and the training wiring."""

from __future__ import annotations

import pytest
import torch

from nbskit.train.components import build_optimizer
from nbskit.train.presets import TrainConfig
from nbskit.train.table_optimizer import CombinedOptimizer, RowSparseAdam
from tests.cuda_core_helpers import FP32_RTOL, assert_close, devices_with_extension, require_extension

ADAM = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-15}
SHAPE = (5, 300, 4)  # [K+1, T, F]: rows are the last dimension
STEPS = 4


def fresh_generator() -> torch.Generator:
    """A new seed each run: the kernels must agree on any inputs, not on one lucky draw."""
    seed = int(torch.randint(0, 2**31 - 1, ()).item())
    print(f"seed {seed}")
    return torch.Generator().manual_seed(seed)


def gradients_with_untouched_rows(generator: torch.Generator, device: str, touched_fraction: float = 0.3):
    """[STEPS] random gradients of SHAPE where only some rows (different each step) are non-zero."""
    grads = []
    for _ in range(STEPS):
        grad = torch.randn(SHAPE, generator=generator)
        touched = torch.rand(SHAPE[:-1], generator=generator) < touched_fraction
        grads.append((grad * touched[..., None]).to(device))
    return grads


def run(optimizer_class, initial: torch.Tensor, grads: list[torch.Tensor], **options) -> tuple:
    param = torch.nn.Parameter(initial.clone())
    optimizer = optimizer_class([param], **ADAM, **options)
    for grad in grads:
        param.grad = grad.clone()
        optimizer.step()
    return param.detach(), optimizer


@pytest.fixture(params=["torch", "cpu"])
def backend(request) -> str:
    """Each RowSparseAdam backend (the compiled one skipped where the CPU extension is unavailable)."""
    if request.param == "cpu":
        require_extension("cpu")
    return request.param


def test_matches_torch_adam_when_every_row_is_touched_every_step(backend):
    generator = fresh_generator()
    initial = torch.randn(SHAPE, generator=generator)
    grads = [torch.randn(SHAPE, generator=generator) for _ in range(STEPS)]  # no zero rows (probability 0)
    sparse, optimizer = run(RowSparseAdam, initial, grads, backend=backend)
    dense, _ = run(torch.optim.Adam, initial, grads)
    assert_close(sparse, dense, what="parameters after Adam steps")
    assert optimizer.last_rows_updated == optimizer.last_rows_total == SHAPE[0] * SHAPE[1]


def test_untouched_rows_keep_value_and_moments_exactly(backend):
    generator = fresh_generator()
    initial = torch.randn(SHAPE, generator=generator)
    grads = gradients_with_untouched_rows(generator, "cpu")
    never_touched = torch.stack([g.ne(0).any(-1) for g in grads]).any(0).logical_not()
    assert never_touched.any() and not never_touched.all()
    param, optimizer = run(RowSparseAdam, initial, grads, backend=backend)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert torch.equal(param[never_touched], initial[never_touched])
    assert torch.all(state["exp_avg"][never_touched] == 0) and torch.all(
        state["exp_avg_sq"][never_touched] == 0
    )
    assert not torch.equal(param[~never_touched], initial[~never_touched])
    assert optimizer.last_rows_updated == int(grads[-1].ne(0).any(-1).sum())


def test_first_step_of_touched_rows_equals_dense_adam_on_those_rows():
    """Before any moment exists, lazy and dense Adam give touched rows the same update."""
    generator = fresh_generator()
    initial = torch.randn(SHAPE, generator=generator)
    grad = gradients_with_untouched_rows(generator, "cpu")[0]
    touched = grad.ne(0).any(-1)
    sparse, _ = run(RowSparseAdam, initial, [grad], backend="torch")
    dense, _ = run(torch.optim.Adam, initial, [grad])
    assert_close(sparse[touched], dense[touched], what="touched rows")
    assert torch.equal(sparse[~touched], initial[~touched])


@pytest.mark.parametrize("device", devices_with_extension())
def test_compiled_kernel_matches_torch_reference_and_never_reads_untouched_rows(device):
    require_extension(device)
    generator = fresh_generator()
    initial = torch.randn(SHAPE, generator=generator).to(device)
    grads = gradients_with_untouched_rows(generator, device)
    reference, reference_optimizer = run(RowSparseAdam, initial, grads, backend="torch")
    # Poison: NaN moments in rows that no step touches must not leak anywhere (nor be overwritten).
    never_touched = torch.stack([g.ne(0).any(-1) for g in grads]).any(0).logical_not()
    param = torch.nn.Parameter(initial.clone())
    optimizer = RowSparseAdam([param], **ADAM, backend=device)
    for step, grad in enumerate(grads):
        param.grad = grad.clone()
        optimizer.step()
        if step == 0:
            state = optimizer.state[param]
            for name in ("exp_avg", "exp_avg_sq"):
                state[name][never_touched] = float("nan")
    touched = ~never_touched
    assert_close(param.detach()[touched], reference[touched], rtol=FP32_RTOL, what=f"{device} parameters")
    for name in ("exp_avg", "exp_avg_sq"):
        expected = reference_optimizer.state[reference_optimizer.param_groups[0]["params"][0]][name]
        assert_close(optimizer.state[param][name][touched], expected[touched], what=f"{device} {name}")
        assert torch.isnan(optimizer.state[param][name][never_touched]).all()
    assert optimizer.last_rows_updated == reference_optimizer.last_rows_updated


def test_state_dict_round_trip_continues_identically():
    generator = fresh_generator()
    initial = torch.randn(SHAPE, generator=generator)
    grads = gradients_with_untouched_rows(generator, "cpu")
    straight, _ = run(RowSparseAdam, initial, grads, backend="torch")
    param = torch.nn.Parameter(initial.clone())
    first = RowSparseAdam([param], **ADAM, backend="torch")
    for grad in grads[:2]:
        param.grad = grad.clone()
        first.step()
    resumed = RowSparseAdam([param], **ADAM, backend="torch")
    resumed.load_state_dict(first.state_dict())
    for grad in grads[2:]:
        param.grad = grad.clone()
        resumed.step()
    assert torch.equal(param.detach(), straight)


def small_model() -> torch.nn.Module:
    from nbskit.encoding import BlendedHashGrid, HashGridConfig

    model = torch.nn.Module()
    model.grid = BlendedHashGrid(HashGridConfig(levels=2, log2_table_size=6), 2, [0, 0], [1, 1])
    model.mlp = torch.nn.Linear(8, 3)
    return model


def test_combined_optimizer_resumes_from_its_state_dict_identically():
    generator = fresh_generator()
    model = small_model()
    grads = [  # some rows of every parameter untouched at each step
        [
            torch.randn(p.shape, generator=generator)
            * (torch.rand(p.shape[:-1] + (1,), generator=generator) < 0.5)
            for p in model.parameters()
        ]
        for _ in range(3)
    ]

    def train(optimizer, steps) -> None:
        for step_grads in steps:
            for param, grad in zip(model.parameters(), step_grads):
                param.grad = grad.clone()
            optimizer.step()

    initial = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig(table_optimizer="sparse-adam")
    train(build_optimizer(model, config), grads)
    straight = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for param, value in zip(model.parameters(), initial):
            param.copy_(value)
    first = build_optimizer(model, config)
    train(first, grads[:2])
    resumed = build_optimizer(model, config)
    resumed.load_state_dict(first.state_dict())
    train(resumed, grads[2:])
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), straight))


def test_build_optimizer_pairs_sparse_tables_with_adam_mlps_and_checks_the_name():
    model = small_model()
    optimizer = build_optimizer(model, TrainConfig(table_optimizer="sparse-adam"))
    assert isinstance(optimizer, CombinedOptimizer)
    assert optimizer.optimizers["tables"].param_groups[0]["params"] == [model.grid.tables]
    assert len(optimizer.optimizers["mlps"].param_groups[0]["params"]) == 2
    with pytest.raises(ValueError, match="optimiser state has groups"):
        optimizer.load_state_dict(build_optimizer(model, TrainConfig(table_optimizer="adam")).state_dict())
    with pytest.raises(ValueError, match="table_optimizer must be one of"):
        build_optimizer(model, TrainConfig(table_optimizer="sgd"))
