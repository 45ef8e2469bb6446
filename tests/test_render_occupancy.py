"""Occupancy grid: bit packing, the three update policies (paper Eq. 9), dilation and decay."""

from __future__ import annotations

import torch

from nbskit.render import OccupancyGrid, OccupancySchedule
from nbskit.render.occupancy import expression_probe_coefficients, pack_bits, unpack_bits
from nbskit.render.toy import ToySphere, ToySphereField

SPHERE = ToySphere(radius=0.3, growth=0.4)
RESOLUTION = 32


def _cell_radius(grid: OccupancyGrid) -> torch.Tensor:
    """[R,R,R] distance of each cell centre from the sphere centre."""
    centres = grid.cell_centers().reshape(RESOLUTION, RESOLUTION, RESOLUTION, 3)
    return (centres - torch.tensor(SPHERE.centre)).norm(dim=-1)


def _updated(policy: str) -> OccupancyGrid:
    grid = OccupancyGrid(SPHERE.aabb, resolution=RESOLUTION, policy=policy)
    grid.update(ToySphereField(SPHERE), torch.ones(1), generator=torch.Generator().manual_seed(0))
    return grid


def test_bits_round_trip_in_linear_cell_order():
    occupied = torch.rand(4, 4, 4, generator=torch.Generator().manual_seed(1)) > 0.5
    bits = pack_bits(occupied)
    assert bits.dtype == torch.uint8 and bits.shape == (8,)
    assert torch.equal(unpack_bits(bits, 4), occupied)
    single = torch.zeros(4, 4, 4, dtype=torch.bool)
    single[0, 2, 1] = True  # linear index (0*4 + 2)*4 + 1 = 9 -> byte 1, bit 1
    assert pack_bits(single).tolist() == [0, 2, 0, 0, 0, 0, 0, 0]


def test_probe_coefficients_are_neutral_plus_each_basis_at_its_max():
    rows = expression_probe_coefficients(torch.tensor([0.8, 1.5]), "expression")
    assert torch.equal(rows, torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.8, 0.0], [1.0, 0.0, 1.5]]))
    assert torch.equal(expression_probe_coefficients(torch.tensor([0.8, 1.5]), "neutral"), rows[:1])


def test_expression_aware_grid_keeps_what_only_exists_at_the_maximum():
    expression, neutral = _updated("expression"), _updated("neutral")
    radius = _cell_radius(expression)
    # Jittered evaluation reaches half a cell diagonal out, dilation one more cell diagonal.
    reach = 1.5 * expression.cell_diagonal
    # Cells of the shell the sphere only fills when w reaches its maximum.
    shell = (radius > SPHERE.radius + reach) & (radius < SPHERE.radius + SPHERE.growth - reach)
    core = radius < SPHERE.radius - reach
    far_away = radius > SPHERE.radius + SPHERE.growth + reach
    assert shell.sum() > 100
    assert expression.occupied()[shell].all() and expression.occupied()[core].all()
    assert not neutral.occupied()[shell].any() and neutral.occupied()[core].all()
    assert not expression.occupied()[far_away].any() and not neutral.occupied()[far_away].any()


def test_none_policy_is_all_occupied_and_never_updated():
    grid = _updated("none")
    assert grid.occupied_fraction() == 1.0
    assert torch.all(grid.density == 0)


class _HalfSpace(torch.nn.Module):
    """Matter exactly where x < 0 (a cell boundary of the grid), whatever the coefficients."""

    def density_from_coefficients(self, x, frame, coefficients):
        return (x[:, 0] < 0).float() * 100.0


def test_dilation_by_one_cell():
    grid = OccupancyGrid(SPHERE.aabb, resolution=RESOLUTION, policy="neutral")
    grid.update(_HalfSpace(), torch.ones(1))
    occupied_columns = grid.occupied().any(dim=2).any(dim=1)  # [R] along x
    half = RESOLUTION // 2
    # Cells x < 0 hold matter; the first column beyond is kept by the dilation, the next is not.
    assert occupied_columns[: half + 1].all() and not occupied_columns[half + 1 :].any()
    assert grid.occupied()[: half + 1].all()


def test_decay_forgets_matter_that_disappeared():
    grid = _updated("neutral")
    before = grid.density.clone()

    class Empty(torch.nn.Module):
        def density_from_coefficients(self, x, frame, coefficients):
            return torch.zeros(x.shape[0])

    grid.update(Empty(), torch.ones(1))
    assert torch.allclose(grid.density, grid.decay * before)
    # Decayed values stay above the (mean-capped) threshold for a while; they are never raised.
    assert torch.all(grid.density <= before)


def test_partial_updates_and_schedule():
    schedule = OccupancySchedule(every=4, warmup_steps=8, cell_fraction=0.25)
    assert schedule.due(0) and not schedule.due(3) and schedule.due(8)
    assert schedule.num_cells(4, RESOLUTION) is None
    assert schedule.num_cells(8, RESOLUTION) == RESOLUTION**3 // 4
    grid = OccupancyGrid(SPHERE.aabb, resolution=RESOLUTION, policy="expression")
    field = ToySphereField(SPHERE)
    generator = torch.Generator().manual_seed(0)
    for step in range(40):
        schedule.maybe_update(grid, step, field, torch.ones(1), generator)
    full = _updated("expression")
    # Away from the (jitter-dependent) boundary, partial updates reach the full update's answer.
    radius = _cell_radius(grid)
    settled = (radius - (SPHERE.radius + SPHERE.growth)).abs() > 1.5 * grid.cell_diagonal
    assert torch.equal(grid.occupied()[settled], full.occupied()[settled])
