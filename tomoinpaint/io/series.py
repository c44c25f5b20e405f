"""A tilt series read from a file: its images (on disk until read), angles and views."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .binning import BinnedStack, bin_images, check_binning
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
    binning : int
        Detector pixels averaged into each of ``data``'s along each axis
        (:meth:`binned`); 1: the file's own pixels.
    """

    data: Any
    angles_deg: np.ndarray
    voxel_size: float | None = None
    flats: np.ndarray | None = None
    darks: np.ndarray | None = None
    path: Path | None = None
    views: np.ndarray | None = None
    binning: int = 1

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_tilts, ny, nx)``."""
        return tuple(self.data.shape)

    @property
    def unbinned_shape(self) -> tuple[int, int, int]:
        """``(n_tilts, ny, nx)`` of the file's own pixels, before :meth:`binned`."""
        return tuple(self.data.base.shape) if self.binning != 1 else self.shape

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

    def binned(self, factor: int) -> TiltSeries:
        """The series binned by ``factor`` (IMOD's ``newstack -bin``).

        Parameters
        ----------
        factor : int
            Each ``factor x factor`` block of detector pixels becomes one, their
            mean (:func:`~tomoinpaint.io.binning.bin_images`); flat and dark
            fields are binned alike. The file's series only: a series binned
            already is refused.

        Returns
        -------
        TiltSeries
            ``data`` of shape ``(n_tilts, ny // factor, nx // factor)``, float32,
            binned on demand (:class:`~tomoinpaint.io.binning.BinnedStack`:
            nothing is read now); the voxel size times ``factor``.

        Raises
        ------
        ValueError
            If the binning leaves too few pixels
            (:func:`~tomoinpaint.io.binning.check_binning`) or the series is
            binned already.
        """
        factor = check_binning(factor)
        if factor == 1:
            return self
        if self.binning != 1:
            raise ValueError(f"the series is binned by {self.binning} already")
        check_binning(factor, self.shape)

        def fields(a):
            return None if a is None else bin_images(a[np.newaxis] if a.ndim == 2 else a, factor)

        return replace(
            self,
            data=BinnedStack(self.data, factor),
            flats=fields(self.flats),
            darks=fields(self.darks),
            voxel_size=None if self.voxel_size is None else self.voxel_size * factor,
            binning=factor,
        )

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
