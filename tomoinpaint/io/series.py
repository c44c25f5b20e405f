"""A tilt series read from a file: its images (on disk until read), angles and views."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .views import ViewSubset, format_view_list, kept_views

__all__ = ["TiltSeries"]


@dataclass(frozen=True)
class TiltSeries:
    """A tilt series read from a file.

    Attributes
    ----------
    data : array-like, shape (n_tilts, ny, nx)
        The images, possibly memory-mapped (MRC, TIFF) or read on demand
        (HDF5, some TIFF): index it (``data[:, y0:y1, :]``) or call
        :meth:`load`. In the file's data type.
    angles_deg : numpy.ndarray, shape (n_tilts,)
        Tilt angles in degrees, validated.
    voxel_size : float or None
        Å per pixel, None when unknown.
    flats, darks : numpy.ndarray, shape (n, ny, nx), or None
        Flat (white) and dark fields (HDF5 DXchange only).
    path : pathlib.Path or None
        The file it was read from.
    views : numpy.ndarray of int, shape (n_tilts,), or None
        Which of the file's images (0-based, in file order) ``data`` holds
        when some were left out (:meth:`without_views`); None: all of them.
    """

    data: Any
    angles_deg: np.ndarray
    voxel_size: float | None = None
    flats: np.ndarray | None = None
    darks: np.ndarray | None = None
    path: Path | None = None
    views: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_tilts, ny, nx)``."""
        return tuple(self.data.shape)

    @property
    def n_tilts(self) -> int:
        """Number of tilt images."""
        return int(self.data.shape[0])

    def load(self) -> np.ndarray:
        """The images in memory as float32.

        Returns
        -------
        numpy.ndarray, shape (n_tilts, ny, nx), float32
        """
        return np.array(self.data[:], dtype=np.float32)

    def view_numbers(self) -> np.ndarray:
        """The file's 1-based numbers of the views held (IMOD numbering), shape (n_tilts,)."""
        held = np.arange(self.n_tilts) if self.views is None else self.views
        return np.asarray(held, dtype=np.intp) + 1

    def views_used(self) -> str | None:
        """The file's views held, as IMOD's list numbered from 1 (``"2-9,13-31"``); None
        when the series holds them all."""
        return None if self.views is None else format_view_list(self.views)

    def without_views(self, exclude) -> TiltSeries:
        """The series without some of its views (as IMOD's ``tilt`` EXCLUDELIST).

        Parameters
        ----------
        exclude : array_like of int
            0-based indices into this series' views (see
            :func:`~tomoinpaint.io.views.parse_view_list` for IMOD's 1-based
            lists).

        Returns
        -------
        TiltSeries
            ``data`` holds only the kept views (read on demand from a memory
            map or lazy stack; an array in memory is copied), with their
            angles; :attr:`views` maps them to the file's images.
        """
        keep = kept_views(self.n_tilts, exclude)
        if keep.size == self.n_tilts:
            return self
        in_file = keep if self.views is None else self.views[keep]
        if isinstance(self.data, ViewSubset):  # views of views: one level, over the file's
            data = ViewSubset(self.data.base, self.data.keep[keep])
        elif type(self.data) is np.ndarray:  # in memory: a copy of the kept views
            data = self.data[keep]
        else:  # a memory map or lazy stack: read on demand, nothing copied
            data = ViewSubset(self.data, keep)
        return replace(self, data=data, angles_deg=self.angles_deg[keep], views=in_file)

    def sinograms(self, y0: int, y1: int) -> np.ndarray:
        """Sinograms of rows ``y0..y1-1``, read from the file as needed.

        Parameters
        ----------
        y0, y1 : int
            Row range along the tilt axis.

        Returns
        -------
        numpy.ndarray, shape (y1 - y0, n_tilts, nx), float32
            ``out[j]`` is the sinogram of row ``y0 + j``.
        """
        block = np.asarray(self.data[:, y0:y1, :], dtype=np.float32)
        return np.ascontiguousarray(block.transpose(1, 0, 2))
