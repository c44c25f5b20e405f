"""Image augmentation of the training library (Ding et al. 2019, Table 1).

Small composable functions ``op(image, rng, **options) -> image`` on square
``(n, n)`` float32 images: pad/resize, random rotation, random flip, random
affine and random noise, and :func:`augment` that chains them.

Every geometric op works about the image centre and, by default, maps the
reconstruction circle (the inscribed disk) into itself, so an object inside
the field of view stays inside it; the output is zero outside the disk.
Interpolation is linear, so non-negative images stay non-negative.

Per family, the paper's table ticks (our reading, left-aligned columns):
natural images — pad/resize, rotation; random shapes — pad/resize, rotation,
flip; CT — all five. :data:`FAMILY_OPS` holds this.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.ndimage import affine_transform

from ._util import as_rng, check_image, circle_mask

__all__ = [
    "pad_resize",
    "random_rotation",
    "random_flip",
    "random_affine",
    "random_noise",
    "affine_warp",
    "augment",
    "AUGMENTATIONS",
    "DEFAULT_OPS",
    "FAMILY_OPS",
]

log = logging.getLogger(__name__)


def _finish(img: np.ndarray) -> np.ndarray:
    out = np.clip(img, 0.0, None) * circle_mask(img.shape[0])
    return out.astype(np.float32)


def affine_warp(image, matrix, shift=(0.0, 0.0)) -> np.ndarray:
    """Apply ``p_out = matrix @ p_in + shift`` about the image centre.

    Parameters
    ----------
    image : array_like, shape (n, n)
    matrix : array_like, shape (2, 2)
        Linear part in normalized ``(x, y)`` coordinates (the field of view is
        ``[-1, 1]²``; ``x`` along columns, ``y`` along rows). Must be
        invertible.
    shift : (float, float)
        Translation ``(x, y)`` in normalized units.

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
        Linear interpolation, zero where the source is outside the image;
        not masked.
    """
    img = check_image(image)
    A = np.asarray(matrix, dtype=np.float64)
    t = np.asarray(shift, dtype=np.float64)
    if A.shape != (2, 2) or not np.isfinite(A).all():
        raise ValueError(f"matrix must be a finite 2x2 array, got shape {A.shape}")
    if t.shape != (2,) or not np.isfinite(t).all():
        raise ValueError(f"shift must be two finite numbers, got {shift!r}")
    if abs(np.linalg.det(A)) < 1e-8:
        raise ValueError("matrix is singular")
    n = img.shape[0]
    # (x, y) -> (row, col) = (y, x) order
    P = np.array([[0.0, 1.0], [1.0, 0.0]])
    B = np.linalg.inv(P @ A @ P)
    tr = P @ t
    c0 = (1.0 - n) / n
    offset = n / 2.0 * (B @ (np.full(2, c0) - tr) - c0)
    out = affine_transform(
        img.astype(np.float64), B, offset=offset, order=1, mode="constant", cval=0.0
    )
    return out.astype(np.float32)


def _rot(theta_deg: float) -> np.ndarray:
    t = np.deg2rad(theta_deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _shift_in_disk(rng: np.random.Generator, max_r: float) -> np.ndarray:
    r = max(0.0, max_r) * np.sqrt(rng.uniform())
    phi = rng.uniform(0, 2 * np.pi)
    return np.array([r * np.cos(phi), r * np.sin(phi)])


def pad_resize(image, rng, *, scale_range=(0.6, 1.0)) -> np.ndarray:
    """Shrink the content (pad, then resize back to ``n``) and shift it.

    Parameters
    ----------
    image : array_like, shape (n, n)
    rng : numpy.random.Generator or int
    scale_range : (float, float)
        Range of the shrink factor, within (0, 1]. The content is moved by a
        random shift that keeps the disk inside the disk.

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
    """
    img = check_image(image)
    rng = as_rng(rng)
    lo, hi = float(scale_range[0]), float(scale_range[1])
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"scale_range must satisfy 0 < low <= high <= 1, got {scale_range!r}")
    s = rng.uniform(lo, hi)
    t = _shift_in_disk(rng, 1.0 - s)
    return _finish(affine_warp(img, s * np.eye(2), t))


def random_rotation(image, rng, *, angle_range=(0.0, 360.0)) -> np.ndarray:
    """Rotate about the centre by a random angle.

    Parameters
    ----------
    image : array_like, shape (n, n)
    rng : numpy.random.Generator or int
    angle_range : (float, float)
        Degrees.

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
    """
    img = check_image(image)
    rng = as_rng(rng)
    lo, hi = float(angle_range[0]), float(angle_range[1])
    if not hi >= lo:
        raise ValueError(f"angle_range must be (low, high) with high >= low, got {angle_range!r}")
    return _finish(affine_warp(img, _rot(rng.uniform(lo, hi))))


def random_flip(image, rng, *, p: float = 0.5) -> np.ndarray:
    """Flip left-right and/or up-down, each with probability ``p``.

    Parameters
    ----------
    image : array_like, shape (n, n)
    rng : numpy.random.Generator or int
    p : float

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
    """
    img = check_image(image)
    rng = as_rng(rng)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    lr, ud = rng.uniform(size=2) < p
    if lr:
        img = img[:, ::-1]
    if ud:
        img = img[::-1, :]
    return _finish(np.ascontiguousarray(img))


def random_affine(
    image,
    rng,
    *,
    scale_range=(0.8, 1.2),
    max_shear: float = 0.2,
    max_shift: float = 0.1,
    keep_inside: bool = True,
) -> np.ndarray:
    """A random affine map: rotation, anisotropic scale, shear and shift.

    Parameters
    ----------
    image : array_like, shape (n, n)
    rng : numpy.random.Generator or int
    scale_range : (float, float)
        Range of the scale along each of two axes (drawn independently).
    max_shear : float
        Largest shear factor.
    max_shift : float
        Largest shift, normalized units.
    keep_inside : bool
        Shrink the map (and limit the shift) so the reconstruction circle maps
        into itself: objects inside the field of view stay whole. Without it
        the result is only masked to the circle.

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
    """
    img = check_image(image)
    rng = as_rng(rng)
    lo, hi = float(scale_range[0]), float(scale_range[1])
    if not 0 < lo <= hi:
        raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range!r}")
    if not 0 <= max_shear < 1:
        raise ValueError(f"max_shear must be in [0, 1), got {max_shear}")
    if not 0 <= max_shift < 1:
        raise ValueError(f"max_shift must be in [0, 1), got {max_shift}")
    sx, sy = rng.uniform(lo, hi, size=2)
    shear = rng.uniform(-max_shear, max_shear)
    A = _rot(rng.uniform(0, 360)) @ np.diag([sx, sy]) @ np.array([[1.0, shear], [0.0, 1.0]])
    t = _shift_in_disk(rng, max_shift)
    if keep_inside:
        norm = float(np.linalg.norm(A, 2))
        if norm > 1.0:
            A = A / norm
            norm = 1.0
        tn = float(np.hypot(*t))
        if tn > 1.0 - norm:
            t = t * ((1.0 - norm) / tn)
    return _finish(affine_warp(img, A, t))


def random_noise(image, rng, *, sigma_range=(0.0, 0.05)) -> np.ndarray:
    """Add Gaussian noise with a random standard deviation.

    Parameters
    ----------
    image : array_like, shape (n, n)
    rng : numpy.random.Generator or int
    sigma_range : (float, float)
        Range of the standard deviation, relative to the image maximum.

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
        Clipped at 0 (attenuation is non-negative), zero outside the circle.
    """
    img = check_image(image)
    rng = as_rng(rng)
    lo, hi = float(sigma_range[0]), float(sigma_range[1])
    if not 0 <= lo <= hi:
        raise ValueError(f"sigma_range must satisfy 0 <= low <= high, got {sigma_range!r}")
    sigma = rng.uniform(lo, hi) * float(np.abs(img).max())
    return _finish(img + rng.normal(0.0, 1.0, img.shape) * sigma)


#: The augmentations by name, in the paper's order.
AUGMENTATIONS = {
    "pad_resize": pad_resize,
    "rotate": random_rotation,
    "flip": random_flip,
    "affine": random_affine,
    "noise": random_noise,
}
DEFAULT_OPS = tuple(AUGMENTATIONS)
#: Ops per image family (our reading of the paper's Table 1).
FAMILY_OPS = {
    "natural": ("pad_resize", "rotate"),
    "shapes": ("pad_resize", "rotate", "flip"),
    "ct": DEFAULT_OPS,
    "cellular": ("pad_resize", "rotate", "flip"),
}


def augment(image, rng, *, ops=DEFAULT_OPS, p: float = 0.5) -> np.ndarray:
    """Apply a chain of augmentations, each with probability ``p``.

    Parameters
    ----------
    image : array_like, shape (n, n)
    rng : numpy.random.Generator or int
    ops : sequence of str
        Names from :data:`AUGMENTATIONS`, applied in the given order.
    p : float
        Probability that each op is applied (drawn per op, so the random
        stream does not depend on the outcome).

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
    """
    img = check_image(image)
    rng = as_rng(rng)
    if isinstance(ops, str):
        ops = (ops,)
    bad = [o for o in ops if o not in AUGMENTATIONS]
    if bad:
        raise ValueError(f"unknown augmentation {bad[0]!r}; choose from {', '.join(AUGMENTATIONS)}")
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    for op in ops:
        apply = rng.uniform() < p
        # each op gets its own child stream so skipping one does not shift the others
        child = np.random.default_rng(rng.integers(2**63))
        if apply:
            img = AUGMENTATIONS[op](img, child)
    return img.astype(np.float32, copy=False)
