"""Ground-truth-free scores of a reconstruction method on the user's own tilt series.

A tilt series has no ground truth, but it has its measurements. Hold some
tilts out, reconstruct from the rest, project the result at the held-out
angles and compare with what was measured there:

* **wedge edge** (:func:`wedge_edge_split`): the outermost measured tilts on
  each side. Reconstructing without them widens the missing wedge by a few
  degrees, and predicting them asks the question the missing wedge asks:
  what lies just beyond the measured range.
* **interleaved** (:func:`interleaved_folds`): every k-th tilt, k folds;
  fidelity between measured tilts (over-smoothing, noise).
* **even/odd FRC** (:mod:`.frc`): the reconstructions from the even and from
  the odd tilts, correlated ring by ring; where the curve crosses 1/7.

A held-out projection carries its own noise, which no method can predict:
the mean squared residual of a perfect reconstruction is the noise variance
``sigma**2`` (estimated from the measured sinogram itself,
:func:`~tomoinpaint.recon.tv_weights.estimate_noise`). Residuals are
therefore also reported as a ratio to that floor: 1 is as good as the data
allow, at any dose.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..geometry import arc_positions, wedge_edge_tilts
from ..methods import reconstruct
from ..project import forward_project
from ..recon.tv_weights import estimate_noise
from .frc import fourier_ring_correlation, frc_resolution

__all__ = [
    "MIN_SCORING_TILTS",
    "MethodScore",
    "wedge_edge_split",
    "interleaved_folds",
    "even_odd_split",
    "holdout_residual",
    "score_method",
]

#: Fewest tilts a series needs to be scored (each hold-out keeps at least 3/4 of them).
MIN_SCORING_TILTS = 12


def _arc(angles_deg) -> np.ndarray:
    """:func:`~tomoinpaint.geometry.arc_positions`, refusing too few tilts to score."""
    a = np.asarray(angles_deg, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"angles must be one-dimensional, got shape {a.shape}")
    if a.size < MIN_SCORING_TILTS:
        raise ValueError(
            f"scoring holds tilts out and needs at least {MIN_SCORING_TILTS} tilts, got {a.size}"
        )
    return arc_positions(a)


def _order(angles_deg) -> np.ndarray:
    """Tilt indices in order along the measured arc (:func:`_arc`)."""
    return np.argsort(_arc(angles_deg), kind="stable")


def wedge_edge_split(angles_deg, hold_deg: float | None = None) -> np.ndarray:
    """The measured tilts next to the missing wedge, on each side of it.

    For a tilt range −60…+60° these are the outermost tilts; for a 0…180°
    scan with a block of projections dropped, the tilts on either side of
    the block (see :func:`_arc`).

    Parameters
    ----------
    angles_deg : array_like, shape (n_tilts,)
    hold_deg : float, optional
        Degrees held out on each side; default ``max(4, 3 x step)`` (``step``
        the median tilt step), at least one tilt per side.

    Returns
    -------
    numpy.ndarray of bool, shape (n_tilts,)
        True for held-out tilts (the same number on each side).

    Raises
    ------
    ValueError
        Too few tilts, or a ``hold_deg`` that would hold out more than a
        quarter of them.
    """
    order = _order(angles_deg)
    a = _arc(angles_deg)[order]
    step = float(np.median(np.diff(a)))
    hold = max(4.0, 3.0 * step) if hold_deg is None else float(hold_deg)
    if not np.isfinite(hold) or hold <= 0:
        raise ValueError(f"hold_deg must be a positive number of degrees, got {hold_deg}")
    k = max(1, int(round(hold / step))) if step > 0 else 1
    if 2 * k > a.size // 4:
        raise ValueError(
            f"holding out {hold:g} degrees on each side takes {2 * k} of {a.size} tilts; "
            "at most a quarter may be held out"
        )
    return wedge_edge_tilts(angles_deg, hold)


def interleaved_folds(angles_deg, folds: int = 4) -> list[np.ndarray]:
    """Every ``folds``-th tilt (in order along the measured arc), one mask per fold.

    The tilts at the two edges of the missing wedge are never held out, so the folds test
    interpolation between measured tilts, not extrapolation.

    Returns
    -------
    list of numpy.ndarray of bool, shape (n_tilts,)
    """
    order = _order(angles_deg)
    folds = int(folds)
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    out = []
    for f in range(folds):
        held = np.zeros(order.size, dtype=bool)
        rank = np.arange(order.size)
        pick = (rank % folds == f) & (rank > 0) & (rank < order.size - 1)
        held[order[pick]] = True
        out.append(held)
    return out


def even_odd_split(angles_deg) -> tuple[np.ndarray, np.ndarray]:
    """Tilts of even and of odd rank along the measured arc: two disjoint halves of the data."""
    order = _order(angles_deg)
    even = np.zeros(order.size, dtype=bool)
    even[order[0::2]] = True
    return even, ~even


def _reconstruct(method, sino, angles, options: dict, device: str) -> np.ndarray:
    if callable(method):
        return np.asarray(method(sino, angles, **options), dtype=np.float32)
    return reconstruct(sino, angles, method, device=device, **options)


def holdout_residual(
    sino, angles_deg, held, method, options: dict | None = None, *, device: str = "auto"
) -> np.ndarray:
    """Mean squared residual per slice at held-out tilts, of a reconstruction without them.

    Parameters
    ----------
    sino : array_like, shape (n_slices, n_tilts, n_det)
    angles_deg : array_like, shape (n_tilts,)
    held : numpy.ndarray of bool, shape (n_tilts,)
    method : str or callable
        A key of :data:`tomoinpaint.methods.METHODS`, or a function
        ``method(sino, angles_deg, **options)`` returning ``(n_slices, n, n)``
        (e.g. a wrapper around another program).
    options : dict, optional
        Its options.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    numpy.ndarray, shape (n_slices,)
        ``mean((P rec - measured)**2)`` over the held-out projections.
    """
    s = np.asarray(sino, dtype=np.float32)
    a = np.asarray(angles_deg, dtype=np.float64)
    held = np.asarray(held, dtype=bool)
    pred = _predict_held(s, a, held, method, options, device)
    return np.mean((pred - s[:, held]) ** 2, axis=(1, 2))


def _predict_held(s, a, held, method, options, device) -> np.ndarray:
    """Held-out projections (n_slices, n_held, n_det) of a reconstruction made without them."""
    rec = _reconstruct(method, s[:, ~held], a[~held], dict(options or {}), device)
    return forward_project(rec, a[held], kernel="linear", device=device)


@dataclass
class MethodScore:
    """Ground-truth-free scores of one method (with its options) on some slices.

    Attributes
    ----------
    method : str
    options : dict
    wedge_edge : float
        Mean squared residual at the wedge-edge tilts, over slices: the score
        that ranks methods (see :mod:`.auto`).
    interleaved : float
        Mean squared residual at interleaved tilts, over folds and slices
        (``nan`` when not computed, ``folds=0``).
    noise_floor : float
        Estimated noise variance of a measured projection value (``sigma**2``).
    wedge_edge_ratio, interleaved_ratio : float
        The residuals over the noise floor (1: as good as the data allow;
        ``inf`` for noise-free data, where the floor is 0).
    frc_resolution : float
        Where the even/odd FRC crosses 1/7, as a fraction of Nyquist.
    frc : list of float
        The even/odd FRC curve (rings from 0 to Nyquist).
    seconds : float
        Time the scoring took.
    wedge_edge_per_tilt : list of list of float, shape (n_slices, n_held)
        The wedge-edge residual of each slice at each held-out tilt, the
        tilts in order along the measured arc (the first half on one side of
        the wedge, the second on the other): what
        :func:`.auto.pick_candidate` compares candidates on.
    edge_prediction : numpy.ndarray, shape (n_slices, n_held, n_det)
        The wedge-edge projections predicted without them (not in :meth:`to_dict`).
    edge_held : numpy.ndarray of bool, shape (n_tilts,)
        Which tilts were the wedge edge.
    """

    method: str
    options: dict
    wedge_edge: float
    interleaved: float
    noise_floor: float
    wedge_edge_ratio: float
    interleaved_ratio: float
    frc_resolution: float
    frc: list = field(default_factory=list)
    seconds: float = 0.0
    wedge_edge_per_tilt: list = field(default_factory=list, repr=False)
    edge_prediction: np.ndarray | None = field(default=None, repr=False)
    edge_held: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready (without the predicted projections)."""
        d = asdict(self)
        del d["edge_prediction"], d["edge_held"]
        return d


