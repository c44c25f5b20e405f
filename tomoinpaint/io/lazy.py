"""Read-on-demand image stacks: index them like arrays, read only what is asked.

:class:`LazyStack` is the small array-like that the readers return when a file
cannot be memory-mapped (HDF5 datasets, compressed or scattered TIFF pages, a
directory of TIFF files). It has ``shape``, ``dtype``, ``ndim``, ``len()``,
basic indexing (``stack[i]``, ``stack[i0:i1]``, ``stack[:, y0:y1, :]``,
``stack[[3, 1]]``), ``np.asarray(stack)`` and :meth:`LazyStack.load`. It holds
no open file handle between reads, so it can be pickled to Dask workers.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["LazyStack", "read_images"]


class LazyStack:
    """Base class of lazily read stacks of images (axis 0 = image index).

    Subclasses set ``shape`` and ``dtype`` and implement :meth:`_read`.

    Attributes
    ----------
    shape : tuple of int
        ``(n_images, ny, nx)``.
    dtype : numpy.dtype
    """

    shape: tuple[int, ...]
    dtype: np.dtype

    def _read(self, index: np.ndarray | slice, rest: tuple) -> np.ndarray:
        """Read images ``index`` (a step-1 slice or an array of ints).

        ``rest`` is a tuple of ints/slices for the remaining axes, which the
        subclass may apply while reading or leave to the caller (return the
        full images then and set ``self._applies_rest = False``).
        """
        raise NotImplementedError

    #: Whether :meth:`_read` applies ``rest`` itself.
    _applies_rest = False

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """Bytes the whole stack takes in memory."""
        return self.size * np.dtype(self.dtype).itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shape={self.shape} dtype={np.dtype(self.dtype)}>"

    def load(self) -> np.ndarray:
        """Read the whole stack into memory.

        Returns
        -------
        numpy.ndarray, shape ``self.shape``
        """
        return self._read_checked(slice(0, self.shape[0]), ())

    def __array__(self, dtype=None, copy=None):
        a = self.load()
        return a if dtype is None else a.astype(dtype, copy=False)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        simple = all(isinstance(k, (slice, numbers.Integral)) for k in key[1:])
        if not key or key[0] is Ellipsis or not simple or len(key) > self.ndim:
            return self.load()[key]
        first, rest = key[0], tuple(key[1:])
        n = self.shape[0]
        if isinstance(first, numbers.Integral):
            i = int(first)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis 0 with size {n}")
            out = self._read_checked(np.array([i % n]), rest)
            return out[0]
        if isinstance(first, slice):
            start, stop, step = first.indices(n)
            if step == 1:
                return self._read_checked(slice(start, max(start, stop)), rest)
            return self._read_checked(np.arange(start, stop, step), rest)
        sel = np.asarray(first)
        if sel.size == 0 and sel.dtype != bool:
            sel = sel.astype(np.intp)  # numpy treats an empty list as integer indices
        idx = np.arange(n)[sel]
        if idx.ndim != 1:
            return self.load()[key]
        return self._read_checked(idx, rest)

    def _read_checked(self, index, rest: tuple) -> np.ndarray:
        empty = index.stop <= index.start if isinstance(index, slice) else len(index) == 0
        if empty:
            full = np.empty((0,) + tuple(self.shape[1:]), dtype=self.dtype)
            return full[(slice(None),) + rest]
        out = np.asarray(self._read(index, rest))
        if not self._applies_rest and rest:
            out = out[(slice(None),) + rest]
        return out


def read_images(base, index, rest: tuple = ()) -> np.ndarray:
    """``base[(index,) + rest]``, holding only the asked part of each image.

    A :class:`LazyStack` that reads whole images (``_applies_rest`` False)
    is read one image at a time and cut to ``rest`` before the next, so a
    band of rows of a large stack never holds the whole images at once.

    Parameters
    ----------
    base : array-like, shape (n_images, ny, nx)
        A numpy array, memory map, HDF5 stack or :class:`LazyStack`.
    index : slice or array_like of int
        The images.
    rest : tuple of int or slice
        What to take of each image.

    Returns
    -------
    numpy.ndarray
    """
    if isinstance(base, LazyStack) and not getattr(base, "_applies_rest", False):
        images = range(*index.indices(base.shape[0])) if isinstance(index, slice) else index
        return np.stack([np.asarray(base[int(i)])[rest] for i in images])
    return np.asarray(base[(index,) + tuple(rest)])
