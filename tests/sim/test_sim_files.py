"""simulate(): options checked before any work, the three files written together."""

import math

import numpy as np
import pytest

from tomoinpaint import io as tio
from tomoinpaint.errors import OptionError
from tomoinpaint.sim import MAX_TILTS, simulate, simulation_angles


def test_angles_from_a_range_or_a_wedge():
    np.testing.assert_allclose(simulation_angles(-60, 60, 30), [-60, -30, 0, 30, 60])
    a = simulation_angles(step=1.5, wedge=45)
    assert a[0] == -a[-1] and a[-1] <= 67.5 + 1e-9 and np.allclose(np.diff(a), 1.5)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"step": 0}, ["step"]),
        ({"step": math.nan}, ["step"]),
        ({"step": 1e-9}, ["step"]),
        ({"tilt_min": math.nan}, ["tilt_min"]),
        ({"tilt_max": math.inf}, ["tilt_max"]),
        ({"tilt_min": 30, "tilt_max": -30}, ["tilt_min", "tilt_max"]),
        ({"wedge": 45, "tilt_min": -50}, ["wedge", "tilt_min"]),
        ({"wedge": 180}, ["wedge"]),
        ({"wedge": math.nan}, ["wedge"]),
    ],
)
def test_bad_angles_are_option_errors(kwargs, names):
    with pytest.raises(OptionError) as info:
        simulation_angles(**kwargs)
    assert set(names) <= set(info.value.options)


def test_tilt_count_is_bounded():
    assert simulation_angles(-90, 89.99, 180 / MAX_TILTS).size <= MAX_TILTS
    with pytest.raises(OptionError, match="tilts"):
        simulation_angles(-90, 90, 0.5 * 180 / MAX_TILTS)


@pytest.mark.parametrize(
    "kwargs", [{"n": 4}, {"ny": 0}, {"family": "cubes"}, {"voxel_size": -1.0}, {"dose": "lots"}]
)
def test_bad_options_write_nothing(tmp_path, kwargs):
    with pytest.raises(ValueError):
        simulate(tmp_path / "s.mrc", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_writes_series_angles_and_ground_truth(tmp_path):
    r = simulate(tmp_path / "s.mrc", n=16, ny=2, step=10.0, seed=1)
    assert [p.name for p in r.paths] == ["s.mrc", "s_gt.mrc", "s.tlt"]
    ts = tio.read_tilt_series(tmp_path / "s.mrc")
    assert ts.shape == r.shape == (13, 2, 16)
    np.testing.assert_allclose(ts.angles_deg, r.angles_deg)
    assert tio.read_volume(tmp_path / "s_gt.mrc")[0].shape == (2, 16, 16)
