"""Robust statistics of measured data that several layers need (numpy only).

:func:`white_noise_std` is the noise estimate behind TV's and ``joint``'s
weights (:func:`tomoinpaint.recon.tv_weights.estimate_noise`) and behind the
blank-view check's "far beyond noise" (:mod:`tomoinpaint.prep.views`); it
lives below both so that they share one formula.
"""

from __future__ import annotations

import numpy as np

__all__ = ["white_noise_std"]

#: Median absolute deviation -> standard deviation, for Gaussian noise.
_MAD_TO_STD = 1.4826


def white_noise_std(x, axis: int = -1) -> float | None:
    """Standard deviation of white noise in ``x``, from its second differences along ``axis``.

    The median absolute second difference, scaled to a standard deviation and
    divided by sqrt(6) (the std of a second difference of unit white noise).
    Smooth structure hardly moves it; edges and texture can only inflate it.

    Parameters
    ----------
    x : array_like, any shape
    axis : int
        The axis to difference along.

    Returns
    -------
    float or None
        In the units of ``x``; None when ``x`` has fewer than 3 samples along
        ``axis`` (no second difference).
    """
    a = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    if a.shape[-1] < 3 or a.size == 0:
        return None
    d = a[..., 2:] - 2.0 * a[..., 1:-1] + a[..., :-2]
    return float(_MAD_TO_STD * np.median(np.abs(d)) / np.sqrt(6.0))
