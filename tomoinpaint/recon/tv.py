"""Total-variation regularised reconstruction by Chambolle–Pock (PDHG).

Solves, for one sinogram ``b``::

    min_x  1/2 ||A x - b||_W^2  +  lam * a^2 * s * TV(x)   subject to  x >= 0

with ``A`` the ASTRA projector, ``TV`` the isotropic total variation, ``a``
the operator norm of ``A`` (found by power iteration, cached per geometry),
``W`` optional per-projection weights (default 1: the plain least squares) and
``s`` the image scale of the data (99.5th percentile of a quick WBP). The
iteration is PDHG with the diagonal preconditioning of Pock & Chambolle
(ICCV 2011) on ``K = [A ; grad]``, which converges several times faster than
scalar steps on tomographic operators. Because the data are normalised by
``s`` and the weight by ``a^2``,

* the weight ``lam`` is dimensionless: it does not change with the intensity
  units of the data, the detector width or the number of tilts;
* the result is returned in the units of the input.

Default weight (noise-adaptive)
-------------------------------
With ``weight="auto"`` the weight follows the noise level estimated from the
sinogram itself (:func:`estimate_noise`, relative to the image scale)::

    lam = max(TV_WEIGHT_FLOOR, TV_WEIGHT_PER_NOISE * sigma / s)

The two constants were fitted on validation data (shapes, natural images and
CT slices at 128², 45° wedge at 1.5° steps, noise-free and Beer–Lambert doses
I0 = 20,000 and 2,000, projected from a 2x finer grid) by
``benchmarks/tv_weight_calibration.py``: the best weight per image moved from
1e-5 to 3e-3 (300x) between noise-free and low-dose data; the rule came within
0.3 dB of that per-image oracle on average, a single fixed weight lost 1.1 dB.
See ``benchmarks/results/tv_weight_calibration.md``.

Default iteration count
-----------------------
500 (``benchmarks/tv_iterations.py``, same validation data): noisy data
gain nothing measurable beyond 300 iterations, noise-free piecewise-constant
objects keep gaining up to 1000; 500 is the compromise at about 1.7x the cost
of 300. Pass ``iterations`` to trade time for accuracy.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from ..geometry import Geometry, angular_weights
from ..project import Projector, resolve_device
from .common import as_geometry, check_positive_int
from .filters import filter_sinogram

__all__ = [
    "tv",
    "tv_solve",
    "default_weight",
    "estimate_noise",
    "auto_tv_weight",
    "operator_norm",
    "image_scale",
    "scale_and_weight",
    "TV_ITERATIONS",
    "TV_WEIGHT_FLOOR",
    "TV_WEIGHT_PER_NOISE",
]

log = logging.getLogger(__name__)

#: Default PDHG iterations (chosen on validation data, see module docstring).
TV_ITERATIONS = 500
#: Weight used on (nearly) noise-free data.
TV_WEIGHT_FLOOR = 1.8e-4
#: Weight per unit of relative noise standard deviation.
TV_WEIGHT_PER_NOISE = 1e-3
#: Ratio of dual to primal step length in the preconditioned PDHG.
STEP_RATIO = 10.0


def estimate_noise(sino: np.ndarray) -> float:
    """Robust estimate of the noise standard deviation in a sinogram.

    Median absolute deviation of the second difference along the angles and
    along the detector, divided by sqrt(6) (the std of a second difference of
    unit white noise); the smaller of the two is returned, since true
    structure (edges, texture) can only inflate either estimate.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det)

    Returns
    -------
    float
        Noise std in the units of ``sino`` (≈ 0 for noise-free data of
        piecewise-smooth objects).
    """
    s = np.asarray(sino, dtype=np.float64)
    estimates = []
    for d in (s[2:] - 2.0 * s[1:-1] + s[:-2], s[:, 2:] - 2.0 * s[:, 1:-1] + s[:, :-2]):
        if d.size:
            estimates.append(1.4826 * np.median(np.abs(d)) / np.sqrt(6.0))
    return float(min(estimates)) if estimates else 0.0


def auto_tv_weight(sino: np.ndarray, image_scale: float) -> float:
    """The default, noise-adaptive TV weight for one sinogram.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det)
    image_scale : float
        Typical image value (the scale the data is normalised by), in the
        units of the reconstruction.

    Returns
    -------
    float
        Dimensionless weight ``lam = max(TV_WEIGHT_FLOOR, TV_WEIGHT_PER_NOISE *
        sigma / image_scale)``.
    """
    sigma_rel = estimate_noise(sino) / max(image_scale, 1e-30)
    return float(max(TV_WEIGHT_FLOOR, TV_WEIGHT_PER_NOISE * sigma_rel))


def default_weight(sino, angles_deg, *, device: str = "auto") -> float:
    """The dimensionless weight ``lam`` that ``weight="auto"`` picks for one sinogram.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    float
    """
    geom = as_geometry(angles_deg, sino)
    b = geom.check_sinogram(sino)
    with Projector(geom, kernel="linear", device=device) as P:
        return scale_and_weight(P, b)[1]


def scale_and_weight(P: Projector, b: np.ndarray) -> tuple[float, float]:
    """Image scale and default weight of one sinogram: what TV regularises ``b`` with.

    A solver that works on the same object with another operator (e.g. the
    measured projections plus estimated ones) regularises as TV would on the
    measured data alone by passing these (``image_scale``, ``weight``) and the
    measured geometry's :func:`operator_norm` (``norm``) to :func:`tv_solve`
    (the TV term is ``lam * a^2 * s * TV(x)``).

    Parameters
    ----------
    P : Projector
        Of ``b``'s geometry.
    b : numpy.ndarray, shape (n_angles, n_det)

    Returns
    -------
    scale : float
        :func:`image_scale` (0 for an empty sinogram).
    weight : float
        :func:`auto_tv_weight` (``TV_WEIGHT_FLOOR`` when ``scale`` is 0).
    """
    scale = image_scale(P, b)
    return scale, (auto_tv_weight(b, scale) if scale > 0 else TV_WEIGHT_FLOOR)


def _grad(x: np.ndarray) -> np.ndarray:
    """Forward-difference gradient, Neumann boundary; (n, n) -> (2, n, n)."""
    g = np.zeros((2,) + x.shape, dtype=x.dtype)
    g[0, :-1] = x[1:] - x[:-1]
    g[1, :, :-1] = x[:, 1:] - x[:, :-1]
    return g


def _div(g: np.ndarray) -> np.ndarray:
    """Negative adjoint of :func:`_grad`; (2, n, n) -> (n, n)."""
    d = np.zeros(g.shape[1:], dtype=g.dtype)
    d[:-1] += g[0, :-1]
    d[1:] -= g[0, :-1]
    d[:, :-1] += g[1, :, :-1]
    d[:, 1:] -= g[1, :, :-1]
    return d


@lru_cache(maxsize=16)
def _operator_norm_cached(angles: tuple, n_det: int, device: str, iterations: int) -> float:
    with Projector(Geometry(np.array(angles), n_det), kernel="linear", device=device) as P:
        return power_iteration(P, iterations)


def power_iteration(P, iterations: int = 30) -> float:
    """Largest singular value of a linear operator with ``forward``/``back``/``vol_shape``."""
    rng = np.random.default_rng(0)
    x = rng.random(P.vol_shape).astype(np.float32)
    norm = 0.0
    for _ in range(iterations):
        x = P.back(P.forward(x))
        norm = float(np.linalg.norm(x))
        x /= norm
    return float(np.sqrt(norm))


def operator_norm(angles_deg, n_det: int, *, device: str = "auto", iterations: int = 30) -> float:
    """Largest singular value of the projector, by power iteration on AᵀA.

    Cached per geometry, since it is the same for every slice of a volume.
    """
    return _operator_norm_cached(
        tuple(np.asarray(angles_deg, float).tolist()),
        int(n_det),
        resolve_device(device),
        int(iterations),
    )


@lru_cache(maxsize=16)
def _preconditioners(angles: tuple, n_det: int, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Pock–Chambolle diagonal step sizes (alpha = 1) for K = [A; grad].

    Returns the primal steps ``1 / (column sums of |A| + 4)``, shape (n, n),
    and the data-dual steps ``1 / (row sums of |A|)``, shape (n_angles, n_det).
    (The gradient's row sums are 2, its column sums at most 4.)
    """
    with Projector(Geometry(np.array(angles), n_det), kernel="linear", device=device) as P:
        return _steps_of(P)


