"""TV's PDHG step ratio: the dual step over the primal one.

The ratio changes how fast :func:`~tomoinpaint.recon.tv.tv`'s iteration
converges, not what it converges to. :data:`STEP_RATIO` (10) was chosen at
128 px, where it converges fastest from zero; on noisy slices from 256 px on
it is several times too slow, and :func:`step_ratio_for_weight` ("auto", the
default) grows it with the weight and the width
(``benchmarks/results/tv_step_ratio*.md``). The networks' TV inputs keep
:data:`STEP_RATIO`, as they were trained.
"""

from __future__ import annotations

import numpy as np

from .tv_weights import TV_WEIGHT_FLOOR

__all__ = ["STEP_RATIO", "STEP_RATIO_WIDTH", "step_ratio_for_weight", "check_step_ratio"]

#: Ratio of dual to primal step length in the preconditioned PDHG at the weight
#: floor (noise-free data); :func:`step_ratio_for_weight` scales it with the weight.
STEP_RATIO = 10.0


#: The slice width at which the step ratio starts to grow on data at the weight
#: floor; on noisier data it grows from proportionally narrower slices
#: (:func:`step_ratio_for_weight`).
STEP_RATIO_WIDTH = 768


def step_ratio_for_weight(weight, width: int):
    """The PDHG step ratio that plain TV converges fastest with from zero ("auto").

    ``STEP_RATIO * max(1, (weight / TV_WEIGHT_FLOOR) * (width / STEP_RATIO_WIDTH))``.
    The TV dual variable lives in a ball whose radius grows with the weight
    and with the squared operator norm, which grows with the slice's width;
    dual steps that reach it in few iterations grow alike. Chosen on
    exploratory runs (91 tilts, 45° wedge, one validation slice per case):
    the ratio that came closest to a 5000-iteration solution in 300
    iterations was 3–10 on noise-free slices at 128 and 256 px, and on
    low-dose slices about 10 at 128 px and 30–100 at 256 px; at 512 px
    ratios of 100–300 reached the lowest objective at low dose. Noise-free
    data (the weight floor) keep :data:`STEP_RATIO` up to 768 px. Checked at
    the default 500 iterations in ``benchmarks/results/tv_step_ratio*.md``
    (+0.01 / +0.15 / +0.78 dB on average at 128 / 256 / 512 px).

    Parameters
    ----------
    weight : float or numpy.ndarray
        Dimensionless TV weight(s).
    width : int
        Detector pixels (the slice's width).

    Returns
    -------
    float or numpy.ndarray
        Same shape as ``weight``.
    """
    relative = np.asarray(weight, np.float64) / TV_WEIGHT_FLOOR * (width / STEP_RATIO_WIDTH)
    return STEP_RATIO * np.maximum(1.0, relative)


def check_step_ratio(step_ratio, n_slices: int | None = None):
    """``step_ratio`` as a float, or "auto"; a ValueError naming anything else.

    Where ``n_slices`` is given, a sequence of that many positive ratios (one
    per slice of a stack) is taken too, as a float64 array.
    """
    if isinstance(step_ratio, str) and step_ratio == "auto":
        return step_ratio
    if n_slices is not None and np.ndim(step_ratio) == 1:
        values = np.asarray(step_ratio, np.float64)
        if values.shape != (n_slices,) or not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(
                f"step_ratio must be 'auto', a positive number or {n_slices} positive numbers "
                f"(one per slice), got {step_ratio!r}"
            )
        return values
    try:
        value = float(step_ratio)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"step_ratio must be 'auto' or a positive number, got {step_ratio!r}")
    return value
