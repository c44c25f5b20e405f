"""Reading a band of detector rows of a tilt series, in bounded memory.

The volume pipeline reconstructs a few slices at a time; each task opens the
input itself (a memory map, an HDF5 hyperslab or TIFF pages) and reads only
its rows, so nothing large crosses process boundaries.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np

from . import hdf5, mrc, tiff
from .lazy import read_images

__all__ = ["open_projections", "read_rows", "read_field_rows", "fingerprint", "input_identity"]


def open_projections(path: str | os.PathLike, fmt: str):
    """The projections of ``path``, lazily (open them in the worker; never pickle them).

    Parameters
    ----------
    path : str or os.PathLike
    fmt : {"mrc", "hdf5", "tiff"}
        As :func:`tomoinpaint.io.detect_format` gives it.

    Returns
    -------
    array-like, shape (n_tilts, ny, nx)
        A memory map, an HDF5 dataset view or a lazy TIFF stack.
    """
    if fmt == "mrc":
        return mrc.read_mrc(path)[0]
    if fmt == "hdf5":
        return hdf5.H5Stack(path, hdf5.DATA)
    return tiff.read_tiff(path)[0]


def read_rows(data, y0: int, y1: int) -> np.ndarray:
    """Rows ``y0..y1-1`` of every tilt, ``(n_tilts, y1 - y0, nx)``, in bounded memory."""
    return read_images(data, slice(None), (slice(y0, y1),))


def read_field_rows(path: str | os.PathLike, name: str, y0: int, y1: int) -> np.ndarray | None:
    """Rows ``y0..y1-1`` of the flat or dark fields of a DXchange file.

    Parameters
    ----------
    path : str or os.PathLike
    name : str
        :data:`tomoinpaint.io.hdf5.FLATS` or :data:`~tomoinpaint.io.hdf5.DARKS`.
    y0, y1 : int

    Returns
    -------
    numpy.ndarray, shape (n_fields, y1 - y0, nx), or None
        None when the file has no such group.
    """
    with h5py.File(path, "r") as f:
        if name not in f:
            return None
        ds = f[name]
        if ds.ndim == 2:
            return np.asarray(ds[y0:y1, :])[np.newaxis]
        return np.asarray(ds[:, y0:y1, :])


#: Blocks of 64 KiB that :func:`input_identity` reads in all, spread over the input's files.
FINGERPRINT_BLOCKS = 34
_BLOCK = 1 << 16


def fingerprint(path: str | os.PathLike, blocks: int = FINGERPRINT_BLOCKS) -> str:
    """SHA-256 of a file's size, its first and last 64 KiB and blocks spread between.

    ``blocks`` (at least 2) blocks of 64 KiB are read, whatever the file's
    size; a file no larger is hashed whole. The hash changes when the header
    or sampled data change, even if the size and modification time are put
    back.
    """
    blocks = max(int(blocks), 2)
    size = os.path.getsize(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= blocks * _BLOCK:
            h.update(f.read())
        else:
            step = (size - _BLOCK) / (blocks - 1)
            for k in range(blocks):
                f.seek(min(int(k * step), size - _BLOCK))
                h.update(f.read(_BLOCK))
    return h.hexdigest()


def input_identity(path: os.PathLike) -> dict:
    """What identifies an input's content: per file, its size and :func:`fingerprint`.

    For the resume key of the volume pipeline: an input replaced by other data
    (even of the same size, with its modification time restored) gets another
    identity, so its finished chunks are not mixed into the new volume. The
    :data:`FINGERPRINT_BLOCKS` budget is shared by the files of a TIFF
    directory (each gets at least its first and last block), so a directory
    of thousands of images costs two small reads per image, not 2 MiB each.
    """
    p = os.fspath(path)
    files = tiff.list_tiff_files(p) if os.path.isdir(p) else [Path(p)]
    per_file = max(FINGERPRINT_BLOCKS // len(files), 2)
    return {"files": [[f.name, f.stat().st_size, fingerprint(f, per_file)] for f in files]}
