"""Measurement noise on sinograms: Beer–Lambert Poisson dose, Gaussian.

The dose model is the one of ``BENCHMARKS.md`` ("Dose"):

* counts ~ Poisson(I0 · exp(−μ · p)), with ``p`` the line integral in
  detector-pixel units (the sinogram) and ``I0`` the incident photons
  (electrons) per detector pixel;
* μ is scaled so the most attenuating ray keeps 35 % of I0:
  ``μ = −ln(0.35) / max(p)``;
* data = −log(counts / I0) / μ, back in the units of ``p``.

Zero-count floor: a ray can record 0 counts, whose logarithm is undefined;
counts are floored at 1 before the logarithm, i.e.
``data = −log(max(counts, 1) / I0) / μ``, which caps the data at
``ln(I0) / μ``. With the 35 % rule the expected count is at least
``0.35 · I0`` (700 at the "low" dose), so the floor practically never acts.
"""

from __future__ import annotations

import logging
import numbers

import numpy as np

from ._util import as_rng

__all__ = [
    "DOSE_LEVELS",
    "TRANSMISSION_AT_MAX",
    "resolve_dose",
    "dose_mu",
    "poisson_dose",
    "gaussian_noise",
]

log = logging.getLogger(__name__)

#: Named dose levels: incident counts I0 per detector pixel (None = noise-free).
DOSE_LEVELS: dict[str, int | None] = {
    "noise-free": None,
    "moderate": 20000,
    "low": 2000,
    "very-low": 1000,
}
#: Fraction of I0 that the most attenuating ray keeps.
TRANSMISSION_AT_MAX = 0.35


def resolve_dose(dose) -> float | None:
    """Turn a dose (name, I0 or None) into I0 or None (noise-free).

    Parameters
    ----------
    dose : None, str or number
        ``None`` or ``"noise-free"``; a name of :data:`DOSE_LEVELS`; or I0 > 0.

    Returns
    -------
    float or None
    """
    if dose is None:
        return None
    if isinstance(dose, str):
        if dose not in DOSE_LEVELS:
            raise ValueError(
                f"unknown dose {dose!r}; choose from {', '.join(DOSE_LEVELS)} or give I0"
            )
        v = DOSE_LEVELS[dose]
        return None if v is None else float(v)
    if isinstance(dose, bool) or not isinstance(dose, numbers.Real):
        raise ValueError(f"dose must be None, a name or a number I0, got {dose!r}")
    if not np.isfinite(dose) or dose <= 0:
        raise ValueError(f"dose I0 must be a finite number > 0, got {dose}")
    return float(dose)


def _check_sino(sino) -> np.ndarray:
    s = np.asarray(sino)
    if s.ndim < 2:
        raise ValueError(f"sinogram must be at least 2-D (n_angles, n_det), got shape {s.shape}")
    s = s.astype(np.float64)
    if not np.isfinite(s).all():
        raise ValueError("sinogram contains NaN or Inf values")
    return s


def dose_mu(sino) -> float:
    """The μ of the 35 % rule: ``−ln(0.35) / max(p)``.

    Parameters
    ----------
    sino : array_like, shape (..., n_angles, n_det)
        Line integrals; the maximum is taken over the whole array.

    Returns
    -------
    float
    """
    s = _check_sino(sino)
    pmax = float(s.max())
    if pmax <= 0:
        raise ValueError(
            f"sinogram maximum is {pmax}; the 35 % rule needs a positive line "
            "integral (pass mu explicitly)"
        )
    return -np.log(TRANSMISSION_AT_MAX) / pmax


def poisson_dose(sino, I0, rng, *, mu: float | None = None, return_mu: bool = False):
    """Beer–Lambert Poisson noise at incident dose ``I0``.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (..., n_angles, n_det)
        Noise-free line integrals ``p`` in detector-pixel units. A stack (a
        tilt series) shares one μ, from its overall maximum.
    I0 : float, str or None
        Incident counts per detector pixel, or a name of :data:`DOSE_LEVELS`;
        None / "noise-free" returns a float32 copy.
    rng : numpy.random.Generator or int
    mu : float, optional
        Attenuation scale; default the 35 % rule (:func:`dose_mu`).
    return_mu : bool
        Also return the μ used (None when noise-free).

    Returns
    -------
    data : numpy.ndarray, same shape, float32
        ``−log(max(counts, 1) / I0) / μ`` (see the module notes on the floor).
    mu : float or None
        Only with ``return_mu``.
    """
    s = _check_sino(sino)
    i0 = resolve_dose(I0)
    if i0 is None:
        out = s.astype(np.float32)
        return (out, None) if return_mu else out
    rng = as_rng(rng)
    if mu is None:
        mu = dose_mu(s)
    elif not np.isfinite(mu) or mu <= 0:
        raise ValueError(f"mu must be a finite number > 0, got {mu}")
    counts = rng.poisson(i0 * np.exp(-mu * s))
    out = (-np.log(np.maximum(counts, 1) / i0) / mu).astype(np.float32)
    return (out, float(mu)) if return_mu else out


def gaussian_noise(sino, sigma: float, rng, *, relative: bool = False) -> np.ndarray:
    """Additive white Gaussian noise.

    Parameters
    ----------
    sino : array_like, shape (..., n_angles, n_det)
    sigma : float
        Standard deviation, in sinogram units (or relative to the sinogram's
        maximum absolute value with ``relative=True``), >= 0.
    rng : numpy.random.Generator or int
    relative : bool

    Returns
    -------
    numpy.ndarray, same shape, float32
    """
    s = _check_sino(sino)
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, numbers.Real)
        or not np.isfinite(sigma)
        or sigma < 0
    ):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    rng = as_rng(rng)
    scale = float(sigma) * (float(np.abs(s).max()) if relative else 1.0)
    return (s + rng.normal(0.0, 1.0, s.shape) * scale).astype(np.float32)
