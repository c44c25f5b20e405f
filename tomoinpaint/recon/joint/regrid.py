"""Moving sinograms onto the model grid and images back to the input's size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.transform import resize, rotate

from ...geometry import arc_positions, missing_wedge, validate_angles
from ..common import as_geometry
from .model import JointModel

__all__ = [
    "as_stack",
    "GridData",
    "prepare",
    "to_model_grid",
    "unwrap_at_wedge",
    "resample_detector",
    "resize_images",
    "to_input_units",
    "detector_blur",
    "rotate_slices",
    "wedge_alignment",
]


def _resize(x: np.ndarray, tail: tuple[int, ...]) -> np.ndarray:
    """Resample the last ``len(tail)`` axes of ``x`` to ``tail``, keeping values.

    Linear interpolation on pixel centres (:func:`skimage.transform.resize`),
    smoothed against aliasing when shrinking; leading axes are kept as they are.
    """

    x = np.asarray(x, dtype=np.float32)
    head = x.shape[: x.ndim - len(tail)]
    if x.shape[len(head) :] == tuple(tail):
        return x.copy()
    flat = x.reshape((-1,) + x.shape[len(head) :])
    out = resize(
        flat,
        (flat.shape[0],) + tuple(tail),
        order=1,
        mode="edge",
        anti_aliasing=tail[-1] < x.shape[-1],
        preserve_range=True,
    )
    return out.astype(np.float32).reshape(head + tuple(tail))


def resample_detector(sino: np.ndarray, n: int) -> np.ndarray:
    """Resample the last axis (detector) of ``sino`` to ``n`` pixels, keeping values.

    Linear interpolation on pixel centres; when shrinking, the data are first
    smoothed against aliasing (:func:`skimage.transform.resize`).

    Parameters
    ----------
    sino : numpy.ndarray, shape (..., n_det)
    n : int

    Returns
    -------
    numpy.ndarray, float32, shape (..., n)
    """
    return _resize(sino, (n,))


def resize_images(images: np.ndarray, n: int) -> np.ndarray:
    """(..., m, m) -> (..., n, n), values kept (bilinear; smoothed when shrinking)."""
    return _resize(images, (n, n))


def unwrap_at_wedge(angles_deg) -> tuple[np.ndarray, np.ndarray]:
    """The same projections as one contiguous arc that ends where the missing wedge begins.

    A parallel projection at ``θ + 180°`` is the one at ``θ`` mirrored on the
    detector, so a scan's angles can be shifted by multiples of 180° without
    changing what was measured. Shifted so that the largest gap modulo 180°
    (:func:`~tomoinpaint.geometry.missing_wedge`) lies outside the sorted
    range, a 0–180° scan with a block dropped from its middle has its gap
    where a tilt series −67.5…67.5° has it, and "inside the tilt range"
    means measured for both.

    Parameters
    ----------
    angles_deg : numpy.ndarray, shape (n_angles,)

    Returns
    -------
    angles : numpy.ndarray, shape (n_angles,)
        ``angles_deg + 180 k``, each ``k`` an integer (in the input's order).
    mirrored : numpy.ndarray of bool, shape (n_angles,)
        Where ``k`` is odd: that projection must be mirrored on the detector.
    """
    a = np.asarray(angles_deg, dtype=np.float64)
    if a.size < 2:
        return a.copy(), np.zeros(a.size, dtype=bool)
    _, stop, _ = missing_wedge(a)
    # the measured arc, from the gap's far edge (stop) round to its near edge
    arc = arc_positions(a)
    k = np.round((stop + arc - a) / 180.0).astype(int)
    # angles already on one arc (a tilt series -60...60) are left as they are
    k -= int(np.round(np.median(k)))
    return a + 180.0 * k, k % 2 == 1


def _merge_repeats(a: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted angles with each repeat (a 360° scan's θ and θ + 180°, unwrapped) averaged."""
    uniq, inverse, counts = np.unique(np.round(a, 6), return_inverse=True, return_counts=True)
    if uniq.size == a.size:
        return a, s
    summed = np.zeros(s.shape[:-2] + (uniq.size, s.shape[-1]), dtype=np.float32)
    np.add.at(summed, (..., inverse, slice(None)), s)
    return uniq, summed / counts[:, None].astype(np.float32)


def to_model_grid(sino, angles_deg, grid_deg, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Move sinogram(s) onto a model's angular grid and detector width.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
        Measured tilt angles, degrees, any order and spacing.
    grid_deg : array_like, shape (n_grid,)
        The model's grid (a half turn, degrees).
    n : int
        The model's detector width.

    Returns
    -------
    grid_sino : numpy.ndarray, float32, shape (n_grid, n) or (n_slices, n_grid, n)
        Line integrals in model-pixel units (input / ``factor``); zero on
        rows outside the measured range.
    covered : numpy.ndarray of bool, shape (n_grid,)
        Grid rows inside the measured tilt range (the others are missing).
    factor : float
        ``n_det / n``: model pixel size in input pixels.
    """
    a = validate_angles(angles_deg)
    s = np.asarray(sino, dtype=np.float32)
    if s.ndim not in (2, 3) or s.shape[-2] != a.size:
        raise ValueError(
            f"sinogram of shape {s.shape} does not match {a.size} angles: need "
            "(n_angles, n_det) or (n_slices, n_angles, n_det)"
        )
    a, flip = unwrap_at_wedge(a)
    order = np.argsort(a)
    a = a[order]
    factor = s.shape[-1] / float(n)
    if flip.any():  # a projection turned by 180°: mirrored (a tilt series has none)
        s = np.where(flip[:, None], s[..., ::-1], s)
    s = resample_detector(s[..., order, :], n) / np.float32(factor)
    a, s = _merge_repeats(a, s)
    # Half a typical step of slack at both ends of the tilt range.
    tol = 0.5 * float(np.median(np.diff(a))) if a.size > 1 else 0.0
    tol += 1e-6
    grid = np.asarray(grid_deg, dtype=np.float64)
    out = np.zeros(s.shape[:-2] + (grid.size, n), dtype=np.float32)
    covered = np.zeros(grid.size, dtype=bool)
    for j, theta in enumerate(grid):
        for m in (0, 1, -1, 2, -2):
            phi = theta - 180.0 * m
            if a[0] - tol <= phi <= a[-1] + tol:
                break
        else:
            continue
        phi = float(np.clip(phi, a[0], a[-1]))
        k = int(np.clip(np.searchsorted(a, phi), 1, max(a.size - 1, 1)))
        if a.size == 1:
            row = s[..., 0, :]
        else:
            t = (phi - a[k - 1]) / (a[k] - a[k - 1])
            row = (1.0 - t) * s[..., k - 1, :] + t * s[..., k, :]
        out[..., j, :] = row[..., ::-1] if m % 2 else row
        covered[j] = True
    if not covered.any():
        raise ValueError("no angle of the model grid lies within the measured tilt range")
    return out, covered, factor


@dataclass
class GridData:
    """Intermediate results of the pipeline for a stack of slices."""

    grid_sino: np.ndarray  # (B, n_grid, n) model units, measured rows only
    covered: np.ndarray  # (n_grid,)
    factor: float
    full: np.ndarray | None = None  # (B, n_grid, n) inpainted


def prepare(m: JointModel, s: np.ndarray, angles, n: int | None = None) -> GridData:
    """The data on the model grid, at ``n`` detector pixels (default: the model's)."""
    grid_sino, covered, factor = to_model_grid(s, angles, m.angles_deg, m.n if n is None else n)
    return GridData(grid_sino, covered, factor)


def to_input_units(rows: np.ndarray, st: GridData, n_det: int) -> np.ndarray:
    """Model-grid projections (..., n) -> the input's detector width and units."""
    return resample_detector(rows, n_det) * np.float32(st.factor)


def detector_blur(n_det: int, n: int) -> np.ndarray:
    """Matrix of resampling a row to ``n`` pixels and back: ``row @ M``, shape (n_det, n_det)."""
    return resample_detector(resample_detector(np.eye(n_det, dtype=np.float32), n), n_det)


def as_stack(sino, angles_deg):
    """(geometry, sinograms with a leading slice axis, whether the input was one slice)."""
    geom = as_geometry(angles_deg, sino)
    s = geom.check_sinogram(sino)
    return geom, (s[None] if s.ndim == 2 else s), s.ndim == 2


def rotate_slices(images: np.ndarray, phi_deg: float) -> np.ndarray:
    """Rotate ``(..., n, n)`` images by ``phi_deg`` about their centre (bilinear).

    The sense is that of the projection angles: the projection of the
    rotated image at ``θ + phi_deg`` is the original's at ``θ``.
    """
    x = np.asarray(images, dtype=np.float32)
    flat = x.reshape(-1, *x.shape[-2:])
    out = [rotate(im, phi_deg, order=1, preserve_range=True, mode="constant") for im in flat]
    return np.asarray(out, dtype=np.float32).reshape(x.shape)


def wedge_alignment(m: JointModel, angles_deg) -> float:
    """Degrees to add to ``angles_deg`` so that their missing wedge lies where training put it.

    A parallel-beam series at angles ``θ + δ`` is the series of the object
    rotated by ``δ`` (:func:`rotate_slices`), so relabelling the angles
    turns a wedge centred anywhere (an asymmetric tilt range, a block of
    projections missing from a 0–180° scan) into the one the networks were
    trained on, whose artefacts they know: the wedge of
    ``m.angles_deg[m.trained_measured]``. 0 when the centres already agree
    within half a grid step.

    Returns
    -------
    float
        ``δ`` in (-90, 90].
    """
    start, stop, _ = missing_wedge(angles_deg)
    t_start, t_stop, _ = missing_wedge(m.angles_deg[m.trained_measured])
    delta = 0.5 * (t_start + t_stop) - 0.5 * (start + stop)
    delta = float(-np.mod(-delta + 90.0, 180.0) + 90.0)  # into (-90, 90]
    step = float(np.median(np.diff(m.angles_deg)))
    return 0.0 if abs(delta) < 0.5 * step else delta
