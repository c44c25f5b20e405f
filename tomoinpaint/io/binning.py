"""Binning a tilt series: each N x N block of detector pixels averaged into one.

Facility pipelines reconstruct at bin 2, 4 or 8 first (IMOD's ``newstack
-bin``, AreTomo's ``-OutBin``): a 4k detector at bin 4 is a 1k volume,
sixteen times fewer pixels per slice, and each binned pixel averages N²
measurements, so its relative noise falls by about N. Binning the images
is what a binned camera readout gives: raw counts, flat and dark fields are
binned alike, so ``-log(I / I0)`` of binned counts is the binned detector's
line integral.

Where a size is not a multiple of N, the binned image covers the central
``N * (size // N)`` pixels and the rest is split between the two edges, the
left or top edge getting the smaller half, so the detector's centre (and a
centred rotation axis) stays the binned image's centre.

:class:`BinnedStack` presents a stack binned on demand: a chunk task reads
only the detector rows its binned rows are made of.
"""

from __future__ import annotations

import numbers

import numpy as np

from .lazy import LazyStack, read_images

__all__ = [
    "MIN_BINNED_WIDTH",
    "binned_extent",
    "bin_images",
    "bin_volume_rows",
    "check_binning",
    "BinnedStack",
]

#: Fewest detector pixels a binned image may keep across the tilt axis.
MIN_BINNED_WIDTH = 8


def binned_extent(size: int, factor: int) -> tuple[int, int]:
    """How many binned pixels a size of ``size`` gives, and where they start.

    Parameters
    ----------
    size : int
        Pixels along one axis.
    factor : int
        The binning.

    Returns
    -------
    n : int
        ``size // factor`` binned pixels.
    offset : int
        The first of the ``n * factor`` pixels they cover (the remainder split
        between the edges, the smaller half first).
    """
    n = int(size) // int(factor)
    return n, (int(size) - n * int(factor)) // 2


def bin_images(images, factor: int) -> np.ndarray:
    """Average each ``factor x factor`` block of pixels of a stack of images.

    Parameters
    ----------
    images : array_like, shape (k, ny, nx)
    factor : int
        1 returns the images as float32.

    Returns
    -------
    numpy.ndarray, shape (k, ny // factor, nx // factor), float32
        Each pixel the mean of its block (float64 sums), the central blocks
        of each axis kept (:func:`binned_extent`).
    """
    a = np.asarray(images)
    f = int(factor)
    if f == 1:
        return a.astype(np.float32, copy=False)
    k, ny, nx = a.shape
    (my, oy), (mx, ox) = binned_extent(ny, f), binned_extent(nx, f)
    core = a[:, oy : oy + my * f, ox : ox + mx * f].astype(np.float64, copy=False)
    return core.reshape(k, my, f, mx, f).mean(axis=(2, 4)).astype(np.float32)


def bin_volume_rows(volume, factor: int, rows) -> np.ndarray:
    """Rows of a full-size volume binned as a binned series' volume has them.

    A reconstruction of a series binned by N has ``ny // N`` rows of
    ``(nx // N, nx // N)`` voxels; this gives those rows of a volume of the
    full-size series, each voxel the mean of its N x N x N block (the central
    blocks of each axis, :func:`binned_extent`). Only the slices the
    requested rows average are read.

    Parameters
    ----------
    volume : array-like, shape (ny, nx, nx)
        A numpy array or memory map; indexed by slices of its first axis.
    factor : int
    rows : sequence of int
        Binned row indices, each below ``ny // factor``.

    Returns
    -------
    numpy.ndarray, shape (len(rows), nx // factor, nx // factor), float32
        Block means: in the full-size volume's units (a binned reconstruction's
        values are ``factor`` times these, see ``TiltSeries.binned``).
    """
    f = int(factor)
    n_rows, offset = binned_extent(volume.shape[0], f)
    out = []
    for y in rows:
        if not 0 <= int(y) < n_rows:
            raise IndexError(f"binned row {y} is out of bounds for {n_rows} binned rows")
        z0 = offset + int(y) * f
        block = np.asarray(volume[z0 : z0 + f], dtype=np.float64)
        out.append(bin_images(block, f).mean(axis=0))
    return np.asarray(out, dtype=np.float32).reshape(
        (len(out),) + tuple(v // f for v in volume.shape[1:])
    )


def check_binning(factor, shape=None) -> int:
    """The binning as an int, or a ValueError naming what is wrong.

    Parameters
    ----------
    factor : int
    shape : tuple of int, optional
        The stack's ``(n_tilts, ny, nx)``; None: only the factor is checked.

    Raises
    ------
    ValueError
        If ``factor`` is not a positive integer, or leaves fewer than
        :data:`MIN_BINNED_WIDTH` pixels across the tilt axis or no row along it.
    """
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor < 1:
        raise ValueError(f"binning must be a positive integer, got {factor!r}")
    f = int(factor)
    if shape is None:
        return f
    _, ny, nx = (int(v) for v in shape)
    if nx // f < MIN_BINNED_WIDTH or ny // f < 1:
        raise ValueError(
            f"binning {f} leaves {nx // f} x {ny // f} pixels of the {nx} x {ny} detector; "
            f"at least {MIN_BINNED_WIDTH} across the tilt axis and 1 along it are needed"
        )
    return f


class BinnedStack(LazyStack):
    """A stack of images binned on demand (:func:`bin_images`).

    Parameters
    ----------
    base : array-like, shape (n_views, ny, nx)
        A numpy array, memory map, HDF5 stack or :class:`~.lazy.LazyStack`.
    factor : int
        Checked by :func:`check_binning`.

    Attributes
    ----------
    shape : tuple of int
        ``(n_views, ny // factor, nx // factor)``.
    dtype : numpy.dtype
        float32.
    """

    _applies_rest = True

    def __init__(self, base, factor: int):
        self.factor = check_binning(factor, base.shape)
        self.base = base
        n, ny, nx = (int(v) for v in base.shape)
        self.shape = (n, ny // self.factor, nx // self.factor)
        self.dtype = np.dtype(np.float32)

    def base_rows(self, y0: int, y1: int) -> tuple[int, int]:
        """The base's rows that binned rows ``y0..y1-1`` average, as a range."""
        offset = binned_extent(self.base.shape[1], self.factor)[1]
        return offset + y0 * self.factor, offset + y1 * self.factor

    def _read(self, index, rest: tuple) -> np.ndarray:
        n_rows = self.shape[1]
        rows = rest[0] if rest else slice(None)
        if isinstance(rows, numbers.Integral):
            if not -n_rows <= rows < n_rows:
                raise IndexError(f"row {rows} is out of bounds for {n_rows} binned rows")
            wanted = [int(rows) % n_rows]
        else:
            wanted = list(range(*rows.indices(n_rows)))
        lo, hi = (min(wanted), max(wanted) + 1) if wanted else (0, 0)
        b0, b1 = self.base_rows(lo, hi)
        block = read_images(self.base, index, (slice(b0, b1),))
        # the rows read are whole blocks: binning crops only the columns
        binned = bin_images(block, self.factor)
        if isinstance(rows, numbers.Integral):
            out = binned[:, 0]
        elif wanted == list(range(lo, hi)):
            out = binned
        else:
            out = binned[:, [y - lo for y in wanted]]
        return out[..., rest[1]] if len(rest) > 1 else out
