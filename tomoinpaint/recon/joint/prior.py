"""What the networks say about a stack of slices (:class:`NetworkPrior`); how far to trust it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...geometry import Geometry, wedge_edge_tilts
from ...nn.inference import run_inpainter
from ...project import open_projector
from ..common import check_positive_int
from ..tv import STEP_RATIO, tv
from .model import JointModel, get_model
from .params import DEFAULTS, PRIOR_SOURCES
from .regrid import (
    as_stack,
    prepare,
    resample_detector,
    resize_images,
    rotate_slices,
    to_input_units,
    unwrap_at_wedge,
    wedge_alignment,
)
from .steps import deartifact_flipped, missing_rows, paper_images, symmetric_flips

__all__ = [
    "NetworkPrior",
    "network_prior",
    "edge_error",
    "is_clean",
    "prior_image_size",
    "prior_tv_iterations",
]


@dataclass(frozen=True)
class NetworkPrior:
    """What the networks say about a stack of slices, in the input's units.

    Attributes
    ----------
    image : numpy.ndarray, shape (n_slices, n_det, n_det)
        The paper pipeline's slices (inpaint -> WBP -> de-artifact), resampled.
    angles_deg : numpy.ndarray, shape (n_missing,)
        Model-grid angles outside the measured tilt range.
    rows : numpy.ndarray, shape (n_slices, n_missing, n_det)
        The inpainted projections at those angles.
    model_n : int
        Detector width of the networks: ``rows`` hold no detail finer than
        ``n_det / model_n`` input pixels.
    edge_error : numpy.ndarray, shape (n_slices,), optional
        How well the inpainter predicts measured projections it is not shown
        (:func:`edge_error`): relative RMS error, noise included.
    measured_rows : numpy.ndarray, shape (n_slices, n_angles, n_det), optional
        The network image's projections at the measured angles (same
        resolution as ``rows``): a second, noise-free but biased estimate of
        the measurements.
    """

    image: np.ndarray
    angles_deg: np.ndarray
    rows: np.ndarray
    #: detector width the networks worked at (the rows' true resolution)
    model_n: int
    #: per slice, relative error of the inpainter on held-out measured rows (or None)
    edge_error: np.ndarray | None = None
    #: (n_slices, n_angles, n_det): the network image's projections at the
    #: measured angles, in the sinogram's row order and units (or None)
    measured_rows: np.ndarray | None = None


def edge_error(
    m: JointModel, grid_sino: np.ndarray, covered: np.ndarray, *, rows: int = 3, batch_size=16
) -> np.ndarray:
    """Relative error of the inpainter on measured rows it is made to inpaint.

    The ``rows`` measured rows on each side of the missing band are hidden,
    inpainted and compared with their measurements: a per-slice check of how
    far to trust the inpainted projections (the error deeper in the wedge is
    larger). Noise in the measurements is included.

    Parameters
    ----------
    m : JointModel
    grid_sino : numpy.ndarray, shape (B, n_grid, n)
        Regridded sinograms (:func:`to_model_grid`).
    covered : numpy.ndarray of bool, shape (n_grid,)
    rows : int
        Measured rows hidden on each side.
    batch_size : int

    Returns
    -------
    numpy.ndarray, shape (B,)
        ``||inpainted - measured|| / ||measured||`` over the hidden rows.
    """
    idx = np.flatnonzero(covered)
    miss = np.flatnonzero(~covered)
    if idx.size <= 2 * rows or not miss.size:
        return np.full(grid_sino.shape[0], np.nan)
    # the covered rows closest (in row order, i.e. angle) to the band, on each side
    before, after = idx[idx < miss.min()], idx[idx > miss.max()]
    hidden = np.concatenate([before[-rows:], after[:rows]])
    mask = covered.copy()
    mask[hidden] = False
    full = run_inpainter(m.inpainter, grid_sino, mask, batch_size=batch_size, device=m.device)
    diff = np.linalg.norm((full[:, hidden] - grid_sino[:, hidden]).reshape(len(full), -1), axis=1)
    ref = np.linalg.norm(grid_sino[:, hidden].reshape(len(full), -1), axis=1)
    return diff / np.maximum(ref, 1e-30)


def network_prior(
    sino,
    angles_deg,
    *,
    model=None,
    source: str = "paper",
    flips: bool = DEFAULTS.prior_flips,
    align: bool = DEFAULTS.prior_align,
    size: int | None = None,
    tv_iterations: int | None = None,
    batch_size: int = 16,
    device: str = "auto",
) -> NetworkPrior:
    """Run the networks once: an image and projections for the missing angles.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    model, batch_size, device
        As in :func:`joint`.
    source : {"paper", "tv"}
        "paper": the paper pipeline's image and the inpainter's projections;
        "tv": the de-artifact network for TV inputs (``deartifact_tv`` of
        the weights, else the paper's) applied to TV of the measured
        projections on the model grid (on their own angles where they are
        further apart than the grid's: :func:`tv_on_measured_angles`), and
        that image's projections at the missing angles.
    flips : bool
        "tv" only: average the network over the flips of
        :func:`symmetric_flips` (the paper pipeline stays as published).
    align : bool
        "tv" only: turn the object (by relabelling the angles,
        :func:`~.regrid.wedge_alignment`) so that its missing wedge lies
        where the network's training put it, and the network's image back.
    size : int, optional
        "tv" only: detector pixels (and slice size) at which TV and the
        network run; default the size the TV network was trained at. The
        network is fully convolutional: at the input's width, its image and
        projections carry the input's own resolution
        (``benchmarks/results/prior_resolution.md``).
    tv_iterations : int, optional
        "tv" only: PDHG iterations of the prior's TV (default:
        :func:`prior_tv_iterations` at that size; ``joint`` passes its
        count for the data's noise).

    Returns
    -------
    NetworkPrior
        Always with a leading slice axis.
    """
    if source not in PRIOR_SOURCES:
        raise ValueError(f"source must be one of {', '.join(PRIOR_SOURCES)}, got {source!r}")
    batch_size = check_positive_int(batch_size, "batch_size")
    geom, s, _ = as_stack(sino, angles_deg)
    m = get_model(model, device)
    if source == "paper":
        st = prepare(m, s, geom.angles_deg)
        image = paper_images(m, st, geom.n_det, batch_size, device)
        extra_angles, extra = missing_rows(m, st, geom.n_det)
        err = edge_error(m, st.grid_sino, st.covered, batch_size=batch_size)
        return NetworkPrior(image, extra_angles, extra, m.n, err)
    # TV and its network at the network's own slice size, on the model's angles,
    # with the object turned by delta so that the wedge lies where it did in training
    n_tv = m.tv_size
    if size is not None:
        n_tv = check_positive_int(size, "size")
    delta = wedge_alignment(m, geom.angles_deg) if align else 0.0
    aligned = geom.angles_deg + delta
    st_tv = prepare(m, s, aligned, n_tv)
    cov = st_tv.covered
    iterations = prior_tv_iterations(m, n_tv) if tv_iterations is None else tv_iterations
    iterations = check_positive_int(iterations, "tv_iterations")
    # the step ratio the networks' TV inputs were made with
    tv_opts = {"iterations": iterations, "device": device, "step_ratio": STEP_RATIO}
    if tv_on_measured_angles(geom.angles_deg, m.angles_deg):
        # rows interpolated between tilts further apart than the grid's are no projections
        measured = resample_detector(s, n_tv) / np.float32(st_tv.factor)
        rec = tv(measured, aligned, **tv_opts)
    else:
        rec = tv(st_tv.grid_sino[:, cov], m.angles_deg[cov], **tv_opts)
    net = m.deartifact if m.deartifact_tv is None else m.deartifact_tv
    flipset = symmetric_flips(m.angles_deg, cov) if flips else [()]
    small = deartifact_flipped(m, st_tv, rec.reshape(-1, n_tv, n_tv), batch_size, net, flipset)
    # projections of the turned image at the turned angles are the object's at the
    # input's: no image is resampled for the rows
    extra = m.angles_deg[~cov]
    # measured angles first, as data_consistency orders them: at the input's size
    # (and delta 0) both project through the same cached projector
    both = np.concatenate([aligned, extra])
    with open_projector(Geometry(both, n_tv), kernel="linear", device=device) as P:
        rows = P.forward(np.maximum(small, 0.0))
    rows = to_input_units(rows.reshape(small.shape[0], both.size, n_tv), st_tv, geom.n_det)
    k = aligned.size
    image = resize_images(small, geom.n_det)
    if delta != 0.0:
        image = rotate_slices(image, -delta)
    return NetworkPrior(image, extra - delta, rows[:, k:], n_tv, measured_rows=rows[:, :k])


#: How much coarser than the model grid's step the tilts may be and keep the grid
#: (rounding in angle files: 1.5° written as 1.49 or 1.51).
STEP_SLACK = 0.05


def tv_on_measured_angles(angles_deg, grid_deg) -> bool:
    """Whether the "tv" prior's TV runs on the measured angles rather than the model grid.

    On the grid, each grid angle's row is interpolated between the two
    nearest tilts (:func:`~.regrid.to_model_grid`). Where the tilts are
    further apart than the grid's angles, most grid rows lie between tilts
    and their interpolation is no projection of the object: TV of those
    rows is an image the network never learned from: at 3° steps, low dose
    and below, ``joint`` fell up to 8 dB below TV on held-out data and
    ``auto`` kept it (``benchmarks/results/gt_free_agreement_dosesnoise-free-
    low-200_step3_grid_prior.md``; with this rule, ``..._step3.md``). TV of the
    measured projections themselves, at the grid's detector width, has the
    artefacts of the real sampling instead. Tilts as close as the grid's or
    closer (the 1.5° the networks learned on, a 1° micro-CT scan) keep the
    grid, as before.

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)
        The measured tilt angles, degrees.
    grid_deg : array_like, shape (n_grid,)
        The model's grid.

    Returns
    -------
    bool
        True where the measured angles' median step (taken as one arc,
        :func:`~.regrid.unwrap_at_wedge`) exceeds the grid's by more than
        :data:`STEP_SLACK`.
    """
    a = np.sort(unwrap_at_wedge(np.asarray(angles_deg, np.float64))[0])
    g = np.sort(np.asarray(grid_deg, np.float64))
    if a.size < 2 or g.size < 2:
        return False
    return float(np.median(np.diff(a))) > (1.0 + STEP_SLACK) * float(np.median(np.diff(g)))


def prior_tv_iterations(
    model, n: int | None = None, noise: float | None = None, n_input: int | None = None
) -> int:
    """PDHG iterations of the "tv" prior's TV on slices of ``n`` px.

    The count the TV network's inputs had in training (``model.tv_iterations``)
    times the larger of ``n`` and ``n_input`` over the network's training
    size and, for clean data, times ``DEFAULTS.prior_tv_clean_factor``; the
    factor clipped to [1, ``DEFAULTS.prior_tv_scale_max``] (clean data:
    [1, ``DEFAULTS.prior_tv_clean_scale_max``]). TV of a larger
    or a cleaner slice needs more iterations to be as converged as the
    inputs the network learned from; data from a wider detector resampled
    onto a smaller prior grid are averaged over detector pixels there, and
    so cleaner (:class:`~.params.JointParams`).

    Parameters
    ----------
    model : JointModel
    n : int, optional
        Slice size at which the prior's TV runs (default: the network's).
    noise : float, optional
        The data's relative noise (:func:`~.consistency.slice_noise`); clean
        below ``DEFAULTS.input_size_noise``. None: not scaled for it.
    n_input : int, optional
        The input's detector width, if larger than ``n``.

    Returns
    -------
    int
    """
    trained = model.tv_size
    n = trained if n is None else n
    factor = max(max(n, n_input or 0) / trained, 1.0)
    cap = DEFAULTS.prior_tv_scale_max
    if noise is not None and is_clean(noise):
        factor *= DEFAULTS.prior_tv_clean_factor
        cap = DEFAULTS.prior_tv_clean_scale_max
    return int(round(model.tv_iterations * min(factor, cap)))


def is_clean(noise: float) -> bool:
    """Whether data of this relative noise count as clean to ``joint``'s prior.

    Clean data (relative noise below ``DEFAULTS.input_size_noise``) get the
    prior at the input's width (:func:`prior_image_size`) and more TV
    iterations for it (:func:`prior_tv_iterations`).
    """
    return noise < DEFAULTS.input_size_noise


def prior_image_size(model, n_det: int, prior_size: str, noise: float | None = None) -> int | None:
    """The slice size at which the "tv" prior runs (``network_prior``'s ``size``).

    Parameters
    ----------
    model : JointModel
    n_det : int
        The input's detector width.
    prior_size : {"network", "input", "auto"}
        "network": the size the TV network works at (None); "input":
        ``n_det``; "auto": ``n_det`` for clean data (relative ``noise`` below
        :data:`~.params.DEFAULTS` ``.input_size_noise``), else the network's
        size. Measured on data the networks never saw at 256 and 512 px
        (``benchmarks/results/realsize_quality.md``): noise-free, the prior at
        the input's size was above the 128-px one in every case (+0.7 to
        +2.1 dB); at low dose below it in every case; on the tooth (relative
        noise 0.83) as well. A network fine-tuned by ``tomoinpaint adapt``
        runs on clean data where its card says (``model.clean_prior_size``,
        chosen on the data it learned: :mod:`tomoinpaint.adapt.prior_size`),
        by default at the size it was adapted at.
    noise : float, optional
        The data's relative noise (:func:`~.consistency.slice_noise`);
        needed for "auto".

    Returns
    -------
    int or None
        None: the network's own size.
    """
    if prior_size == "network":
        return None
    if prior_size == "input":
        return int(n_det)
    if noise is None:
        raise ValueError('prior_size "auto" needs the relative noise of the data')
    if not is_clean(noise) or model.clean_prior_size == "network":
        return None
    # within the sizes the network was trained on, if it was trained on several
    sizes = model.tv_sizes
    return int(min(n_det, max(sizes))) if len(sizes) > 1 else int(n_det)


def measured_edge_error(
    prior: NetworkPrior,
    sino: np.ndarray,
    angles_deg,
    scales,
    degrees: float = DEFAULTS.edge_degrees,
) -> np.ndarray | None:
    """How far the prior's image misses the measured projections next to the missing wedge.

    Per slice, the root mean square of the prior's projections
    (``prior.measured_rows``) minus the measurements at the tilts within
    ``degrees`` of the wedge (:func:`~tomoinpaint.geometry.wedge_edge_tilts`),
    over the slice's image scale: in the units of
    :func:`~tomoinpaint.recon.tv_weights.relative_noise`. The measured
    tilts nearest the wedge are where the network's guess can be checked
    closest to where it is used; the measurements' own noise is included.

    Parameters
    ----------
    prior : NetworkPrior
        With ``measured_rows`` (the "tv" prior).
    sino : numpy.ndarray, shape (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    scales : array_like, shape (n_slices,)
        :func:`~tomoinpaint.recon.tv.image_scale` of each slice.
    degrees : float

    Returns
    -------
    numpy.ndarray, shape (n_slices,), or None
        None where the prior has no measured rows; ``inf`` for an empty slice
        (scale 0).
    """
    if prior.measured_rows is None:
        return None
    edge = wedge_edge_tilts(angles_deg, degrees)
    diff = prior.measured_rows[:, edge] - np.asarray(sino, np.float32)[:, edge]
    rms = np.sqrt(np.mean(np.square(diff, dtype=np.float64), axis=(1, 2)))
    scales = np.asarray(scales, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scales > 0, rms / scales, np.inf)