def _ratio(value: float, floor: float) -> float:
    return float(value / floor) if floor > 0 else float("inf")


def score_method(
    sino,
    angles_deg,
    method,
    options: dict | None = None,
    *,
    folds: int = 4,
    hold_deg: float | None = None,
    frc: bool = True,
    device: str = "auto",
) -> MethodScore:
    """All ground-truth-free scores of one method on a stack of sinograms.

    Parameters
    ----------
    sino : array_like, shape (n_slices, n_tilts, n_det) or (n_tilts, n_det)
    angles_deg : array_like, shape (n_tilts,)
    method : str or callable
        See :func:`holdout_residual`.
    options : dict, optional
    folds : int
        Interleaved folds (each one reconstruction); 0 skips them.
    hold_deg : float, optional
        See :func:`wedge_edge_split`.
    frc : bool
        Also the even/odd FRC (two reconstructions from half the tilts).
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    MethodScore

    Notes
    -----
    Costs ``1 + folds`` reconstructions of the slices, and two of half the
    tilts for the FRC.
    """
    t0 = time.perf_counter()
    s = np.asarray(sino, dtype=np.float32)
    if s.ndim == 2:
        s = s[None]
    a = np.asarray(angles_deg, dtype=np.float64)
    if s.ndim != 3 or s.shape[1] != a.size:
        raise ValueError(f"sinograms of shape {s.shape} do not match {a.size} angles")
    options = dict(options or {})
    edge_held = wedge_edge_split(a, hold_deg)
    edge_pred = _predict_held(s, a, edge_held, method, options, device)
    edge = np.mean((edge_pred - s[:, edge_held]) ** 2, axis=2)
    # columns along the measured arc: the first half one side of the wedge, the second the other
    held_idx = np.flatnonzero(edge_held)
    along_arc = [int(np.searchsorted(held_idx, i)) for i in _order(a) if edge_held[i]]
    edge = edge[:, along_arc]
    inter = [
        holdout_residual(s, a, held, method, options, device=device)
        for held in (interleaved_folds(a, folds) if folds else [])
    ]
    floor = float(np.mean([estimate_noise(x, a) ** 2 for x in s]))
    curve, resolution = [], float("nan")
    if frc:
        even, odd = even_odd_split(a)
        rec_even = _reconstruct(method, s[:, even], a[even], options, device)
        rec_odd = _reconstruct(method, s[:, odd], a[odd], options, device)
        freq, c = fourier_ring_correlation(rec_even, rec_odd)
        curve, resolution = c.tolist(), frc_resolution(freq, c)
    we = float(np.mean(edge))
    il = float(np.mean(inter)) if inter else float("nan")
    return MethodScore(
        method=method if isinstance(method, str) else getattr(method, "__name__", "custom"),
        options=options,
        wedge_edge=we,
        interleaved=il,
        noise_floor=floor,
        wedge_edge_ratio=_ratio(we, floor),
        interleaved_ratio=_ratio(il, floor),
        frc_resolution=resolution,
        frc=curve,
        seconds=time.perf_counter() - t0,
        wedge_edge_per_tilt=edge.tolist(),
        edge_prediction=edge_pred,
        edge_held=edge_held,
    )
