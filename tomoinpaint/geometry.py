"""Tilt geometry: angles, detector and the missing wedge, in one place.

Convention (ASTRA 2D parallel beam, used everywhere in tomoinpaint)
--------------------------------------------------------------------
* Tilt angles are given in **degrees** at every public API; they are converted
  to radians only inside :mod:`tomoinpaint.project`.
* A volume has shape ``(ny, n, n)``; a tilt series has shape
  ``(n_tilts, ny, n_det)``. Slice ``y`` of the volume projects at tilt angle
  θ to row ``y`` of the tilt series, i.e. the sinogram of slice ``y`` is
  ``tilt_series[:, y, :]`` with shape ``(n_tilts, n_det)``.
* The ASTRA projection angle is θ in radians; a volume pixel has the size of a
  detector pixel. Line integrals are therefore in units of
  "attenuation per pixel × pixels".
* Angles may be any set: uniform or not, symmetric or asymmetric
  (e.g. −70…+50°), any step. The missing wedge is the largest gap in the
  angular coverage of the half circle [0°, 180°), since θ and θ + 180° measure
  the same line integrals (mirrored on the detector).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Geometry",
    "validate_angles",
    "tilt_range",
    "dose_symmetric_order",
    "missing_wedge",
    "arc_positions",
    "wedge_edge_tilts",
    "wedge_mask",
    "angular_weights",
]


def validate_angles(angles_deg, *, name: str = "angles") -> np.ndarray:
    """Check a set of tilt angles and return it as a float64 array.

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)
        Tilt angles in degrees.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray, shape (n_angles,), float64

    Raises
    ------
    ValueError
        If the angles are not one-dimensional, empty, non-finite, or contain
        duplicates (modulo 360°).
    """
    try:
        a = np.asarray(angles_deg, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers in degrees: {exc}") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(
            f"{name} contains non-finite values at index {np.flatnonzero(bad)[:5].tolist()}"
        )
    wrapped = np.round(np.mod(a, 360.0), 6)
    uniq, counts = np.unique(wrapped, return_counts=True)
    if (counts > 1).any():
        # report the angles as written (the same angle modulo 360 may be written differently)
        repeated = np.isin(wrapped, uniq[counts > 1])
        idx = np.flatnonzero(repeated)[:6]
        shown = ", ".join(f"{a[i]:g} (index {i})" for i in idx)
        raise ValueError(f"{name} contains duplicate angles (equal modulo 360 degrees): {shown}")
    return a


def tilt_range(start: float, stop: float, step: float) -> np.ndarray:
    """Uniform tilt angles from ``start`` to ``stop`` inclusive, in degrees.

    Parameters
    ----------
    start, stop, step : float
        Degrees; ``stop`` is included when it lies on the grid.

    Returns
    -------
    numpy.ndarray, shape (n_angles,)
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    if stop < start:
        raise ValueError(f"stop ({stop}) is below start ({start})")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return start + step * np.arange(n, dtype=np.float64)


def dose_symmetric_order(angles_deg) -> np.ndarray:
    """The order a dose-symmetric scheme (Hagen et al. 2017) acquires tilts in: 0, +a, -a, +2a, ...

    Many stacks keep this acquisition order; every method must give the same
    image for them as for the series sorted by angle.

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)

    Returns
    -------
    numpy.ndarray of int, shape (n_angles,)
        Indices into ``angles_deg``: by increasing ``|angle|``, the positive
        one first at each ``|angle|``.
    """
    a = np.asarray(angles_deg, dtype=np.float64)
    return np.lexsort((a < 0, np.abs(a)))


