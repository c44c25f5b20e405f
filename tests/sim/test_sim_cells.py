"""The cryo-ET-like cell family (tomoinpaint.sim.cells)."""

import numpy as np
import pytest

from tomoinpaint.sim import phantoms as ph
from tomoinpaint.sim._util import block_mean, circle_mask
from tomoinpaint.sim.cells import CELL_VALUES, cell_volume


@pytest.fixture(scope="module")
def cell():
    return cell_volume(12, 128, 5)


def test_cell_holds_every_component_and_stays_in_the_disk(cell):
    assert cell.shape == (12, 128, 128) and cell.dtype == np.float32
    assert cell.min() == 0.0
    assert not cell[:, ~circle_mask(128, 0.95)].any()
    values = set(np.unique(cell).tolist())
    # painted values only (no blending), and the envelope, its membranes and a bead show
    assert values <= {0.0, *np.float32(list(CELL_VALUES.values())).tolist()}
    for part in ("cytoplasm", "membrane", "particle", "gold"):
        assert np.float32(CELL_VALUES[part]) in values, part
    # a thin membrane: far fewer membrane pixels than cytoplasm pixels
    assert (cell == 1.0).sum() < 0.3 * (cell == np.float32(0.2)).sum()


def test_cell_slices_differ_but_are_correlated(cell):
    a, b = cell[:-1].reshape(11, -1), cell[1:].reshape(11, -1)
    assert all((a != b).any(axis=1)), "every slice differs from its neighbour"
    corr = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b, strict=True)]
    assert min(corr) > 0.5


def test_one_seed_draws_the_same_cell_at_every_size():
    fine, coarse = cell_volume(2, 256, 9), cell_volume(1, 128, 9)
    np.testing.assert_array_equal(coarse, cell_volume(1, 128, 9))
    # the fine grid's two slices straddle the coarse one's plane; their block mean matches
    # it up to the edges' pixels, far better than another seed's cell does
    same = np.abs(block_mean(fine.mean(axis=0), 2) - coarse[0]).mean()
    other = np.abs(cell_volume(1, 128, 10)[0] - coarse[0]).mean()
    assert same < 0.4 * other


def test_phantom_volume_draws_cells_and_refuses_options():
    np.testing.assert_array_equal(ph.phantom_volume(2, 64, 3, "cell"), cell_volume(2, 64, 3))
    with pytest.raises(ValueError, match="unexpected options for family 'cell'"):
        ph.phantom_volume(2, 64, 3, "cell", radius=0.5)
