"""Chunk-by-chunk volume writers: shared slab bookkeeping.

A format module (:mod:`.mrc`, :mod:`.hdf5`, :mod:`.tiff`) opens a writable
array in a temporary file (a :class:`FileSlabs` region or an HDF5 dataset) and
wraps it in a :class:`SlabWriter`. The writer converts each block to float32,
writes it, and remembers which slices along axis 0 were written, so that an
output with unwritten slices is refused instead of committed.

Why not a memory map: a store into a mapped page of a file whose disk has
filled up cannot fail with an error; the kernel kills the process with SIGBUS,
leaving no message and the temporary file behind. :class:`FileSlabs` writes
with :func:`os.pwrite`, so a full disk is an :class:`OSError` (``ENOSPC``)
that the caller turns into one line naming the user's output.
"""

from __future__ import annotations

import logging
import numbers
import os

import numpy as np

from .arrays import is_real_dtype

__all__ = ["FileSlabs", "SlabWriter", "check_volume_shape"]

logger = logging.getLogger(__name__)


def check_volume_shape(shape) -> tuple[int, int, int]:
    """Validate the shape of a volume to write.

    Parameters
    ----------
    shape : sequence of int
        ``(ny, nx, nx)`` (the last two need not be equal).

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        If the shape is not three positive integers.
    """
    try:
        s = tuple(int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"volume shape must be three integers, got {shape!r}") from None
    if len(s) != 3 or min(s) < 1 or s != tuple(shape):
        raise ValueError(
            f"volume shape must be three positive integers (ny, nx, nx), got {shape!r}"
        )
    return s


class SlabWriter:
    """Write blocks of a volume into a writable array-like, tracking coverage.

    Parameters
    ----------
    target : array-like supporting ``__setitem__``
        The destination, shape ``(ny, nx, nx)``, float32 (a memory map or an
        HDF5 dataset).
    shape : tuple of int
        Its shape.

    Notes
    -----
    Use as ``w[y0:y1] = block`` with ``block`` of shape ``(y1 - y0, nx, nx)``
    (any real dtype; stored as float32). Other numpy-style keys work too;
    coverage is tracked along axis 0 only.
    """

    def __init__(self, target, shape: tuple[int, ...]):
        self._target = target
        self.shape = tuple(shape)
        self.dtype = np.dtype(np.float32)
        self._written = np.zeros(self.shape[0], dtype=bool)

    @property
    def ndim(self) -> int:
        """Number of dimensions (3)."""
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __setitem__(self, key, value) -> None:
        block = np.asarray(value)
        if not is_real_dtype(block.dtype):
            raise ValueError(f"volume block must be real numbers, got dtype {block.dtype}")
        block = block.astype(np.float32, copy=False)
        try:
            self._target[key] = block
        except (TypeError, IndexError) as exc:
            raise ValueError(
                f"cannot write block of shape {block.shape} at {key!r} into volume of shape "
                f"{self.shape}: {exc}"
            ) from None
        first = key[0] if isinstance(key, tuple) and key else key
        if isinstance(key, tuple) and not key:
            first = slice(None)
        if first is Ellipsis:
            first = slice(None)
        if isinstance(first, numbers.Integral | slice):
            self._written[first] = True
        else:
            self._written[np.asarray(first)] = True

    @property
    def complete(self) -> bool:
        """Whether every slice along axis 0 has been written."""
        return bool(self._written.all())

    def check_complete(self, path) -> None:
        """Raise ValueError naming the first unwritten slices, if any."""
        if not self.complete:
            missing = np.flatnonzero(~self._written)
            raise ValueError(
                f"volume writer for {path} closed with {missing.size} of {self.shape[0]} "
                f"slices never written (first: {missing[:5].tolist()}); nothing was saved"
            )


class FileSlabs:
    """A C-ordered array stored at a byte offset of a file, written with ``pwrite``.

    Parameters
    ----------
    path : str or os.PathLike
        An existing file at least ``offset + prod(shape) * itemsize`` bytes
        long (a sparse file is fine: blocks are allocated as slabs arrive).
    offset : int
        Byte offset of element ``[0, 0, 0]``.
    shape : tuple of int
        ``(n, ...)``; slabs are whole slices along axis 0.
    dtype : numpy.dtype
        On-disk element type (with its byte order).

    Notes
    -----
    Supports ``a[i] = block`` and ``a[i0:i1] = block`` (step 1) along axis 0
    only, which is all :class:`SlabWriter`'s callers use; other keys raise
    TypeError. Blocks are broadcast to the slab's shape. Use as a context
    manager, or call :meth:`close`.
    """

    # One pwrite moves at most ~2 GiB on Linux; larger slabs loop.
    _MAX_IO = 1 << 30

    def __init__(self, path, offset: int, shape: tuple[int, ...], dtype):
        self.shape = tuple(int(v) for v in shape)
        self.dtype = np.dtype(dtype)
        self.offset = int(offset)
        self._slice_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd = os.open(path, os.O_RDWR)

    def __enter__(self) -> FileSlabs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file descriptor (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _rows(self, key) -> tuple[int, int]:
        if isinstance(key, tuple) and len(key) == 1:
            key = key[0]
        n = self.shape[0]
        if isinstance(key, numbers.Integral):
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {key} out of range for {n} slices")
            return i, i + 1
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step != 1:
                raise TypeError("only contiguous slabs (step 1) can be written")
            return start, max(start, stop)
        raise TypeError(f"only an integer or a slice along axis 0 can be written, got {key!r}")

    def __setitem__(self, key, value) -> None:
        i0, i1 = self._rows(key)
        block = np.ascontiguousarray(
            np.broadcast_to(np.asarray(value), (i1 - i0, *self.shape[1:])), dtype=self.dtype
        )
        view = memoryview(block).cast("B")
        pos = self.offset + i0 * self._slice_bytes
        done = 0
        while done < len(view):
            done += os.pwrite(self._fd, view[done : done + self._MAX_IO], pos + done)

    def read(self, i0: int, i1: int) -> np.ndarray:
        """Slices ``i0..i1-1`` read back from the file, shape ``(i1 - i0, ...)``."""
        out = np.empty((i1 - i0, *self.shape[1:]), dtype=self.dtype)
        view = memoryview(out).cast("B")
        pos = self.offset + i0 * self._slice_bytes
        done = 0
        while done < len(view):
            got = os.preadv(self._fd, [view[done : done + self._MAX_IO]], pos + done)
            if got == 0:
                raise OSError(f"file ends before slice {i1 - 1} of the volume")
            done += got
        return out

    def iter_slabs(self, max_bytes: int):
        """The whole array as consecutive slabs of at most ``max_bytes`` (one slice at least)."""
        per = max(1, max_bytes // max(1, self._slice_bytes))
        for i in range(0, self.shape[0], per):
            yield self.read(i, min(i + per, self.shape[0]))
