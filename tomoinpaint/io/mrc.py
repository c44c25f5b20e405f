"""MRC files (IMOD / CCP-EM): tilt series, volumes and single images.

Reading uses :func:`mrcfile.mmap` in mode ``'r'``: the data come back as a
read-only :class:`numpy.memmap`, so a large file is not loaded into memory.
The voxel size is taken from ``voxel_size.x`` in Å (0 in the header means
unknown and gives None).

Writing follows IMOD's conventions: float32 (mode 2) data, the voxel size in
the header, a tilt series stored as an image stack (``ispg = 0``) with its
tilt angles in a ``.tlt`` file beside it, and a volume of shape
``(ny, nx, nx)`` stored as a volume (``ispg = 1``) whose sections are the
slices perpendicular to the tilt axis (IMOD ``tilt`` output before
``trimvol -rx``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import mrcfile
import numpy as np

from ..geometry import validate_angles
from .angles import format_angles
from .arrays import as_float32_stack, check_voxel_size, is_real_dtype
from .atomic import atomic_output, atomic_outputs
from .paths import check_input_path
from .writer import FileSlabs, SlabWriter, check_volume_shape

__all__ = [
    "MRC_SUFFIXES",
    "read_mrc",
    "write_mrc_volume",
    "write_mrc_tilt_series",
    "open_mrc_volume_writer",
]

logger = logging.getLogger(__name__)

#: File suffixes read and written as MRC.
MRC_SUFFIXES = (".mrc", ".st", ".ali", ".mrcs", ".rec", ".preali")

_LABEL = "tomoinpaint"
_STATS_CHUNK_BYTES = 64 * 2**20


def _voxel_size_of(mrc) -> float | None:
    v = float(mrc.voxel_size.x)
    return v if np.isfinite(v) and v > 0 else None


#: Bytes per value of each MRC mode (mode 101: 4-bit, two values per byte).
_MODE_BYTES = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2, 101: 0.5}


def check_header(path: Path) -> None:
    """Check an MRC header against the file before any memory map.

    The dimensions must be positive, the mode known, and the file exactly as
    long as the header says (header, extended header and data), so that a
    wrong mode, a truncated file or a corrupt dimension is one clear error
    instead of a garbage volume or a failed memory map.

    Raises
    ------
    ValueError
        "cannot read PATH as MRC: reason".
    """
    size = path.stat().st_size
    head = np.fromfile(path, dtype=np.uint8, count=1024)
    if head.size < 1024:
        raise ValueError(f"cannot read {path} as MRC: {size} bytes, shorter than an MRC header")
    for order in ("<", ">"):
        nx, ny, nz, mode = (int(v) for v in np.frombuffer(head[:16].tobytes(), order + "i4"))
        if mode in _MODE_BYTES:
            break
    else:
        raise ValueError(f"cannot read {path} as MRC: not an MRC header (unknown mode {mode})")
    nsymbt = int(np.frombuffer(head[92:96].tobytes(), order + "i4")[0])
    if min(nx, ny, nz) <= 0 or nsymbt < 0:
        raise ValueError(
            f"cannot read {path} as MRC: header dimensions nx={nx}, ny={ny}, nz={nz} "
            f"(extended header {nsymbt} bytes) must be positive"
        )
    row = (nx + 1) // 2 if mode == 101 else nx * _MODE_BYTES[mode]
    expected = 1024 + nsymbt + int(row) * ny * nz  # Python ints: no overflow
    if size != expected:
        what = "truncated" if size < expected else "longer than its header says"
        raise ValueError(
            f"cannot read {path} as MRC: the file is {what} ({size} bytes; nx={nx}, ny={ny}, "
            f"nz={nz}, mode {mode} and a {nsymbt}-byte extended header need {expected})"
        )


def read_mrc(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """Open an MRC file memory-mapped, read-only.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    data : numpy.memmap, shape (nz, ny, nx) or (ny, nx)
        Read-only; in the file's data type (int8, int16, uint16, float16 or
        float32). A file with a single section comes back 2-D.
    voxel_size : float or None
        Å per voxel along x, None when the header says 0.

    Raises
    ------
    ValueError
        If the file does not exist ("input file not found: PATH") or is not a
        valid MRC file ("cannot read PATH as MRC: reason").
    """
    p = check_input_path(path)
    check_header(p)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mrcfile.mmap(p, mode="r") as mrc:
                data = mrc.data
                voxel_size = _voxel_size_of(mrc)
    except (ValueError, OSError, EOFError, TypeError) as exc:
        raise ValueError(f"cannot read {p} as MRC: {exc}") from None
    for w in caught:
        logger.warning("%s: %s", p, w.message)
    if data is None or data.ndim not in (2, 3):
        shape = None if data is None else data.shape
        raise ValueError(f"cannot read {p} as MRC: unsupported data shape {shape}")
    if not is_real_dtype(data.dtype):
        raise ValueError(f"cannot read {p} as MRC: complex data (mode {data.dtype}) not supported")
    logger.debug("opened %s: shape %s %s, voxel size %s", p, data.shape, data.dtype, voxel_size)
    return data, voxel_size


def _write_new(tmp: Path, data: np.ndarray, voxel_size: float | None, *, stack: bool) -> None:
    with mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(data)
        if stack:
            mrc.set_image_stack()
        else:
            mrc.set_volume()
        if voxel_size is not None:
            mrc.voxel_size = voxel_size
        mrc.add_label(_LABEL)


def write_mrc_volume(
    path: str | os.PathLike,
    volume,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a volume to an MRC file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.mrc`` / ``.rec`` path.
    volume : array_like, shape (ny, nx, nx) or (ny, nx)
        Stored as float32; a 2-D image is stored as a single section.
    voxel_size : float, optional
        Å per voxel (None leaves 0 in the header: unknown).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        On a wrong shape or dtype, a bad voxel size, or an existing output
        without ``overwrite`` (:class:`~tomoinpaint.io.atomic.OutputExistsError`).
    """
    vs = check_voxel_size(voxel_size)
    a = as_float32_stack(volume, "volume", allow_2d=True)
    with atomic_output(path, overwrite=overwrite) as tmp:
        _write_new(tmp, a, vs, stack=False)
    logger.info("wrote volume %s to %s", a.shape, path)
    return Path(path)


