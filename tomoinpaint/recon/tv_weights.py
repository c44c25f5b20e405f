"""The TV weight and image scale of a sinogram: how strongly TV regularises it.

TV (:mod:`tomoinpaint.recon.tv`) normalises the data by the image scale ``s``
(99.5th percentile of a quick WBP, :func:`image_scale`) and the weight by the
operator norm, so the weight ``lam`` here is dimensionless.

Default weight (noise-adaptive)
-------------------------------
With ``weight="auto"`` the weight follows the noise level estimated from the
sinogram itself (:func:`estimate_noise`, relative to the image scale)::

    lam = max(TV_WEIGHT_FLOOR, TV_WEIGHT_PER_NOISE * sigma / s)

The two constants were fitted on validation data (shapes, natural images and
CT slices at 128², 45° wedge at 1.5° steps, noise-free and Beer–Lambert doses
I0 = 20,000 and 2,000, projected from a 2x finer grid) by
``benchmarks/tv_weight_calibration.py``: the best weight per image moved from
1e-5 to 3e-3 (300x) between noise-free and low-dose data; the rule came within
0.3 dB of that per-image oracle on average, a single fixed weight lost 1.1 dB.
See ``benchmarks/results/tv_weight_calibration.md``.
"""

from __future__ import annotations

import numpy as np

from ..geometry import angular_weights
from ..project import Projector
from ..stats import white_noise_std
from .common import as_geometry
from .filters import filter_sinogram

__all__ = [
    "TV_WEIGHT_FLOOR",
    "TV_WEIGHT_PER_NOISE",
    "estimate_noise",
    "auto_tv_weight",
    "default_weight",
    "relative_noise",
    "tv_weight_for_noise",
    "noise_level",
    "scale_and_weight",
    "image_scale",
]

#: Weight used on (nearly) noise-free data.
TV_WEIGHT_FLOOR = 1.8e-4
#: Weight per unit of relative noise standard deviation.
TV_WEIGHT_PER_NOISE = 1e-3


def estimate_noise(sino: np.ndarray, angles_deg=None) -> float:
    """Robust estimate of the noise standard deviation in a sinogram.

    Median absolute deviation of the second difference along the angles and
    along the detector, divided by sqrt(6) (the std of a second difference of
    unit white noise); the smaller of the two is returned, since true
    structure (edges, texture) can only inflate either estimate.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det)
    angles_deg : array_like, shape (n_angles,), optional
        The rows' tilt angles. Given, the rows are differenced in angle order,
        so the estimate does not depend on the order they were stored in
        (dose-symmetric tilt series are stored in acquisition order: 0°, +3°,
        -3°, +6°, ...). Without them the rows are taken as in angle order.

    Returns
    -------
    float
        Noise std in the units of ``sino`` (≈ 0 for noise-free data of
        piecewise-smooth objects).
    """
    s = np.asarray(sino, dtype=np.float64)
    if angles_deg is not None:
        # second differences of rows far apart in angle would measure the object, not the noise
        s = s[np.argsort(np.asarray(angles_deg, dtype=np.float64), kind="stable")]
    estimates = [e for e in (white_noise_std(s, 0), white_noise_std(s, 1)) if e is not None]
    return min(estimates) if estimates else 0.0


def auto_tv_weight(sino: np.ndarray, image_scale: float, angles_deg) -> float:
    """The default, noise-adaptive TV weight for one sinogram.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det)
    image_scale : float
        Typical image value (the scale the data is normalised by), in the
        units of the reconstruction.
    angles_deg : array_like, shape (n_angles,)
        The rows' tilt angles, in any order (:func:`estimate_noise`).

    Returns
    -------
    float
        Dimensionless weight ``lam = max(TV_WEIGHT_FLOOR, TV_WEIGHT_PER_NOISE *
        sigma / image_scale)``.
    """
    return tv_weight_for_noise(relative_noise(sino, image_scale, angles_deg))


