"""Data consistency: TV on the measured projections plus the network prior's."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ...geometry import Geometry
from ...project import open_projector
from ..common import check_positive_int
from ..tv import image_scale, operator_norm, tv_solve
from ..tv_steps import check_step_ratio, step_ratio_for_weight
from ..tv_weights import relative_noise, tv_weight_for_noise
from .params import DEFAULTS, check_prior_weight
from .prior import NetworkPrior, measured_edge_error
from .prior_weight import auto_prior_weight
from .regrid import as_stack, detector_blur
from .steps import nearest_gap

__all__ = [
    "data_consistency",
    "slice_noise",
    "step_iterations",
    "call_noise",
    "step_ratio_for",
    "step_weights",
    "prior_row_subset",
    "BlurredRows",
    "DetectorBlur",
    "opposite_rows",
]


class DetectorBlur:
    """``row @ blur`` and its adjoint, for a banded ``blur`` (:func:`~.regrid.detector_blur`).

    Stored sparse: the resampling down and up touches a few neighbouring
    detector pixels (8 of 256, 20 of 512), so the product costs O(n) per row
    instead of O(n²), which at 512 px cost as much as the projections.
    """

    def __init__(self, blur: np.ndarray):
        self.matrix = scipy.sparse.csr_matrix(np.asarray(blur, np.float32))
        self.matrix_t = self.matrix.T.tocsr()

    @staticmethod
    def _product(y: np.ndarray, m) -> np.ndarray:
        flat = y.reshape(-1, y.shape[-1])
        return np.asarray(flat @ m, dtype=np.float32).reshape(y.shape[:-1] + (m.shape[1],))

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """``y @ blur`` over the last axis."""
        return self._product(y, self.matrix)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``y @ blur.T`` over the last axis."""
        return self._product(y, self.matrix_t)


