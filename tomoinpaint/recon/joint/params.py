"""The defaults of the deep methods, in one frozen object.

Every default of :func:`~tomoinpaint.recon.joint.joint` and its steps comes
from :data:`DEFAULTS`, read when the package is imported (the methods'
signatures show them, and the CLI and the output sidecars read them from
there). To run with other values, pass them as arguments; to compare settings
(``benchmarks/joint_tuning.py``), build another :class:`JointParams`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = ["JointParams", "DEFAULTS", "PRIOR_SOURCES", "PRIOR_SIZES", "check_prior_weight"]

#: Where :func:`~tomoinpaint.recon.joint.network_prior` takes its image and projections from.
PRIOR_SOURCES = ("paper", "tv")
#: At what size the "tv" prior's TV and network run (:func:`~tomoinpaint.recon.joint.joint`).
PRIOR_SIZES = ("network", "input", "auto")


@dataclass(frozen=True)
class JointParams:
    """Tuned settings of ``joint``; each value's source is given below.

    Attributes
    ----------
    prior_weight : "auto" or float
        Data-term weight of the network's projections (a measured one: 1);
        "auto": :func:`~tomoinpaint.recon.joint.auto_prior_weight` of each
        slice's noise (at the prior's resolution, where it ran on a coarser
        grid: ``benchmarks/results/prior_weight_size.md``). Chosen on
        validation data: the automatic rule beat every fixed weight 0.1 to 100
        (``benchmarks/results/joint_tuning.md``).
    noise_match : float
        Relative noise (std / image scale, as TV's weight rule measures it,
        :func:`~tomoinpaint.recon.tv_weights.relative_noise`) at
        which the network's projections are weighted like a measurement
        (weight 1); ``joint_tuning.md``.
    coarse_weight : float
        Factor on the automatic prior weight where the prior ran on a grid
        half as wide as the input's (noisy data of twice the network's
        width), before the clip to [``weight_min``, ``weight_max``]; at other
        widths :func:`~tomoinpaint.recon.joint.prior_weight.coarse_weight_factor`.
        Measured with the step's ratio by noise: on validation data
        (``benchmarks/results/step_weights.md``, factors 2 to 1/4) 0.25
        gained +0.16 dB on average at 256 px (worst cell -0.02; sliced 3D
        objects +0.49 / +0.17 at moderate / low dose); at 512 px
        (``step_weights_512.md``, factors 1 to 1/16) 0.5 gained +0.07 (worst
        cell -0.05) and 0.25 +0.10 (worst -0.13, SSIM down by up to 0.005);
        on the tooth at 400 px (``step_weights_tooth.md``) 0.25 to 0.125
        gained +0.05 / +0.06, 0.5 +0.03. On held-out data at 1024 px
        (``realsize_quality_n1024_coarse_weight.md``) 0.25 lost 0.20 and
        0.50 dB at low dose against the factor 1.
    coarse_weight_end : float
        From this ratio of the input's width to the prior's on (8: 1024 px
        for the 128-px networks), the factor is 1 (the rule before).
    weight_min : float
        Smallest automatic prior weight (noise-free data): 0.1, against
        0.36 before (``benchmarks/results/prior_weight_floor.md``).
    edge_error_match : float or None
        On clean data the floor ``weight_min`` falls to ``weight_min *
        (edge_error_match / e)**2`` (at least ``weight_floor``) where the
        network image misses the measured projections next to the wedge by a
        relative error ``e`` larger than this
        (:func:`~tomoinpaint.recon.joint.prior.measured_edge_error`): the
        closest check of the network's guess to where it is used, so a
        network that errs there on an object unlike its training set is
        trusted less in the wedge. None: the floor stays ``weight_min``.
        Measured on noise-free validation data at 128 px
        (``benchmarks/results/prior_weight_edge.md``): +0.15 dB on average
        (30° +0.28, 45° +0.15, 60° +0.00; CT +0.78 / +0.42 / -0.09 and sliced
        3D objects +0.35 / +0.19 / +0.09 at 30° / 45° / 60°, shapes and
        natural images unchanged), worst slice
        -0.21; 0.15 and 0.3 gained less, and raising the floor too where
        ``e`` is smaller lost up to 0.59 dB on shapes. Noisy data are
        unchanged: their edge error includes their noise, and the noise
        rule's weight is the larger (at 256 px no validation slice changed).
    weight_floor : float
        The smallest weight the edge rule gives.
    edge_degrees : float
        Degrees of measured tilts next to the wedge, on each side, whose
        projections the edge error compares.
    weight_max : float
        Largest automatic prior weight (low dose: the network's projections
        count up to a hundred times a measured one). On validation data a
        larger clip changed nothing and 10 lost up to 0.04 dB
        (``joint_tuning.md``).
    prior_source : {"paper", "tv"}
        Where the prior comes from: the TV de-artifact network on TV of the
        measured data ("tv", +0.5 to +1.3 dB over "paper" on validation data).
    prior_size : {"network", "input", "auto"}
        Where the "tv" prior's TV and network run: at the network's training
        size (128 px), or at the input's width, or ("auto", the default) at
        the input's width for clean data and the network's for noisy data
        (``input_size_noise``). Measured with the installed weights:
        on validation data at 256² (``benchmarks/results/prior_resolution.md``)
        the input's size gained +3.3 / +1.4 / -0.05 dB noise-free (shapes /
        natural / CT) and lost up to 2.7 dB at moderate dose; on held-out
        data the networks never saw, at 256 and 512 px
        (``benchmarks/results/realsize_quality.md``), it was above the
        network's size in all 7 noise-free cases (+0.7 to +2.1 dB) and below
        it in all 11 noisy ones, and on the real tooth (relative noise 0.83)
        below it too. At 128 px both are the same. Clean data at 512 px cost
        about twice the time (TV at the input's size).
    input_size_noise : float
        ``prior_size="auto"``: data whose relative noise (median over the
        slices of a call) is below this are "clean" and get the prior at the
        input's size. Measured (``benchmarks/results/noise_levels.md``):
        simulated noise-free slices 0.06 to 0.31 at 256-512 px, moderate
        dose 0.74 to 2.10, low dose 1.80 and more, the real tooth 0.83 to 0.88.
    prior_tv_clean_factor : float
        The "tv" prior's TV runs the iterations its network was trained on
        (``tv_iterations`` of the weights' card, 150 for the installed
        network) times this on clean data (relative noise below
        ``input_size_noise``), and times the ratio of the input's (or the
        prior's, if larger) slice size to the network's training size, the
        product clipped to [1,
        ``prior_tv_scale_max``] (:func:`~tomoinpaint.recon.joint.prior.prior_tv_iterations`).
        Why: PDHG converges more slowly on clean data (a smaller TV weight;
        ``benchmarks/results/tv_iterations.md``: noise-free slices keep
        gaining up to 1000 iterations, noisy ones stop at about 300), and
        spreads information about a pixel per iteration, so a larger slice
        needs proportionally more (and a wider detector resampled onto the
        prior's 128-px grid is averaged there: cleaner). Measured on
        validation data with the installed network
        (``benchmarks/results/prior_tv_iterations_scaled.md``, 128 and
        256 px, every dose): at 128 px 150 / 225 / 300 iterations for every
        slice gave -0.07 / +0.20 / +0.27 dB against the earlier network
        (worst cell -1.19, noise-free shapes / +0.07 / +0.07) at 0.75 /
        0.93 / 1.11x TV's time; this rule (300 on clean, 150 on noisy data)
        keeps clean data at the cost they had before, and makes noisy ones
        faster. At 256 px 225 and 300 beat 150 at every dose.
    prior_tv_scale_max : float
        The largest factor of the prior's TV iterations over the training
        count on noisy data (whose prior runs at the network's size).
    prior_tv_clean_scale_max : float
        The same on clean data, whose prior's TV runs at the input's size:
        3 (450 iterations from 256 px on; 300 at 128 px, unchanged). Measured
        on noise-free validation data at 512 px
        (``benchmarks/results/prior_tv_iterations_512clean.md``, one slice per
        family): 300 / 450 / 600 iterations gave +0.63 / +1.67 / +2.24 dB over
        TV (sharp-edged shapes +1.3 / +4.3 / +5.9; CT -0.03 / -0.10 / -0.18)
        at 1.00 / 1.29 / 1.61x TV's time. Clean data of 256 px and more pay
        about 1.3x TV's time for it.
    prior_resolution : int or None
        Detector pixels at which the prior's projections are compared (None:
        the networks' own size).
    iterations : int
        PDHG iterations of the data-consistency step (it starts from the
        network image) for inputs up to ``step_width`` px wide; wider
        inputs get more (``step_scale_max``). 150 against the earlier 500
        (``benchmarks/results/joint_budget.md``); with ratio 10, 100 instead
        of 150 lost 0.07 dB at 128² (``joint_iterations_dc.md``).
    step_ratio : float
        Dual over primal step length of the step's preconditioned PDHG
        (:func:`~tomoinpaint.recon.tv.tv_solve`) where the prior ran at the
        input's size: TV's 10. Clean data lean on the measurements, and the
        image has to move far from the network's: longer primal steps pay.
        On five held-out noise-free sharp-edged cases at 128 px (sliced 3D
        objects, shapes at -50…70°; ``benchmarks/results/step_ratio_sharp.md``),
        20 lost 0.10–0.53 dB against 10 at the same 150 iterations (and
        0.25–0.91 with 100, tried to make ``joint`` cheaper than TV at 128²).
    step_ratio_coarse : float
        The same where the prior ran on a coarser grid than the input
        (noisy data wider than the network's grid,
        :func:`~tomoinpaint.recon.joint.consistency.step_ratio_for`): with
        300 iterations, 20 gained +0.05 dB at 256² and +0.26 at 512² over 10
        on noisy validation data (``step_ratio.md``, ``step_ratio_512.md``;
        from -0.27 on low-dose CT, SSIM up, to +1.17 on low-dose shapes),
        and on held-out data (``realsize_quality_stepratio.md``,
        ``realsize_quality_stepratio256.md``) low dose rose by +0.05 dB at
        256 px, +0.15 at 512 px, I0 = 500 by +0.12, and the tooth by
        +0.13–0.15 dB at each block position. Both are floors: a slice
        whose TV weight gives plain TV a larger "auto" ratio takes that
        (:func:`~tomoinpaint.recon.joint.consistency.step_ratio_for`; on
        noisy validation data +0.28 dB at 512 px and +0.03 at 256 over 20,
        ``benchmarks/results/step_ratio_noise.md``).
    prior_row_spacing : float or None
        The step fits the prior's missing-angle rows this many degrees apart
        where they hold ``step_width`` px of detail (finer detail: closer,
        ``spacing * step_width / resolution``), each weighed for the rows it
        stands for (:func:`~tomoinpaint.recon.joint.consistency.prior_row_subset`);
        None: every row of the networks' angular grid (1.5°). Each fitted row
        costs as much per iteration as a measured one: at 128 px with a 45°
        wedge the step fitted 121 rows where TV fits 91. 3° (every other
        row where the prior holds 128 px of detail, every row at 256 px and
        more) measured on validation data (``benchmarks/results/prior_row_spacing.md``).
    step_width : int
        The input width (detector pixels) up to which the step runs
        ``iterations``.
    step_scale_max : float
        The step runs this many times ``iterations`` from twice
        ``step_width`` on, log-linear in the width between
        (:func:`~tomoinpaint.recon.joint.consistency.step_iterations`: 150
        iterations up to 128 px, 300 from 256 px on): detail at the input's
        own pixel size takes more iterations to build from the
        measurements, whether the prior ran at the input's size (clean data)
        or on the network's coarser grid (noisy data, which had 300 before).
        At 1024 px on one clean slice (``realsize_quality_n1024_step300.md``)
        300 iterations instead of 150 took ``joint`` from 0.53 to 0.05 dB
        below TV. On held-out noise-free data the networks never saw
        (``realsize_quality_step_clean.md``), 300 instead of 150 took
        ``joint`` over the better of SART and TV from +2.01 to +2.05 dB at
        256 px and from +0.78 to +0.97 at 512 px (worst case +0.00 → +0.28),
        for a clean 512-px slice 89 s against 62 s (TV 76 s, one thread).
    step_clean_scale : float
        Clean data (relative noise below ``step_clean_noise``) get at least
        this many times ``iterations`` in the step, at any width
        (:func:`~tomoinpaint.recon.joint.consistency.step_iterations`): 300
        at 128 px as from 256 px on. Clean data lean on the measurements,
        and their fit keeps improving for longer (TV's does up to 1000
        iterations, ``benchmarks/results/tv_iterations.md``). Measured on
        noise-free validation data at 128 px
        (``benchmarks/results/clean_step_iterations.md``, four families with
        sliced 3D objects): +0.04 dB on average (30° +0.09, 45° +0.04, 60°
        -0.01; sliced 3D objects +0.19 / +0.10 at 30° / 45°), worst slice
        -0.13, for 1.07x ``joint``'s time there (1.78x TV's instead of
        1.67x, one slice per call on one thread). On the fresh seeds of ``gt_free_agreement`` it
        closed ``joint``'s gap to TV on noise-free 30° wedges of
        sharp-edged objects (where the measurements carry most of the
        image) from 0.35-0.37 dB to 0.07-0.19.
    step_clean_noise : float
        The relative noise below which data count as clean for
        ``step_clean_scale``: lower than ``input_size_noise``, because at
        128 px moderate-dose shapes measure 0.26-0.62
        (``benchmarks/results/noise_levels_step.md``, ``method_speed``'s
        data) and gain nothing from the longer step
        (``benchmarks/results/joint_iterations.md``: +0.02 dB from 150 to
        300 iterations), while noise-free sharp-edged objects and CT slices,
        which gain most, measure 0.00-0.21. Noise-free natural images read
        0.04-0.96 per slice (their fine texture counts as noise), and the
        noisier keep 150 iterations; they gained nothing from 300 either
        (``clean_step_iterations.md``, which lists each slice's noise).
    prior_flips : bool
        Average the "tv" prior's network over the image flips that keep the
        measured angles: +0.1 to +0.7 dB on validation data, for 4 network
        passes instead of 1 (``joint_tuning.md``).
    prior_align : bool
        Turn a wedge centred elsewhere (asymmetric tilt ranges, a block
        missing from a 0–180° scan) to where the networks were trained on
        it before the "tv" prior's network runs (``benchmarks/results/wedge_alignment.md``).
    measured_prior : bool
        Also weigh the network's projections at the *measured* angles against
        the measurements: the worst family's low-dose gain over the better of
        SART and TV rose from +1.11 to +1.31 dB and the mean from +1.79 to
        +1.86 on validation data (``joint_tuning.md``), at no extra cost.
    """

    prior_weight: float | str = "auto"
    noise_match: float = 0.3
    coarse_weight: float = 0.25
    coarse_weight_end: float = 8.0
    weight_min: float = 0.1
    weight_max: float = 100.0
    edge_error_match: float | None = 0.2
    weight_floor: float = 0.003
    edge_degrees: float = 6.0
    prior_source: str = "tv"
    prior_size: str = "auto"
    input_size_noise: float = 0.5
    prior_tv_clean_factor: float = 2.0
    prior_tv_scale_max: float = 2.0
    prior_tv_clean_scale_max: float = 3.0
    prior_resolution: int | None = None
    iterations: int = 150
    step_ratio: float = 10.0
    step_ratio_coarse: float = 20.0
    prior_row_spacing: float | None = 3.0
    step_width: int = 128
    step_scale_max: float = 2.0
    step_clean_scale: float = 2.0
    step_clean_noise: float = 0.25
    prior_flips: bool = True
    prior_align: bool = True
    measured_prior: bool = True

    def __post_init__(self):
        check_prior_weight(self.prior_weight)
        if self.prior_source not in PRIOR_SOURCES:
            raise ValueError(
                f"prior_source must be one of {', '.join(PRIOR_SOURCES)}, got {self.prior_source!r}"
            )
        if not 0.0 < self.weight_min <= self.weight_max:
            raise ValueError("need 0 < weight_min <= weight_max")
        if not (0.0 < self.coarse_weight <= 1.0 and self.coarse_weight_end > 2.0):
            raise ValueError("need 0 < coarse_weight <= 1 and coarse_weight_end > 2")
        if self.prior_size not in PRIOR_SIZES:
            raise ValueError(f"prior_size must be one of {', '.join(PRIOR_SIZES)}")
        if not self.input_size_noise > 0.0:
            raise ValueError("input_size_noise must be positive")
        if (
            not min(
                self.prior_tv_scale_max, self.prior_tv_clean_scale_max, self.prior_tv_clean_factor
            )
            >= 1.0
        ):
            raise ValueError(
                "prior_tv_scale_max, prior_tv_clean_scale_max and prior_tv_clean_factor "
                "must be at least 1"
            )
        for ratio in (self.step_ratio, self.step_ratio_coarse):
            if not (np.isfinite(ratio) and ratio > 0.0):
                raise ValueError("step_ratio and step_ratio_coarse must be positive numbers")
        if not self.step_scale_max >= 1.0:
            raise ValueError("step_scale_max must be at least 1")
        if not self.step_width >= 1:
            raise ValueError("step_width must be a positive number of pixels")
        if self.prior_row_spacing is not None and not self.prior_row_spacing > 0.0:
            raise ValueError("prior_row_spacing must be a positive number of degrees or None")
        if self.edge_error_match is not None and not self.edge_error_match > 0.0:
            raise ValueError("edge_error_match must be a positive number or None")
        if not 0.0 < self.weight_floor <= self.weight_min:
            raise ValueError("need 0 < weight_floor <= weight_min")
        if not self.edge_degrees > 0.0:
            raise ValueError("edge_degrees must be a positive number of degrees")

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict."""
        return dataclasses.asdict(self)


def check_prior_weight(prior_weight) -> None:
    """Raise ValueError unless ``prior_weight`` is "auto" or a positive finite number."""
    if prior_weight == "auto":
        return
    try:
        ok = bool(np.isfinite(float(prior_weight)) and float(prior_weight) > 0.0)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"prior_weight must be 'auto' or a positive number, got {prior_weight!r}")


#: The shipped defaults.
DEFAULTS = JointParams()
