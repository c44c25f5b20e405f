"""Small shared helpers of :mod:`tomoinpaint.sim` (private)."""

from __future__ import annotations

import numbers

import numpy as np
from skimage.transform import downscale_local_mean

__all__ = ["as_rng", "check_size", "check_image", "block_mean", "grid_coords", "circle_mask"]


def as_rng(rng, *, name: str = "rng") -> np.random.Generator:
    """Turn a ``numpy.random.Generator`` or an integer seed into a Generator.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        An integer is used as the seed of ``numpy.random.default_rng``.

    Raises
    ------
    ValueError
        For anything else (``None`` included: all randomness is explicit).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"{name} seed must be non-negative, got {rng}")
        return np.random.default_rng(int(rng))
    raise ValueError(
        f"{name} must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}"
    )


def check_size(n, *, name: str = "n", minimum: int = 2) -> int:
    """Validate an image size and return it as ``int``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def check_image(image, *, name: str = "image") -> np.ndarray:
    """Validate a square 2-D finite image and return it as float32.

    Parameters
    ----------
    image : array_like, shape (n, n)

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
    """
    a = np.asarray(image)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square 2-D array (n, n), got shape {a.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"{name} must be at least 2x2, got shape {a.shape}")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    return a


def block_mean(image: np.ndarray, s: int) -> np.ndarray:
    """Mean over non-overlapping ``s x s`` blocks of the last two axes (scikit-image).

    Parameters
    ----------
    image : numpy.ndarray, shape (..., n*s, n*s)
    s : int

    Returns
    -------
    numpy.ndarray, shape (..., n, n), float32
    """
    a = np.asarray(image, dtype=np.float32)
    if s == 1:
        return a.copy()
    *lead, h, w = a.shape
    if h % s or w % s:
        raise ValueError(f"image shape {a.shape[-2:]} is not a multiple of supersample={s}")
    factors = (1,) * len(lead) + (s, s)
    return downscale_local_mean(a.astype(np.float64), factors).astype(np.float32)


def grid_coords(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalized pixel-centre coordinates of an ``(n, n)`` grid.

    The field of view is the square ``[-1, 1]²``; the inscribed disk (the
    reconstruction circle) has radius 1. ``x`` grows with the column index,
    ``y`` with the row index.

    Returns
    -------
    x, y : numpy.ndarray, shapes (1, n) and (n, 1), float64
    """
    c = (2.0 * np.arange(n) + 1.0 - n) / n
    return c[None, :], c[:, None]


def circle_mask(n: int, radius: float = 1.0) -> np.ndarray:
    """Boolean mask of the pixels whose centres lie in the disk of ``radius``.

    Parameters
    ----------
    n : int
    radius : float
        In units of the half field of view (1 = the inscribed circle).

    Returns
    -------
    numpy.ndarray of bool, shape (n, n)
    """
    n = check_size(n)
    if not 0 < radius <= 1:
        raise ValueError(
            f"radius must be in (0, 1] (fraction of the half field of view), got {radius}"
        )
    x, y = grid_coords(n)
    return x**2 + y**2 <= radius**2