def _steps_of(op, row_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_preconditioners` of any non-negative operator ``op`` (uncached).

    With ``row_weights`` ``w``, of the weighted operator ``diag(sqrt(w)) op``
    (see :func:`_tv_one`).
    """
    rows = op.forward(np.ones(op.vol_shape, np.float32))
    ones = np.ones(op.geometry.sino_shape, np.float32)
    if row_weights is not None:
        root = np.sqrt(row_weights)[:, None]
        rows, ones = rows * root, ones * root
    cols = op.back(ones)
    tau = 1.0 / (cols + 4.0)
    sigma = 1.0 / np.maximum(rows, 1e-3)
    tau.setflags(write=False)
    sigma.setflags(write=False)
    return tau, sigma


def image_scale(P: Projector, b: np.ndarray) -> float:
    """Typical image value of the reconstruction of ``b``: 99.5th percentile of a quick WBP.

    Parameters
    ----------
    P : Projector
        Of ``b``'s geometry.
    b : numpy.ndarray, shape (n_angles, n_det)

    Returns
    -------
    float
        In the units of the reconstruction (0 for an empty sinogram).
    """
    w_ang = angular_weights(P.geometry.angles_deg).astype(np.float32)[:, None]
    quick = P.back(filter_sinogram(b) * w_ang)
    return float(np.percentile(np.abs(quick), 99.5))


def _tv_one(
    P: Projector,
    b: np.ndarray,
    weight,
    iterations: int,
    nonnegative: bool,
    norm: float,
    steps: tuple[np.ndarray, np.ndarray],
    x0: np.ndarray | None,
    row_weights: np.ndarray | None = None,
    scale: float | None = None,
) -> np.ndarray:
    scale = image_scale(P, b) if scale is None else float(scale)
    if scale <= 0:
        return np.zeros(P.vol_shape, dtype=np.float32)
    lam = auto_tv_weight(b, scale) if weight == "auto" else float(weight)
    lam_abs = np.float32(lam * norm**2)  # weight in the units of 1/2||Ax - b||^2
    bn = (b / scale).astype(np.float32)

    # Diagonally preconditioned PDHG; STEP_RATIO trades primal for dual step
    # length (measured: 10 converges fastest on 128² limited-angle data).
    tau0, sigma0 = steps
    tau = tau0 / STEP_RATIO
    sigma1 = sigma0 * STEP_RATIO
    sigma2 = np.float32(0.5 * STEP_RATIO)
    x = np.zeros(P.vol_shape, np.float32) if x0 is None else (x0 / scale).astype(np.float32)
    if nonnegative:
        np.maximum(x, 0.0, out=x)
    xbar = x.copy()
    # Row weights w enter as the operator sqrt(w) A and data sqrt(w) b (the same
    # objective), so that the preconditioner sees them: rows of small weight
    # barely shorten the primal steps, and TV on the other rows converges as fast
    # as without them.
    forward, back = P.forward, P.back
    if row_weights is not None:
        root = np.sqrt(row_weights)[:, None]
        bn = bn * root

        def forward(x):
            return P.forward(x) * root

        def back(y):
            return P.back(y * root)

    y1 = np.zeros_like(bn)
    y2 = np.zeros((2,) + P.vol_shape, np.float32)
    for _ in range(iterations):
        # Dual: data term F1(u) = 1/2 ||u - bn||^2, TV term F2 = lam_abs*||.||_{2,1}.
        y1 = (y1 + sigma1 * (forward(xbar) - bn)) / (1.0 + sigma1)
        y2 += sigma2 * _grad(xbar)
        y2 /= np.maximum(1.0, np.sqrt(y2[0] ** 2 + y2[1] ** 2) / lam_abs)
        # Primal: x - tau * K^T y, then the constraint.
        x_new = x - tau * (back(y1) - _div(y2))
        if nonnegative:
            np.maximum(x_new, 0.0, out=x_new)
        xbar = 2.0 * x_new - x
        x = x_new
    return (x * scale).astype(np.float32)


def _check_row_weights(row_weights, n_angles: int) -> np.ndarray | None:
    """``row_weights`` as float32 of shape (n_angles,), all positive; None stays None."""
    if row_weights is None:
        return None
    w = np.asarray(row_weights, dtype=np.float32)
    if w.shape != (n_angles,) or not np.all(np.isfinite(w) & (w > 0)):
        raise ValueError(
            f"row_weights must be {n_angles} positive numbers (one per projection), "
            f"got shape {w.shape}"
        )
    return w


def tv_solve(
    op,
    sino: np.ndarray,
    *,
    weight="auto",
    iterations: int = TV_ITERATIONS,
    nonnegative: bool = True,
    x0=None,
    row_weights=None,
    norm: float | None = None,
    scale: float | None = None,
) -> np.ndarray:
    """:func:`tv` of one sinogram with another linear operator than the plain projector.

    For operators built on a :class:`~tomoinpaint.project.Projector` (e.g. one
    that blurs some projections on the detector). The operator norm and the
    diagonal preconditioners are computed for ``op`` itself (not cached).

    Parameters
    ----------
    op : object
        Non-negative linear operator with ``forward(x)``, ``back(y)``,
        ``vol_shape`` and ``geometry`` (a :class:`~tomoinpaint.geometry.Geometry`).
    sino : numpy.ndarray, shape geometry.sino_shape
    weight, iterations, nonnegative, x0, row_weights
        As in :func:`tv`; ``x0`` of shape ``vol_shape``.
    norm : float, optional
        :func:`operator_norm` of ``op`` if known (else found by power iteration).
        It only scales the TV weight (``lam * norm**2``): a solver that adds
        estimated projections to measured ones passes the measured geometry's
        norm to regularise as TV of the measured data would.
    scale : float, optional
        The data's image scale (:func:`image_scale`), e.g. of the measured
        projections alone; default: of ``sino`` as a whole.

    Returns
    -------
    numpy.ndarray, float32, shape vol_shape
    """
    b = np.asarray(sino, np.float32)
    w = _check_row_weights(row_weights, op.geometry.angles_deg.size)
    init = None if x0 is None else np.asarray(x0, np.float32)
    norm = power_iteration(op) if norm is None else float(norm)
    steps = _steps_of(op, w)
    return _tv_one(op, b, weight, iterations, nonnegative, norm, steps, init, w, scale)


def tv(
    sino,
    angles_deg,
    *,
    weight="auto",
    iterations: int = TV_ITERATIONS,
    nonnegative: bool = True,
    x0=None,
    row_weights=None,
    device: str = "auto",
) -> np.ndarray:
    """TV-regularised reconstruction (Chambolle–Pock on ASTRA operators).

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    weight : "auto" or float
        Dimensionless TV weight ``lam`` (see the module docstring); "auto"
        adapts it to the noise estimated from each sinogram.
    iterations : int
        PDHG iterations (each costs one forward and one back projection).
    nonnegative : bool
    x0 : array_like, optional, shape (n_det, n_det) or (n_slices, n_det, n_det)
        Starting image, e.g. another method's output.
    row_weights : array_like, optional, shape (n_angles,)
        Positive weight of each projection in the data term (default: all 1),
        e.g. less than 1 for projections that were estimated, not measured.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    numpy.ndarray, shape (n_det, n_det) or (n_slices, n_det, n_det), float32
        In the units of the input.
    """
    geom = as_geometry(angles_deg, sino)
    s = geom.check_sinogram(sino)
    iterations = check_positive_int(iterations, "iterations")
    if weight != "auto":
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"TV weight must be 'auto' or a number, got {weight!r}") from None
        if not np.isfinite(weight) or weight <= 0:
            raise ValueError(f"TV weight must be positive, got {weight}")
    init = None if x0 is None else np.asarray(x0, np.float32)
    if init is not None and init.shape != s.shape[:-2] + (geom.n_det,) * 2:
        raise ValueError(f"x0 has shape {init.shape}, expected {s.shape[:-2] + (geom.n_det,) * 2}")
    w = _check_row_weights(row_weights, geom.angles_deg.size)
    norm = operator_norm(geom.angles_deg, geom.n_det, device=device)
    key = (tuple(geom.angles_deg.tolist()), geom.n_det, resolve_device(device))
    with Projector(geom, kernel="linear", device=device) as P:
        steps = _preconditioners(*key) if w is None else _steps_of(P, w)
        if s.ndim == 2:
            return _tv_one(P, s, weight, iterations, nonnegative, norm, steps, init, w)
        return np.stack(
            [
                _tv_one(
                    P,
                    s[k],
                    weight,
                    iterations,
                    nonnegative,
                    norm,
                    steps,
                    None if init is None else init[k],
                    w,
                )
                for k in range(s.shape[0])
            ]
        )