class BlurredRows:
    """A projector whose rows ``rows`` are seen through a detector blur, and blurred copies.

    Rows ``[0, n_base)`` are the projector's, those in ``rows`` seen through
    the detector blur; after them, if ``copies`` are given, come blurred
    copies of the rows ``copies``. The fit uses a copy of a measured row for
    the prior's estimate of it: it stands for the projection at θ + 180°
    with the detector reversed (the same line integrals) but is computed
    from the projection at θ, one projection per angle instead of two.

    Parameters
    ----------
    P : Projector or MatrixProjector (or an operator like them)
    rows : numpy.ndarray of bool, shape (n_base,)
        The projector's rows seen through the blur.
    blur : numpy.ndarray, shape (n_det, n_det)
        :func:`~.regrid.detector_blur`, or None for none (copies only).
    copies : sequence of int, optional
        The projector's rows that get a blurred copy (none of them in ``rows``).
    geometry : Geometry, optional
        Of all rows when there are copies: P's angles, then ``angle + 180°``
        of each copy (for shapes and angular weights; nothing is projected
        at those angles). Default: P's.
    """

    def __init__(self, P, rows: np.ndarray, blur, copies=(), geometry: Geometry | None = None):
        self.P, self.rows = P, np.asarray(rows, bool)
        self.blur = None if blur is None else DetectorBlur(blur)
        self.copies = np.asarray(copies, int)
        self.geometry = P.geometry if geometry is None else geometry
        self.vol_shape = P.vol_shape
        self.n_base = P.geometry.angles_deg.size

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(..., n, n) -> (..., n_rows, n_det)."""
        y = self.P.forward(x)
        copies = y[..., self.copies, :]
        if self.blur is not None:
            copies = self.blur(copies)
            y[..., self.rows, :] = self.blur(y[..., self.rows, :])
        return np.concatenate([y, copies], axis=-2) if self.copies.size else y

    def back(self, y: np.ndarray) -> np.ndarray:
        """(..., n_rows, n_det) -> (..., n, n)."""
        base = np.array(y[..., : self.n_base, :], dtype=np.float32, copy=True)
        copies = y[..., self.n_base :, :]
        if self.blur is not None:
            base[..., self.rows, :] = self.blur.adjoint(base[..., self.rows, :])
            copies = self.blur.adjoint(copies)
        base[..., self.copies, :] += copies
        return self.P.back(base)


def opposite_rows(measured_deg: np.ndarray, taken_deg: np.ndarray) -> np.ndarray:
    """Which measured angles θ have θ + 180° free (mod 360°) among ``taken_deg``.

    Returns
    -------
    numpy.ndarray of bool, shape (n_measured,)
    """
    return nearest_gap(np.asarray(measured_deg, np.float64) + 180.0, taken_deg, 360.0) > 1e-6


def step_iterations(n_det: int, noise: float | None = None) -> int:
    """PDHG iterations of the data-consistency step for an input ``n_det`` px wide.

    ``DEFAULTS.iterations`` up to ``DEFAULTS.step_width`` px, ``DEFAULTS.step_scale_max``
    times that from twice the width on, log-linear in the width between:
    detail at the input's own pixel size takes more iterations to build from
    the measurements, whether the prior ran at the input's size or on a
    coarser grid (:class:`~.params.JointParams`). Clean data (relative noise
    below ``DEFAULTS.step_clean_noise``) get at least
    ``DEFAULTS.step_clean_scale`` times ``DEFAULTS.iterations`` at any width:
    their fit to the measurements keeps improving for longer.

    Parameters
    ----------
    n_det : int
        The input's detector width.
    noise : float, optional
        The data's relative noise (the median of :func:`slice_noise`'s over
        the slices of a call); None: not read.

    Returns
    -------
    int
    """
    doublings = np.log2(max(n_det, 1) / DEFAULTS.step_width)
    factor = min(
        max(1.0 + (DEFAULTS.step_scale_max - 1.0) * doublings, 1.0), DEFAULTS.step_scale_max
    )
    if noise is not None and noise < DEFAULTS.step_clean_noise:
        factor = max(factor, DEFAULTS.step_clean_scale)
    return int(round(DEFAULTS.iterations * factor))


def step_ratio_for(n_det: int, prior_n: int, tv_weight=None):
    """The step's PDHG step ratio for an input ``n_det`` px wide and a prior made at ``prior_n``.

    ``DEFAULTS.step_ratio_coarse`` where the prior ran on a coarser grid than
    the input (noisy data), ``DEFAULTS.step_ratio`` where it ran at the
    input's size (:class:`~.params.JointParams`). Given the slices' TV
    weights, at least TV's own ratio for them
    (:func:`~tomoinpaint.recon.tv.step_ratio_for_weight`): the step solves
    TV's problem with the prior's rows added, and on noisy slices from 256 px
    on its dual variable is as slow to reach as TV's.

    Parameters
    ----------
    n_det, prior_n : int
    tv_weight : float or numpy.ndarray, optional
        Dimensionless TV weight(s) of the step (one per slice).

    Returns
    -------
    float, or numpy.ndarray of the shape of ``tv_weight``
    """
    base = DEFAULTS.step_ratio_coarse if prior_n < n_det else DEFAULTS.step_ratio
    if tv_weight is None:
        return base
    return np.maximum(base, step_ratio_for_weight(tv_weight, n_det))


def prior_row_subset(angles_deg, resolution: int, spacing: float | None) -> np.ndarray:
    """Indices of the prior's missing-angle rows that the data-consistency step fits.

    The prior's projections vary slowly with the angle at the detail they
    hold: rows ``resolution`` px wide (the networks' grid, or the input's
    where the prior ran there) are fitted every ``spacing *
    DEFAULTS.step_width / resolution`` degrees (every k-th row of the
    angular grid, k the largest whole number of grid steps that fits); the
    step weighs each kept row for the rows it stands for. Fewer rows make
    each iteration cheaper (:class:`~.params.JointParams`).

    Parameters
    ----------
    angles_deg : numpy.ndarray, shape (n_missing,)
        :attr:`~.prior.NetworkPrior.angles_deg` (an evenly spaced grid).
    resolution : int
        Detector pixels of detail the rows hold.
    spacing : float or None
        Degrees between fitted rows at ``DEFAULTS.step_width`` px; None: all rows.

    Returns
    -------
    numpy.ndarray of int, shape (n_kept,)
    """
    a = np.asarray(angles_deg, np.float64)
    if spacing is None or a.size < 3:
        return np.arange(a.size)
    grid = float(np.median(np.abs(np.diff(a))))
    want = float(spacing) * DEFAULTS.step_width / max(int(resolution), 1)
    stride = max(1, int(want / grid + 1e-9)) if grid > 0 else 1
    return np.arange(0, a.size, stride)


def slice_noise(sino, angles_deg, *, device: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Image scale and relative noise of each slice's measured projections.

    What the data-consistency step's TV weight and prior weight follow, and
    ``joint``'s choice of prior size (``prior_size="auto"``): computed once
    per call of ``joint`` and handed to :func:`data_consistency`.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    scales : numpy.ndarray, shape (n_slices,)
        :func:`~tomoinpaint.recon.tv.image_scale` of each slice.
    noises : numpy.ndarray, shape (n_slices,)
        :func:`~tomoinpaint.recon.tv_weights.relative_noise` of each slice.
    """
    geom, s, _ = as_stack(sino, angles_deg)
    scales, noises = np.zeros(s.shape[0]), np.zeros(s.shape[0])
    with open_projector(geom, kernel="linear", device=device) as P:
        for k in range(s.shape[0]):
            scales[k] = image_scale(P, s[k])
            noises[k] = relative_noise(s[k], scales[k], geom.angles_deg)
    return scales, noises


