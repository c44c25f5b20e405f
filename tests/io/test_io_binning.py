"""Binning (IMOD's ``newstack -bin``): block means, the centre kept, read on demand."""

from __future__ import annotations

import numpy as np
import pytest

from tomoinpaint.io import TiltSeries
from tomoinpaint.io.binning import BinnedStack, bin_images, bin_volume_rows, binned_extent
from tomoinpaint.io.lazy import LazyStack


class WholeImages(LazyStack):
    """A reader of whole images (as some TIFF readers are), counting the images read."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.reads = a, a.shape, a.dtype, 0

    def _read(self, index, rest):
        idx = range(*index.indices(self.shape[0])) if isinstance(index, slice) else index
        self.reads += len(idx)
        return self.a[list(idx)]


class RowReader(LazyStack):
    """A reader that applies the row range itself (HDF5 hyperslabs), recording it."""

    _applies_rest = True

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.rows = a, a.shape, a.dtype, []

    def _read(self, index, rest):
        self.rows.append(rest[0])
        return self.a[(index,) + rest]


def test_bin_images_averages_blocks_and_keeps_the_detector_centre():
    a = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    b = bin_images(a, 2)
    assert b.shape == (2, 2, 3) and b.dtype == np.float32
    assert b[1, 1, 2] == pytest.approx(a[1, 2:4, 4:6].mean())
    # sizes that are no multiple: the remainder split between the edges, the smaller half first
    assert binned_extent(10, 4) == (2, 1)  # pixels 1..8: centre 4.5, the detector's
    assert binned_extent(11, 4) == (2, 1)  # pixels 1..8 of 0..10: centre 4.5 of 5, half a pixel
    assert binned_extent(7, 2) == (3, 0)
    c = np.random.default_rng(0).random((1, 9, 14))
    assert bin_images(c, 4)[0, 1, 2] == pytest.approx(c[0, 4:8, 9:13].mean())
    assert bin_images(c, 1).dtype == np.float32


@pytest.mark.parametrize("reader", [np.asarray, WholeImages, RowReader])
def test_binned_stack_gives_the_binned_images_whatever_the_index(reader):
    a = np.random.default_rng(1).random((5, 11, 23)).astype(np.float32)
    stack, full = BinnedStack(reader(a), 2), bin_images(a, 2)
    assert stack.shape == full.shape == (5, 5, 11)
    keys = [
        (slice(None),),
        (slice(None), slice(1, 4), slice(None)),
        (2,),
        (slice(None), 3),
        (slice(None), -1, slice(2, 5)),
        (slice(None), slice(None, None, -1)),
        ([0, 3], slice(0, 5, 2), slice(2, 7)),
        (slice(None), slice(4, 2)),
    ]
    for key in keys:
        np.testing.assert_allclose(stack[key], full[key], rtol=1e-6, err_msg=str(key))
    with pytest.raises(IndexError):
        stack[:, 5]


def test_binned_rows_read_only_the_detector_rows_they_average():
    a = np.random.default_rng(2).random((3, 13, 32)).astype(np.float32)
    base = RowReader(a)
    stack = BinnedStack(base, 4)  # 13 rows -> 3 binned, rows 0..11 (remainder 1, at the end)
    assert stack.base_rows(1, 3) == (4, 12)
    stack[:, 1:3, :]
    assert base.rows == [slice(4, 12)]
    whole = WholeImages(a)
    BinnedStack(whole, 4)[:, 0:1, :]
    assert whole.reads == 3  # one image at a time, each once


def test_series_binned_bins_flats_and_voxel_size_and_refuses_what_it_cannot():
    rng = np.random.default_rng(3)
    data = rng.random((4, 6, 20)).astype(np.float32)
    flats = rng.random((2, 6, 20)).astype(np.float32)
    s = TiltSeries(data, np.linspace(-30, 30, 4), voxel_size=1.5, flats=flats, darks=None)
    b = s.binned(2)
    assert b.shape == (4, 3, 10) and b.binning == 2 and b.voxel_size == 3.0
    np.testing.assert_allclose(b.flats, bin_images(flats, 2))
    assert b.darks is None
    np.testing.assert_allclose(b.load(), bin_images(data, 2))
    np.testing.assert_allclose(b.without_views([1]).load(), bin_images(data[[0, 2, 3]], 2))
    assert s.binned(1) is s
    with pytest.raises(ValueError, match="binned by 2 already"):
        b.binned(2)
    with pytest.raises(ValueError, match="binning 3 leaves 6 x 2 pixels"):
        s.binned(3)  # 6 < 8 across the tilt axis
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            s.binned(bad)


class SliceCounter:
    """A volume that records which of its slices were read."""

    def __init__(self, a):
        self.a, self.shape, self.read = a, a.shape, set()

    def __getitem__(self, index):
        self.read.update(range(*index.indices(self.shape[0])))
        return self.a[index]


def test_bin_volume_rows_gives_block_means_of_the_central_blocks_and_reads_only_them():
    """A full-size volume (10, 10, 10) binned by 4 is (2, 2, 2) block means of voxels
    1..8 of each axis (the remainder split, the smaller half first), as the binned
    series' reconstruction grid lies; one binned row reads only its 4 slices."""
    rng = np.random.default_rng(3)
    vol = rng.random((10, 10, 10)).astype(np.float32)
    counted = SliceCounter(vol)
    out = bin_volume_rows(counted, 4, [1])
    expected = vol[5:9, 1:9, 1:9].reshape(4, 2, 4, 2, 4).mean(axis=(0, 2, 4))
    assert out.shape == (1, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)
    assert counted.read == {5, 6, 7, 8}
    both = bin_volume_rows(vol, 4, [0, 1])
    np.testing.assert_allclose(both[1], expected, rtol=1e-6)
    np.testing.assert_allclose(
        both[0], vol[1:5, 1:9, 1:9].reshape(4, 2, 4, 2, 4).mean(axis=(0, 2, 4)), rtol=1e-6
    )
    with pytest.raises(IndexError, match="row 2 is out of bounds for 2 binned rows"):
        bin_volume_rows(vol, 4, [2])