def _half_circle_gaps(angles_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted angles mod 180° and the gap after each (wrapping around)."""
    a = np.sort(np.mod(angles_deg, 180.0))
    gaps = np.diff(np.concatenate([a, [a[0] + 180.0]]))
    return a, gaps


def missing_wedge(angles_deg) -> tuple[float, float, float]:
    """The missing wedge of a tilt scheme: the largest gap in angular coverage.

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)

    Returns
    -------
    start, stop, width : float
        Degrees. ``start`` is the last measured angle before the gap and
        ``stop`` the first after it, both mod 180°; ``width = stop - start``
        minus one typical sampling step, i.e. the span of angles that are
        really missing (0 for complete uniform data). For tilts −67.5…+67.5
        at 1.5° steps this is (67.5, 112.5, 43.5): a 45° wedge sampled at
        1.5° lacks 29 angles, i.e. 43.5° beyond the step.
    """
    a = validate_angles(angles_deg)
    if a.size < 2:
        return 0.0, 180.0, 180.0
    s, gaps = _half_circle_gaps(a)
    i = int(np.argmax(gaps))
    step = float(np.median(gaps))
    width = max(0.0, float(gaps[i]) - step)
    return float(s[i]), float(s[i] + gaps[i]), width


def arc_positions(angles_deg) -> np.ndarray:
    """Each tilt's position along the measured arc, in degrees from one edge of the wedge.

    Parallel projections repeat every 180°, so the missing wedge is the
    largest gap of the angles modulo 180° (:func:`missing_wedge`), which
    need not lie at the ends of the sorted angles: a 0…180° scan with a
    block dropped from its middle has its wedge between 67° and 113°, and
    0° and 179° are neighbours. Measured from the tilt just after the gap,
    the arc runs to the tilt just before it.

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)

    Returns
    -------
    numpy.ndarray, shape (n_angles,)
        Degrees in [0, 180).
    """
    a = validate_angles(angles_deg)
    _, stop, _ = missing_wedge(a)
    # the small offset keeps the tilt at the gap's far edge at 0, not at 180 - rounding
    return np.mod(a - stop + 1e-6, 180.0)


def wedge_edge_tilts(angles_deg, degrees: float) -> np.ndarray:
    """The measured tilts within ``degrees`` of the missing wedge, on each side of it.

    The same number of tilts on each side: ``degrees`` over the median step
    along the arc (:func:`arc_positions`), rounded, at least one.

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)
    degrees : float

    Returns
    -------
    numpy.ndarray of bool, shape (n_angles,)
    """
    arc = arc_positions(angles_deg)
    order = np.argsort(arc, kind="stable")
    step = float(np.median(np.diff(arc[order]))) if arc.size > 1 else 0.0
    k = max(1, int(round(degrees / step))) if step > 0 else 1
    k = min(k, arc.size // 2) if arc.size > 1 else 1
    edge = np.zeros(arc.size, dtype=bool)
    edge[order[:k]] = True
    edge[order[-k:]] = True
    return edge


def wedge_mask(full_angles_deg, tilt_min: float, tilt_max: float) -> np.ndarray:
    """Which angles of a full scheme a tilt range [tilt_min, tilt_max] measures.

    Parameters
    ----------
    full_angles_deg : array_like, shape (n_angles,)
        The complete angular grid, degrees.
    tilt_min, tilt_max : float
        The measured range, degrees, inclusive (with 1e-6° tolerance).

    Returns
    -------
    numpy.ndarray of bool, shape (n_angles,)
        True where the angle is measured, False inside the missing wedge.
    """
    a = validate_angles(full_angles_deg, name="full_angles_deg")
    if tilt_max < tilt_min:
        raise ValueError(f"tilt_max ({tilt_max}) is below tilt_min ({tilt_min})")
    return (a >= tilt_min - 1e-6) & (a <= tilt_max + 1e-6)


def angular_weights(angles_deg) -> np.ndarray:
    """Quadrature weights (radians) for back-projection over non-uniform angles.

    Each angle gets half the distance to its two neighbours on the half circle.
    Across the missing wedge there is no neighbour: an angle bordering the
    wedge gets its one-sided step twice instead, so the wedge is *not* filled
    in by the weights (the standard limited-angle WBP weighting).

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)

    Returns
    -------
    numpy.ndarray, shape (n_angles,), float64
        Weights in radians, in the order of the input. For complete uniform
        sampling over 180° every weight is π / n_angles; views 180° apart
        share their direction's weight (a uniform 360° scan: π / n_angles
        each, summing to π).
    """
    a = validate_angles(angles_deg)
    # Views 180 degrees apart measure the same line integrals (mirrored): they are one
    # direction of the half circle, whose weight they share (a 360-degree scan counts
    # every direction twice, at half weight each).
    folded = np.mod(a, 180.0)
    _, first, inverse, counts = np.unique(
        np.round(folded, 6), return_index=True, return_inverse=True, return_counts=True
    )
    directions = folded[first]  # sorted, exact values (no rounding enters the weights)
    return (_direction_weights(directions) / counts)[inverse]


def _direction_weights(s: np.ndarray) -> np.ndarray:
    """Quadrature weights (radians) of distinct sorted directions in [0, 180)."""
    n = s.size
    if n == 1:
        return np.array([np.pi])
    gaps = np.diff(np.concatenate([s, [s[0] + 180.0]]))
    # The missing wedge is the largest gap, when it is clearly larger than the
    # sampling steps on either side of it (so non-uniform schemes are not
    # mistaken for a wedge).
    wedge = np.zeros(n, dtype=bool)
    i = int(np.argmax(gaps))
    if gaps[i] > 1.5 * max(gaps[i - 1], gaps[(i + 1) % n]):
        wedge[i] = True
    after = gaps.copy()  # gap to the next angle
    before = np.roll(gaps, 1)  # gap from the previous angle
    wedge_before = np.roll(wedge, 1)
    after[wedge] = before[wedge]
    before[wedge_before] = after[wedge_before]
    return np.deg2rad(0.5 * (after + before))


@dataclass(frozen=True)
class Geometry:
    """A 2D parallel-beam geometry: tilt angles and detector width.

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)
        Tilt angles in degrees, in acquisition order (rows of the sinogram).
    n_det : int
        Detector pixels per row; reconstructions are ``(n_det, n_det)``.

    Attributes
    ----------
    n_angles : int
    angles_rad : numpy.ndarray, shape (n_angles,)
    """

    angles_deg: np.ndarray
    n_det: int
    n_angles: int = field(init=False)

    def __post_init__(self):
        a = validate_angles(self.angles_deg)
        a.setflags(write=False)
        object.__setattr__(self, "angles_deg", a)
        if int(self.n_det) != self.n_det or self.n_det < 2:
            raise ValueError(f"n_det must be an integer >= 2, got {self.n_det}")
        object.__setattr__(self, "n_det", int(self.n_det))
        object.__setattr__(self, "n_angles", int(a.size))

    @property
    def angles_rad(self) -> np.ndarray:
        """Angles in radians (ASTRA projection angles)."""
        return np.deg2rad(self.angles_deg)

    @property
    def sino_shape(self) -> tuple[int, int]:
        """Shape of one sinogram, ``(n_angles, n_det)``."""
        return (self.n_angles, self.n_det)

    @property
    def missing_wedge(self) -> tuple[float, float, float]:
        """See :func:`missing_wedge`."""
        return missing_wedge(self.angles_deg)

    def check_sinogram(self, sino, *, name: str = "sinogram") -> np.ndarray:
        """Validate a sinogram (or stack) against this geometry.

        Parameters
        ----------
        sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)

        Returns
        -------
        numpy.ndarray, float32, same shape

        Raises
        ------
        ValueError
            On wrong dimensionality, an angle count or detector width that does
            not match, or NaN/Inf values.
        """
        s = np.asarray(sino)
        if s.ndim not in (2, 3):
            raise ValueError(
                f"{name} must be 2-D (n_angles, n_det) or 3-D (n_slices, n_angles, n_det), "
                f"got shape {s.shape}"
            )
        if s.shape[-2] != self.n_angles:
            raise ValueError(
                f"{name} has {s.shape[-2]} projections but {self.n_angles} angles were given"
            )
        if s.shape[-1] != self.n_det:
            raise ValueError(
                f"{name} has {s.shape[-1]} detector pixels, geometry expects {self.n_det}"
            )
        s = s.astype(np.float32, copy=False)
        if not np.isfinite(s).all():
            raise ValueError(f"{name} contains NaN or Inf values")
        return s

    def subset(self, mask) -> Geometry:
        """The geometry of the angles selected by a boolean mask or index array."""
        return Geometry(self.angles_deg[np.asarray(mask)], self.n_det)
