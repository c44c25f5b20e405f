"""TIFF stacks: one multi-page file, or a directory of single-image files.

Reading is lazy: an uncompressed, contiguous multi-page file is memory-mapped
(:func:`tifffile.memmap`); otherwise pages (or files of a directory, sorted
in natural order: ``img_2.tif`` before ``img_10.tif``) are read on demand
through a :class:`~tomoinpaint.io.lazy.LazyStack`. Tilt angles are not stored
in TIFF; they come from a ``.tlt`` file beside the stack.

Writing produces one ImageJ-compatible multi-page float32 file (axes
``ZYX``) with the voxel size in the resolution tags and in the ImageJ
metadata (``spacing``, ``unit = "angstrom"``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

from ..geometry import validate_angles
from .angles import format_angles
from .arrays import as_float32_stack, check_voxel_size, is_real_dtype
from .atomic import atomic_output, atomic_outputs
from .lazy import LazyStack
from .paths import check_input_path
from .writer import FileSlabs, SlabWriter, check_volume_shape

__all__ = [
    "TIFF_SUFFIXES",
    "TiffPages",
    "TiffFiles",
    "list_tiff_files",
    "read_tiff",
    "write_tiff",
    "write_tiff_tilt_series",
    "open_tiff_volume_writer",
]

logger = logging.getLogger(__name__)

#: File suffixes read and written as TIFF.
TIFF_SUFFIXES = (".tif", ".tiff")

# Length units (ImageJ 'unit' metadata or TIFF ResolutionUnit) in Å.
_UNIT_ANGSTROM = {
    "angstrom": 1.0,
    "\u00c5": 1.0,
    "\u212b": 1.0,
    "a": 1.0,
    "nm": 10.0,
    "nanometer": 10.0,
    "micron": 1e4,
    "microns": 1e4,
    "um": 1e4,
    "\u00b5m": 1e4,
    "\u03bcm": 1e4,
    "micrometer": 1e4,
    "mm": 1e7,
    "millimeter": 1e7,
    "cm": 1e8,
    "centimeter": 1e8,
}
# TIFF ResolutionUnit codes: 3 cm, 4 mm, 5 µm (1 none and 2 inch are ignored:
# an inch is almost always a meaningless default dpi).
_RESUNIT_ANGSTROM = {3: 1e8, 4: 1e7, 5: 1e4}


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def list_tiff_files(directory: str | os.PathLike) -> list[Path]:
    """The TIFF files of a directory, in natural order.

    Parameters
    ----------
    directory : str or os.PathLike

    Returns
    -------
    list of pathlib.Path
        Non-hidden files ending in ``.tif`` / ``.tiff`` (any case), sorted so
        that embedded numbers compare as numbers.

    Raises
    ------
    ValueError
        If the directory holds no TIFF file.
    """
    d = Path(directory)
    files = [
        p
        for p in d.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in TIFF_SUFFIXES
    ]
    if not files:
        raise ValueError(f"no .tif/.tiff files in directory {d}")
    return sorted(files, key=_natural_key)


def _voxel_size(tif: tifffile.TiffFile) -> float | None:
    """Å per pixel from the resolution tags, when their unit is known."""
    page = tif.pages[0]
    tag = page.tags.get("XResolution")
    if tag is None:
        return None
    num, den = tag.value
    if not num or not den:
        return None
    per_pixel = den / num  # units per pixel
    ij = tif.imagej_metadata or {}
    if "unit" in ij:
        factor = _UNIT_ANGSTROM.get(str(ij["unit"]).strip().lower())
    else:
        unit_tag = page.tags.get("ResolutionUnit")
        factor = _RESUNIT_ANGSTROM.get(int(unit_tag.value)) if unit_tag is not None else None
    if factor is None:
        return None
    v = per_pixel * factor
    return float(v) if np.isfinite(v) and v > 0 else None


class TiffPages(LazyStack):
    """The pages of a multi-page TIFF file, read on demand.

    Parameters
    ----------
    path : str or os.PathLike
    shape : tuple of int
        ``(n_pages, ny, nx)``.
    dtype : numpy.dtype
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], dtype):
        self.path = Path(path)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def _read(self, index, rest: tuple) -> np.ndarray:
        if isinstance(index, slice):
            index = np.arange(index.start, index.stop)
        out = tifffile.imread(self.path, key=[int(i) for i in index])
        return out.reshape((len(index),) + self.shape[1:])


