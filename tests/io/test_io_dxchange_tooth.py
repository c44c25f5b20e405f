"""A real DXchange file (tomopy's tooth.h5) reads with flats, darks and theta."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import tomoinpaint
import tomoinpaint.io as tio
from tomoinpaint.io.lazy import LazyStack

TOOTH = Path(tomoinpaint.__file__).parent / "data" / "tooth.h5"


@pytest.fixture
def tooth(tmp_path):
    if not TOOTH.is_file():  # pragma: no cover
        pytest.skip("tooth.h5 not shipped")
    dst = tmp_path / "tooth.h5"
    shutil.copy(TOOTH, dst)
    return dst


def test_tooth_reads(tooth):
    ts = tio.read_tilt_series(tooth)
    assert ts.shape == (181, 2, 640)
    assert isinstance(ts.data, LazyStack)  # not loaded
    assert ts.flats.shape == (10, 2, 640)
    assert ts.darks.shape == (10, 2, 640)
    a = ts.angles_deg
    assert a.shape == (181,)
    assert a[0] == pytest.approx(0.0) and a[-1] == pytest.approx(179.0, abs=0.01)
    assert np.all(np.diff(a) > 0)  # degrees, increasing (not radians)
    with h5py.File(tooth, "r") as f:
        np.testing.assert_array_equal(ts.data[90], f["/exchange/data"][90])
        np.testing.assert_array_equal(ts.data[:, 1, :], f["/exchange/data"][:, 1, :])
        np.testing.assert_array_equal(ts.flats, f["/exchange/data_white"][()])
        np.testing.assert_array_equal(ts.darks, f["/exchange/data_dark"][()])
    # flats are brighter than darks in a real transmission measurement
    assert ts.flats.mean() > ts.darks.mean()
    sino = ts.sinograms(0, 2)
    assert sino.shape == (2, 181, 640) and sino.dtype == np.float32


def test_tooth_load_and_angle_override(tooth):
    ts = tio.read_tilt_series(tooth, angles=np.linspace(-90, 90, 181), load=True)
    assert type(ts.data) is np.ndarray and ts.data.shape == (181, 2, 640)
    assert ts.angles_deg[0] == -90.0
    with pytest.raises(ValueError, match="181 tilt images but 180 angles"):
        tio.read_tilt_series(tooth, angles=np.arange(180.0))
