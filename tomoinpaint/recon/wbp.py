"""Weighted (filtered) back-projection."""

from __future__ import annotations

import numpy as np

from ..geometry import angular_weights
from ..project import Projector
from .common import as_geometry, per_slice
from .filters import filter_sinogram

__all__ = ["wbp", "fbp"]


def wbp(
    sino,
    angles_deg,
    *,
    filter: str = "ram-lak",
    device: str = "auto",
    slab: tuple[int, int] | None = None,
) -> np.ndarray:
    """Weighted back-projection of a sinogram or a stack of sinograms.

    Each projection is ramp-filtered along the detector and back-projected
    with its own angular weight (half the distance to its neighbours, see
    :func:`tomoinpaint.geometry.angular_weights`), so non-uniform and
    limited-angle tilt schemes are integrated correctly.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
        Line integrals (e.g. after minus-log), one row per tilt.
    angles_deg : array_like, shape (n_angles,)
        Tilt angles in degrees, in the order of the rows.
    filter : {"ram-lak", "shepp-logan", "cosine", "hamming", "hann"}
    device : {"auto", "cpu", "cuda"}
    slab : (int, int), optional
        Back-project only rows ``z0..z1-1`` of each slice (the volume
        pipeline's ``thickness``): the same pixels as the whole slice has
        there, ``n_det / (z1 - z0)`` times fewer to compute, with values
        that differ from the whole slice's by ASTRA's float32 ray stepping
        only (``benchmarks/results/slab_speed.md``).

    Returns
    -------
    numpy.ndarray, shape (n_det, n_det) or (n_slices, n_det, n_det), float32
        Attenuation per pixel, in the units of ``sino``; ``(z1 - z0, n_det)``
        per slice with ``slab``.
    """
    geom = as_geometry(angles_deg, sino)
    s = geom.check_sinogram(sino)
    filtered = filter_sinogram(s, filter)
    filtered *= angular_weights(geom.angles_deg).astype(np.float32)[:, None]
    with Projector(geom, kernel="linear", device=device, rows=slab) as P:
        return per_slice(P.back, filtered)


fbp = wbp
"""Alias: for parallel beam, FBP with angular weighting is WBP."""
