import numpy as np
import pytest

from tomoinpaint.geometry import (
    Geometry,
    angular_weights,
    dose_symmetric_order,
    missing_wedge,
    tilt_range,
    validate_angles,
    wedge_edge_tilts,
    wedge_mask,
)


def test_dose_symmetric_order_is_zero_then_plus_minus_outwards():
    a = np.array([6.0, -6.0, -3.0, 0.0, 3.0, -9.0])
    assert a[dose_symmetric_order(a)].tolist() == [0.0, 3.0, -3.0, 6.0, -6.0, -9.0]


def test_tilt_range_inclusive_and_step():
    a = tilt_range(-67.5, 67.5, 1.5)
    assert a[0] == -67.5 and a[-1] == pytest.approx(67.5)
    assert a.size == 91
    np.testing.assert_allclose(np.diff(a), 1.5)


@pytest.mark.parametrize(
    "angles, message",
    [
        ([0, 1, 1, 2], "duplicate"),
        ([0, 180 + 360, 540], "duplicate"),
        ([0, np.nan, 2], "non-finite"),
        ([0, np.inf], "non-finite"),
        ([[0, 1], [2, 3]], "one-dimensional"),
        ([], "empty"),
    ],
)
def test_bad_angles_refused(angles, message):
    with pytest.raises(ValueError, match=message):
        validate_angles(angles)


def test_wedge_mask_removes_exactly_the_missing_angles():
    full = tilt_range(-90, 88.5, 1.5)
    mask = wedge_mask(full, -67.5, 67.5)
    kept = full[mask]
    dropped = full[~mask]
    assert kept.min() == -67.5 and kept.max() == pytest.approx(67.5)
    assert np.all(np.abs(dropped) > 67.5)
    # 45° wedge at 1.5° steps: the 29 angles strictly beyond ±67.5 (−90 … −69 and 69 … 88.5)
    assert dropped.size == 29 and kept.size == 91


@pytest.mark.parametrize(
    "lo, hi, step, start, stop",
    [(-67.5, 67.5, 1.5, 67.5, 112.5), (-70, 50, 2, 50, 110), (-60, 60, 3, 60, 120)],
)
def test_missing_wedge_derived_from_any_range(lo, hi, step, start, stop):
    s, e, width = missing_wedge(tilt_range(lo, hi, step))
    assert (s, e) == pytest.approx((start, stop))
    assert width == pytest.approx(stop - start - step)


def test_complete_data_has_no_wedge():
    assert missing_wedge(tilt_range(0, 179, 1))[2] == pytest.approx(0)


def test_angular_weights_uniform_full_circle():
    a = tilt_range(0, 178, 2)
    np.testing.assert_allclose(angular_weights(a), np.pi / a.size)


def test_angular_weights_do_not_fill_the_wedge():
    a = tilt_range(-60, 60, 2)
    w = angular_weights(a)
    np.testing.assert_allclose(w, np.deg2rad(2))  # edges get their one-sided step, not the gap
    # order of the input does not matter
    perm = np.random.default_rng(0).permutation(a.size)
    np.testing.assert_allclose(angular_weights(a[perm]), w[perm])


def test_angular_weights_non_uniform_sum_to_half_circle():
    a = np.sort(np.concatenate([tilt_range(0, 89.5, 0.5), tilt_range(90, 178, 2)]))
    w = angular_weights(a)
    assert w.sum() == pytest.approx(np.pi)
    assert w[10] == pytest.approx(np.deg2rad(0.5)) and w[-10] == pytest.approx(np.deg2rad(2))


def test_geometry_checks_sinograms():
    g = Geometry(tilt_range(-60, 60, 2), 32)
    assert g.sino_shape == (61, 32)
    with pytest.raises(ValueError, match="61 angles"):
        g.check_sinogram(np.zeros((60, 32)))
    with pytest.raises(ValueError, match="detector"):
        g.check_sinogram(np.zeros((61, 31)))
    with pytest.raises(ValueError, match="2-D"):
        g.check_sinogram(np.zeros(32))
    bad = np.zeros((61, 32))
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        g.check_sinogram(bad)
    assert g.subset(np.arange(10)).n_angles == 10


def test_wedge_edge_tilts_are_the_tilts_next_to_the_wedge():
    """A tilt series: its outermost tilts; a 0-180 scan with a block dropped: the block's sides."""
    series = tilt_range(-60, 60, 2)
    edge = wedge_edge_tilts(series, 6.0)  # 3 steps of 2 degrees on each side
    assert sorted(series[edge]) == [-60, -58, -56, 56, 58, 60]
    scan = np.arange(180.0)
    scan = scan[(scan < 68) | (scan > 112)]
    edge = wedge_edge_tilts(scan, 3.0)
    assert sorted(scan[edge]) == [65, 66, 67, 113, 114, 115]  # not 0 and 179, neighbours mod 180
    assert wedge_edge_tilts(series, 0.1).sum() == 2  # at least one tilt per side
