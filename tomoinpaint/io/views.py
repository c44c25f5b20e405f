"""Leaving views out of a tilt series: IMOD's view lists, and a stack that skips views.

IMOD's ``tilt`` leaves bad views out with ``EXCLUDELIST 1-3,41``, views
numbered from 1 in file order; :func:`parse_view_list` reads that syntax.
:class:`ViewSubset` presents the kept views of a stack as a stack of their
own, read on demand (a memory map or lazy stack underneath stays on disk),
so every reader of a series (chunk tasks, scoring, checks) sees the same
views without copying the file.
"""

from __future__ import annotations

import re

import numpy as np

from .lazy import LazyStack, read_images

__all__ = ["ViewListError", "parse_view_list", "format_view_list", "kept_views", "ViewSubset"]


class ViewListError(ValueError):
    """A view list that is malformed or names a view the series does not have."""


_ITEM = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_view_list(text: str, n_views: int) -> np.ndarray:
    """Views named in IMOD's list syntax, as sorted 0-based indices.

    Parameters
    ----------
    text : str
        Comma-separated view numbers and ranges, numbered from 1 as IMOD's
        ``tilt`` and ``newstack -fromone`` number them: ``"1,4-6,40"``.
    n_views : int
        Views in the series (numbers run 1..n_views).

    Returns
    -------
    numpy.ndarray of int, shape (k,)
        0-based indices, sorted, each once.

    Raises
    ------
    ViewListError
        On a malformed item, a range that runs backwards, or a number
        outside 1..n_views.
    """
    picked: set[int] = set()
    for item in str(text).split(","):
        m = _ITEM.match(item)
        if m is None:
            raise ViewListError(
                f"view list {text!r}: {item.strip()!r} is not a view number or a range "
                "such as 4-6 (views are numbered from 1, as IMOD numbers them)"
            )
        first = int(m.group(1))
        last = first if m.group(2) is None else int(m.group(2))
        if last < first:
            raise ViewListError(f"view list {text!r}: range {first}-{last} runs backwards")
        if first < 1 or last > n_views:
            raise ViewListError(
                f"view list {text!r}: view {first if first < 1 else last} does not exist; "
                f"the series has views 1..{n_views} (numbered from 1, as IMOD numbers them)"
            )
        picked.update(range(first - 1, last))
    return np.array(sorted(picked), dtype=np.intp)


def format_view_list(indices) -> str:
    """0-based indices as IMOD's 1-based list, ranges joined: ``[0, 1, 2, 5]`` -> ``"1-3,6"``."""
    numbers = sorted({int(i) + 1 for i in indices})
    parts: list[str] = []
    start = prev = None
    for v in numbers + [None]:
        if start is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = v
    return ",".join(parts)


def kept_views(n_views: int, exclude) -> np.ndarray:
    """The 0-based indices left when ``exclude`` (0-based) is left out of ``n_views``.

    Raises
    ------
    ValueError
        If an index is outside 0..n_views-1.
    """
    ex = np.unique(np.asarray(exclude, dtype=np.intp).ravel())
    if ex.size and (ex[0] < 0 or ex[-1] >= n_views):
        bad = int(ex[0] if ex[0] < 0 else ex[-1])
        raise ValueError(
            f"cannot exclude view index {bad}: the series has views 0..{n_views - 1} "
            "(0-based here; the command line numbers them from 1)"
        )
    return np.setdiff1d(np.arange(n_views, dtype=np.intp), ex)


class ViewSubset(LazyStack):
    """Some views of a stack, in their order, read on demand.

    Parameters
    ----------
    base : array-like, shape (n_views, ny, nx)
        A numpy array, memory map, HDF5 stack or :class:`~.lazy.LazyStack`.
    keep : array_like of int, shape (k,)
        0-based indices of ``base``'s views to present, increasing.

    Attributes
    ----------
    shape : tuple of int
        ``(k, ny, nx)``.
    keep : numpy.ndarray of int, shape (k,)
    """

    _applies_rest = True

    def __init__(self, base, keep):
        keep = np.asarray(keep, dtype=np.intp)
        n = int(base.shape[0])
        if keep.ndim != 1 or (keep.size and (keep.min() < 0 or keep.max() >= n)):
            raise ValueError(f"view indices {keep.tolist()} do not fit a stack of {n} views")
        if np.any(np.diff(keep) <= 0):
            raise ValueError("view indices must be increasing")
        self.base = base
        self.keep = keep
        self.shape = (int(keep.size),) + tuple(int(v) for v in base.shape[1:])
        self.dtype = np.dtype(base.dtype)

    def _read(self, index, rest: tuple) -> np.ndarray:
        return read_images(self.base, self.keep[index], rest)
