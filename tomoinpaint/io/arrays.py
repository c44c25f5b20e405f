"""Checks shared by the writers: real data types, stack shapes, voxel sizes."""

from __future__ import annotations

import numpy as np

__all__ = ["is_real_dtype", "as_float32_stack", "check_voxel_size"]


def is_real_dtype(dtype) -> bool:
    """Whether a dtype holds real numbers (bool, integers or floats).

    Parameters
    ----------
    dtype : numpy.dtype or dtype-like

    Returns
    -------
    bool
    """
    d = np.dtype(dtype)
    return d == np.bool_ or np.issubdtype(d, np.integer) or np.issubdtype(d, np.floating)


def as_float32_stack(data, what: str, *, allow_2d: bool = False) -> np.ndarray:
    """An array as a float32 stack of images.

    Parameters
    ----------
    data : array_like, shape (n, ny, nx), or (ny, nx) when ``allow_2d``
    what : str
        Name used in error messages ("volume", "tilt series" ...).
    allow_2d : bool
        Accept a single image and return it as ``(1, ny, nx)``.

    Returns
    -------
    numpy.ndarray, shape (n, ny, nx), float32

    Raises
    ------
    ValueError
        On a wrong number of dimensions or a non-real dtype.
    """
    a = np.asarray(data)
    if a.ndim == 2 and allow_2d:
        a = a[np.newaxis]
    if a.ndim != 3:
        raise ValueError(f"{what} must be 3-D, got shape {a.shape}")
    if not is_real_dtype(a.dtype):
        raise ValueError(f"{what} must be real numbers, got dtype {a.dtype}")
    return a.astype(np.float32, copy=False)


def check_voxel_size(voxel_size) -> float | None:
    """Validate a voxel size.

    Parameters
    ----------
    voxel_size : float or None
        Å per voxel; None means unknown.

    Returns
    -------
    float or None

    Raises
    ------
    ValueError
        If it is not a finite positive number.
    """
    if voxel_size is None:
        return None
    try:
        v = float(voxel_size)
    except (TypeError, ValueError):
        raise ValueError(f"voxel_size must be a positive number, got {voxel_size!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"voxel_size must be a positive number, got {voxel_size!r}")
    return v