class TiffFiles(LazyStack):
    """A stack of single-image TIFF files, one file read per image.

    Parameters
    ----------
    files : sequence of path
        The files, in stack order.
    shape : tuple of int
        ``(n_files, ny, nx)``.
    dtype : numpy.dtype
    """

    def __init__(self, files, shape: tuple[int, ...], dtype):
        self.files = [Path(f) for f in files]
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def _read(self, index, rest: tuple) -> np.ndarray:
        if isinstance(index, slice):
            index = range(index.start, index.stop)
        out = np.empty((len(index),) + self.shape[1:], dtype=self.dtype)
        for j, i in enumerate(index):
            out[j] = tifffile.imread(self.files[int(i)])
        return out


def _read_file(p: Path):
    with tifffile.TiffFile(p) as tif:
        series = tif.series[0]
        shape = tuple(int(v) for v in series.shape)
        dtype = np.dtype(series.dtype)
        axes = series.axes
        n_pages = len(tif.pages)
        vs = _voxel_size(tif)
    if len(shape) not in (2, 3) or "S" in axes:
        raise ValueError(f"unsupported image shape {shape} (axes {axes})")
    if not is_real_dtype(dtype):
        raise ValueError(f"unsupported data type {dtype}")
    try:
        data = tifffile.memmap(p, mode="r")
        if data.shape != shape:
            data = data.reshape(shape)
    except ValueError:
        if len(shape) == 2:
            data = tifffile.imread(p)
        elif n_pages == shape[0]:
            data = TiffPages(p, shape, dtype)
        else:
            data = tifffile.imread(p).reshape(shape)
    return data, vs


def _read_directory(d: Path):
    files = list_tiff_files(d)
    shape = dtype = vs = None
    for i, f in enumerate(files):
        try:
            with tifffile.TiffFile(f) as tif:
                s = tuple(int(v) for v in tif.series[0].shape)
                t = np.dtype(tif.series[0].dtype)
                if i == 0:
                    vs = _voxel_size(tif)
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise ValueError(f"cannot read {f} as TIFF: {exc}") from None
        if len(s) != 2:
            raise ValueError(f"{f}: expected a single 2-D image in a TIFF directory, got shape {s}")
        if i == 0:
            shape, dtype = s, t
        elif s != shape or t != dtype:
            raise ValueError(f"{f} has shape {s} {t}, but {files[0].name} has {shape} {dtype}")
    return TiffFiles(files, (len(files),) + shape, dtype), vs


def read_tiff(path: str | os.PathLike):
    """Open a TIFF stack (file or directory) lazily.

    Parameters
    ----------
    path : str or os.PathLike
        A multi-page (or single-image) ``.tif`` / ``.tiff`` file, or a
        directory of single-image TIFF files.

    Returns
    -------
    data : numpy.memmap, numpy.ndarray or LazyStack
        Shape ``(n, ny, nx)``, or ``(ny, nx)`` for a single-image file.
        Memory-mapped (read-only) when the file allows it, otherwise read on
        demand (:class:`TiffPages`, :class:`TiffFiles`).
    voxel_size : float or None
        Å per pixel when the resolution unit is known (ImageJ ``unit``
        metadata, or a TIFF resolution unit of cm/mm/µm), else None.

    Raises
    ------
    ValueError
        If the path does not exist, cannot be read as TIFF, or holds images of
        unsupported or inconsistent shape.
    """
    p = Path(path)
    if p.is_dir():
        return _read_directory(p)
    check_input_path(p)
    try:
        data, vs = _read_file(p)
    except (OSError, ValueError, tifffile.TiffFileError, IndexError) as exc:
        raise ValueError(f"cannot read {p} as TIFF: {exc}") from None
    logger.debug("opened %s: %s %s, voxel size %s", p, data.shape, data.dtype, vs)
    return data, vs


