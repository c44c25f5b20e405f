"""Leaving views out: IMOD's view lists, ViewSubset over every kind of stack, TiltSeries."""

from __future__ import annotations

import pickle

import mrcfile
import numpy as np
import pytest
import tifffile

import tomoinpaint.io as tio
from tomoinpaint.io.rows import open_projections, read_rows
from tomoinpaint.io.views import ViewSubset, format_view_list, kept_views, parse_view_list


def test_view_lists_read_as_imod_writes_them():
    assert parse_view_list("1,4-6,40", 41).tolist() == [0, 3, 4, 5, 39]
    assert parse_view_list(" 7 , 2-3,3 ", 9).tolist() == [1, 2, 6]  # sorted, each once
    assert parse_view_list("5-5", 5).tolist() == [4]
    assert format_view_list([0, 1, 2, 5, 7, 8]) == "1-3,6,8-9"
    assert format_view_list([]) == ""
    for text in ("1,4-6,40", "2", "1-9"):
        assert format_view_list(parse_view_list(text, 41)) == text


@pytest.mark.parametrize(
    "text, words",
    [
        ("0", "view 0 does not exist"),
        ("42", "view 42 does not exist"),
        ("40-42", "view 42 does not exist"),
        ("6-2", "runs backwards"),
        ("1,,2", "not a view number"),
        ("a-b", "not a view number"),
        ("-3", "not a view number"),
    ],
)
def test_bad_view_lists_are_refused_naming_the_item(text, words):
    with pytest.raises(ValueError, match=words):
        parse_view_list(text, 41)


def test_kept_views_and_bad_indices():
    assert kept_views(5, [4, 0, 0]).tolist() == [1, 2, 3]
    assert kept_views(3, []).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="index 5"):
        kept_views(5, [5])
    with pytest.raises(ValueError, match="index -1"):
        kept_views(5, [-1])


def _stacks(tmp_path, data, angles):
    """The same images as a memory map (MRC), an HDF5 stack, compressed TIFF pages, an array."""
    tio.write_tilt_series(tmp_path / "s.mrc", data, angles)
    tio.write_tilt_series(tmp_path / "s.h5", data, angles)
    tifffile.imwrite(tmp_path / "s.tif", data, compression="zlib", photometric="minisblack")
    return {
        "mrc": open_projections(tmp_path / "s.mrc", "mrc"),
        "hdf5": open_projections(tmp_path / "s.h5", "hdf5"),
        "tiff-pages": open_projections(tmp_path / "s.tif", "tiff"),
        "array": data,
    }


@pytest.mark.parametrize(
    "key",
    [np.s_[:], np.s_[2], np.s_[-1], np.s_[1:3], np.s_[:, 1:4, :], np.s_[:, 2, :], np.s_[[2, 0]]],
    ids=["all", "one", "last", "range", "rows", "one-row", "list"],
)
def test_view_subset_reads_what_indexing_the_kept_views_gives(
    tmp_path, tilt_data, tilt_angles, key
):
    keep = np.array([0, 2, 3, 6])
    for kind, base in _stacks(tmp_path, tilt_data, tilt_angles).items():
        sub = ViewSubset(base, keep)
        assert sub.shape == (4, 5, 6) and sub.dtype == np.float32
        np.testing.assert_array_equal(sub[key], tilt_data[keep][key], err_msg=kind)
        np.testing.assert_array_equal(read_rows(sub, 1, 3), tilt_data[keep][:, 1:3], err_msg=kind)


def test_view_subset_pickles_and_checks_its_indices(tmp_path, tilt_data, tilt_angles):
    base = _stacks(tmp_path, tilt_data, tilt_angles)["hdf5"]
    sub = pickle.loads(pickle.dumps(ViewSubset(base, [1, 5])))
    np.testing.assert_array_equal(np.asarray(sub), tilt_data[[1, 5]])
    with pytest.raises(ValueError, match="do not fit"):
        ViewSubset(base, [0, 7])
    with pytest.raises(ValueError, match="increasing"):
        ViewSubset(base, [3, 1])


@pytest.mark.parametrize("suffix", [".mrc", ".h5", ".tif"])
def test_series_without_views_is_the_series_with_them_removed(
    tmp_path, tilt_data, tilt_angles, suffix
):
    path = tmp_path / f"s{suffix}"
    tio.write_tilt_series(path, tilt_data, tilt_angles)
    full = tio.read_tilt_series(path)
    once = tio.read_tilt_series(path, exclude_views=[1, 4])
    twice = full.without_views([4]).without_views([1])  # views of views: file numbering kept
    for s in (once, twice):
        assert s.views.tolist() == [0, 2, 3, 5, 6]
        assert s.view_numbers().tolist() == [1, 3, 4, 6, 7]
        np.testing.assert_array_equal(s.angles_deg, tilt_angles[[0, 2, 3, 5, 6]])
        np.testing.assert_array_equal(s.load(), tilt_data[[0, 2, 3, 5, 6]])
        np.testing.assert_array_equal(
            s.sinograms(1, 3), tilt_data[[0, 2, 3, 5, 6], 1:3].swapaxes(0, 1)
        )
    loaded = tio.read_tilt_series(path, load=True, exclude_views=[1, 4])
    assert type(loaded.data) is np.ndarray and loaded.views.tolist() == [0, 2, 3, 5, 6]
    np.testing.assert_array_equal(loaded.without_views([0]).load(), tilt_data[[2, 3, 5, 6]])
    assert full.without_views([]) is full and full.views is None
    assert full.view_numbers().tolist() == list(range(1, 8))


def test_a_view_left_out_may_hold_nan(tmp_path, tilt_data, tilt_angles):
    # a failed exposure written as NaN: refused while it is in the series, not once left out
    bad = tilt_data.copy()
    bad[3, 2, 2] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN"):
        mrcfile.write(tmp_path / "s.mrc", bad)  # tomoinpaint's own writers refuse NaN
    tio.write_angle_file(tmp_path / "s.tlt", tilt_angles)
    with pytest.raises(ValueError, match="NaN"):
        tio.read_tilt_series(tmp_path / "s.mrc")
    s = tio.read_tilt_series(tmp_path / "s.mrc", exclude_views=[3])
    assert np.isfinite(s.load()).all() and s.n_tilts == 6
    # named by its image in the file, also when views before it are left out
    with pytest.raises(ValueError, match=r"first in image 3\)"):
        tio.read_tilt_series(tmp_path / "s.mrc", exclude_views=[0, 1])


def test_read_excluding_an_imod_list(tmp_path, tilt_data, tilt_angles):
    # what --exclude reads: the list checked against the file's views, NaN looked for in the rest
    bad = tilt_data.copy()
    bad[1] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN"):
        mrcfile.write(tmp_path / "s.mrc", bad)
    tio.write_angle_file(tmp_path / "s.tlt", tilt_angles)
    s = tio.read_tilt_series_excluding(tmp_path / "s.mrc", "2,5-6")
    assert s.views.tolist() == [0, 2, 3, 6]
    np.testing.assert_array_equal(s.load(), tilt_data[[0, 2, 3, 6]])
    np.testing.assert_array_equal(s.angles_deg, tilt_angles[[0, 2, 3, 6]])
    with pytest.raises(tio.ViewListError, match="view 8 does not exist"):
        tio.read_tilt_series_excluding(tmp_path / "s.mrc", "2,8")
    with pytest.raises(ValueError, match=r"NaN or Inf values \(first in image 1\)"):
        tio.read_tilt_series_excluding(tmp_path / "s.mrc", None)
