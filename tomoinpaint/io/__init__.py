"""Reading and writing tilt series and volumes: MRC, HDF5 (DXchange), TIFF.

The format is chosen by the file suffix:

======================================================  ==========================
suffix                                                  format
======================================================  ==========================
``.mrc .st .ali .mrcs .rec .preali``                    MRC (:mod:`.mrc`)
``.h5 .hdf5 .hdf .nxs .cxi``                            HDF5, DXchange (:mod:`.hdf5`)
``.tif .tiff``, or a directory of ``.tif`` files         TIFF (:mod:`.tiff`)
======================================================  ==========================

Shapes: a tilt series is ``(n_tilts, ny, nx)`` with angles in degrees; a
volume is ``(ny, nx, nx)`` (slice ``y`` along the tilt axis). Voxel sizes are
in Å (None when unknown). Every output is written atomically (see
:mod:`.atomic`): it appears complete or not at all, and an existing output is
only replaced with ``overwrite=True``. Bad input raises :class:`ValueError`
with a one-line message naming the bad value or path.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..geometry import validate_angles
from . import hdf5, mrc, tiff
from .angles import (
    angle_file_candidates,
    find_angle_file,
    read_angle_file,
    resolve_angles,
    write_angle_file,
)
from .arrays import is_real_dtype
from .atomic import OutputExistsError, atomic_output, atomic_outputs
from .lazy import LazyStack
from .paths import check_input_path
from .series import TiltSeries
from .views import ViewListError, ViewSubset, format_view_list, parse_view_list
from .writer import SlabWriter

__all__ = [
    "SUPPORTED_SUFFIXES",
    "TiltSeries",
    "detect_format",
    "read_tilt_series",
    "read_volume",
    "write_volume",
    "write_tilt_series",
    "open_volume_writer",
    "assert_finite",
    "OutputExistsError",
    "atomic_output",
    "atomic_outputs",
    "read_angle_file",
    "write_angle_file",
    "find_angle_file",
    "angle_file_candidates",
    "resolve_angles",
    "LazyStack",
    "SlabWriter",
    "ViewSubset",
    "ViewListError",
    "parse_view_list",
    "read_tilt_series_excluding",
    "format_view_list",
]

logger = logging.getLogger(__name__)

_FORMATS = {
    **{s: "mrc" for s in mrc.MRC_SUFFIXES},
    **{s: "hdf5" for s in hdf5.HDF5_SUFFIXES},
    **{s: "tiff" for s in tiff.TIFF_SUFFIXES},
}
#: Every file suffix understood (lower case).
SUPPORTED_SUFFIXES = tuple(_FORMATS)

_CHECK_CHUNK_BYTES = 64 * 2**20


def detect_format(path: str | os.PathLike, *, for_writing: bool = False) -> str:
    """The file format of a path, from its suffix.

    Parameters
    ----------
    path : str or os.PathLike
    for_writing : bool
        When False, an existing directory means a directory of TIFF files.

    Returns
    -------
    str
        ``"mrc"``, ``"hdf5"`` or ``"tiff"``.

    Raises
    ------
    ValueError
        If the suffix is not supported (the message lists those that are).
    """
    p = Path(path)
    if not for_writing and p.is_dir():
        return "tiff"
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        extra = "" if for_writing else ", or a directory of TIFF files"
        raise ValueError(
            f"unsupported file type {p.suffix or '(no suffix)'!r} for {p}; "
            f"supported: {' '.join(SUPPORTED_SUFFIXES)}{extra}"
        )
    return fmt


def assert_finite(
    data, *, name: str = "data", chunk_bytes: int = _CHECK_CHUNK_BYTES, indices=None
) -> None:
    """Raise ValueError if an array-like holds NaN or Inf, in bounded memory.

    Parameters
    ----------
    data : array-like, shape (n, ...)
        Read ``chunk_bytes`` at a time along axis 0 (a memory map or lazy
        stack is never loaded whole).
    name : str
        Used in the message.
    chunk_bytes : int
        About how many bytes to read at once.
    indices : array_like of int, shape (n,), optional
        The images' numbers in the message (e.g. a series' views in its file,
        :attr:`TiltSeries.views`); default their positions along axis 0.

    Raises
    ------
    ValueError
        Naming the first image (index along axis 0) with a non-finite value.
    """
    dtype = np.dtype(data.dtype)
    if not np.issubdtype(dtype, np.inexact):
        return
    n = data.shape[0]
    frame = max(1, int(np.prod(data.shape[1:])) * dtype.itemsize)
    per = max(1, chunk_bytes // frame)
    for i in range(0, n, per):
        block = np.asarray(data[i : i + per])
        ok = np.isfinite(block).reshape(block.shape[0], -1).all(axis=1)
        if not ok.all():
            first = i + int(np.flatnonzero(~ok)[0])
            first = first if indices is None else int(indices[first])
            raise ValueError(f"{name} contains NaN or Inf values (first in image {first})")


def _check_real(data, p: Path) -> None:
    if not is_real_dtype(data.dtype):
        raise ValueError(f"{p}: unsupported data type {np.dtype(data.dtype)}")


def read_tilt_series(
    path: str | os.PathLike,
    angles=None,
    *,
    check_finite: bool = True,
    load: bool = False,
    exclude_views=None,
) -> TiltSeries:
    """Read a tilt series and its angles, from any supported format.

    Parameters
    ----------
    path : str or os.PathLike
        MRC, HDF5 (DXchange) or TIFF file, or a directory of TIFF files.
    angles : None, str, os.PathLike or array_like of shape (n_tilts,)
        Tilt angles: an angle file (``.tlt``/``.rawtlt``) or the values in
        degrees. They override angles stored in or beside the file. When
        None: ``/exchange/theta`` for HDF5, else ``STEM.tlt`` then
        ``STEM.rawtlt`` beside the file.
    check_finite : bool
        Refuse data with NaN or Inf (checked a few tilts at a time, so
        memory stays bounded for large files).
    load : bool
        Return the data in memory (numpy array) instead of memory-mapped or
        lazy.
    exclude_views : array_like of int, optional
        Views to leave out, 0-based indices in file order (IMOD's 1-based
        lists: :func:`~tomoinpaint.io.views.parse_view_list`). ``angles``
        still lists every view of the file; the series holds the others
        (:meth:`TiltSeries.without_views`).

    Returns
    -------
    TiltSeries

    Raises
    ------
    ValueError
        If the file is missing, of an unsupported type or unreadable; the
        data are not 3-D; no angles are found; the angles are invalid
        (non-finite, duplicates) or their count differs from the number of
        tilts; or the data contain NaN/Inf.
    """
    p = check_input_path(path, directory_ok=True)
    fmt = detect_format(p)
    flats = darks = None
    theta = None
    if fmt == "mrc":
        data, vs = mrc.read_mrc(p)
    elif fmt == "hdf5":
        dx = hdf5.read_dxchange(p, theta=angles is None)
        data, vs, flats, darks, theta = dx.data, dx.voxel_size, dx.flats, dx.darks, dx.theta_deg
    else:
        data, vs = tiff.read_tiff(p)
    if data.ndim != 3:
        raise ValueError(
            f"{p}: a tilt series must be 3-D (n_tilts, ny, nx), got shape {data.shape}"
        )
    _check_real(data, p)
    if angles is None and theta is not None:
        ang = validate_angles(theta, name=f"{hdf5.THETA} in {p}")
    else:
        ang = resolve_angles(p, angles)
    n = int(data.shape[0])
    if ang.size != n:
        raise ValueError(f"{p} has {n} tilt images but {ang.size} angles were given")
    series = TiltSeries(data=data, angles_deg=ang, voxel_size=vs, flats=flats, darks=darks, path=p)
    if exclude_views is not None:
        series = series.without_views(exclude_views)
    if check_finite:
        _assert_series_finite(series)
    if load:
        series = replace(series, data=np.array(series.data[:]))
    left_out = "" if series.views is None else f", views {format_view_list(exclude_views)} left out"
    logger.info(
        "read tilt series %s: %s %s, angles %.2f..%.2f deg, voxel size %s%s",
        p,
        tuple(series.shape),
        np.dtype(data.dtype),
        series.angles_deg.min(),
        series.angles_deg.max(),
        vs,
        left_out,
    )
    return series


def _assert_series_finite(series: TiltSeries) -> None:
    """Refuse NaN or Inf in the series' images (only the views it holds: one left out may hold
    anything, e.g. a failed exposure written as NaN) and in its flat and dark fields."""
    assert_finite(series.data, name=str(series.path), indices=series.views)
    for name, a in (("flats", series.flats), ("darks", series.darks)):
        if a is not None:
            assert_finite(a, name=f"{name} in {series.path}")


def read_tilt_series_excluding(
    path: str | os.PathLike, views: str | None, angles=None
) -> TiltSeries:
    """:func:`read_tilt_series`, less the views of an IMOD view list.

    Parameters
    ----------
    path : str or os.PathLike
    views : str or None
        Views to leave out, numbered from 1 in file order as IMOD numbers them
        (``"1,40-41"``, what ``--exclude`` takes); checked against the file's
        views. None or empty: all views.
    angles : optional
        As :func:`read_tilt_series` (listing every view of the file).

    Returns
    -------
    TiltSeries

    Raises
    ------
    ViewListError
        On a malformed list or a view the file does not have.
    ValueError
        As :func:`read_tilt_series` (NaN or Inf are looked for in the kept views only).
    """
    if not views:
        return read_tilt_series(path, angles)
    series = read_tilt_series(path, angles, check_finite=False)
    series = series.without_views(parse_view_list(views, series.n_tilts))
    _assert_series_finite(series)
    return series


def read_volume(path: str | os.PathLike, *, lazy: bool = False) -> tuple[Any, float | None]:
    """Read a volume from any supported format.

    Parameters
    ----------
    path : str or os.PathLike
        MRC, HDF5 (``/exchange/data``), TIFF file or directory.
    lazy : bool
        Return the memory map / lazy stack instead of a numpy array in memory.

    Returns
    -------
    volume : numpy.ndarray (or array-like when ``lazy``), shape (ny, nx, nx)
        In the file's data type. A single 2-D image comes back as
        ``(1, ny, nx)``.
    voxel_size : float or None
        Å per voxel.

    Raises
    ------
    ValueError
        If the file is missing, of an unsupported type, unreadable, or not
        2-D/3-D.
    """
    p = check_input_path(path, directory_ok=True)
    fmt = detect_format(p)
    if fmt == "mrc":
        vol, vs = mrc.read_mrc(p)
    elif fmt == "hdf5":
        vol, vs = hdf5.read_hdf5_volume(p)
    else:
        vol, vs = tiff.read_tiff(p)
    if vol.ndim == 2:
        vol = vol[np.newaxis]
    if vol.ndim != 3:
        raise ValueError(f"{p}: a volume must be 3-D, got shape {vol.shape}")
    if not lazy:
        vol = np.array(vol[:])
    return vol, vs


def write_volume(
    path: str | os.PathLike,
    volume,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a volume, format by suffix, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        ``.mrc``/``.rec`` ..., ``.h5`` ... or ``.tif``/``.tiff``.
    volume : array_like, shape (ny, nx, nx) or (ny, nx)
        Stored as float32 (a 2-D image as one slice).
    voxel_size : float, optional
        Å per voxel.
    overwrite : bool
        Replace an existing file; otherwise
        :class:`~tomoinpaint.io.atomic.OutputExistsError` is raised and the
        file is left unchanged.

    Returns
    -------
    pathlib.Path
    """
    fmt = detect_format(path, for_writing=True)
    writer = {
        "mrc": mrc.write_mrc_volume,
        "hdf5": hdf5.write_hdf5_volume,
        "tiff": tiff.write_tiff,
    }[fmt]
    writer(path, volume, voxel_size=voxel_size, overwrite=overwrite)
    return Path(path)


