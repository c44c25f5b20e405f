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

The default weight follows the noise estimated from the sinogram
(:mod:`tomoinpaint.recon.tv_weights`).

Speed: on the CPU the projector is ASTRA's, stored as a sparse matrix
(:class:`~tomoinpaint.project.MatrixProjector`), and :data:`TV_BATCH`
slices iterate together, each exactly as it would alone; ``backend="astra"``
runs the same iteration slice by slice through ASTRA (and on CUDA).

Default iteration count
-----------------------
500 (``benchmarks/tv_iterations.py``, same validation data): noisy data
gain nothing measurable beyond 300 iterations, noise-free piecewise-constant
objects keep gaining up to 1000; 500 is the compromise at about 1.7x the cost
of 300. Pass ``iterations`` to trade time for accuracy. At 512 px the 500
iterations are not converged (``tv_iterations_512.md``) at the fixed step
ratio :data:`STEP_RATIO`, mostly on noisy data; the default ``step_ratio="auto"``
(:func:`step_ratio_for_weight`) converges several times faster there.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from ..geometry import Geometry
from ..project import MatrixProjector, Projector, open_projector, resolve_device
from .common import as_geometry, check_positive_int
from .tv_steps import STEP_RATIO, STEP_RATIO_WIDTH, check_step_ratio, step_ratio_for_weight
from .tv_weights import (
    TV_WEIGHT_FLOOR,
    TV_WEIGHT_PER_NOISE,
    auto_tv_weight,
    default_weight,
    estimate_noise,
    image_scale,
    scale_and_weight,
)

__all__ = [
    "tv",
    "tv_solve",
    "default_weight",
    "estimate_noise",
    "auto_tv_weight",
    "operator_norm",
    "image_scale",
    "scale_and_weight",
    "step_ratio_for_weight",
    "TV_ITERATIONS",
    "STEP_RATIO",
    "STEP_RATIO_WIDTH",
    "TV_WEIGHT_FLOOR",
    "TV_WEIGHT_PER_NOISE",
]

log = logging.getLogger(__name__)

#: Default PDHG iterations (chosen on validation data, see module docstring).
TV_ITERATIONS = 500


