"""Chunk-by-chunk volume writers: shared slab bookkeeping.

A format module (:mod:`.mrc`, :mod:`.hdf5`, :mod:`.tiff`) opens a writable
array in a temporary file (a memory map or an HDF5 dataset) and wraps it in a
:class:`SlabWriter`. The writer converts each block to float32, writes it, and
remembers which slices along axis 0 were written, so that an output with
unwritten slices is refused instead of committed.
"""

from __future__ import annotations

import logging
import numbers

import numpy as np

from .arrays import is_real_dtype

__all__ = ["SlabWriter", "check_volume_shape"]

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
