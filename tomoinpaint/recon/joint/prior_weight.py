"""How far ``joint`` trusts the network prior: the automatic prior weight of each slice."""

from __future__ import annotations

import numpy as np

from .params import DEFAULTS

__all__ = ["auto_prior_weight", "coarse_weight_factor"]


def auto_prior_weight(
    noise: float,
    maximum: float | None = None,
    *,
    minimum: float = DEFAULTS.weight_min,
    noise_match: float = DEFAULTS.noise_match,
    resolution: float = 1.0,
    edge_error: float | None = None,
    edge_error_match: float | None = DEFAULTS.edge_error_match,
    coarse_weight: float | None = None,
) -> float:
    """The prior weight ``joint`` uses for data of relative noise ``noise``.

    Inverse-variance weighting: the network's projections are treated as
    measurements of a fixed relative error, so their weight relative to the
    measured ones grows with the measurements' noise variance,
    ``(noise / noise_match)**2`` clipped to [``minimum``, ``maximum``].
    On validation data with the depth-4 128-px TV network and the
    flip-averaged prior (``benchmarks/results/joint_tuning.md``, 4 samples
    per family) this rule (about 1-10 at moderate and 15-100 at low dose)
    beat every fixed weight: mean +1.79 dB over the better of SART and TV,
    its worst family +1.11 dB noise-free and at low dose; fixed weights 0.1
    to 100 gave +1.42 to +1.68. The noise was then read off TV's weight,
    whose floor kept it at 0.36 or more on noise-free data; read off the
    noise estimate itself, with ``minimum`` 0.1, clean data lean more on
    their measurements: +0.09 dB at 128² and +0.20 at 256² on noise-free
    validation data, noisier data unchanged
    (``benchmarks/results/prior_weight_floor.md``).

    Where the prior was made on a coarser grid than the input (noisy data
    wider than the network, :func:`~.prior.prior_image_size`), ``noise`` is taken at
    the prior's resolution: ``noise * resolution``, with ``resolution`` the
    prior's width over the input's. The relative noise per detector pixel
    grows about in proportion to the width at the same dose (Shepp-Logan at
    low dose: 1.80 at 256 px, 3.2 at 512 px, ``noise_levels.md``), so without
    this the rule read every low-dose slice from 256 px on as off its scale
    (weight 100) and trusted the coarse prior too much. Measured on
    validation data (``benchmarks/results/prior_weight_size.md``, the
    weight times ``resolution**p``): p = 2 (this rule) gained +0.46 / +0.27
    dB at 256 px (moderate / low dose) and +0.57 / +0.07 at 512 px over
    p = 0 (the rule before), its worst slice -0.08 dB; p = 1/2 and 1 gained
    less, a fixed weight of 10 lost 1.5 dB on clean data. Measured again
    once the data-consistency step's ratio followed the noise, a prior twice
    as coarse as the input did better with less weight still, and one eight
    times as coarse did not: the weight is multiplied by
    :func:`coarse_weight_factor` (:class:`~.params.JointParams`, where it is
    measured).

    Parameters
    ----------
    noise : float
        :func:`tomoinpaint.recon.tv_weights.relative_noise` of the sinogram
        (noise standard deviation / image scale).
    maximum : float, optional
        Upper clip (None: ``DEFAULTS.weight_max``).
    minimum, noise_match : float
        Lower clip, and the relative noise at which the weight is 1
        (:class:`~.params.JointParams`).
    resolution : float
        The prior's detector width over the input's (``prior.model_n /
        n_det``, at most 1): the noise is scaled to the prior's grid.
    edge_error : float, optional
        :func:`~.prior.measured_edge_error` of the slice. With ``edge_error_match``,
        if larger than it, the floor ``minimum`` becomes ``minimum *
        (edge_error_match / edge_error)**2`` (at least
        ``DEFAULTS.weight_floor``): a prior that misses the measured
        projections next to the wedge by more than ``edge_error_match`` gets
        less weight on clean data.
    edge_error_match : float, optional
        None: the floor stays ``minimum``.
    coarse_weight : float, optional
        Factor on the weight where ``resolution`` < 1, before the clip
        (None: :func:`coarse_weight_factor` of ``resolution``).

    Returns
    -------
    float
        In [``minimum``, ``maximum``].
    """
    top = DEFAULTS.weight_max if maximum is None else float(maximum)
    if not 0.0 < resolution <= 1.0:
        raise ValueError(f"resolution must be in (0, 1], got {resolution!r}")
    at_prior = float(noise) * float(resolution)
    if edge_error is not None and edge_error_match is not None and edge_error > edge_error_match:
        # only ever down: a prior that predicts the edge well gains nothing from more
        # weight (benchmarks/results/prior_weight_edge.md, shapes)
        minimum = max(minimum * (edge_error_match / edge_error) ** 2, DEFAULTS.weight_floor)
    weight = (at_prior / noise_match) ** 2
    if resolution < 1.0:
        weight *= coarse_weight_factor(resolution) if coarse_weight is None else coarse_weight
    return float(np.clip(weight, minimum, top))


def coarse_weight_factor(resolution: float) -> float:
    """Factor on the automatic prior weight of a prior ``1 / resolution`` times coarser
    than the input (:func:`auto_prior_weight`).

    1 at the input's size, ``DEFAULTS.coarse_weight`` at half of it, and 1
    again from ``DEFAULTS.coarse_weight_end`` times coarser on; log-linear in
    the width ratio in between (measured at 2, about 3, 4 and 8 times
    coarser: :class:`~.params.JointParams`).

    Parameters
    ----------
    resolution : float
        The prior's detector width over the input's, in (0, 1].

    Returns
    -------
    float
        In [``DEFAULTS.coarse_weight``, 1].
    """
    octaves = float(np.log2(1.0 / resolution))  # doublings from the prior's width
    dip = float(np.log2(DEFAULTS.coarse_weight))
    end = float(np.log2(DEFAULTS.coarse_weight_end))
    if octaves <= 0.0 or octaves >= end:
        return 1.0
    if octaves <= 1.0:
        return float(2.0 ** (dip * octaves))
    return float(2.0 ** (dip * (end - octaves) / (end - 1.0)))
