"""The preprocessing steps: normalise, minus-log, ring removal, rotation centre, re-centring.

Each step validates its input first (shape, finiteness, field shapes) and
works on projections ``(n_proj, ny, nx)``.
"""

from __future__ import annotations

import importlib
import logging
import numbers

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from .backends import RING_METHODS, _backend_module

__all__ = [
    "check_flat_dark",
    "normalize",
    "minus_log",
    "remove_rings",
    "ring_window",
    "check_ring_window",
    "find_center",
    "shift_to_center",
]

logger = logging.getLogger(__name__)

#: Ring removal shows a progress bar from this many sinograms on.
_PROGRESS_MIN_ROWS = 64
#: Detector columns per two pixels of the ring filter's default window (:func:`ring_window`).
_RING_WINDOW_COLUMNS = 200
#: algotom's remove_all_stripe: its large-stripe window over its small-stripe one (51 / 21).
_LARGE_OVER_SMALL = 51 / 21


# --------------------------------------------------------------------------- validation


def _as_real(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        return
    n_nan = int(np.count_nonzero(np.isnan(arr)))
    if n_nan:
        raise ValueError(f"{name} contains {n_nan} NaN value(s)")
    n_inf = int(np.count_nonzero(np.isinf(arr)))
    if n_inf:
        raise ValueError(f"{name} contains {n_inf} infinite value(s)")


def _validate_proj(proj, name: str = "proj") -> np.ndarray:
    arr = _as_real(proj, name)
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (n_proj, ny, nx), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    _check_finite(arr, name)
    return arr


def _validate_fields(fields, name: str, det_shape: tuple[int, int]) -> np.ndarray:
    """Validate flats/darks against the detector shape ``(ny, nx)``; return a 3-D stack."""
    arr = _as_real(fields, name)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n_{name.rstrip('s')}, ny, nx) or (ny, nx), "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} holds no frames (shape {arr.shape})")
    if arr.shape[1:] != tuple(det_shape):
        raise ValueError(
            f"{name} frames have shape {arr.shape[1:]} but the projections have "
            f"(ny, nx) = {tuple(det_shape)}"
        )
    _check_finite(arr, name)
    return arr


