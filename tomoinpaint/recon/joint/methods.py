"""The four deep methods, each with the signature of every reconstruction method."""

from __future__ import annotations

import numpy as np

from ..common import check_positive_int
from ..wbp import wbp
from .consistency import (
    call_noise,
    data_consistency,
    slice_noise,
    step_iterations,
)
from .model import get_model
from .params import DEFAULTS, PRIOR_SIZES, check_prior_weight
from .prior import network_prior, prior_image_size
from .prior import prior_tv_iterations as tv_iterations_for
from .regrid import as_stack, prepare, resize_images
from .steps import deartifact_grid, inpaint_grid, missing_rows, paper_images

__all__ = ["inpaint", "deartifact", "paper", "joint", "joint_prior", "joint_from_prior"]


def inpaint(
    sino,
    angles_deg,
    *,
    model=None,
    filter: str = "ram-lak",
    batch_size: int = 16,
    device: str = "auto",
) -> np.ndarray:
    """Inpaint the missing wedge, then WBP of measured + inpainted projections.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    model : str, path-like or JointModel, optional
        Weights directory (default: the shipped weights).
    filter : str
        WBP ramp filter.
    batch_size : int
        Slices per network forward pass.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    numpy.ndarray, float32, shape (n_det, n_det) or (n_slices, n_det, n_det)
    """
    geom, s, single = as_stack(sino, angles_deg)
    m = get_model(model, device)
    st = prepare(m, s, geom.angles_deg)
    inpaint_grid(m, st, check_positive_int(batch_size, "batch_size"))
    extra_angles, extra = missing_rows(m, st, geom.n_det)
    angles = np.concatenate([geom.angles_deg, extra_angles])
    rec = wbp(np.concatenate([s, extra], axis=1), angles, filter=filter, device=device)
    out = rec.reshape(s.shape[0], geom.n_det, geom.n_det)
    return out[0] if single else out


def deartifact(
    sino, angles_deg, *, model=None, batch_size: int = 16, device: str = "auto"
) -> np.ndarray:
    """The de-artifact network applied to the WBP of the measured projections.

    The WBP is made on the model's grid and size (as in training) and the
    result resampled to the input's detector width. Parameters and returns as
    :func:`inpaint` (without ``filter``: the model's training filter is used).
    """
    geom, s, single = as_stack(sino, angles_deg)
    m = get_model(model, device)
    st = prepare(m, s, geom.angles_deg)
    rec = wbp(
        st.grid_sino[:, st.covered], m.angles_deg[st.covered], filter=m.wbp_filter, device=device
    ).reshape(s.shape[0], m.n, m.n)
    out = resize_images(
        deartifact_grid(m, st, rec, check_positive_int(batch_size, "batch_size")), geom.n_det
    )
    return out[0] if single else out


def paper(
    sino, angles_deg, *, model=None, batch_size: int = 16, device: str = "auto"
) -> np.ndarray:
    """The published two-step pipeline: inpaint -> WBP -> de-artifact.

    Runs on the model's grid and size; the image is resampled to the input's
    detector width. Parameters and returns as :func:`deartifact`.
    """
    geom, s, single = as_stack(sino, angles_deg)
    m = get_model(model, device)
    st = prepare(m, s, geom.angles_deg)
    out = paper_images(m, st, geom.n_det, check_positive_int(batch_size, "batch_size"), device)
    return out[0] if single else out


def joint(
    sino,
    angles_deg,
    *,
    model=None,
    prior_weight: float | str = DEFAULTS.prior_weight,
    iterations: int | str = "auto",
    weight="auto",
    prior_source: str = DEFAULTS.prior_source,
    prior_size: str = DEFAULTS.prior_size,
    prior_tv_iterations: int | None = None,
    batch_size: int = 16,
    device: str = "auto",
) -> np.ndarray:
    """The deep model made consistent with the measurements (the default deep method).

    1. :func:`network_prior` gives an image and projections for the missing
       angles (``prior_source="tv"``, the default: the TV de-artifact network
       on TV of the measured data, reprojected; ``"paper"``: the paper
       pipeline's image and the inpainted projections).
    2. :func:`data_consistency`: TV-regularised least squares on the measured
       projections (weight 1) plus the prior's (weight ``prior_weight``,
       compared at the networks' resolution) at the missing angles and, for
       the "tv" prior, at the measured ones too (so noisy measurements lean
       on the network, clean ones dominate it), started from that image,
       ``iterations`` PDHG steps. The measurements themselves are never
       altered: they stay a term of the fit.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    model : str, path-like or JointModel, optional
        Weights directory (default: the shipped weights).
    prior_weight : "auto" or float
        Data-term weight of the network's projections (at the missing angles
        and, with the "tv" prior, at the measured ones), a positive number
        (1: as a measured projection); "auto": :func:`auto_prior_weight` of
        each slice's noise, read at the prior's resolution, and on clean data
        of how far the network's image misses the measured projections next
        to the wedge (:func:`~.prior.measured_edge_error`).
    iterations : int or "auto"
        PDHG iterations of the data-consistency step; "auto":
        :func:`~.consistency.step_iterations` (150 up to 128 px, 300 from
        256 px on, log-linear in the width between; 300 at any width on
        clean data, relative noise below ``DEFAULTS.step_clean_noise``).
    weight : "auto" or float
        TV weight on the measured data as in :func:`tomoinpaint.recon.tv`
        ("auto": the noise-adaptive default of TV for these data).
    prior_source : {"paper", "tv"}
        Where the networks' image and missing projections come from
        (:func:`network_prior`).
    prior_size : {"network", "input", "auto"}
        "tv" prior only: TV and the network at the size the network was
        trained at ("network", then resampled) or at the input's detector
        width ("input": the prior keeps the input's resolution; TV on the
        measured data then costs what it costs at that size); "auto": the
        input's width for clean data, the network's for noisy data (the
        median relative noise of the slices against ``input_size_noise``,
        :func:`~.prior.prior_image_size`); for weights written by
        ``tomoinpaint adapt``, on clean data the size it chose.
    prior_tv_iterations : int, optional
        "tv" prior only: PDHG iterations of its TV (default: what the TV
        network was trained on, more for clean data and larger slices,
        :func:`~.prior.prior_tv_iterations`).
    batch_size : int
        Slices per network forward pass.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    numpy.ndarray, float32, shape (n_det, n_det) or (n_slices, n_det, n_det)
        In the units of the input.
    """
    check_prior_weight(prior_weight)  # before the networks run
    if iterations != "auto":
        iterations = check_positive_int(iterations, "iterations")
    geom, s, single = as_stack(sino, angles_deg)
    prior, noise_estimates = joint_prior(
        s,
        geom.angles_deg,
        model=model,
        prior_source=prior_source,
        prior_size=prior_size,
        prior_tv_iterations=prior_tv_iterations,
        batch_size=batch_size,
        device=device,
    )
    out = joint_from_prior(
        s,
        geom.angles_deg,
        prior,
        noise_estimates,
        prior_weight=prior_weight,
        iterations=iterations,
        weight=weight,
        device=device,
    )
    return out[0] if single else out


