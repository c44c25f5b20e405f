"""Which Fourier directions of a slice a tilt scheme measured, and a loss restricted to them.

By the Fourier slice theorem a parallel projection at angle θ measures the
slice's 2D Fourier transform along one line through the origin. In this
project's (ASTRA's) convention that line runs along ``(cos θ, -sin θ)`` in
(column, row) frequency coordinates: the projection at 0° sees intensity
varying along the columns, at 90° along the rows. A tilt scheme measures
the directions within half a tilt step of a measured angle (modulo 180°);
the rest is the missing wedge.
"""

from __future__ import annotations

import numpy as np
import torch

from ..geometry import validate_angles
from ..recon.joint.steps import nearest_gap

__all__ = ["direction_angles", "measured_direction_mask", "masked_fourier_loss"]


def direction_angles(n: int) -> np.ndarray:
    """The projection angle that measures each frequency of an ``n x n`` FFT.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        Degrees in [0, 180), in :func:`numpy.fft.fft2` layout; ``nan`` at the
        zero frequency (every projection measures it).
    """
    f = np.fft.fftfreq(int(n))
    f_row, f_col = f[:, None], f[None, :]
    theta = np.mod(np.degrees(np.arctan2(-f_row, f_col)), 180.0)
    theta = np.broadcast_to(theta, (n, n)).copy()
    theta[0, 0] = np.nan
    return theta


def measured_direction_mask(n: int, angles_deg) -> np.ndarray:
    """Frequencies of an ``n x n`` slice that projections at ``angles_deg`` measure.

    Parameters
    ----------
    n : int
    angles_deg : array_like, shape (n_angles,)

    Returns
    -------
    numpy.ndarray of bool, shape (n, n)
        :func:`numpy.fft.fft2` layout; True within half the median tilt step
        of a measured angle (mod 180°), and at the zero frequency.
    """
    a = np.mod(validate_angles(angles_deg), 180.0)
    s = np.sort(a)
    gaps = np.diff(np.concatenate([s, [s[0] + 180.0]]))
    step = float(np.median(gaps)) if a.size > 1 else 0.0
    theta = direction_angles(n)
    mask = np.ones((n, n), dtype=bool)
    finite = np.isfinite(theta)
    gap = nearest_gap(theta[finite], a, 180.0)
    mask[finite] = gap <= 0.5 * step + 1e-6
    return mask


def masked_fourier_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
    """Mean squared difference over the measured Fourier coefficients only.

    Parameters
    ----------
    pred, target : torch.Tensor, shape (B, n, n)
    mask : torch.Tensor of bool, shape (B, n, n) or (n, n)
        :func:`measured_direction_mask` of each target.

    Returns
    -------
    torch.Tensor
        A scalar: ``sum(|FFT(pred - target)|^2 over mask) / count(mask)``
        (orthonormal FFT, so the unmasked sum would be the pixel-domain sum of
        squares). Changes of ``pred`` outside the mask leave it unchanged.
    """
    diff = torch.fft.fft2(pred - target, norm="ortho")
    m = mask.to(diff.real.dtype).expand_as(diff.real)
    return (diff.abs() ** 2 * m).sum() / m.sum().clamp_min(1.0)
