"""The preprocessing sequence: all rows at once (:func:`preprocess`) or chunk by chunk.

The volume pipeline plans once (:func:`plan_prep`: backend, rotation centre)
and runs :func:`line_integrals` and :func:`~.steps.shift_to_center` per
chunk, which gives the same result as :func:`preprocess` on all rows.
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass, replace

import numpy as np

from .backends import BACKENDS, RING_METHODS, _resolve_backend, backend
from .intensities import check_beam, intensities_to_line_integrals, resolve_beam
from .steps import (
    _validate_angles,
    _validate_center,
    _validate_proj,
    check_flat_dark,
    check_ring_window,
    find_center,
    minus_log,
    normalize,
    remove_rings,
    ring_window,
    shift_to_center,
)

__all__ = [
    "line_integrals",
    "preprocess",
    "Prep",
    "PrepPlan",
    "check_prep",
    "plan_prep",
    "resolve_rings",
    "series_beam_levels",
]

logger = logging.getLogger(__name__)


def resolve_rings(rings, raw: bool) -> str | bool:
    """The ring removal a series gets: a method name, or False.

    ``"auto"`` (the default everywhere) removes rings (``"sorting"``) from raw
    counts normalised with flat fields, and leaves line integrals given as
    they are: on held-out simulated data at 128² and 256², Vo's sorting filter
    at a fixed 21-px window (algotom's default, used before
    :func:`~.steps.ring_window`) cost TV 1.7 to 11 dB, with or without stripes
    in the data (``benchmarks/results/prep_rings.md``).
    True means ``"sorting"``.

    Parameters
    ----------
    rings : "auto", bool or {"sorting", "all", "fw"}
    raw : bool
        Whether the projections are raw counts with flat fields.

    Raises
    ------
    ValueError
        On anything else.
    """
    if isinstance(rings, str) and rings == "auto":
        rings = raw
    if rings is True:
        return "sorting"
    if rings is not False and (not isinstance(rings, str) or rings not in RING_METHODS):
        raise ValueError(
            f"rings must be 'auto', True, False or one of {sorted(RING_METHODS)}, got {rings!r}"
        )
    return rings


def line_integrals(
    raw, flats, darks, *, rings, backend: str, beam=None, ring_window: int | None = None
) -> np.ndarray:
    """normalise -> minus-log -> ring removal (``rings``: a method name or False).

    The part of :func:`preprocess` before the rotation centre, shared with the
    volume pipeline's chunks. ``backend`` must be resolved (:func:`backend`).
    With ``flats`` None, ``raw`` holds line integrals already (normalised
    and minus-logged elsewhere): only the rings are removed; or, given
    ``beam``, intensities: ``-log(raw / beam)`` first
    (:mod:`.intensities`).

    Parameters
    ----------
    beam : array_like, shape (n_proj,), optional
        Each view's beam level, for intensities without flat fields.
    ring_window : int, optional
        The ring filter's window (:func:`~.steps.remove_rings`; default
        :func:`~.steps.ring_window` of the detector width).

    Returns
    -------
    numpy.ndarray, float32, shape of ``raw``
    """
    if flats is None and beam is not None:
        sino = intensities_to_line_integrals(_validate_proj(raw), beam)
    elif flats is None:
        sino = _validate_proj(raw).astype(np.float32, copy=True)
    else:
        sino = minus_log(normalize(raw, flats, darks))
    if rings:
        sino = remove_rings(sino, method=rings, backend=backend, window=ring_window)
    return sino


def preprocess(
    proj,
    flats,
    darks,
    angles_deg,
    *,
    rings="auto",
    center="auto",
    backend: str = "auto",
    intensities=None,
    ring_window: int | None = None,
):
    """Raw projections to centred line-integral sinograms, ready for reconstruction.

    :func:`normalize` -> :func:`minus_log` -> :func:`remove_rings` (optional)
    -> :func:`find_center` (optional) -> :func:`shift_to_center`.

    Parameters
    ----------
    proj : array_like, shape (n_proj, ny, nx)
        Raw projections.
    flats : array_like, shape (n_flat, ny, nx) or (ny, nx), or None
        Flat fields; ``None``: ``proj`` holds line integrals already, which
        get only the ring removal (when asked for) and the centring.
    darks : array_like, shape (n_dark, ny, nx) or (ny, nx), or None
        Dark fields (``None``: zero dark current).
    angles_deg : array_like, shape (n_proj,)
        Projection angles in degrees.
    rings : "auto", bool or {"sorting", "all", "fw"}
        Ring removal: ``True`` means ``"sorting"``, ``False`` skips it;
        ``"auto"``: ``"sorting"`` with flat fields, none without
        (:func:`resolve_rings`).
    center : "auto", float or None
        ``"auto"``: estimate with :func:`find_center` (middle row);
        a float: the known rotation-axis column index;
        ``None``: assume the axis is already at the detector middle (no shift).
    backend : {"auto", "tomopy", "algotom"}
        See :func:`backend`.
    intensities : None, "auto", float or array_like of shape (n_proj,)
        Without flat fields: None, ``proj`` holds line integrals; otherwise it
        holds intensities, turned into ``-log(proj / I0)`` with the beam level
        I0 of each view estimated from ``proj`` (``"auto"``,
        :func:`~.intensities.beam_levels`), one number for all, or one per view.
    ring_window : int, optional
        The ring filter's window, detector pixels (odd, at least 3); default
        :func:`~.steps.ring_window`, about 1 % of the detector width.

    Returns
    -------
    sinograms : numpy.ndarray, shape (n_proj, ny, nx), float32
        Minus-log projections with the rotation axis at column
        ``(nx - 1) / 2``; ``sinograms[:, y, :]`` is the sinogram of row ``y``.
    center_used : float
        The rotation-axis column index in the *input* detector coordinates
        (``(nx - 1) / 2`` when ``center`` is None).

    Raises
    ------
    ValueError
        On bad input or options, as the individual steps.
    """
    p = _validate_proj(proj)
    n_proj, ny, nx = p.shape
    angles = _validate_angles(angles_deg, n_proj)
    rings = resolve_rings(rings, raw=flats is not None)
    check_ring_window(ring_window)
    if isinstance(center, str):
        if center != "auto":
            raise ValueError(f"center must be 'auto', a number or None, got {center!r}")
    elif center is not None:
        center = _validate_center(center, nx)
    name = _resolve_backend(backend)
    beam = None
    if intensities is not None:
        if flats is not None:
            raise ValueError("intensities are for projections without flat fields")
        if isinstance(intensities, str) or np.ndim(intensities) == 0:
            beam = resolve_beam(intensities, p)
        else:
            beam = np.asarray(intensities, dtype=np.float64)

    sino = line_integrals(
        p, flats, darks, rings=rings, backend=name, beam=beam, ring_window=ring_window
    )
    if center == "auto":
        center_used = find_center(sino, angles, backend=name)
    elif center is None:
        center_used = (nx - 1) / 2.0
    else:
        center_used = float(center)
    if center_used != (nx - 1) / 2.0:
        sino = shift_to_center(sino, center_used)
    logger.info(
        "preprocess: %d projections of %dx%d, rings=%s, centre %.2f, backend %s",
        n_proj,
        ny,
        nx,
        rings,
        center_used,
        name,
    )
    return sino, float(center_used)


# --------------------------------------------------------------------------- chunked plan


@dataclass(frozen=True)
class Prep:
    """Preprocessing of projections, done chunk by chunk.

    Flat/dark normalisation and minus-log (where the series has flat fields;
    without them its projections are taken as line integrals already), ring
    removal and re-centring (:mod:`tomoinpaint.prep`). The rotation centre is
    estimated once, before any chunk, from the middle row of the reconstructed rows (as
    :func:`tomoinpaint.prep.preprocess` does for the whole block), so chunks
    are independent and the result equals preprocessing all rows at once.

    Attributes
    ----------
    rings : "auto", bool or {"sorting", "all", "fw"}
        Ring removal method; True means "sorting", False skips it, "auto"
        removes rings from raw counts with flat fields only
        (:func:`resolve_rings`; :func:`check_prep` resolves it).
    center : "auto", float or None
        Rotation-axis column: "auto" (estimated), a column index, or None
        (already at the detector middle).
    backend : {"auto", "tomopy", "algotom"}
    intensities : None, "auto" or float
        For a series without flat fields: None, its projections are line
        integrals; otherwise intensities (bright field, or transmission),
        turned into ``-log(I / I0)`` with each view's beam level I0 estimated
        (``"auto"``) or the number given (:mod:`.intensities`).
    ring_window : int or None
        The ring filter's window, detector pixels (odd, at least 3); None:
        :func:`~.steps.ring_window` of the detector width (about 1 %).
    """

    rings: bool | str = "auto"
    center: str | float | None = "auto"
    backend: str = "auto"
    intensities: str | float | None = None
    ring_window: int | None = None

    def __post_init__(self):
        resolve_rings(self.rings, raw=True)  # refuses what is not a ring setting
        check_ring_window(self.ring_window)
        check_beam(self.intensities)
        c = self.center
        if isinstance(c, str):
            if c != "auto":
                raise ValueError(f"center must be 'auto', a number or None, got {c!r}")
        elif c is not None:
            if isinstance(c, bool) or not isinstance(c, numbers.Real) or not np.isfinite(c):
                raise ValueError(f"center must be 'auto', a number or None, got {c!r}")
        if self.backend not in ("auto", *BACKENDS):
            raise ValueError(
                f"backend must be one of 'auto', {', '.join(map(repr, BACKENDS))}, "
                f"got {self.backend!r}"
            )


@dataclass(frozen=True)
class PrepPlan:
    """Resolved preprocessing, identical for every chunk."""

    rings: str | bool
    center: float
    backend: str
    shift: bool
    #: whether the projections are raw counts, normalised with the series' flat fields
    raw: bool = True
    #: each view's beam level, for intensities without flat fields (:mod:`.intensities`)
    beam: tuple[float, ...] | None = None
    #: the ring filter's window, detector pixels (plan_prep resolves it; None: by the width)
    ring_window: int | None = None


def check_prep(prep, series) -> Prep | None:
    """The preprocessing a tilt series gets: ``prep`` resolved against its flat fields.

    Parameters
    ----------
    prep : None, bool or Prep
        None: on (``Prep()``) when ``series`` has flat fields; True: ``Prep()``
        (for a series without flat fields: its line integrals get the
        centring, and ring removal only if ``Prep(rings=...)`` asks for it).
    series : tomoinpaint.io.TiltSeries

    Returns
    -------
    Prep or None
        With ``rings`` resolved (:func:`resolve_rings`): never ``"auto"``.
    """
    has_flats = series.flats is not None
    if prep is False or (prep is None and not has_flats):
        return None
    if prep is None:
        prep = Prep()
    if prep is True:
        prep = Prep()
    if not isinstance(prep, Prep):
        raise ValueError(f"prep must be None, True, False or a Prep, got {prep!r}")
    if prep.rings == "auto":
        prep = replace(prep, rings=has_flats)
    if has_flats and prep.intensities is not None:
        raise ValueError(
            f"{series.path} has flat fields, which --prep normalises with; "
            "--intensities is for intensities without them"
        )
    if not has_flats:  # line integrals already: centring (and ring removal if asked) only
        return prep
    flat = np.asarray(series.flats, dtype=np.float64).reshape(-1, *series.shape[1:]).mean(axis=0)
    dark = 0.0
    if series.darks is not None:
        dark = np.asarray(series.darks, dtype=np.float64).reshape(-1, *series.shape[1:]).mean(0)
    check_flat_dark(flat - dark, str(series.path))
    return prep


def plan_prep(series, prep: Prep, y0: int, y1: int) -> PrepPlan:
    """Resolve the backend and the rotation centre of rows ``y0..y1-1``, once for all chunks.

    The centre is estimated from the middle row, the row :func:`preprocess`
    would use for the same rows, so chunks preprocessed with the plan equal
    the whole block preprocessed at once.

    Parameters
    ----------
    series : tomoinpaint.io.TiltSeries
        ``series.data`` is read at one row only.
    prep : Prep
    y0, y1 : int

    Returns
    -------
    PrepPlan
    """
    backend_name = backend(prep.backend)
    from_raw = series.flats is not None
    rings = resolve_rings(prep.rings, raw=from_raw)
    beam = None
    if prep.intensities is not None and not from_raw:
        beam = series_beam_levels(series, prep.intensities)
    nx = series.shape[2]
    window = prep.ring_window or ring_window(nx)
    middle = (nx - 1) / 2.0
    if prep.center == "auto":
        ym = y0 + (y1 - y0) // 2  # the row preprocess() would use for rows y0..y1-1
        raw = np.asarray(series.data[:, ym : ym + 1, :], dtype=np.float32)
        darks = None if series.darks is None else series.darks[:, ym : ym + 1]
        flats = series.flats[:, ym : ym + 1] if from_raw else None
        sino = line_integrals(
            raw, flats, darks, rings=rings, backend=backend_name, beam=beam, ring_window=window
        )
        center = find_center(sino, series.angles_deg, slice_index=0, backend=backend_name)
    elif prep.center is None:
        center = middle
    else:
        center = float(prep.center)
        if not 0.0 <= center <= nx - 1:
            raise ValueError(f"center must lie on the detector, in [0, {nx - 1}], got {center}")
    return PrepPlan(
        rings=rings,
        center=float(center),
        backend=backend_name,
        shift=center != middle,
        raw=from_raw,
        beam=None if beam is None else tuple(float(v) for v in beam),
        ring_window=window,
    )


def series_beam_levels(series, intensities) -> np.ndarray:
    """The beam level of each of a tilt series' views (``intensities``: "auto" or a number).

    Parameters
    ----------
    series : tomoinpaint.io.TiltSeries
        Without flat fields; its views' levels are estimated from
        :data:`~.intensities.SAMPLE_ROWS` rows of each (whole views, so
        every chunk of rows gets the same levels).
    intensities : "auto" or float

    Returns
    -------
    numpy.ndarray, float64, shape (n_tilts,)
    """
    numbers = None if series.views is None else series.view_numbers()
    return resolve_beam(intensities, series.data, name=str(series.path), numbers=numbers)