def tv_weight_for_noise(noise: float) -> float:
    """The default TV weight of data of relative noise ``noise`` (:func:`relative_noise`).

    Returns
    -------
    float
        ``max(TV_WEIGHT_FLOOR, TV_WEIGHT_PER_NOISE * noise)``.
    """
    return float(max(TV_WEIGHT_FLOOR, TV_WEIGHT_PER_NOISE * noise))


def relative_noise(sino: np.ndarray, image_scale: float, angles_deg) -> float:
    """The noise of a sinogram relative to its image: :func:`estimate_noise` / ``image_scale``.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det)
    image_scale : float
        :func:`image_scale` of ``sino``.
    angles_deg : array_like, shape (n_angles,)
        The rows' tilt angles, in any order (:func:`estimate_noise`).

    Returns
    -------
    float
        0 for an empty sinogram (``image_scale`` 0).
    """
    if image_scale <= 0:
        return 0.0
    return float(estimate_noise(sino, angles_deg) / image_scale)


def noise_level(sino, angles_deg, *, device: str = "auto") -> float:
    """:func:`relative_noise` of one sinogram (what ``joint``'s prior weight follows).

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    float
    """
    return _of_one_sinogram(
        sino,
        angles_deg,
        device,
        lambda P, b: relative_noise(b, image_scale(P, b), P.geometry.angles_deg),
    )


def default_weight(sino, angles_deg, *, device: str = "auto") -> float:
    """The dimensionless weight ``lam`` that ``weight="auto"`` picks for one sinogram.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    float
    """
    return _of_one_sinogram(sino, angles_deg, device, lambda P, b: scale_and_weight(P, b)[1])


def _of_one_sinogram(sino, angles_deg, device: str, measure) -> float:
    """``measure(P, b)`` of one checked sinogram ``b`` with a projector ``P`` of its geometry."""
    geom = as_geometry(angles_deg, sino)
    b = geom.check_sinogram(sino)
    with Projector(geom, kernel="linear", device=device) as P:
        return measure(P, b)


def scale_and_weight(P: Projector, b: np.ndarray) -> tuple[float, float]:
    """Image scale and default weight of one sinogram: what TV regularises ``b`` with.

    A solver that works on the same object with another operator (e.g. the
    measured projections plus estimated ones) regularises as TV would on the
    measured data alone by passing these (``image_scale``, ``weight``) and the
    measured geometry's :func:`operator_norm` (``norm``) to :func:`tv_solve`
    (the TV term is ``lam * a^2 * s * TV(x)``).

    Parameters
    ----------
    P : Projector
        Of ``b``'s geometry.
    b : numpy.ndarray, shape (n_angles, n_det)

    Returns
    -------
    scale : float
        :func:`image_scale` (0 for an empty sinogram).
    weight : float
        :func:`auto_tv_weight` (``TV_WEIGHT_FLOOR`` when ``scale`` is 0).
    """
    scale = image_scale(P, b)
    return scale, auto_tv_weight(b, scale, P.geometry.angles_deg)  # 0 noise where scale is


def image_scale(P: Projector, b: np.ndarray) -> float | np.ndarray:
    """Typical image value of the reconstruction of ``b``: 99.5th percentile of a quick WBP.

    Parameters
    ----------
    P : Projector or MatrixProjector
        Of ``b``'s geometry.
    b : numpy.ndarray, shape (n_angles, n_det) or (n_slices, n_angles, n_det)

    Returns
    -------
    float, or numpy.ndarray of shape (n_slices,) for a stack
        In the units of the reconstruction (0 for an empty sinogram).
    """
    w_ang = angular_weights(P.geometry.angles_deg).astype(np.float32)[:, None]
    quick = P.back(filter_sinogram(b) * w_ang)
    if quick.ndim == 2:
        return float(np.percentile(np.abs(quick), 99.5))
    return np.percentile(np.abs(quick), 99.5, axis=(-2, -1))