def write_mrc_tilt_series(
    path: str | os.PathLike,
    data,
    angles_deg,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write a tilt series to MRC and its angles to ``.tlt`` beside, together.

    Parameters
    ----------
    path : str or os.PathLike
        Output path (``.mrc``, ``.st``, ``.ali`` ...).
    data : array_like, shape (n_tilts, ny, nx)
        Stored as float32, as an IMOD image stack.
    angles_deg : array_like, shape (n_tilts,)
        Tilt angles in degrees, written to ``STEM.tlt`` beside ``path``.
    voxel_size : float, optional
        Å per pixel.
    overwrite : bool
        Replace existing outputs (the MRC file and the ``.tlt`` file).

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The MRC path and the ``.tlt`` path. Both are written or neither is.

    Raises
    ------
    ValueError
        On a wrong shape, angles that are invalid or do not match the number
        of tilts, or an existing output without ``overwrite``.
    """
    vs = check_voxel_size(voxel_size)
    a = as_float32_stack(data, "tilt series")
    angles = validate_angles(angles_deg, name="angles_deg")
    if angles.size != a.shape[0]:
        raise ValueError(f"tilt series has {a.shape[0]} tilts but {angles.size} angles were given")
    p = Path(path)
    tlt = p.with_suffix(".tlt")
    with atomic_outputs([p, tlt], overwrite=overwrite) as (tmp, tmp_tlt):
        _write_new(tmp, a, vs, stack=True)
        tmp_tlt.write_text(format_angles(angles), encoding="utf-8")
    logger.info("wrote tilt series %s to %s (+ %s)", a.shape, p, tlt.name)
    return p, tlt


def _set_stats(header, slabs) -> None:
    """Header min/max/mean/rms computed over an iterable of slabs, in bounded memory."""
    lo, hi, s, s2, count = np.inf, -np.inf, 0.0, 0.0, 0
    for slab in slabs:
        block = np.asarray(slab, dtype=np.float64)
        lo = min(lo, float(block.min()))
        hi = max(hi, float(block.max()))
        s += float(block.sum())
        s2 += float(np.square(block).sum())
        count += block.size
    mean = s / count
    header.dmin, header.dmax, header.dmean = lo, hi, mean
    header.rms = float(np.sqrt(max(0.0, s2 / count - mean * mean)))


@contextlib.contextmanager
def open_mrc_volume_writer(
    path: str | os.PathLike,
    shape,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Iterator[SlabWriter]:
    """Write a large MRC volume slab by slab, with plain writes.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.mrc`` / ``.rec`` path.
    shape : tuple of int
        ``(ny, nx, nx)``.
    voxel_size : float, optional
        Å per voxel.
    overwrite : bool
        Replace an existing file.

    Yields
    ------
    SlabWriter
        ``w[y0:y1] = block`` writes slices ``y0..y1-1`` (in any order) into a
        temporary file beside ``path``.

    Notes
    -----
    :func:`mrcfile.new_mmap` lays out the (sparse) temporary file and its
    header; the slabs go in through :class:`~.writer.FileSlabs` (``pwrite``),
    never through the memory map, so a disk that fills up mid-run is an
    ``OSError`` rather than a SIGBUS. On a clean exit the header statistics
    are computed slab by slab, the file is closed and moved onto ``path``. If
    the block raises, or some slices were never written (ValueError), nothing
    is saved.
    """
    vs = check_voxel_size(voxel_size)
    shape = check_volume_shape(shape)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with mrcfile.new_mmap(tmp, shape, mrc_mode=2, overwrite=True) as mrc:
            mrc.set_volume()  # lays out a sparse file; its map is closed before any slab
            offset = mrc.header.nbytes + mrc.extended_header.nbytes
            dtype = mrc.data.dtype
        with FileSlabs(tmp, offset, shape, dtype) as slabs:
            writer = SlabWriter(slabs, shape)
            yield writer
            writer.check_complete(path)
            # the header is rewritten with file writes; the data pages are not touched
            with mrcfile.mmap(tmp, mode="r+") as mrc:
                _set_stats(mrc.header, slabs.iter_slabs(_STATS_CHUNK_BYTES))
                if vs is not None:
                    mrc.voxel_size = vs
                mrc.add_label(_LABEL)
    logger.info("wrote volume %s to %s", shape, path)