def _imagej_kwargs(voxel_size) -> dict:
    meta = {"axes": "ZYX"}
    kw = {"imagej": True, "metadata": meta}
    v = check_voxel_size(voxel_size)
    if v is not None:
        kw["resolution"] = (1.0 / v, 1.0 / v)
        meta["spacing"] = v
        meta["unit"] = "angstrom"
    return kw


def write_tiff(
    path: str | os.PathLike,
    volume,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a volume (or any image stack) as a multi-page float32 TIFF.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.tif`` / ``.tiff`` path.
    volume : array_like, shape (n, ny, nx) or (ny, nx)
        One page per ``volume[i]``; a 2-D image is written as one page.
    voxel_size : float, optional
        Å per voxel (resolution tags and ImageJ ``spacing``).
    overwrite : bool

    Returns
    -------
    pathlib.Path
    """
    a = as_float32_stack(volume, "volume", allow_2d=True)
    kw = _imagej_kwargs(voxel_size)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, a, **kw)
    logger.info("wrote stack %s to %s", a.shape, path)
    return Path(path)


def write_tiff_tilt_series(
    path: str | os.PathLike,
    data,
    angles_deg,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write a tilt series as a multi-page TIFF plus ``STEM.tlt``, together.

    Parameters
    ----------
    path : str or os.PathLike
    data : array_like, shape (n_tilts, ny, nx)
    angles_deg : array_like, shape (n_tilts,)
        Degrees, written to ``STEM.tlt`` beside ``path``.
    voxel_size : float, optional
        Å per pixel.
    overwrite : bool

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The TIFF path and the ``.tlt`` path; both are written or neither.
    """
    a = as_float32_stack(data, "tilt series", allow_2d=False)
    angles = validate_angles(angles_deg, name="angles_deg")
    if angles.size != a.shape[0]:
        raise ValueError(f"tilt series has {a.shape[0]} tilts but {angles.size} angles were given")
    kw = _imagej_kwargs(voxel_size)
    p = Path(path)
    tlt = p.with_suffix(".tlt")
    with atomic_outputs([p, tlt], overwrite=overwrite) as (tmp, tmp_tlt):
        tifffile.imwrite(tmp, a, **kw)
        tmp_tlt.write_text(format_angles(angles), encoding="utf-8")
    logger.info("wrote tilt series %s to %s (+ %s)", a.shape, p, tlt.name)
    return p, tlt


@contextlib.contextmanager
def open_tiff_volume_writer(
    path: str | os.PathLike,
    shape,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Iterator[SlabWriter]:
    """Write a large TIFF volume slab by slab, without holding it in memory.

    Parameters
    ----------
    path : str or os.PathLike
    shape : tuple of int
        ``(ny, nx, nx)``.
    voxel_size : float, optional
    overwrite : bool

    Yields
    ------
    SlabWriter
        ``w[y0:y1] = block`` writes pages ``y0..y1-1`` (in any order).

    Notes
    -----
    The temporary file is laid out by :func:`tifffile.imwrite` with no data
    (uncompressed, contiguous ImageJ layout, as :func:`tifffile.memmap` makes
    it), and slabs are written at the data offset with ``pwrite``
    (:class:`~.writer.FileSlabs`): nothing is buffered, and a disk that fills
    up mid-run is an ``OSError``, not the SIGBUS a memory map would raise.
    """
    shape = check_volume_shape(shape)
    kw = _imagej_kwargs(voxel_size)
    dtype = np.dtype(np.float32)
    with atomic_output(path, overwrite=overwrite) as tmp:
        offset, _ = tifffile.imwrite(
            tmp, data=None, shape=shape, dtype=dtype, returnoffset=True, **kw
        )
        with FileSlabs(tmp, offset, shape, dtype) as slabs:
            writer = SlabWriter(slabs, shape)
            yield writer
            writer.check_complete(path)
    logger.info("wrote volume %s to %s", shape, path)
