"""Bad inputs to read_tilt_series / write_* are refused with a clear ValueError."""

from __future__ import annotations

import os

import h5py
import mrcfile
import numpy as np
import pytest

import tomoinpaint.io as tio
from tomoinpaint.io import hdf5
from tomoinpaint.io.angles import write_angle_file


def _write_mrc(path, data):
    with mrcfile.new(path) as m:
        m.set_data(np.asarray(data, dtype=np.float32))


def test_tlt_beside_is_found(tmp_path, tilt_data, tilt_angles):
    _write_mrc(tmp_path / "ts.ali", tilt_data)
    write_angle_file(tmp_path / "ts.tlt", tilt_angles)
    write_angle_file(tmp_path / "ts.rawtlt", tilt_angles + 0.5)
    np.testing.assert_array_equal(tio.read_tilt_series(tmp_path / "ts.ali").angles_deg, tilt_angles)


def test_explicit_angle_file_overrides_beside(tmp_path, tilt_data, tilt_angles):
    _write_mrc(tmp_path / "ts.mrc", tilt_data)
    write_angle_file(tmp_path / "ts.tlt", tilt_angles)
    explicit = write_angle_file(tmp_path / "better.tlt", tilt_angles - 2.0)
    ts = tio.read_tilt_series(tmp_path / "ts.mrc", angles=explicit)
    np.testing.assert_array_equal(ts.angles_deg, tilt_angles - 2.0)
    ts = tio.read_tilt_series(tmp_path / "ts.mrc", angles=list(tilt_angles * 0.5))
    np.testing.assert_array_equal(ts.angles_deg, tilt_angles * 0.5)


def test_no_angles_anywhere(tmp_path, tilt_data):
    _write_mrc(tmp_path / "ts.mrc", tilt_data)
    with pytest.raises(ValueError, match="tilt angles are needed") as info:
        tio.read_tilt_series(tmp_path / "ts.mrc")
    assert "ts.tlt" in str(info.value) and "ts.rawtlt" in str(info.value)


def test_angle_count_mismatch(tmp_path, tilt_data, tilt_angles):
    _write_mrc(tmp_path / "ts.mrc", tilt_data)
    write_angle_file(tmp_path / "ts.tlt", tilt_angles[:5])
    with pytest.raises(ValueError, match=r"7 tilt images but 5 angles"):
        tio.read_tilt_series(tmp_path / "ts.mrc")
    with pytest.raises(ValueError, match=r"7 tilts but 8 angles"):
        tio.write_tilt_series(tmp_path / "o.mrc", tilt_data, np.arange(8.0))
    assert not (tmp_path / "o.mrc").exists() and not (tmp_path / "o.tlt").exists()


@pytest.mark.parametrize(
    ("bad", "match"),
    [("dup", "duplicate"), ("nan", "non-finite")],
)
def test_bad_angles_refused(tmp_path, tilt_data, tilt_angles, bad, match):
    _write_mrc(tmp_path / "ts.mrc", tilt_data)
    a = tilt_angles.copy()
    if bad == "dup":
        a[3] = a[2]
    else:
        a[3] = np.nan
    with pytest.raises(ValueError, match=match):
        tio.read_tilt_series(tmp_path / "ts.mrc", angles=a)
    (tmp_path / "ts.tlt").write_text("".join(f"{v}\n" for v in a))
    with pytest.raises(ValueError, match=match):
        tio.read_tilt_series(tmp_path / "ts.mrc")
    with pytest.raises(ValueError, match=match):
        tio.write_tilt_series(tmp_path / "o.h5", tilt_data, a)
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("suffix", [".mrc", ".h5"])
def test_non_finite_data_refused(tmp_path, tilt_data, tilt_angles, value, suffix):
    bad = tilt_data.copy()
    bad[5, 2, 3] = value
    path = tmp_path / f"ts{suffix}"
    if suffix == ".mrc":
        _write_mrc(path, bad)
    else:
        with h5py.File(path, "w") as f:
            f["/exchange/data"] = bad
            f["/exchange/theta"] = tilt_angles
    with pytest.raises(ValueError, match=r"NaN or Inf.*image 5"):
        tio.read_tilt_series(path, angles=tilt_angles)
    ts = tio.read_tilt_series(path, angles=tilt_angles, check_finite=False)
    assert ts.shape == bad.shape
    with pytest.raises(ValueError, match="NaN or Inf"):
        tio.write_tilt_series(tmp_path / "o.tif", bad, tilt_angles)
    assert not (tmp_path / "o.tif").exists()