def joint_from_prior(
    sino,
    angles_deg,
    prior,
    noise_estimates,
    *,
    prior_weight: float | str = DEFAULTS.prior_weight,
    iterations: int | str = "auto",
    weight="auto",
    device: str = "auto",
    step_ratio: float | str = "auto",
) -> np.ndarray:
    """:func:`joint`'s second half: the data-consistency step from a prior made already.

    ``joint(sino, angles, **o)`` is ``joint_from_prior(sino, angles,
    *joint_prior(sino, angles, ...), **o)``, bit for bit. Reconstructions
    of the same data that differ only in the step's settings (``--method
    auto``'s candidates at several prior weights) make the prior once.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    prior : NetworkPrior
    noise_estimates : (numpy.ndarray, numpy.ndarray), shapes (n_slices,)
        Both from :func:`joint_prior` of the same ``sino`` and ``angles_deg``.
    prior_weight, iterations, weight, device
        As in :func:`joint`.
    step_ratio : float or "auto"
        Of the step's PDHG iteration (:func:`data_consistency`); "auto":
        :func:`~.consistency.step_ratio_for` the input's size, the prior's and
        each slice's TV weight (at least plain TV's own ratio for it).

    Returns
    -------
    numpy.ndarray, float32, shape (n_slices, n_det, n_det)
    """
    check_prior_weight(prior_weight)
    if iterations != "auto":
        iterations = check_positive_int(iterations, "iterations")
    geom, s, _ = as_stack(sino, angles_deg)
    if iterations == "auto":
        iterations = step_iterations(geom.n_det, call_noise(noise_estimates))
    return data_consistency(
        s,
        geom.angles_deg,
        prior,
        prior_weight=prior_weight,
        iterations=iterations,
        weight=weight,
        device=device,
        noise_estimates=noise_estimates,
        step_ratio=step_ratio,
    )


def joint_prior(
    sino,
    angles_deg,
    *,
    model=None,
    prior_source: str = DEFAULTS.prior_source,
    prior_size: str = DEFAULTS.prior_size,
    prior_tv_iterations: int | None = None,
    prior_align: bool = DEFAULTS.prior_align,
    batch_size: int = 16,
    device: str = "auto",
):
    """The network prior exactly as :func:`joint` makes it, and the slices' noise estimates.

    The prior's size and its TV's iteration count follow the data's median
    noise (:func:`~.prior.prior_image_size`, :func:`~.prior.prior_tv_iterations`),
    as in :func:`joint`, whose parameters these are; benchmarks that vary only
    the data-consistency step start from it.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    prior_align : bool
        Turn the wedge to where the networks were trained on it
        (:func:`network_prior`'s ``align``); ``False`` only to measure what
        that gives (``benchmarks/wedge_alignment.py``).

    Returns
    -------
    prior : NetworkPrior
        With a leading slice axis.
    noise_estimates : (numpy.ndarray, numpy.ndarray), shapes (n_slices,)
        :func:`~.consistency.slice_noise` of the slices, for :func:`data_consistency`.
    """
    geom, s, _ = as_stack(sino, angles_deg)
    if prior_size not in PRIOR_SIZES:
        raise ValueError(f"prior_size must be one of {', '.join(PRIOR_SIZES)}, got {prior_size!r}")
    model = get_model(model, device)
    noise_estimates = slice_noise(s, geom.angles_deg, device=device)
    noise = call_noise(noise_estimates)
    size = prior_image_size(model, geom.n_det, prior_size, noise)
    if prior_tv_iterations is None and prior_source == "tv":
        prior_tv_iterations = tv_iterations_for(model, size, noise, geom.n_det)
    prior = network_prior(
        s,
        geom.angles_deg,
        model=model,
        source=prior_source,
        size=size,
        tv_iterations=prior_tv_iterations,
        align=prior_align,
        batch_size=batch_size,
        device=device,
    )
    return prior, noise_estimates
