"""Helpers shared by the reconstruction algorithms."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..geometry import Geometry

__all__ = ["as_geometry", "per_slice", "check_positive_int", "check_fraction"]


def as_geometry(angles_deg, sino) -> Geometry:
    """Geometry for ``sino`` (2-D or 3-D) with the given angles.

    Raises
    ------
    ValueError
        If ``sino`` is not 2-D or 3-D, or (via :meth:`Geometry.check_sinogram`
        later) does not match the angles.
    """
    shape = np.shape(sino)
    if len(shape) not in (2, 3):
        raise ValueError(
            "sinogram must be 2-D (n_angles, n_det) or 3-D (n_slices, n_angles, n_det), "
            f"got shape {shape}"
        )
    return Geometry(angles_deg, shape[-1])


def per_slice(fn: Callable[[np.ndarray], np.ndarray], data: np.ndarray) -> np.ndarray:
    """Apply ``fn`` to a 2-D array, or to each slice of a 3-D stack."""
    if data.ndim == 2:
        return fn(data)
    return np.stack([fn(x) for x in data])


def check_positive_int(value, name: str) -> int:
    """``value`` as an int >= 1, or ValueError naming it."""
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_fraction(value, name: str, *, upper: float = 2.0) -> float:
    """``value`` as a float in (0, upper], or ValueError naming it."""
    v = float(value)
    if not (0.0 < v <= upper):
        raise ValueError(f"{name} must be in (0, {upper}], got {value}")
    return v