def _validate_angles(angles_deg, n_proj: int) -> np.ndarray:
    try:
        a = np.asarray(angles_deg, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"angles_deg must be numbers in degrees: {exc}") from None
    if a.ndim != 1:
        raise ValueError(f"angles_deg must be one-dimensional, got shape {a.shape}")
    if a.shape[0] != n_proj:
        raise ValueError(
            f"angles_deg has {a.shape[0]} angle(s) but proj has {n_proj} projection(s)"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError("angles_deg contains NaN or infinite values")
    return a


def _validate_center(center, nx: int) -> float:
    if isinstance(center, bool) or not isinstance(center, numbers.Real):
        raise ValueError(f"center must be a number (a column index), got {center!r}")
    c = float(center)
    if not np.isfinite(c) or not (0.0 <= c <= nx - 1):
        raise ValueError(f"center must lie on the detector, in [0, {nx - 1}], got {center!r}")
    return c


# --------------------------------------------------------------------------- steps


#: Above this fraction of detector pixels with flat <= dark, the fields are refused.
MAX_DEAD_FRACTION = 0.5


def check_flat_dark(flat_minus_dark: np.ndarray, source: str = "") -> None:
    """Refuse flat and dark fields that cannot be right (swapped, or equal).

    A few pixels with flat <= dark are dead pixels (floored by
    :func:`normalize`); more than :data:`MAX_DEAD_FRACTION` of the detector
    means the fields themselves are wrong, and normalising with them gives
    garbage.

    Parameters
    ----------
    flat_minus_dark : numpy.ndarray
        Mean flat minus mean dark, per detector pixel.
    source : str
        Where the fields come from, for the message.
    """
    frac = float(np.mean(flat_minus_dark <= 0)) if flat_minus_dark.size else 0.0
    if frac > MAX_DEAD_FRACTION:
        where = f" of {source}" if source else ""
        raise ValueError(
            f"the flat fields{where} are not brighter than the dark fields at {frac:.0%} of "
            "the detector pixels: flats and darks look swapped or equal"
        )


def normalize(proj, flats, darks=None, *, floor: float = 1e-6, clip_min: float = 1e-6):
    """Flat/dark-field correction.

    ``(proj - mean(darks)) / (mean(flats) - mean(darks))``, with the
    denominator floored at ``floor`` (dead pixels) and the result clipped below
    at ``clip_min`` so that :func:`minus_log` stays finite. The same for both
    backends (it is what ``tomopy.normalize`` computes, plus the clip).

    Parameters
    ----------
    proj : array_like, shape (n_proj, ny, nx)
        Raw projections (counts).
    flats : array_like, shape (n_flat, ny, nx) or (ny, nx)
        Flat (white) fields.
    darks : array_like, shape (n_dark, ny, nx) or (ny, nx), optional
        Dark fields; ``None`` means a zero dark current.
    floor : float
        Smallest allowed denominator ``mean(flats) - mean(darks)``.
    clip_min : float
        Smallest allowed output value (> 0).

    Returns
    -------
    numpy.ndarray, shape (n_proj, ny, nx), float32
        Transmission, ~1 where the beam is unobstructed.

    Raises
    ------
    ValueError
        On wrong dimensions, flats/darks whose frames do not match ``(ny, nx)``
        of ``proj``, NaN/inf values, or non-positive ``floor``/``clip_min``.
    """
    p = _validate_proj(proj)
    det = p.shape[1:]
    f = _validate_fields(flats, "flats", det)
    d = None if darks is None else _validate_fields(darks, "darks", det)
    if not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be a positive number, got {floor!r}")
    if not (np.isfinite(clip_min) and clip_min > 0):
        raise ValueError(f"clip_min must be a positive number, got {clip_min!r}")

    flat = f.mean(axis=0, dtype=np.float64)
    dark = np.zeros_like(flat) if d is None else d.mean(axis=0, dtype=np.float64)
    denom = flat - dark
    check_flat_dark(denom)
    n_floored = int(np.count_nonzero(denom < floor))
    if n_floored:
        logger.warning(
            "normalize: %d detector pixel(s) with flat - dark < %g (dead pixels); floored",
            n_floored,
            floor,
        )
    denom = np.maximum(denom, floor).astype(np.float32)
    out = p.astype(np.float32, copy=True)
    out -= dark.astype(np.float32)
    out /= denom
    n_clipped = int(np.count_nonzero(out < clip_min))
    if n_clipped:
        level = logging.WARNING if n_clipped > 0.001 * out.size else logging.DEBUG
        logger.log(level, "normalize: %d value(s) below %g clipped", n_clipped, clip_min)
    np.maximum(out, np.float32(clip_min), out=out)
    return out


def minus_log(proj):
    """Line integrals from transmission: ``-log(proj)``.

    Parameters
    ----------
    proj : array_like, shape (n_proj, ny, nx)
        Normalised projections (transmission), strictly positive, e.g. the
        output of :func:`normalize`.

    Returns
    -------
    numpy.ndarray, shape (n_proj, ny, nx), float32

    Raises
    ------
    ValueError
        On wrong dimensions, NaN/inf, or any value <= 0 (whose log is not
        finite); :func:`normalize` clips its output so this cannot happen.
    """
    p = _validate_proj(proj)
    n_bad = int(np.count_nonzero(p <= 0))
    if n_bad:
        raise ValueError(
            f"proj has {n_bad} value(s) <= 0 whose -log is not finite; "
            "normalise with prep.normalize (which clips) first"
        )
    out = p.astype(np.float32, copy=True)
    np.log(out, out=out)
    np.negative(out, out=out)
    return out


def ring_window(n_det: int) -> int:
    """The default window of the ring filter: about 1 % of the detector width, odd, at least 3.

    3 px up to 399 columns, 5 at 400-599, 7 at 640, 11 at 1024, 21 (algotom's
    fixed default) at 2048.

    Why: the sorting filter replaces each column's values, sorted over the
    angles, by the median of its neighbours' within the window, so it also
    flattens the object's own profile across as many columns. On held-out
    simulated slices at 128 and 256 px the fixed 21-px window cost TV 2.0 to
    13.0 dB, the 3 px of this rule at most 0.75 dB (noise-free; 0.12 at low
    dose). The tooth scan's own stripes, added to a simulated 640-px slice:
    21 px cost TV 0.34 dB against no filter, 7 px gained 0.05 (WBP +0.15 and
    +0.37; ``benchmarks/results/prep_rings_window.md``). Stripes narrow with
    binning as the detector does, so a window in proportion to the width
    still spans them.

    Parameters
    ----------
    n_det : int
        Detector width (columns) of the sinograms filtered.

    Returns
    -------
    int
    """
    return max(3, 2 * (int(n_det) // _RING_WINDOW_COLUMNS) + 1)


def check_ring_window(window) -> int | None:
    """``window`` if it is None or an odd whole number of at least 3; else a ValueError."""
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, numbers.Integral):
        raise ValueError(f"ring window must be an odd number of pixels, got {window!r}")
    if window < 3 or window % 2 == 0:
        even = " (even: a window needs a middle pixel)" if window % 2 == 0 else ""
        raise ValueError(
            f"ring window must be an odd number of pixels, at least 3, got {window}{even}"
        )
    return int(window)


def _window_options(method: str, window: int) -> dict:
    """The backend keywords that set ``method``'s window (the wavelet filter has none)."""
    if method == "sorting":
        return {"size": window}
    if method == "all":  # small and large stripes, in algotom's proportion
        return {"sm_size": window, "la_size": max(window, int(window * _LARGE_OVER_SMALL) | 1)}
    return {}


def remove_rings(
    proj, *, method: str = "sorting", backend: str = "auto", window: int | None = None, **kw
):
    """Remove stripe artefacts (rings in the reconstruction) in sinogram space.

    Parameters
    ----------
    proj : array_like, shape (n_proj, ny, nx)
        Projections, usually after :func:`minus_log`. Each sinogram
        ``proj[:, y, :]`` is corrected.
    method : {"sorting", "all", "fw"}
        ``"sorting"``: Vo's sorting-based filter
        (tomopy/algotom ``remove_stripe_based_sorting``);
        ``"all"``: Vo's combined method for all stripe types
        (``remove_all_stripe``);
        ``"fw"``: Münch's wavelet-Fourier filter (tomopy ``remove_stripe_fw``,
        algotom ``remove_stripe_based_wavelet_fft``).
    backend : {"auto", "tomopy", "algotom"}
        See :func:`backend`.
    window : int, optional
        The median window (detector pixels, odd, at least 3) of "sorting"
        and "all" (its small stripes; large ones get 51/21 of it); default
        :func:`ring_window` of the detector width. "fw" has none.
    **kw
        Passed to the backend function unchanged (names are backend-specific,
        e.g. ``size`` for sorting in both); they take precedence over ``window``.

    Returns
    -------
    numpy.ndarray, shape (n_proj, ny, nx), float32

    Raises
    ------
    ValueError
        On bad input, an unknown method, or an unavailable backend.
    """
    p = _validate_proj(proj)
    if method not in RING_METHODS:
        raise ValueError(f"method must be one of {sorted(RING_METHODS)}, got {method!r}")
    name, mod = _backend_module(backend)
    n_proj, ny, nx = p.shape
    window = check_ring_window(window) or ring_window(nx)
    kw = _window_options(method, window) | kw
    logger.info("remove_rings: method=%s backend=%s %s on %d sinogram(s)", method, name, kw, ny)
    if name == "tomopy":
        func = getattr(mod, RING_METHODS[method][0])
        out = func(np.array(p, dtype=np.float32, copy=True), **kw)
        return np.asarray(out, dtype=np.float32)

    removal = importlib.import_module("algotom.prep.removal")
    func = getattr(removal, RING_METHODS[method][1])
    out = np.empty(p.shape, dtype=np.float32)
    rows = tqdm(
        range(ny),
        desc="ring removal",
        unit="sino",
        disable=True if ny < _PROGRESS_MIN_ROWS else None,
        leave=False,
    )
    for y in rows:
        out[:, y, :] = func(np.asarray(p[:, y, :], dtype=np.float32), **kw)
    _check_finite(out, f"ring removal output (method {method!r})")
    return out


def _half_turn(angles: np.ndarray) -> tuple[np.ndarray, float]:
    """Indices of the angles (sorted) in ``[a_min, a_min + 180)``, and their span in degrees."""
    order = np.argsort(angles, kind="stable")
    a = angles[order]
    keep = order[(a - a[0]) < 180.0 - 1e-6]
    span = float(angles[keep[-1]] - angles[keep[0]])
    return keep, span


def find_center(proj, angles_deg, *, slice_index=None, backend: str = "auto", **kw) -> float:
    """Estimate the rotation centre with Vo's Fourier method.

    The projections are sorted by angle and only the first half turn
    ``[min(angles), min(angles) + 180°)`` is used, since the method expects a
    0–180° sinogram (360° scans are thus handled too). A coverage much smaller
    than 180° (limited-angle data) makes the estimate unreliable and is logged
    as a warning.

    Parameters
    ----------
    proj : array_like, shape (n_proj, ny, nx)
        Projections, preferably normalised and minus-logged.
    angles_deg : array_like, shape (n_proj,)
        Projection angles in degrees, in any order.
    slice_index : int, optional
        Detector row ``y`` whose sinogram is used; default the middle row
        ``ny // 2``.
    backend : {"auto", "tomopy", "algotom"}
        tomopy: ``tomopy.find_center_vo(proj, ind=slice_index, **kw)``;
        algotom: ``algotom.prep.calculation.find_center_vo(sinogram, **kw)``.
    **kw
        Passed to the backend function (e.g. algotom's ``start``/``stop``,
        tomopy's ``smin``/``smax``).

    Returns
    -------
    float
        Rotation-axis position as a column index in ``[0, nx - 1]``; the
        detector middle is ``(nx - 1) / 2``.

    Raises
    ------
    ValueError
        On bad input (shape, NaN, angle count, ``slice_index`` out of range),
        an unavailable backend, or a non-finite estimate.
    """
    p = _validate_proj(proj)
    n_proj, ny, nx = p.shape
    a = _validate_angles(angles_deg, n_proj)
    if slice_index is None:
        slice_index = ny // 2
    if isinstance(slice_index, bool) or not isinstance(slice_index, numbers.Integral):
        raise ValueError(f"slice_index must be an integer, got {slice_index!r}")
    if not 0 <= slice_index < ny:
        raise ValueError(f"slice_index must be in [0, {ny - 1}], got {slice_index}")
    slice_index = int(slice_index)
    keep, span = _half_turn(a)
    if keep.size < 3:
        raise ValueError(f"find_center needs at least 3 distinct angles, got {keep.size}")
    if span < 170.0:
        logger.warning(
            "find_center: the angles cover only %.1f deg; Vo's method expects 180 deg, "
            "so the centre estimate may be unreliable",
            span,
        )
    name, mod = _backend_module(backend)
    if name == "tomopy":
        center = mod.find_center_vo(
            np.ascontiguousarray(p[keep], dtype=np.float32), ind=slice_index, **kw
        )
    else:
        calculation = importlib.import_module("algotom.prep.calculation")
        sino = np.ascontiguousarray(p[keep, slice_index, :], dtype=np.float32)
        center = calculation.find_center_vo(sino, **kw)
    center = float(np.asarray(center).reshape(-1)[0])
    if not np.isfinite(center):
        raise ValueError(f"find_center ({name}) returned a non-finite centre: {center}")
    logger.info(
        "find_center: %.2f (backend %s, row %d, %d angles over %.1f deg; detector middle %.1f)",
        center,
        name,
        slice_index,
        keep.size,
        span,
        (nx - 1) / 2,
    )
    return center


def shift_to_center(proj, center, *, order: int = 3):
    """Shift every detector row so the rotation axis lands on the detector middle.

    Column ``center`` is moved to ``(nx - 1) / 2``, i.e. every projection is
    shifted by ``(nx - 1) / 2 - center`` pixels along the detector (axis 2)
    with sub-pixel spline interpolation
    (:func:`scipy.ndimage.shift`, ``mode="nearest"``, so the edge values are
    repeated into the uncovered border).

    Parameters
    ----------
    proj : array_like, shape (n_proj, ny, nx)
        Projections or sinograms.
    center : float
        Rotation-axis column index, e.g. from :func:`find_center`.
    order : int
        Spline order, 0–5 (3: cubic; 1: linear, no overshoot).

    Returns
    -------
    numpy.ndarray, shape (n_proj, ny, nx), float32

    Raises
    ------
    ValueError
        On bad input, a ``center`` off the detector, or a bad ``order``.
    """
    p = _validate_proj(proj)
    nx = p.shape[2]
    c = _validate_center(center, nx)
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or not 0 <= order <= 5:
        raise ValueError(f"order must be an integer in 0..5, got {order!r}")
    shift = (nx - 1) / 2.0 - c
    logger.info("shift_to_center: centre %.2f -> %.1f (shift %+.2f px)", c, (nx - 1) / 2, shift)
    p32 = np.asarray(p, dtype=np.float32)
    if shift == 0.0:
        return p32.copy()
    # 1-D interpolation along the detector only: shift each 2-D sinogram along its last axis.
    out = np.empty(p.shape, dtype=np.float32)
    for y in range(p.shape[1]):
        ndimage.shift(
            p32[:, y, :], (0.0, shift), output=out[:, y, :], order=int(order), mode="nearest"
        )
    return out
