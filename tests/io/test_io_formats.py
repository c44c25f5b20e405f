"""Round trips through every format: data, angles and voxel size survive."""

from __future__ import annotations

import pickle

import h5py
import mrcfile
import numpy as np
import pytest
import tifffile

import tomoinpaint.io as tio
from tomoinpaint.io import hdf5, tiff
from tomoinpaint.io.angles import read_angle_file, write_angle_file
from tomoinpaint.io.lazy import LazyStack

SUFFIXES = [".mrc", ".st", ".h5", ".tif"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_tilt_series_roundtrip(tmp_path, tilt_data, tilt_angles, suffix):
    out = tmp_path / f"ts{suffix}"
    tio.write_tilt_series(out, tilt_data, tilt_angles, voxel_size=2.5)
    ts = tio.read_tilt_series(out)
    assert ts.shape == tilt_data.shape and ts.n_tilts == 7
    np.testing.assert_array_equal(np.asarray(ts.data[:]), tilt_data)
    np.testing.assert_array_equal(ts.angles_deg, tilt_angles)
    assert ts.voxel_size == pytest.approx(2.5, rel=1e-6)
    assert ts.path == out
    assert ts.flats is None and ts.darks is None
    files = sorted(p.name for p in tmp_path.iterdir())
    if suffix == ".h5":
        assert files == ["ts.h5"]  # angles inside, in /exchange/theta
        with h5py.File(out, "r") as f:
            assert f["/exchange/data"].chunks is not None
            assert f["/exchange/theta"].attrs["units"] == "degrees"
    else:
        assert files == sorted([out.name, "ts.tlt"])
        np.testing.assert_array_equal(read_angle_file(tmp_path / "ts.tlt"), tilt_angles)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_tilt_series_without_voxel_size(tmp_path, tilt_data, tilt_angles, suffix):
    out = tmp_path / f"ts{suffix}"
    tio.write_tilt_series(out, tilt_data, tilt_angles)
    assert tio.read_tilt_series(out).voxel_size is None


@pytest.mark.parametrize("suffix", [".mrc", ".rec", ".h5", ".tiff"])
def test_volume_roundtrip(tmp_path, volume, suffix):
    out = tmp_path / f"vol{suffix}"
    tio.write_volume(out, volume.astype(np.float64), voxel_size=3.25)
    vol, vs = tio.read_volume(out)
    assert type(vol) is np.ndarray and vol.dtype == np.float32
    np.testing.assert_array_equal(vol, volume)
    assert vs == pytest.approx(3.25, rel=1e-6)
    lazy, _ = tio.read_volume(out, lazy=True)
    np.testing.assert_array_equal(np.asarray(lazy[1:3]), volume[1:3])
    if suffix == ".h5":
        with h5py.File(out, "r") as f:
            assert f["/exchange/data"].chunks == (1, 6, 6)  # chunked, one slice deep
            assert f["/exchange/data"].attrs["voxel_size"] == pytest.approx(3.25)


def test_tiff_directory_roundtrip_natural_order(tmp_path, tilt_data, tilt_angles):
    d = tmp_path / "frames"
    d.mkdir()
    # numbers whose lexicographic order (1, 10, 100, 11, 2 ...) differs from the natural one
    numbers = [1, 2, 3, 9, 10, 11, 100]
    kw = {"imagej": True, "resolution": (1 / 4.0, 1 / 4.0), "metadata": {"unit": "nm"}}
    for k, img in zip(numbers, tilt_data, strict=True):
        tifffile.imwrite(d / f"img_{k}.tif", img, **kw)
    (d / ".hidden.tif").write_bytes(b"not a tiff")  # hidden files are ignored
    (d / "notes.txt").write_text("ignored")
    write_angle_file(tmp_path / "frames.tlt", tilt_angles)
    ts = tio.read_tilt_series(d)
    assert isinstance(ts.data, tiff.TiffFiles)
    assert [f.name for f in ts.data.files] == [f"img_{k}.tif" for k in numbers]
    np.testing.assert_array_equal(ts.data[:], tilt_data)
    np.testing.assert_array_equal(ts.data[4], tilt_data[4])
    np.testing.assert_array_equal(ts.angles_deg, tilt_angles)
    assert ts.voxel_size == pytest.approx(40.0)  # 4 nm = 40 Å


def test_tiff_directory_inconsistent_shapes(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    tifffile.imwrite(d / "a1.tif", np.zeros((4, 5), np.float32))
    tifffile.imwrite(d / "a2.tif", np.zeros((4, 6), np.float32))
    with pytest.raises(ValueError, match="a2.tif"):
        tio.read_volume(d)


def test_mrc_is_memory_mapped_read_only_with_imod_header(tmp_path, tilt_data, tilt_angles):
    out = tmp_path / "ts.mrc"
    tio.write_tilt_series(out, tilt_data, tilt_angles, voxel_size=1.75)
    ts = tio.read_tilt_series(out)
    assert isinstance(ts.data, np.memmap)
    assert not ts.data.flags.writeable
    with mrcfile.open(out) as m:
        assert m.is_image_stack()
        assert m.header.mode == 2
        assert float(m.voxel_size.x) == pytest.approx(1.75)
        assert float(m.header.dmax) == pytest.approx(tilt_data.max())
    tio.write_volume(tmp_path / "v.mrc", tilt_data)
    with mrcfile.open(tmp_path / "v.mrc") as m:
        assert m.is_volume()


def test_mrc_keeps_integer_dtype(tmp_path):
    raw = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    with mrcfile.new(tmp_path / "raw.st") as m:
        m.set_data(raw)
        m.voxel_size = 0.0
    ts = tio.read_tilt_series(tmp_path / "raw.st", angles=[-5.0, 5.0])
    assert ts.data.dtype == np.int16
    assert ts.voxel_size is None
    loaded = ts.load()
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, raw)
    np.testing.assert_array_equal(ts.sinograms(1, 3)[0], raw[:, 1, :])


def test_2d_mrc_is_a_single_slice_volume(tmp_path):
    img = np.arange(20, dtype=np.float32).reshape(4, 5)
    with mrcfile.new(tmp_path / "slice.mrc") as m:
        m.set_data(img)
    vol, _ = tio.read_volume(tmp_path / "slice.mrc")
    assert vol.shape == (1, 4, 5)
    np.testing.assert_array_equal(vol[0], img)


def _expected_keys():
    return [
        3,
        -1,
        slice(None),
        slice(2, 5),
        slice(1, 7, 2),
        slice(5, 2),
        [4, 0, 4],
        np.array([True, False, True, False, False, False, True]),
        np.zeros(7, dtype=bool),
        [],
        (slice(None), slice(1, 3), slice(None)),
        (slice(None), 2, slice(None)),
        (2, slice(None), 3),
        (Ellipsis, 1),
    ]


@pytest.mark.parametrize("key", _expected_keys())
def test_lazy_hdf5_indexing_matches_numpy(tmp_path, tilt_data, tilt_angles, key):
    out = tmp_path / "ts.h5"
    hdf5.write_dxchange(out, tilt_data, tilt_angles)
    lazy = hdf5.read_dxchange(out).data
    assert isinstance(lazy, LazyStack)
    np.testing.assert_array_equal(lazy[key], tilt_data[key])


@pytest.mark.parametrize("key", _expected_keys())
def test_lazy_tiff_pages_indexing_matches_numpy(tmp_path, tilt_data, key):
    out = tmp_path / "ts.tif"
    tifffile.imwrite(out, tilt_data, compression="zlib", photometric="minisblack")
    data, _ = tiff.read_tiff(out)
    assert isinstance(data, tiff.TiffPages)  # compressed: not memory-mappable
    np.testing.assert_array_equal(data[key], tilt_data[key])


def test_lazy_stack_pickles_and_converts(tmp_path, tilt_data, tilt_angles):
    out = tmp_path / "ts.h5"
    hdf5.write_dxchange(out, tilt_data, tilt_angles)
    lazy = hdf5.read_dxchange(out).data
    again = pickle.loads(pickle.dumps(lazy))
    np.testing.assert_array_equal(np.asarray(again), tilt_data)
    assert len(again) == 7 and again.ndim == 3 and again.dtype == np.float32
    with pytest.raises(IndexError):
        lazy[7]


def test_hdf5_flats_darks_and_radians(tmp_path, tilt_data, tilt_angles):
    out = tmp_path / "raw.h5"
    flats = np.full((3, 5, 6), 2.0, np.float32)
    darks = np.full((2, 5, 6), 0.5, np.float32)
    hdf5.write_dxchange(out, tilt_data, tilt_angles, flats=flats, darks=darks)
    ts = tio.read_tilt_series(out)
    np.testing.assert_array_equal(ts.flats, flats)
    np.testing.assert_array_equal(ts.darks, darks)
    with h5py.File(out, "r+") as f:
        f["/exchange/theta"][...] = np.deg2rad(tilt_angles)
        f["/exchange/theta"].attrs["units"] = "radians"
    np.testing.assert_allclose(tio.read_tilt_series(out).angles_deg, tilt_angles, atol=1e-12)
    with h5py.File(out, "r+") as f:  # radians without units: refused, as in angle files
        del f["/exchange/theta"].attrs["units"]
    with pytest.raises(ValueError, match="look like radians.*--angles"):
        tio.read_tilt_series(out)
    with h5py.File(out, "r+") as f:
        f["/exchange/theta"].attrs["units"] = "gradians"
    with pytest.raises(ValueError, match="gradians"):
        tio.read_tilt_series(out)
    # explicit angles bypass the stored theta entirely
    ts = tio.read_tilt_series(out, angles=tilt_angles + 1.0)
    np.testing.assert_array_equal(ts.angles_deg, tilt_angles + 1.0)


def test_hdf5_without_theta_uses_tlt_beside(tmp_path, tilt_data, tilt_angles):
    out = tmp_path / "ts.h5"
    with h5py.File(out, "w") as f:
        f["/exchange/data"] = tilt_data
    with pytest.raises(ValueError, match="ts.tlt"):
        tio.read_tilt_series(out)
    write_angle_file(tmp_path / "ts.tlt", tilt_angles)
    np.testing.assert_array_equal(tio.read_tilt_series(out).angles_deg, tilt_angles)


def test_hdf5_mismatched_flats_refused(tmp_path, tilt_data, tilt_angles):
    out = tmp_path / "ts.h5"
    hdf5.write_dxchange(out, tilt_data, tilt_angles)
    with h5py.File(out, "r+") as f:
        f["/exchange/data_white"] = np.ones((2, 5, 5), np.float32)
    with pytest.raises(ValueError, match="data_white"):
        tio.read_tilt_series(out)