def call_noise(noise_estimates: tuple[np.ndarray, np.ndarray]) -> float:
    """The relative noise a call of ``joint`` goes by: the median over its slices.

    What the prior's size (:func:`~.prior.prior_image_size`) and the step's
    iteration count (:func:`step_iterations`) follow.

    Parameters
    ----------
    noise_estimates : (numpy.ndarray, numpy.ndarray), shapes (n_slices,)
        :func:`slice_noise`'s image scales and relative noises.

    Returns
    -------
    float
    """
    return float(np.median(noise_estimates[1]))


def step_weights(
    prior: NetworkPrior,
    sino: np.ndarray,
    angles_deg,
    noise_estimates: tuple[np.ndarray, np.ndarray],
    *,
    weight="auto",
    prior_weight: float | str = DEFAULTS.prior_weight,
    edge_error_match: float | None = DEFAULTS.edge_error_match,
) -> tuple[np.ndarray, np.ndarray]:
    """The TV weight and the prior weight of each slice in :func:`data_consistency`.

    Parameters
    ----------
    prior : NetworkPrior
    sino : numpy.ndarray, shape (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    noise_estimates : (numpy.ndarray, numpy.ndarray), shapes (n_slices,)
        :func:`slice_noise` of ``sino``.
    weight, prior_weight, edge_error_match
        As in :func:`data_consistency`.

    Returns
    -------
    tv_weights, prior_weights : numpy.ndarray, shapes (n_slices,)
    """
    scales, noises = (np.asarray(v, np.float64) for v in noise_estimates)
    # the automatic weight reads the noise at the prior's resolution
    resolution = min(prior.model_n / np.shape(sino)[-1], 1.0)
    edge_errors = None
    if prior_weight == "auto" and edge_error_match is not None:
        edge_errors = measured_edge_error(prior, sino, angles_deg, scales)
    tv_weights = np.array(
        [tv_weight_for_noise(v) if weight == "auto" else float(weight) for v in noises]
    )
    if prior_weight != "auto":
        return tv_weights, np.full(noises.shape, float(prior_weight))
    prior_weights = np.array(
        [
            auto_prior_weight(
                v,
                resolution=resolution,
                edge_error=None if edge_errors is None else float(edge_errors[k]),
                edge_error_match=edge_error_match,
            )
            for k, v in enumerate(noises)
        ]
    )
    return tv_weights, prior_weights