def _grad(x: np.ndarray) -> np.ndarray:
    """Forward-difference gradient, Neumann boundary; (..., n, n) -> (2, ..., n, n)."""
    g = np.zeros((2,) + x.shape, dtype=x.dtype)
    g[0, ..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    g[1, ..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return g


def _div(g: np.ndarray) -> np.ndarray:
    """Negative adjoint of :func:`_grad`; (2, ..., n, n) -> (..., n, n)."""
    d = np.zeros(g.shape[1:], dtype=g.dtype)
    d[..., :-1, :] += g[0, ..., :-1, :]
    d[..., 1:, :] -= g[0, ..., :-1, :]
    d[..., :, :-1] += g[1, ..., :, :-1]
    d[..., :, 1:] -= g[1, ..., :, :-1]
    return d


@lru_cache(maxsize=16)
def _operator_norm_cached(
    angles: tuple, n_det: int, device: str, iterations: int, backend: str
) -> float:
    geom = Geometry(np.array(angles), n_det)
    with open_projector(geom, kernel="linear", device=device, backend=backend) as P:
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


def operator_norm(
    angles_deg, n_det: int, *, device: str = "auto", iterations: int = 30, backend: str = "astra"
) -> float:
    """Largest singular value of the projector, by power iteration on AᵀA.

    Cached per geometry, since it is the same for every slice of a volume.
    ``backend`` (see :func:`~tomoinpaint.project.open_projector`) only
    changes the speed, and the value at float32 rounding.
    """
    return _operator_norm_cached(
        tuple(np.asarray(angles_deg, float).tolist()),
        int(n_det),
        resolve_device(device),
        int(iterations),
        backend,
    )


@lru_cache(maxsize=16)
def _preconditioners(
    angles: tuple, n_det: int, device: str, rows: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pock–Chambolle diagonal step sizes (alpha = 1) for K = [A; grad].

    Returns the primal steps ``1 / (column sums of |A| + 4)``, shape (n, n)
    (``(z1 - z0, n)`` for ``rows``), and the data-dual steps
    ``1 / (row sums of |A|)``, shape (n_angles, n_det).
    (The gradient's row sums are 2, its column sums at most 4.)
    """
    geom = Geometry(np.array(angles), n_det)
    with Projector(geom, kernel="linear", device=device, rows=rows) as P:
        return _steps_of(P)


def _steps_of(op, row_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_preconditioners` of any non-negative operator ``op`` (uncached).

    With ``row_weights`` ``w`` of shape (n_angles,) or (n_slices, n_angles),
    of the weighted operator ``diag(sqrt(w)) op`` (see :func:`_tv_batch`);
    the steps then have a leading slice axis for a stack of weights.
    """
    rows = op.forward(np.ones(op.vol_shape, np.float32))
    ones = np.ones(op.geometry.sino_shape, np.float32)
    if row_weights is not None:
        root = np.sqrt(row_weights)[..., None]
        rows, ones = rows * root, ones * root
    cols = op.back(ones)
    tau = 1.0 / (cols + 4.0)
    sigma = 1.0 / np.maximum(rows, 1e-3)
    tau.setflags(write=False)
    sigma.setflags(write=False)
    return tau, sigma


def _tv_batch(
    P,
    b: np.ndarray,
    weights,
    iterations: int,
    nonnegative: bool,
    norm: float,
    steps: tuple[np.ndarray, np.ndarray],
    x0: np.ndarray | None,
    row_weights: np.ndarray | None = None,
    scales=None,
    step_ratio=STEP_RATIO,
) -> np.ndarray:
    """Preconditioned PDHG on a stack of sinograms at once.

    Parameters
    ----------
    P : Projector or MatrixProjector (or an operator like them)
        Takes stacks: ``forward`` (S, n, n) -> (S, n_angles, n_det).
    b : numpy.ndarray, shape (S, n_angles, n_det)
    weights : "auto", float or sequence of S floats
        Dimensionless TV weight per slice.
    steps : (tau, sigma)
        :func:`_steps_of`, of shapes (n, n) / (n_angles, n_det) or with a
        leading S axis.
    x0 : numpy.ndarray, shape (S, n, n), optional
    row_weights : numpy.ndarray, shape (n_angles,) or (S, n_angles), optional
    scales : float or sequence of S floats, optional
        Image scale per slice (default :func:`image_scale` of each).
    step_ratio : float, "auto" or numpy.ndarray of shape (S,)
        Dual over primal step length (per slice); "auto":
        :func:`step_ratio_for_weight` of each slice's weight.

    Returns
    -------
    numpy.ndarray, float32, shape (S, n, n)

    Notes
    -----
    Slice ``k`` follows exactly the iteration it would follow alone (every
    operation is per slice; only the projector sees the whole stack), so the
    result does not depend on how slices are grouped.
    """
    n_slices = b.shape[0]
    scale = image_scale(P, b) if scales is None else scales
    scale = np.broadcast_to(np.asarray(scale, np.float64), (n_slices,))
    empty = scale <= 0
    scale32 = np.where(empty, 1.0, scale).astype(np.float32)[:, None, None]
    if isinstance(weights, str) and weights == "auto":
        lam = [
            auto_tv_weight(b[k], float(scale[k]), P.geometry.angles_deg)
            if not empty[k]
            else TV_WEIGHT_FLOOR
            for k in range(n_slices)
        ]
    else:
        lam = np.broadcast_to(np.asarray(weights, np.float64), (n_slices,))
    # weight in the units of 1/2||Ax - b||^2, per slice
    lam_abs = np.array([np.float32(v * norm**2) for v in lam], np.float32)[:, None, None]
    bn = (b / scale32).astype(np.float32)

    # Diagonally preconditioned PDHG; the step ratio trades primal for dual step
    # length (measured: 10 converges fastest on 128² limited-angle data from zero,
    # larger ratios on noisy data at larger widths: step_ratio_for_weight).
    tau0, sigma0 = steps
    ratio = (
        step_ratio_for_weight(np.asarray(lam, np.float64), P.geometry.n_det)
        if isinstance(step_ratio, str)  # "auto" (check_step_ratio)
        else np.broadcast_to(np.asarray(step_ratio, np.float64), (n_slices,))
    )
    ratio = ratio.astype(np.float32)[:, None, None]  # per slice
    tau = tau0 / ratio
    sigma1 = sigma0 * ratio
    sigma2 = 0.5 * ratio
    shape = (n_slices,) + tuple(P.vol_shape)
    x = np.zeros(shape, np.float32) if x0 is None else (x0 / scale32).astype(np.float32)
    if nonnegative:
        np.maximum(x, 0.0, out=x)
    xbar = x.copy()
    # Row weights w enter as the operator sqrt(w) A and data sqrt(w) b (the same
    # objective), so that the preconditioner sees them: rows of small weight
    # barely shorten the primal steps, and TV on the other rows converges as fast
    # as without them.
    forward, back = P.forward, P.back
    if row_weights is not None:
        root = np.sqrt(row_weights)[..., None]
        bn = bn * root

        def forward(x):
            return P.forward(x) * root

        def back(y):
            return P.back(y * root)

    y1 = np.zeros_like(bn)
    y2 = np.zeros((2,) + shape, np.float32)
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
    out = (x * scale32).astype(np.float32)
    out[empty] = 0.0
    return out


def _check_row_weights(row_weights, n_angles: int) -> np.ndarray | None:
    """``row_weights`` as float32 of shape (n_angles,) or (n_slices, n_angles), all positive."""
    if row_weights is None:
        return None
    w = np.asarray(row_weights, dtype=np.float32)
    if w.ndim not in (1, 2) or w.shape[-1] != n_angles or not np.all(np.isfinite(w) & (w > 0)):
        raise ValueError(
            f"row_weights must be {n_angles} positive numbers (one per projection), "
            f"got shape {w.shape}"
        )
    return w


#: Slices per PDHG run on a matrix projector (its ``stack``).
TV_BATCH = MatrixProjector.stack
#: Projector backends of :func:`tv`.
TV_BACKENDS = ("auto", "matrix", "astra", "astra3d")


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
    scale=None,
    step_ratio="auto",
) -> np.ndarray:
    """:func:`tv` of one sinogram or a stack with another linear operator than the plain projector.

    For operators built on a :class:`~tomoinpaint.project.Projector` or a
    :class:`~tomoinpaint.project.MatrixProjector` (e.g. one that blurs some
    projections on the detector). The operator norm and the diagonal
    preconditioners are computed for ``op`` itself (not cached).

    Parameters
    ----------
    op : object
        Non-negative linear operator with ``forward(x)``, ``back(y)`` (on
        stacks too), ``vol_shape`` and ``geometry``.
    sino : numpy.ndarray, shape geometry.sino_shape or (n_slices, *sino_shape)
    weight : "auto", float or sequence of n_slices floats
    iterations, nonnegative
        As in :func:`tv`.
    x0 : array_like, optional, shape vol_shape or (n_slices, *vol_shape)
    row_weights : array_like, optional, shape (n_angles,) or (n_slices, n_angles)
    norm : float, optional
        :func:`operator_norm` of ``op`` if known (else found by power iteration).
        It only scales the TV weight (``lam * norm**2``): a solver that adds
        estimated projections to measured ones passes the measured geometry's
        norm to regularise as TV of the measured data would.
    scale : float or sequence of n_slices floats, optional
        The data's image scale (:func:`image_scale`), e.g. of the measured
        projections alone; default: of ``sino`` as a whole.
    step_ratio : float, "auto" or sequence of n_slices floats
        Ratio of the dual to the primal step length of the preconditioned
        PDHG (per slice, if a sequence): it changes how fast the iteration
        converges, not the problem solved. From zero, "auto" (the default,
        :func:`step_ratio_for_weight`) converges fastest on noisy data; a
        start close to the answer may take longer dual steps.

    Returns
    -------
    numpy.ndarray, float32, shape vol_shape or (n_slices, *vol_shape)
    """
    b = np.asarray(sino, np.float32)
    one = b.ndim == 2
    step_ratio = check_step_ratio(step_ratio, n_slices=1 if one else b.shape[0])
    w = _check_row_weights(row_weights, op.geometry.angles_deg.size)
    init = None if x0 is None else np.asarray(x0, np.float32)
    norm = power_iteration(op) if norm is None else float(norm)
    steps = _steps_of(op, w)
    if one:
        b = b[None]
        init = None if init is None else init[None]
    out = _tv_batch(op, b, weight, iterations, nonnegative, norm, steps, init, w, scale, step_ratio)
    return out[0] if one else out


def tv(
    sino,
    angles_deg,
    *,
    weight="auto",
    iterations: int = TV_ITERATIONS,
    nonnegative: bool = True,
    x0=None,
    row_weights=None,
    backend: str = "auto",
    slab: tuple[int, int] | None = None,
    device: str = "auto",
    step_ratio="auto",
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
        Starting image, e.g. another method's output (``(z1 - z0, n_det)``
        per slice with ``slab``).
    row_weights : array_like, optional, shape (n_angles,)
        Positive weight of each projection in the data term (default: all 1),
        e.g. less than 1 for projections that were estimated, not measured.
    backend : {"auto", "matrix", "astra", "astra3d"}
        The projector: "matrix" runs :data:`TV_BATCH` slices at a time
        through ASTRA's projector stored as a sparse matrix (CPU; several
        times faster), "astra" one slice at a time through ASTRA (the
        solver as it was), "astra3d" a stack at a time through ASTRA's 3D
        CUDA projector (with ``slab``, "astra": the 3D projector takes
        whole slices only); "auto" the matrix on the CPU when it fits in
        memory, the 3D projector on CUDA where it reproduces the 2D one
        (:func:`~tomoinpaint.project.open_projector`).
        The iteration is the same: results agree to float32 rounding.
    slab : (int, int), optional
        Reconstruct rows ``z0..z1-1`` of each slice only, zero outside them:
        a support constraint, as SART's ``slab`` (see :func:`~tomoinpaint.recon.sart`).
        Much sharper when the specimen lies inside the slab, much worse when
        it does not (``benchmarks/results/slab_support_tv.md``), and faster:
        the projector, its matrix and every iteration are the slab's size.
        The weight is scaled by the whole slice's operator norm, so it means
        what it means without ``slab`` (found once per geometry and process,
        by power iteration through ASTRA: the whole slice's matrix is not built).
    device : {"auto", "cpu", "cuda"}
    step_ratio : float or "auto"
        Dual over primal step length: how fast the iteration converges, not
        what it converges to. "auto" (the default: :func:`step_ratio_for_weight`
        of each slice's weight and width) converges several times faster than
        the fixed :data:`STEP_RATIO` on noisy slices from 256 px on
        (``benchmarks/results/tv_step_ratio*.md``) and is the same on
        noise-free data up to 768 px. The networks' TV inputs were made, and
        the TV results committed before the switch measured, at
        :data:`STEP_RATIO` (each result's header names its commit).

    Returns
    -------
    numpy.ndarray, shape (n_det, n_det) or (n_slices, n_det, n_det), float32
        In the units of the input; ``(z1 - z0, n_det)`` per slice with ``slab``.
    """
    geom = as_geometry(angles_deg, sino)
    s = geom.check_sinogram(sino)
    iterations = check_positive_int(iterations, "iterations")
    step_ratio = check_step_ratio(step_ratio)
    if weight != "auto":
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"TV weight must be 'auto' or a number, got {weight!r}") from None
        if not np.isfinite(weight) or weight <= 0:
            raise ValueError(f"TV weight must be positive, got {weight}")
    if backend not in TV_BACKENDS:
        raise ValueError(f"unknown TV backend {backend!r}; choose one of {', '.join(TV_BACKENDS)}")
    rows = None if slab is None else (int(slab[0]), int(slab[1]))  # the projector checks them
    plane = (geom.n_det,) * 2 if rows is None else (rows[1] - rows[0], geom.n_det)
    init = None if x0 is None else np.asarray(x0, np.float32)
    if init is not None and init.shape != s.shape[:-2] + plane:
        raise ValueError(f"x0 has shape {init.shape}, expected {s.shape[:-2] + plane}")
    w = _check_row_weights(row_weights, geom.angles_deg.size)
    if w is not None and w.ndim != 1:
        raise ValueError(f"row_weights must have shape ({geom.angles_deg.size},), got {w.shape}")
    key = (tuple(geom.angles_deg.tolist()), geom.n_det, resolve_device(device), rows)
    one = s.ndim == 2
    stack = s[None] if one else s
    if one and init is not None:
        init = init[None]
    if rows is not None and backend == "astra3d":
        backend = "astra"  # the 3D stack projector takes whole slices only
    with open_projector(geom, kernel="linear", device=device, backend=backend, rows=rows) as P:
        batch = P.stack
        # the whole slice's norm even for a slab: it scales the weight (see above)
        backend_of_norm = "astra" if P.backend == "matrix" and rows is not None else P.backend
        norm = operator_norm(geom.angles_deg, geom.n_det, device=device, backend=backend_of_norm)
        steps = _preconditioners(*key) if w is None else _steps_of(P, w)
        out = np.empty((stack.shape[0],) + plane, np.float32)
        for k in range(0, stack.shape[0], batch):
            part = slice(k, k + batch)
            x0_part = None if init is None else init[part]
            out[part] = _tv_batch(
                P,
                stack[part],
                weight,
                iterations,
                nonnegative,
                norm,
                steps,
                x0_part,
                w,
                step_ratio=step_ratio,
            )
    return out[0] if one else out