def test_assert_finite_in_small_chunks(tilt_data):
    bad = tilt_data.copy()
    bad[6, 0, 0] = np.nan
    reads = []

    class Spy:
        shape, dtype = bad.shape, bad.dtype

        def __getitem__(self, key):
            reads.append(key)
            return bad[key]

    frame_bytes = bad[0].nbytes
    with pytest.raises(ValueError, match="image 6"):
        tio.assert_finite(Spy(), chunk_bytes=2 * frame_bytes)
    assert reads == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)]
    tio.assert_finite(np.arange(6).reshape(2, 3))  # integers are always finite


def test_2d_data_refused_as_tilt_series(tmp_path, tilt_data):
    _write_mrc(tmp_path / "one.mrc", tilt_data[0])
    with pytest.raises(ValueError, match=r"3-D.*\(5, 6\)"):
        tio.read_tilt_series(tmp_path / "one.mrc", angles=[0.0])
    with pytest.raises(ValueError, match=r"3-D.*\(5, 6\)"):
        tio.write_tilt_series(tmp_path / "o.mrc", tilt_data[0], [0.0])


def test_unknown_suffix_refused(tmp_path, tilt_data, tilt_angles):
    p = tmp_path / "ts.xyz"
    p.write_bytes(b"whatever")
    with pytest.raises(ValueError, match=r"'\.xyz'.*\.mrc.*\.h5.*\.tif"):
        tio.read_tilt_series(p, angles=tilt_angles)
    with pytest.raises(ValueError, match="xyz"):
        tio.write_volume(tmp_path / "v.xyz", tilt_data)
    with pytest.raises(ValueError, match="no suffix"):
        tio.write_tilt_series(tmp_path / "plain", tilt_data, tilt_angles)
    assert sorted(os.listdir(tmp_path)) == ["ts.xyz"]


def test_missing_file_refused(tmp_path):
    missing = tmp_path / "none.mrc"
    with pytest.raises(ValueError, match="input file not found") as info:
        tio.read_tilt_series(missing, angles=[0.0, 1.0])
    assert str(missing) in str(info.value)
    with pytest.raises(ValueError, match="input file not found"):
        tio.read_volume(tmp_path / "none.h5")


@pytest.mark.parametrize(("suffix", "fmt"), [(".mrc", "MRC"), (".h5", "HDF5"), (".tif", "TIFF")])
def test_corrupt_file_refused(tmp_path, suffix, fmt):
    p = tmp_path / f"bad{suffix}"
    p.write_bytes(b"this is not an image file at all" * 40)
    with pytest.raises(ValueError, match=f"cannot read .*bad{suffix} as {fmt}"):
        tio.read_tilt_series(p, angles=[0.0, 1.0])


def test_truncated_mrc_refused(tmp_path, tilt_data):
    p = tmp_path / "trunc.mrc"
    _write_mrc(p, tilt_data)
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ValueError, match="as MRC"):
        tio.read_tilt_series(p, angles=np.arange(7.0))


def test_hdf5_without_data_refused(tmp_path):
    p = tmp_path / "empty.h5"
    with h5py.File(p, "w") as f:
        f["/exchange/other"] = np.zeros(3)
    with pytest.raises(ValueError, match="/exchange/data"):
        tio.read_tilt_series(p, angles=[0.0])


@pytest.mark.parametrize("suffix", [".mrc", ".h5", ".tif"])
def test_existing_output_not_replaced(tmp_path, tilt_data, tilt_angles, volume, suffix):
    out = tmp_path / f"vol{suffix}"
    tio.write_volume(out, volume)
    before = out.read_bytes()
    with pytest.raises(tio.OutputExistsError, match="--overwrite"):
        tio.write_volume(out, volume + 1)
    assert out.read_bytes() == before
    tio.write_volume(out, volume + 1, overwrite=True)
    np.testing.assert_array_equal(tio.read_volume(out)[0], volume + 1)


@pytest.mark.parametrize("suffix", [".mrc", ".tif"])
def test_existing_tlt_blocks_tilt_series_write(tmp_path, tilt_data, tilt_angles, suffix):
    (tmp_path / "ts.tlt").write_text("old\n")
    with pytest.raises(tio.OutputExistsError, match="ts.tlt"):
        tio.write_tilt_series(tmp_path / f"ts{suffix}", tilt_data, tilt_angles)
    assert sorted(os.listdir(tmp_path)) == ["ts.tlt"]
    assert (tmp_path / "ts.tlt").read_text() == "old\n"


def test_bad_voxel_size_refused(tmp_path, volume):
    for bad in (0.0, -1.0, np.nan, "abc"):
        with pytest.raises(ValueError, match="voxel_size"):
            tio.write_volume(tmp_path / "v.mrc", volume, voxel_size=bad)
        with pytest.raises(ValueError, match="voxel_size"):
            hdf5.write_hdf5_volume(tmp_path / "v.h5", volume, voxel_size=bad)
    assert os.listdir(tmp_path) == []
