"""Tests for tomoinpaint.prep: synthetic properties and the real tooth.h5 scan."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

import tomoinpaint
from tomoinpaint import prep

TOOTH = Path(tomoinpaint.__file__).parent / "data" / "tooth.h5"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def tooth():
    with h5py.File(TOOTH, "r") as f:
        return {
            "proj": f["/exchange/data"][...],
            "flats": f["/exchange/data_white"][...],
            "darks": f["/exchange/data_dark"][...],
            "theta": f["/exchange/theta"][...],
        }


@pytest.fixture(scope="module")
def tooth_mlog(tooth):
    return prep.minus_log(prep.normalize(tooth["proj"], tooth["flats"], tooth["darks"]))


@pytest.fixture(scope="module")
def tooth_center(tooth_mlog, tooth):
    return prep.find_center(tooth_mlog, tooth["theta"])


def stripe_energy(sino: np.ndarray) -> float:
    """Std of the angle-averaged sinogram after a high-pass along the detector.

    Stripes (constant offsets of single detector columns) survive averaging over
    angles; the object's own structure is smooth after averaging and is removed
    by the high-pass.
    """
    m = sino.mean(axis=0)
    return float(np.std(m - uniform_filter1d(m, 9, mode="nearest")))


def point_sinogram(c0: float, angles_deg, nx: int = 128) -> np.ndarray:
    """Sinogram (n_angles, nx) of a few Gaussian blobs rotating about column ``c0``."""
    s = np.arange(nx)
    th = np.deg2rad(np.asarray(angles_deg, dtype=float))
    sino = np.zeros((th.size, nx))
    for x, y, a in ((10, 5, 1.0), (-20, 12, 0.7), (5, -25, 0.5), (30, 20, 0.8)):
        pos = c0 + x * np.cos(th) + y * np.sin(th)
        sino += a * np.exp(-0.5 * ((s[None, :] - pos[:, None]) / 1.5) ** 2)
    return sino


def com_x(proj: np.ndarray) -> np.ndarray:
    """Centre of mass along the detector of every row, shape (n_proj, ny)."""
    x = np.arange(proj.shape[-1])
    return (proj * x).sum(-1) / proj.sum(-1)


# --------------------------------------------------------------------------- backends


def test_auto_backend_is_algotom_without_tomopy(monkeypatch):
    monkeypatch.setitem(sys.modules, "tomopy", None)  # makes `import tomopy` fail
    assert prep.available_backends() == ["algotom"]
    assert prep.backend() == "algotom"
    assert prep.backend("algotom") == "algotom"
    with pytest.raises(ValueError, match="conda"):
        prep.backend("tomopy")
    with pytest.raises(ValueError, match="conda"):
        prep.remove_rings(np.ones((4, 1, 8)), backend="tomopy")


def test_unknown_backend_refused():
    with pytest.raises(ValueError, match="'astra'"):
        prep.backend("astra")


def test_tomopy_backend_is_preferred_and_dispatched(monkeypatch):
    calls = {}
    fake = types.ModuleType("tomopy")

    def remove_stripe_based_sorting(tomo, **kw):
        calls["rings"] = (tomo.shape, kw)
        return tomo + 1.0

    def find_center_vo(tomo, ind=None, **kw):
        calls["center"] = (tomo.copy(), ind, kw)
        return 42.5

    fake.remove_stripe_based_sorting = remove_stripe_based_sorting
    fake.find_center_vo = find_center_vo
    monkeypatch.setitem(sys.modules, "tomopy", fake)

    assert prep.available_backends() == ["tomopy", "algotom"]
    assert prep.backend() == "tomopy"
    x = np.zeros((5, 3, 8))
    out = prep.remove_rings(x, size=11)
    assert calls["rings"] == ((5, 3, 8), {"size": 11})
    assert np.all(out == 1.0) and out.dtype == np.float32
    # 360 deg scan in shuffled order: tomopy gets the first half turn, sorted
    angles = np.array([270.0, 0.0, 90.0, 180.0, 45.0, 315.0])
    proj = np.broadcast_to(angles[:, None, None], (6, 3, 8)).astype(np.float32)
    assert prep.find_center(proj, angles, slice_index=2, smin=-5) == 42.5
    got, ind, kw = calls["center"]
    assert ind == 2 and kw == {"smin": -5}
    assert got[:, 0, 0].tolist() == [0.0, 45.0, 90.0]
    prep.find_center(proj, angles)
    assert calls["center"][1] == 1  # default: the middle row ny // 2
    # algotom can still be asked for explicitly
    assert prep.backend("algotom") == "algotom"


# --------------------------------------------------------------------------- normalize / minus_log


def test_normalize_recovers_transmission():
    rng = np.random.default_rng(0)
    dark = rng.uniform(90, 110, (2, 6, 7))
    flat = dark.mean(0) + rng.uniform(900, 1100, (3, 6, 7))
    trans = rng.uniform(0.05, 1.0, (4, 6, 7))
    proj = dark.mean(0) + trans * (flat.mean(0) - dark.mean(0))
    out = prep.normalize(proj, flat, dark)
    assert out.shape == proj.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, trans, rtol=1e-5)
    # a single (ny, nx) frame is accepted for flats and darks, darks may be omitted
    np.testing.assert_allclose(prep.normalize(proj, flat.mean(0), dark.mean(0)), trans, rtol=1e-5)
    np.testing.assert_allclose(
        prep.normalize(trans * 50.0, np.full((6, 7), 50.0), None), trans, rtol=1e-5
    )


def test_normalize_floors_and_clips():
    flat = np.full((1, 2, 3), 100.0)
    dark = np.full((1, 2, 3), 10.0)
    flat[0, 0, 0] = 10.0  # dead pixel: flat == dark
    proj = np.full((2, 2, 3), 55.0)
    proj[1, 1, 1] = 5.0  # below the dark level
    out = prep.normalize(proj, flat, dark)
    assert np.all(np.isfinite(out)) and np.all(out > 0)
    assert out[1, 1, 1] == pytest.approx(1e-6)
    assert out[0, 1, 2] == pytest.approx(0.5)
    assert np.all(np.isfinite(prep.minus_log(out)))


def test_tooth_normalized_range_and_minus_log(tooth, tooth_mlog):
    norm = prep.normalize(tooth["proj"], tooth["flats"], tooth["darks"])
    assert norm.shape == (181, 2, 640)
    assert np.all(norm > 0)
    frac = np.mean((norm > 0) & (norm <= 1.2))
    assert frac > 0.99
    # the unobstructed beam at the detector edges is ~1, the tooth absorbs
    assert np.median(norm[:, :, :20]) == pytest.approx(1.0, abs=0.05)
    assert norm[:, :, 250:350].mean() < 0.8
    assert np.all(np.isfinite(tooth_mlog)) and tooth_mlog.dtype == np.float32
    np.testing.assert_allclose(tooth_mlog, -np.log(norm), rtol=1e-6, atol=1e-6)


def test_minus_log_refuses_nonpositive():
    x = np.ones((2, 2, 2))
    x[0, 0, 0] = 0.0
    with pytest.raises(ValueError, match="<= 0"):
        prep.minus_log(x)
    np.testing.assert_allclose(prep.minus_log(np.full((1, 1, 2), np.e)), -1.0)


# --------------------------------------------------------------------------- rings


def test_tooth_ring_removal_reduces_stripes(tooth_mlog):
    for method, max_ratio in (("sorting", 0.7), ("all", 0.7)):
        out = prep.remove_rings(tooth_mlog, method=method)
        assert out.shape == tooth_mlog.shape and np.all(np.isfinite(out))
        for y in range(out.shape[1]):
            before = stripe_energy(tooth_mlog[:, y, :])
            after = stripe_energy(out[:, y, :])
            assert after < max_ratio * before, (method, y, before, after)
        # the object itself is preserved: small change relative to the signal
        change = np.abs(out - tooth_mlog).mean()
        assert change < 0.02 * np.abs(tooth_mlog).mean() + 0.01 * np.ptp(tooth_mlog)


def test_ring_removal_removes_synthetic_stripe():
    sino = point_sinogram(63.5, np.arange(0, 180, 1.0))
    bad = sino.copy()
    bad[:, 40] += 0.3
    bad[:, 80] -= 0.2
    out = prep.remove_rings(bad[:, None, :], method="sorting")[:, 0, :]
    err_before = np.abs(bad - sino)[:, [40, 80]].mean()
    err_after = np.abs(out - sino)[:, [40, 80]].mean()
    assert err_after < 0.3 * err_before


def test_ring_window_is_about_a_hundredth_of_the_detector_width():
    widths = (64, 128, 256, 399, 400, 512, 640, 1024, 2048, 4096)
    got = [prep.ring_window(n) for n in widths]
    assert got == [3, 3, 3, 3, 5, 5, 7, 11, 21, 41]  # 21 at 2048: algotom's fixed default


def test_default_window_spares_a_small_object_and_still_removes_stripes():
    # prep_rings_window.md: the fixed 21-px window cost TV several dB at 128 px
    angles = np.arange(0, 180, 1.0)
    sino = point_sinogram(40.0, angles) + point_sinogram(70.0, angles)  # (180, 128)
    bad = sino.copy()
    bad[:, 20] += 0.3  # outside the points' traces (columns 40 ... 87)
    bad[:, 100] -= 0.2
    default = prep.remove_rings(bad[:, None, :], method="sorting")[:, 0, :]
    wide = prep.remove_rings(bad[:, None, :], method="sorting", window=21)[:, 0, :]
    np.testing.assert_array_equal(
        default, prep.remove_rings(bad[:, None, :], method="sorting", window=3)[:, 0, :]
    )
    stripes = [20, 100]
    objects = np.setdiff1d(np.arange(128), stripes)
    assert np.abs(default - sino)[:, stripes].mean() < 0.3 * np.abs(bad - sino)[:, stripes].mean()
    assert np.abs(default - sino)[:, objects].mean() < 0.5 * np.abs(wide - sino)[:, objects].mean()
    # "all" gets the window for its small stripes, its large ones in algotom's proportion
    out = prep.remove_rings(bad[:, None, :], method="all", window=5)[:, 0, :]
    assert np.abs(out - sino)[:, stripes].mean() < 0.3 * np.abs(bad - sino)[:, stripes].mean()


@pytest.mark.parametrize("window", [4, 1, 2.5, True, "7"])
def test_bad_ring_window_refused(window):
    with pytest.raises(ValueError, match="ring window must be an odd number"):
        prep.remove_rings(np.ones((4, 1, 8)), window=window)
    with pytest.raises(ValueError, match="ring window must be an odd number"):
        prep.Prep(ring_window=window)


def test_remove_rings_bad_method():
    with pytest.raises(ValueError, match="'median'"):
        prep.remove_rings(np.ones((4, 1, 8)), method="median")


# --------------------------------------------------------------------------- centre


def test_tooth_center(tooth_center):
    assert 294.0 <= tooth_center <= 297.5


@pytest.mark.parametrize("c0", [60.3, 66.75])
def test_find_center_synthetic(c0):
    angles = np.arange(0, 180, 1.0)
    proj = point_sinogram(c0, angles)[:, None, :]
    assert prep.find_center(proj, angles) == pytest.approx(c0, abs=0.5)


def test_find_center_uses_half_turn_in_any_order():
    c0 = 60.3
    angles = np.arange(0, 360, 1.0)
    proj = point_sinogram(c0, angles)[:, None, :]
    perm = np.random.default_rng(0).permutation(angles.size)
    assert prep.find_center(proj[perm], angles[perm]) == pytest.approx(c0, abs=0.5)


def test_find_center_warns_on_limited_angles(caplog):
    angles = np.arange(-67.5, 67.6, 1.0)
    proj = point_sinogram(64.0, angles)[:, None, :]
    with caplog.at_level(logging.WARNING, logger="tomoinpaint.prep"):
        prep.find_center(proj, angles)
    assert "unreliable" in caplog.text


# --------------------------------------------------------------------------- shift


@pytest.mark.parametrize(("nx", "center"), [(101, 40.3), (100, 61.75)])
def test_shift_to_center_moves_point(nx, center):
    x = np.arange(nx)
    p0 = 45.0
    row = np.exp(-0.5 * ((x - p0) / 2.0) ** 2)
    proj = np.broadcast_to(row, (3, 2, nx)).copy()
    out = prep.shift_to_center(proj, center)
    assert out.shape == proj.shape and out.dtype == np.float32
    expected = p0 + ((nx - 1) / 2 - center)
    np.testing.assert_allclose(com_x(out), expected, atol=0.02)
    # the rotation axis column itself ends on the detector middle: shifting a
    # feature located at `center` puts it at (nx - 1) / 2
    row_c = np.exp(-0.5 * ((x - center) / 2.0) ** 2)
    out_c = prep.shift_to_center(row_c[None, None, :], center)
    np.testing.assert_allclose(com_x(out_c), (nx - 1) / 2, atol=0.02)
    # linear interpolation gives the same centre of mass
    np.testing.assert_allclose(
        com_x(prep.shift_to_center(proj, center, order=1)), expected, atol=0.02
    )


def test_shift_to_center_identity_and_bad_center():
    proj = np.random.default_rng(0).random((2, 2, 9))
    np.testing.assert_allclose(prep.shift_to_center(proj, 4.0), proj, rtol=1e-6)
    for bad in (-1.0, 8.5, np.nan, "middle", None):
        with pytest.raises(ValueError, match="center"):
            prep.shift_to_center(proj, bad)


# --------------------------------------------------------------------------- preprocess


def test_preprocess_tooth_auto(tooth):
    sino, center = prep.preprocess(tooth["proj"], tooth["flats"], tooth["darks"], tooth["theta"])
    assert sino.shape == (181, 2, 640) and sino.dtype == np.float32
    assert np.all(np.isfinite(sino))
    assert 294.0 <= center <= 297.5
    # after re-centring, the rotation axis sits on the detector middle
    assert prep.find_center(sino, tooth["theta"]) == pytest.approx(319.5, abs=1.0)


def test_preprocess_explicit_center_and_none(tooth, tooth_mlog):
    args = (tooth["proj"], tooth["flats"], tooth["darks"], tooth["theta"])
    sino, c = prep.preprocess(*args, rings=False, center=None)
    assert c == pytest.approx(319.5)
    np.testing.assert_allclose(sino, tooth_mlog)
    sino, c = prep.preprocess(*args, rings=False, center=295.5)
    assert c == 295.5
    np.testing.assert_allclose(sino, prep.shift_to_center(tooth_mlog, 295.5), rtol=1e-6)


def test_line_integrals_without_flat_fields_get_rings_and_centring_only(tooth, tooth_mlog):
    # a series saved after flat-field correction and minus-log (no flat fields left)
    raw = (tooth["proj"], tooth["flats"], tooth["darks"], tooth["theta"])
    given = (tooth_mlog, None, None, tooth["theta"])
    for kw in ({"rings": True}, {"rings": False, "center": 295.5}):
        sino, c = prep.preprocess(*given, **kw)
        want, c_want = prep.preprocess(*raw, **kw)
        assert c == c_want
        np.testing.assert_allclose(sino, want, rtol=1e-5, atol=1e-6)
    # by default rings are removed from raw counts only (prep_rings.md: the filter costs
    # TV 1.7-11 dB on simulated line integrals, with or without stripes)
    sino, c = prep.preprocess(*given, center=295.5)
    np.testing.assert_allclose(sino, prep.shift_to_center(tooth_mlog, 295.5), rtol=1e-6)
    with_rings, _ = prep.preprocess(*raw, center=295.5)
    assert np.abs(with_rings - sino).max() > 1e-3 * np.abs(sino).max()


def test_ring_removal_is_resolved_by_what_the_data_are(tooth, tooth_mlog):
    from tomoinpaint.io import TiltSeries

    assert prep.resolve_rings("auto", raw=True) == "sorting"
    assert prep.resolve_rings("auto", raw=False) is False
    assert prep.resolve_rings(True, raw=False) == "sorting"
    assert prep.resolve_rings("fw", raw=False) == "fw"
    with pytest.raises(ValueError, match="rings must be"):
        prep.resolve_rings("median", raw=True)
    raw = TiltSeries(tooth["proj"], tooth["theta"], flats=tooth["flats"], darks=tooth["darks"])
    mlog = TiltSeries(tooth_mlog, tooth["theta"])
    assert prep.check_prep(True, raw).rings is True
    assert prep.check_prep(True, mlog).rings is False
    assert prep.check_prep(prep.Prep(rings="all"), mlog).rings == "all"


def test_cli_prep_centres_a_series_given_as_line_integrals(tmp_path, tooth, tooth_mlog):
    from click.testing import CliRunner

    import tomoinpaint.cli as cli
    import tomoinpaint.io as tio

    tio.write_tilt_series(tmp_path / "mlog.mrc", tooth_mlog, tooth["theta"])  # .tlt beside it
    wbp, prep_on = ["--method", "wbp", "-o"], ["--prep", "--no-rings"]
    runs = {
        "raw": [str(TOOTH), *prep_on, *wbp, str(tmp_path / "raw.mrc")],
        "mlog": [str(tmp_path / "mlog.mrc"), *prep_on, *wbp, str(tmp_path / "mlog_prep.mrc")],
        "uncentred": [str(tmp_path / "mlog.mrc"), *wbp, str(tmp_path / "mlog_as_is.mrc")],
    }
    for name, a in runs.items():
        r = CliRunner().invoke(cli.main, ["reconstruct", *a])
        assert r.exit_code == 0, (name, r.output)
    ref = tio.read_volume(tmp_path / "raw.mrc")[0]
    centred = tio.read_volume(tmp_path / "mlog_prep.mrc")[0]
    as_is = tio.read_volume(tmp_path / "mlog_as_is.mrc")[0]
    np.testing.assert_allclose(centred, ref, atol=1e-4 * np.abs(ref).max())
    # the axis 24 px off the middle: without centring the slice is far from it
    assert np.abs(as_is - ref).max() > 0.2 * np.abs(ref).max()


# --------------------------------------------------------------------------- validation


def test_validation_errors(tooth):
    proj, flats, darks, theta = tooth["proj"], tooth["flats"], tooth["darks"], tooth["theta"]
    with pytest.raises(ValueError, match=r"flats.*\(2, 639\).*\(2, 640\)"):
        prep.normalize(proj, flats[:, :, :-1], darks)
    with pytest.raises(ValueError, match="darks"):
        prep.normalize(proj, flats, darks[:, :1])
    with pytest.raises(ValueError, match=r"n_proj, ny, nx"):
        prep.normalize(proj[0], flats, darks)
    bad = proj.copy()
    bad[3, 1, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        prep.normalize(bad, flats, darks)
    bad_flats = flats.copy()
    bad_flats[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="flats contains 1 NaN"):
        prep.normalize(proj, bad_flats, darks)
    with pytest.raises(ValueError, match="180 angle.*181 projection"):
        prep.find_center(proj, theta[:-1])
    with pytest.raises(ValueError, match="slice_index"):
        prep.find_center(proj, theta, slice_index=2)
    with pytest.raises(ValueError, match="center"):
        prep.preprocess(proj, flats, darks, theta, center="middle")
    with pytest.raises(ValueError, match="rings"):
        prep.preprocess(proj, flats, darks, theta, rings="median")
    with pytest.raises(ValueError, match="angles_deg"):
        prep.preprocess(proj, flats, darks, theta[:10])
