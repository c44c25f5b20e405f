"""Fourier ring correlation of two reconstructions of the same slice.

Two reconstructions from disjoint halves of the data (even and odd tilts)
share the object's signal and not the noise: their correlation per ring of
spatial frequency says up to which frequency the reconstruction holds signal
rather than noise. The 1/7 (0.143) threshold is the cryo-EM convention for
two independent half-data reconstructions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fourier_ring_correlation", "frc_resolution", "FRC_THRESHOLD"]

#: Conventional threshold for half-data FRC/FSC curves.
FRC_THRESHOLD = 1.0 / 7.0


def fourier_ring_correlation(a, b, *, rings: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FRC curve of two images (or stacks, averaged over the stack per ring).

    Parameters
    ----------
    a, b : array_like, shape (n, n) or (n_slices, n, n)
    rings : int, optional
        Number of frequency rings from 0 to Nyquist (default ``n // 2``).

    Returns
    -------
    frequency : numpy.ndarray, shape (rings,)
        Ring centres as a fraction of Nyquist (0..1).
    frc : numpy.ndarray, shape (rings,)
        Correlation per ring, in [-1, 1]; 1 where both images agree, 0 for
        rings where either is empty.

    Raises
    ------
    ValueError
        For images of different or non-square shapes.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim not in (2, 3) or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"FRC needs two square images of one shape, got {x.shape} and {y.shape}")
    n = x.shape[-1]
    rings = n // 2 if rings is None else int(rings)
    fx, fy = np.fft.fft2(x), np.fft.fft2(y)
    k = np.fft.fftfreq(n)  # cycles per pixel, Nyquist at 0.5
    radius = np.hypot(k[:, None], k[None, :]) / 0.5  # fraction of Nyquist
    index = np.minimum((radius * rings).astype(int), rings)  # beyond Nyquist: dropped
    keep = index < rings
    cross = (fx * np.conj(fy)).real
    pa, pb = np.abs(fx) ** 2, np.abs(fy) ** 2
    axes = tuple(range(cross.ndim - 2))
    if axes:  # a stack: sum over slices per frequency, then per ring
        cross, pa, pb = cross.sum(axis=axes), pa.sum(axis=axes), pb.sum(axis=axes)
    num = np.bincount(index[keep], cross[keep], minlength=rings)
    den = np.sqrt(
        np.bincount(index[keep], pa[keep], minlength=rings)
        * np.bincount(index[keep], pb[keep], minlength=rings)
    )
    frc = np.divide(num, den, out=np.zeros(rings), where=den > 0)
    frequency = (np.arange(rings) + 0.5) / rings
    return frequency, np.clip(frc, -1.0, 1.0)


def frc_resolution(frequency, frc, threshold: float = FRC_THRESHOLD) -> float:
    """Where the FRC first falls below ``threshold``, as a fraction of Nyquist.

    Linear interpolation between the last ring above and the first below;
    1.0 if it never falls below (signal up to Nyquist), 0.0 if the first ring
    is already below.

    Parameters
    ----------
    frequency, frc : array_like, shape (rings,)
        From :func:`fourier_ring_correlation`.
    threshold : float

    Returns
    -------
    float
    """
    f = np.asarray(frequency, dtype=np.float64)
    c = np.asarray(frc, dtype=np.float64)
    below = np.flatnonzero(c < threshold)
    if below.size == 0:
        return 1.0
    i = int(below[0])
    if i == 0:
        return 0.0
    c0, c1 = c[i - 1], c[i]
    t = (c0 - threshold) / (c0 - c1) if c0 != c1 else 0.0
    return float(f[i - 1] + t * (f[i] - f[i - 1]))