def data_consistency(
    sino,
    angles_deg,
    prior: NetworkPrior,
    *,
    prior_weight: float | str = DEFAULTS.prior_weight,
    iterations: int = DEFAULTS.iterations,
    weight="auto",
    step_ratio: float | str = DEFAULTS.step_ratio,
    start: str = "prior",
    blur_prior: bool = True,
    prior_resolution: int | None = DEFAULTS.prior_resolution,
    measured_prior: bool = DEFAULTS.measured_prior,
    device: str = "auto",
    measured_form: str = "auto",
    noise_estimates: tuple[np.ndarray, np.ndarray] | None = None,
    edge_error_match: float | None = DEFAULTS.edge_error_match,
    prior_row_spacing: float | None = DEFAULTS.prior_row_spacing,
) -> np.ndarray:
    """TV on the measured projections plus the prior's, started from the prior's image.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    prior : NetworkPrior
        From :func:`network_prior` on the same data.
    prior_weight, iterations, weight
        As in :func:`joint`.
    step_ratio : float or "auto"
        Dual over primal step length of the PDHG iteration
        (:func:`~tomoinpaint.recon.tv.tv_solve`; :class:`~.params.JointParams`);
        "auto": :func:`step_ratio_for` the input's size, the prior's and
        each slice's TV weight.
    start : {"prior", "zero"}
        Starting image of the PDHG iterations.
    blur_prior : bool
        Compare the prior's projections with the image's at the networks'
        resolution (both blurred by the detector resampling to
        ``prior.model_n`` and back), so the prior constrains only the detail
        the networks resolve; the measured projections keep full resolution.
    prior_resolution : int, optional
        Compare at this many detector pixels instead, if fewer than the
        networks' (trust only coarser detail of the prior).
    measured_prior : bool
        Also compare the image with ``prior.measured_rows`` at the measured
        angles, with the same weight as the missing rows: two estimates of
        those projections, weighted by inverse variance, so noisy data lean
        on the network and clean data on the measurements. The rows are
        passed at θ + 180° with the detector reversed (the same line
        integrals; the geometry allows no repeated angle); a measured angle
        whose opposite is measured too gets none. Where the prior is compared
        at full resolution (no blur), the two estimates are merged instead,
        the same least-squares problem without extra rows: ``(y + w p) / (1 + w)``
        with weight ``1 + w``.
    device : {"auto", "cpu", "cuda"}
    measured_form : {"auto", "merged", "rows"}
        How ``measured_prior`` enters the fit: "merged" (one row per measured
        angle, exact at full resolution), "rows" (extra rows at θ + 180°), or
        "auto" (merged where the prior is not blurred). Both describe the
        same least-squares problem when nothing is blurred.
    noise_estimates : (scales, noises), optional
        :func:`slice_noise` of the same data, if the caller has it already
        (default: computed here).
    edge_error_match : float, optional
        ``prior_weight="auto"``: the floor of the weight follows the prior's
        :func:`~.prior.measured_edge_error` (:func:`~.prior_weight.auto_prior_weight`);
        None: it does not.
    prior_row_spacing : float, optional
        Fit the prior's missing-angle rows this many degrees apart at
        ``DEFAULTS.step_width`` px of detail (:func:`prior_row_subset`);
        None: every row.

    Returns
    -------
    numpy.ndarray, float32, shape (n_slices, n_det, n_det)
    """
    check_prior_weight(prior_weight)
    if start not in ("prior", "zero"):
        raise ValueError(f"start must be 'prior' or 'zero', got {start!r}")
    iterations = check_positive_int(iterations, "iterations")
    step_ratio = check_step_ratio(step_ratio)
    geom, s, _ = as_stack(sino, angles_deg)
    blur = None
    n_blur = prior.model_n if prior_resolution is None else min(prior.model_n, prior_resolution)
    if blur_prior and n_blur < geom.n_det:
        blur = detector_blur(geom.n_det, n_blur)
    keep = prior_row_subset(prior.angles_deg, min(n_blur, geom.n_det), prior_row_spacing)
    # each kept row stands for the rows around it: the prior's total weight is unchanged
    row_share = prior.angles_deg.size / max(keep.size, 1)
    angles = np.concatenate([geom.angles_deg, prior.angles_deg[keep]])
    prior_rows = prior.rows[:, keep]
    use_measured = measured_prior and prior.measured_rows is not None
    if measured_form not in ("auto", "merged", "rows"):
        raise ValueError(f"measured_form must be auto, merged or rows, got {measured_form!r}")
    merge = use_measured and (
        blur is None if measured_form == "auto" else measured_form == "merged"
    )
    n_base = angles.size  # measured and missing angles: the ones projected
    copies = np.empty(0, int)
    if use_measured and not merge:
        # the prior's estimate of a measured row enters as a row at θ + 180° (the
        # geometry allows no repeated angle), computed as a copy of the row at θ
        opposite = opposite_rows(geom.angles_deg, angles)
        copies = np.flatnonzero(opposite)
        angles = np.concatenate([angles, geom.angles_deg[opposite] + 180.0])
        prior_rows = np.concatenate([prior_rows, prior.measured_rows[:, opposite]], axis=1)
    is_prior = np.arange(angles.size) >= geom.angles_deg.size
    is_missing = is_prior & (np.arange(angles.size) < n_base)
    out = np.empty((s.shape[0], geom.n_det, geom.n_det), np.float32)
    # TV's weight is lam * a^2 * scale of the measured data alone (a: the
    # operator norm, scale: the image scale), so that the prior rows change the
    # data term only, not how strongly TV regularises.
    n_slices = s.shape[0]
    # one noise estimate per slice for both: TV's weight and the prior's follow it
    if noise_estimates is None:
        noise_estimates = slice_noise(s, geom.angles_deg, device=device)
    measured_scales, noises = (np.asarray(v, np.float64) for v in noise_estimates)
    if measured_scales.shape != (n_slices,) or noises.shape != (n_slices,):
        raise ValueError(f"noise_estimates must hold {n_slices} scales and {n_slices} noises")
    with open_projector(Geometry(angles[:n_base], geom.n_det), kernel="linear", device=device) as P:
        norm = operator_norm(geom.angles_deg, geom.n_det, device=device, backend=P.backend)
        if blur is None and not copies.size:
            op = P
        else:
            op = BlurredRows(P, is_prior[:n_base], blur, copies, Geometry(angles, geom.n_det))
        lams, prior_weights = step_weights(
            prior,
            s,
            geom.angles_deg,
            (measured_scales, noises),
            weight=weight,
            prior_weight=prior_weight,
            edge_error_match=edge_error_match,
        )
        scales = np.zeros(n_slices)
        sinos = np.empty((n_slices, angles.size, geom.n_det), np.float32)
        row_weights = np.empty((n_slices, angles.size), np.float32)
        for k in range(n_slices):
            scale, pw = measured_scales[k], float(prior_weights[k])
            measured, w_measured = s[k], 1.0
            if merge:
                # |Ax - y|^2 + pw |Ax - p|^2 = (1 + pw) |Ax - (y + pw p) / (1 + pw)|^2 + const
                measured = (s[k] + pw * prior.measured_rows[k]) / np.float32(1.0 + pw)
                w_measured = 1.0 + pw
            row_weights[k] = np.where(is_prior, np.float32(pw), np.float32(w_measured))
            row_weights[k, is_missing] *= np.float32(row_share)
            # The rows are already the networks' rows resampled up (blur = up o down),
            # i.e. in the blurred operator's range: they are compared as they are.
            sinos[k] = np.concatenate([measured, prior_rows[k]])
            # a sinogram of zeros regularises with the scale of all its rows, as before
            scales[k] = scale if scale > 0 else image_scale(op, sinos[k])
        ratios = (
            step_ratio_for(geom.n_det, prior.model_n, tv_weight=lams)
            if step_ratio == "auto"
            else np.full(n_slices, step_ratio)
        )
        # the slices are solved together where the projector takes stacks at once
        # (the matrix, ASTRA 3D); each follows the iteration it would follow alone
        batch = P.stack
        for k in range(0, n_slices, batch):
            part = slice(k, k + batch)
            out[part] = tv_solve(
                op,
                sinos[part],
                weight=lams[part],
                iterations=iterations,
                x0=prior.image[part] if start == "prior" else None,
                row_weights=row_weights[part],
                norm=norm,
                scale=scales[part],
                step_ratio=ratios[part],
            )
    return out