def write_tilt_series(
    path: str | os.PathLike,
    data,
    angles_deg,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a tilt series and its angles, format by suffix, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        MRC or TIFF (the angles go to ``STEM.tlt`` beside it, written
        together with the data: both or neither), or HDF5 (DXchange, angles
        in ``/exchange/theta``).
    data : array_like, shape (n_tilts, ny, nx)
        Stored as float32; must be finite.
    angles_deg : array_like, shape (n_tilts,)
        Degrees.
    voxel_size : float, optional
        Å per pixel.
    overwrite : bool
        Replace existing outputs.

    Returns
    -------
    pathlib.Path
        The data path.

    Raises
    ------
    ValueError
        On a wrong shape, NaN/Inf data, invalid or mismatched angles, an
        unsupported suffix, or an existing output without ``overwrite``.
    """
    fmt = detect_format(path, for_writing=True)
    a = np.asarray(data)
    if a.ndim != 3:
        raise ValueError(f"tilt series must be 3-D (n_tilts, ny, nx), got shape {a.shape}")
    if is_real_dtype(a.dtype):
        assert_finite(a, name="tilt series")
    if fmt == "mrc":
        mrc.write_mrc_tilt_series(path, a, angles_deg, voxel_size=voxel_size, overwrite=overwrite)
    elif fmt == "hdf5":
        hdf5.write_dxchange(path, a, angles_deg, voxel_size=voxel_size, overwrite=overwrite)
    else:
        tiff.write_tiff_tilt_series(path, a, angles_deg, voxel_size=voxel_size, overwrite=overwrite)
    return Path(path)


@contextlib.contextmanager
def open_volume_writer(
    path: str | os.PathLike,
    shape,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Iterator[SlabWriter]:
    """Write a volume chunk by chunk; it appears at ``path`` only when complete.

    Parameters
    ----------
    path : str or os.PathLike
        ``.mrc``/``.rec`` ..., ``.h5`` ... or ``.tif``/``.tiff``.
    shape : tuple of int
        ``(ny, nx, nx)``.
    voxel_size : float, optional
        Å per voxel.
    overwrite : bool
        Replace an existing file (checked on entry, before any work).

    Yields
    ------
    SlabWriter
        Assign slabs in any order: ``w[y0:y1] = block`` with ``block`` of
        shape ``(y1 - y0, nx, nx)``; stored as float32.

    Raises
    ------
    ValueError
        On an unsupported suffix or bad shape, an existing output without
        ``overwrite``, or, on exit, if some slices were never written (then
        nothing is saved).

    Notes
    -----
    Every format writes straight into a temporary file beside ``path``, so
    memory use is one slab: MRC and TIFF (an uncompressed ImageJ stack) with
    plain positional writes (no memory map, so a full disk is an error, not a
    SIGBUS), HDF5 into a chunked ``/exchange/data`` dataset. On a clean exit
    the file is moved onto ``path``; if the block raises, the temporary file
    is removed.

    Examples
    --------
    >>> with open_volume_writer("vol.mrc", (ny, n, n), voxel_size=2.1) as w:  # doctest: +SKIP
    ...     for y0 in range(0, ny, 16):
    ...         w[y0 : y0 + 16] = reconstruct(y0, min(y0 + 16, ny))
    """
    fmt = detect_format(path, for_writing=True)
    opener = {
        "mrc": mrc.open_mrc_volume_writer,
        "hdf5": hdf5.open_hdf5_volume_writer,
        "tiff": tiff.open_tiff_volume_writer,
    }[fmt]
    with opener(path, shape, voxel_size=voxel_size, overwrite=overwrite) as w:
        yield w
