"""Intensities without flat fields to line integrals: ``-log(I / I0)``, I0 per view.

A bright-field TEM tilt series, or micro-CT projections already divided by
their flat fields (transmission, ~1 in the open beam), holds intensities:
dense matter dark on a bright beam, every value positive. The non-negative
methods need line integrals (dense matter bright, empty space near zero:
:mod:`.contrast`), and the balance check there cannot tell intensities
from the line integrals of a slab that fills the view (both are positive
everywhere), so the user says which they have (``--intensities``) and this
module converts them: ``p = -log(I / I0)``, Beer-Lambert's law, as the
flat-field route does with its flats.

I0, the unobstructed-beam level, is one number per view: the exposure of a
tilt series changes from view to view (dose-symmetric schemes, exposure
times growing with the tilt, beam drift), and a level taken once for the
whole series would move each view's line integrals by ``log`` of that
ratio. ``"auto"`` estimates it from the view itself (:func:`beam_levels`):
the brightest part of the image, found on its even columns and read on its
odd ones, each averaged over :data:`SMOOTH_ROWS` rows and a few columns.
Picking the brightest pixels picks their noise too: a 99th percentile of
single pixels sits 2.3 sigma above the beam (7 % at 1000 counts), and even
of 128-pixel averages 1 % above it. The odd columns' noise is independent
of the even columns' that chose the place, so their average there is the
beam's level itself; the box that chooses (9 columns) covers the one that
reads (5), so a place chosen in the open beam is read in it. The first
look, at the brightest 1 %, finds the beam; the level is then read over
all of it (every place within 3 times the noise of that first level), to
average the noise of many places. The boxes are
long along the tilt axis and narrow across it because the open beam of a
tilt series is a band along the tilt axis at the detector's edge, a few
columns wide at high tilt. It reads at most :data:`SAMPLE_ROWS` rows of each view, in bands of
adjacent rows, so a 2048 px series is not read whole. A number (``1`` for normalised
transmission) is taken as the level of every view.

With one level per view, what the flat fields would have corrected across
the detector (an uneven beam, a vignetted camera) stays in the data: when
the series has flat fields, ``--prep`` uses them instead.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.ndimage import uniform_filter

__all__ = [
    "SMOOTH_ROWS",
    "CHOOSE_COLUMNS",
    "READ_COLUMNS",
    "SAMPLE_ROWS",
    "PERCENTILE",
    "PLATEAU_SIGMAS",
    "MIN_TRANSMISSION",
    "MAX_NONPOSITIVE",
    "check_beam",
    "beam_levels",
    "resolve_beam",
    "check_intensities",
    "intensities_to_line_integrals",
]

#: Rows along the tilt axis averaged before the brightest level is read (noise out).
SMOOTH_ROWS = 32
#: Columns of each parity averaged: where the even ones choose, where the odd ones read.
CHOOSE_COLUMNS, READ_COLUMNS = 5, 3
#: Rows of each view read for its level, at most (bands of :data:`SMOOTH_ROWS` rows).
SAMPLE_ROWS = 128
#: Percentile of the averaged even columns where the open beam is first looked for.
PERCENTILE = 99.0
#: The open beam: where the even columns are within this many times the spread of the
#: first look's odd columns below its level.
PLATEAU_SIGMAS = 3.0
#: Smallest ``I / I0`` kept: darker values (a dead pixel, 0 counts) give ``-log`` of this.
MIN_TRANSMISSION = 1e-3
#: Largest share of values <= 0 that intensities may have (dead pixels, a dark frame
#: subtracted from very low counts); line integrals put about half of empty space there.
MAX_NONPOSITIVE = 0.01


def check_beam(beam) -> str | float | None:
    """``beam`` if it is a valid setting: None (line integrals), ``"auto"`` or a level > 0.

    Raises
    ------
    ValueError
        On anything else.
    """
    if beam is None or (isinstance(beam, str) and beam == "auto"):
        return beam
    ok = isinstance(beam, numbers.Real) and not isinstance(beam, bool)
    if not ok or not np.isfinite(beam) or beam <= 0:
        raise ValueError(f"the beam level must be 'auto' or a number > 0, got {beam!r}")
    return float(beam)


def _bands(ny: int) -> list[tuple[int, int]]:
    """Row bands ``(a, b)`` read for a view's level: evenly spread, at most SAMPLE_ROWS rows."""
    height = min(SMOOTH_ROWS, ny)
    count = max(1, min(SAMPLE_ROWS // height, ny // height))
    starts = np.unique(np.linspace(0, ny - height, count).round().astype(int))
    return [(int(a), int(a) + height) for a in starts]


def _box(image: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Mean over ``rows`` x ``columns`` boxes (as many columns as the image has, at most)."""
    columns = min(columns, image.shape[1] - (1 - image.shape[1] % 2))  # odd: centred
    return uniform_filter(image, size=(rows, max(1, columns)), mode="nearest")


def beam_levels(data) -> np.ndarray:
    """Each view's unobstructed-beam level I0, estimated from the view.

    The view's even columns, averaged over boxes of :data:`SMOOTH_ROWS`
    rows x :data:`CHOOSE_COLUMNS` even columns, find its open beam
    (:func:`_plateau_level`); its odd columns, averaged over
    :data:`READ_COLUMNS` odd columns, give the level there (independent
    noise: no upward pull). Over bands of adjacent rows
    (:data:`SAMPLE_ROWS` rows at most).

    Parameters
    ----------
    data : array-like, shape (n_tilts, ny, nx)
        Intensities; read a band of rows at a time (memory maps and lazy
        stacks stay on disk).

    Returns
    -------
    numpy.ndarray, float64, shape (n_tilts,)
    """
    n_tilts, ny, nx = (int(v) for v in data.shape)
    if nx < 2:
        raise ValueError(f"a beam level needs views at least 2 pixels wide, got {nx}")
    bands = _bands(ny)
    half = nx // 2
    levels = np.empty(n_tilts)
    for i in range(n_tilts):
        chooser, reader = [], []
        for a, b in bands:
            band = np.asarray(data[i, a:b], dtype=np.float64)
            # NaN stays NaN through the average and is left out of the choice
            even, odd = band[:, 0 : 2 * half : 2], band[:, 1 : 2 * half : 2]
            chooser.append(_box(even, b - a, CHOOSE_COLUMNS).ravel())
            reader.append(_box(odd, b - a, READ_COLUMNS).ravel())
        levels[i] = _plateau_level(np.concatenate(chooser), np.concatenate(reader))
    return levels


def _plateau_level(chooser: np.ndarray, reader: np.ndarray) -> float:
    """The mean of ``reader`` over the bright plateau that ``chooser`` finds.

    First where ``chooser`` reaches its :data:`PERCENTILE` percentile; then,
    for many more places to average over, wherever it is within
    :data:`PLATEAU_SIGMAS` of the reader's spread there below that first
    level (the whole open beam, whose places differ by noise only).
    """
    top = chooser >= np.nanpercentile(chooser, PERCENTILE)
    if not top.any():  # all NaN
        return float("nan")
    first, spread = float(np.nanmean(reader[top])), float(np.nanstd(reader[top]))
    plateau = top | (chooser >= first - PLATEAU_SIGMAS * spread)
    return float(np.nanmean(reader[plateau]))


def resolve_beam(beam, data, *, name: str = "the series", numbers=None) -> np.ndarray:
    """The level I0 of every view: estimated (``"auto"``) or the number given.

    Parameters
    ----------
    beam : "auto" or float
    data : array-like, shape (n_tilts, ny, nx)
    name : str
        The series, for the message.
    numbers : array_like of int, optional
        The views' numbers in the file (from 1), for the message; default: position + 1.

    Returns
    -------
    numpy.ndarray, float64, shape (n_tilts,)

    Raises
    ------
    ValueError
        When some view's level is not a positive number (a view without a
        bright beam in it: not intensities).
    """
    beam = check_beam(beam)
    if beam is None:
        raise ValueError("a beam level is needed to convert intensities ('auto' or a number)")
    n_tilts = int(data.shape[0])
    levels = beam_levels(data) if beam == "auto" else np.full(n_tilts, beam)
    bad = np.flatnonzero(~(levels > 0) | ~np.isfinite(levels))
    if bad.size:
        numbers = np.arange(1, n_tilts + 1) if numbers is None else np.asarray(numbers)
        listed = ", ".join(str(int(numbers[i])) for i in bad[:5])
        listed += ", ..." if bad.size > 5 else ""
        raise ValueError(
            f"{name}: view(s) {listed} have no positive beam level (found "
            f"{levels[bad[0]]:.3g}): intensities are positive and brightest in the open beam; "
            "line integrals are given without --intensities"
        )
    return levels


def check_intensities(data, *, name: str) -> None:
    """Refuse, in one line, a series that cannot be intensities.

    Parameters
    ----------
    data : array-like, shape (n_tilts, ny, nx)
        Read at :func:`beam_levels`' bands of five views.
    name : str
        The series, for the message.

    Raises
    ------
    ValueError
        When more than :data:`MAX_NONPOSITIVE` of the values read are <= 0:
        line integrals (noise puts about half of their empty space below
        zero), inverted contrast and zero-mean images are not intensities.
    """
    n_tilts, ny, _ = (int(v) for v in data.shape)
    picks = np.unique(np.linspace(0, n_tilts - 1, min(5, n_tilts)).round().astype(int))
    total = nonpositive = 0
    for i in picks:
        for a, b in _bands(ny):
            band = np.asarray(data[int(i), a:b])
            total += band.size
            nonpositive += int(np.count_nonzero(band <= 0))
    share = nonpositive / max(total, 1)
    if share > MAX_NONPOSITIVE:
        raise ValueError(
            f"{name}: {share:.0%} of the values read are zero or negative, which intensities "
            "are not (bright-field counts and transmission are positive); "
            "line integrals are given without --intensities"
        )


def intensities_to_line_integrals(block, levels) -> np.ndarray:
    """``-log(I / I0)`` of each view, ``I / I0`` floored at :data:`MIN_TRANSMISSION`.

    Parameters
    ----------
    block : array-like, shape (n_tilts, rows, nx)
        Intensities of some rows of every view.
    levels : array_like, shape (n_tilts,)
        Each view's beam level I0 (> 0).

    Returns
    -------
    numpy.ndarray, float32, shape of ``block``
        Line integrals: about 0 in the open beam (noise both ways), positive
        in matter.
    """
    block = np.asarray(block)
    if block.ndim != 3:
        raise ValueError(f"intensities must be (n_tilts, rows, nx), got shape {block.shape}")
    levels = np.asarray(levels, dtype=np.float64)
    if levels.shape != (block.shape[0],):
        raise ValueError(f"need one beam level per view ({block.shape[0]}), got {levels.shape}")
    out = block.astype(np.float32, copy=True)
    out /= levels.astype(np.float32)[:, None, None]
    np.maximum(out, np.float32(MIN_TRANSMISSION), out=out)
    np.log(out, out=out)
    np.negative(out, out=out)
    return out
