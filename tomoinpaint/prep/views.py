"""Blank or blocked tilt images: views that cannot be measurements of the object.

A tilt image filled with one value (a failed exposure, or a view that
alignment software padded out) or whose total is far from its neighbours'
(the beam blocked by a grid bar) is taken by every method as a projection
of the object, and one such view among 61 costs several dB everywhere in the
slice. :func:`check_views` refuses such a series in one line, naming the
views, before anything is computed.

Each tilt image of a parallel-beam series sums to the mass of the object in
the beam: about the same at every tilt, or growing as 1/cos(tilt) for a slab
(2.9x at 70°). So a view is suspect when its total, over a sample of rows, is
off the median of its nearest views in angle by more than :data:`MASS_FACTOR`,
and by far more than the noise moves it (so rows of air are not judged).
"""

from __future__ import annotations

import numpy as np

from ..stats import white_noise_std

__all__ = ["MASS_FACTOR", "suspect_views", "check_views"]

#: How far (as a factor either way) a view's total may be from its neighbours' median.
MASS_FACTOR = 5.0
#: Rows sampled per view (evenly spaced), and nearest views in angle each is compared with.
_ROWS, _NEIGHBOURS = 16, 4
#: A total judged off must also be off by this many times what noise moves it by.
_NOISE_SIGMAS = 10.0


def suspect_views(data, angles_deg) -> dict[int, str]:
    """Views that are constant, or whose total is off their neighbours' by :data:`MASS_FACTOR`.

    Parameters
    ----------
    data : array-like, shape (n_tilts, ny, nx)
        Read at a few rows only (memory maps and lazy stacks stay on disk).
    angles_deg : array_like, shape (n_tilts,)

    Returns
    -------
    dict
        View index (0-based) -> why it is suspect ("constant 0", "total 0.01x
        its neighbours'"); empty when every view looks like a measurement.
    """
    n_tilts, ny, _ = (int(v) for v in data.shape)
    rows = np.unique(np.linspace(0, ny - 1, min(_ROWS, ny)).round().astype(int))
    sample = np.stack([np.asarray(data[:, int(y), :], dtype=np.float64) for y in rows], axis=1)
    out: dict[int, str] = {}
    flat = sample.reshape(n_tilts, -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    if np.all(lo == hi):  # an empty series is not this check's business
        return out
    for i in np.flatnonzero(lo == hi):
        out[int(i)] = f"constant {lo[i]:g}"
    mass = np.abs(flat.sum(axis=1))
    # what noise alone moves a total by: rows of air, or a faint object, are not judged
    noise = (white_noise_std(sample, axis=-1) or 0.0) * np.sqrt(flat.shape[1])
    a = np.asarray(angles_deg, dtype=np.float64)
    for i in range(n_tilts):
        if i in out:
            continue
        others = [j for j in np.argsort(np.abs(a - a[i]), kind="stable") if j != i and j not in out]
        ref = float(np.median(mass[others[:_NEIGHBOURS]])) if others else 0.0
        off = not ref / MASS_FACTOR <= mass[i] <= ref * MASS_FACTOR
        if ref > 0 and off and abs(mass[i] - ref) > _NOISE_SIGMAS * noise:
            out[i] = f"total {mass[i] / ref:.2g}x its neighbours'"
    return out


def check_views(data, angles_deg, *, name: str, numbers=None) -> None:
    """Refuse a series with blank or blocked views (:func:`suspect_views`), in one line.

    Parameters
    ----------
    data : array-like, shape (n_tilts, ny, nx)
    angles_deg : array_like, shape (n_tilts,)
    name : str
        The series, for the message.
    numbers : array_like of int, shape (n_tilts,), optional
        The views' numbers in the file, from 1 (:meth:`~tomoinpaint.io.TiltSeries.view_numbers`,
        when some views are left out already); default 1..n_tilts.

    Raises
    ------
    ValueError
        Naming the views as IMOD numbers them (from 1, in the file), their angles and why.
    """
    bad = suspect_views(data, angles_deg)
    if not bad:
        return
    a = np.asarray(angles_deg, dtype=np.float64)
    num = np.arange(1, a.size + 1) if numbers is None else np.asarray(numbers, dtype=int)
    shown = "; ".join(f"view {num[i]} ({a[i]:g} deg): {why}" for i, why in sorted(bad.items())[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    views = ",".join(str(num[i]) for i in sorted(bad))
    raise ValueError(
        f"{name}: {len(bad)} view(s) are not measurements of the object ({shown}{more}); "
        + (
            f"leave them out with --exclude {views}"
            if numbers is None
            else f"add {views} to the views left out (--exclude)"
        )
        + " (views numbered from 1 in the file, as IMOD's tilt numbers them) and run again"
    )
