"""The model grid: how a sinogram is laid out and scaled for the networks.

Both are the same at training and inference, so they live here, below the
training code and the deep methods that both use them.

Normalisation
-------------
Each sample is scaled by one number computed from its **measured** rows only,
so inference on a real missing-wedge sinogram can do exactly the same:

``s = sinogram_scale(sino, measured)``
    the mean, over the measured rows, of each row's maximum (the peak line
    integral, in detector-pixel units). Noise at the library's doses biases it
    by a few percent at most; an empty sinogram gets ``s = 1``.

* Sinograms (stage 1 input and target) are divided by ``s``: their values are
  of order 1 whatever the object's attenuation or the dose.
* Images (stage 2 input, target and output; ground truths) are divided by
  ``image_scale(s, n_det) = s / n_det``, i.e. a reconstruction of the
  normalised sinogram times ``n_det``: an object filling the field with value
  ``v`` maps to about 1.

Row layout (the model's angular grid)
-------------------------------------
The library's rows are re-ordered into the half turn centred on the missing
wedge (:func:`centered_layout`, :func:`to_layout`): since ``p(φ + 180°, t) =
p(φ, -t)`` this is the same data on the grid θ = φ + 180 k, and the missing
rows form one band in the middle of the sinogram with measured rows on both
sides. :func:`mirror_permutation` is the row permutation of the angle mirror
θ -> -θ (the geometry-preserving flips of :mod:`tomoinpaint.train.datasets`).
"""

from __future__ import annotations

import numpy as np

from ..geometry import missing_wedge, validate_angles

__all__ = ["sinogram_scale", "image_scale", "mirror_permutation", "centered_layout", "to_layout"]


def sinogram_scale(sino, measured) -> np.ndarray | float:
    """Normalisation scale from the measured rows only.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (B, n_angles, n_det)
        Sinogram(s); values on missing rows are ignored.
    measured : array_like of bool, shape (n_angles,)
        True on measured rows.

    Returns
    -------
    float or numpy.ndarray of shape (B,)
        Mean over measured rows of the row maximum; 1.0 where that is not a
        positive finite number (e.g. an empty sinogram).
    """
    s = np.asarray(sino, dtype=np.float64)
    m = np.asarray(measured, dtype=bool)
    if s.ndim not in (2, 3) or m.ndim != 1 or s.shape[-2] != m.size:
        raise ValueError(
            f"sino {s.shape} and measured {m.shape} do not match: need (…, n_angles, n_det) "
            f"and (n_angles,)"
        )
    if not m.any():
        raise ValueError("measured has no True row")
    scale = s[..., m, :].max(axis=-1).mean(axis=-1)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return float(scale) if s.ndim == 2 else scale


def image_scale(sino_scale, n_det: int):
    """The image-domain scale belonging to a sinogram scale: ``sino_scale / n_det``."""
    return sino_scale / float(n_det)


def mirror_permutation(angles_deg) -> tuple[np.ndarray, np.ndarray] | None:
    """Row permutation of the angle mirror θ -> -θ, or None if the grid lacks it.

    Returns
    -------
    perm : numpy.ndarray of int, shape (n_angles,)
        New row ``i`` is old row ``perm[i]`` (the row of ``-angles[i]`` mod 180°).
    det_flip : numpy.ndarray of bool, shape (n_angles,)
        Rows that wrap around by 180° and so are also flipped on the detector.
    """
    a = validate_angles(angles_deg)
    perm = np.empty(a.size, dtype=np.int64)
    det_flip = np.zeros(a.size, dtype=bool)
    for i, t in enumerate(a):
        d = np.mod(a + t + 180.0, 360.0) - 180.0  # a_j - (-t), wrapped to [-180, 180)
        exact = np.flatnonzero(np.abs(d) < 1e-6)
        if exact.size:
            perm[i] = exact[0]
            continue
        wrapped = np.flatnonzero(np.abs(np.abs(d) - 180.0) < 1e-6)
        if not wrapped.size:
            return None
        perm[i], det_flip[i] = wrapped[0], True
    return perm, det_flip


def centered_layout(angles_deg, measured) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Re-order a grid into the half turn centred on its missing wedge.

    Every angle φ becomes ``θ = φ + 180 k`` in ``[c - 90, c + 90)``, with ``c``
    the centre of the largest gap of the measured angles (mod 180°); since
    ``p(φ + 180°, t) = p(φ, -t)``, a row moved by an odd ``k`` is flipped on
    the detector. Rows are then sorted by θ, so the missing rows form one band
    in the middle.

    Parameters
    ----------
    angles_deg : array_like (n_angles,)
        The library's grid, degrees (distinct mod 180°).
    measured : array_like of bool (n_angles,)

    Returns
    -------
    angles : numpy.ndarray (n_angles,)
        The model grid θ, increasing.
    perm : numpy.ndarray of int (n_angles,)
        Model row ``i`` is library row ``perm[i]`` ...
    det_flip : numpy.ndarray of bool (n_angles,)
        ... flipped on the detector where ``det_flip[i]``.

    Examples
    --------
    Tilts -67.5…67.5° on -90…88.5° at 1.5° give the grid 0…178.5° with rows
    69…111° missing (the library's -90…-69° rows, flipped, and 69…88.5°).
    """
    a = validate_angles(angles_deg)
    m = np.asarray(measured, dtype=bool)
    if m.shape != a.shape or not m.any():
        raise ValueError("measured must be a boolean mask of the angles with a True entry")
    start, stop, _ = missing_wedge(a[m])
    lo = 0.5 * (start + stop) - 90.0
    k = np.floor((a - lo) / 180.0 + 1e-9)
    theta = np.round(a - 180.0 * k, 9)
    perm = np.argsort(theta, kind="stable")
    if np.unique(np.round(theta, 6)).size != a.size:
        raise ValueError("the angles are not distinct mod 180 degrees")
    return theta[perm], perm, (k[perm].astype(np.int64) % 2 == 1)


def to_layout(sino: np.ndarray, perm: np.ndarray, det_flip: np.ndarray) -> np.ndarray:
    """Rows of sinogram(s) (..., n_angles, n_det) in the order of :func:`centered_layout`."""
    out = np.asarray(sino)[..., perm, :].copy()
    out[..., det_flip, :] = out[..., det_flip, ::-1]
    return out
