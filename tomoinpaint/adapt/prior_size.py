"""At which size ``joint`` runs an adapted network on clean data: chosen on the data.

``joint`` runs the installed network at the input's own width on clean data
(:func:`~tomoinpaint.recon.joint.prior.prior_image_size`): that network is
fully convolutional and carries its skill across scales. An adapted network
has learned one data set at one size (the pairs' grid, 128 px by default),
and whether it keeps its skill at another depends on the object: on clean
256-px data, a cryo-ET-like cell run at the input's width lost 3.3 dB to the
size it was adapted at, while 3D objects cut by the slice plane gained 1.6
(``benchmarks/results/adaptation_cell_prior_size.md``). So :func:`adapt`
asks the data: ``joint`` with the adapted weights is run both ways on sample
slices it learned from, and the one whose image better predicts the
measured tilts held out next to the wedge (the ground-truth-free score of
``--method auto``, :func:`~tomoinpaint.score.holdout.score_method`) is
recorded in the model card (``metadata.adaptation.clean_prior_size``).
Noisy data are not asked: there ``joint`` runs every network at its own size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..recon.joint.consistency import call_noise, slice_noise
from ..recon.joint.prior import is_clean
from ..score.holdout import score_method, wedge_edge_split

__all__ = ["CLEAN_PRIOR_SIZES", "SCORED_SLICES", "choose_clean_prior_size"]

#: What the card's ``clean_prior_size`` may say (the adapted size first: the default).
CLEAN_PRIOR_SIZES = ("network", "input")
#: Sample slices the two sizes are scored on.
SCORED_SLICES = 2


def choose_clean_prior_size(
    weights_dir,
    sino: np.ndarray,
    angles_deg,
    adapted_n: int,
    device: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> dict | None:
    """Score ``joint`` with the adapted weights at both prior sizes; the better one.

    Parameters
    ----------
    weights_dir : str or path-like
        The adapted weights directory (complete: ``joint`` loads it).
    sino : numpy.ndarray, shape (n_slices, n_tilts, n_det)
        The slices the network learned from (line integrals).
    angles_deg : array_like, shape (n_tilts,)
    adapted_n : int
        The slice size the network was adapted at.
    device : {"auto", "cpu", "cuda"}
    progress : callable, optional
        Called with a one-line message before the scoring.

    Returns
    -------
    dict or None
        ``{"clean_prior_size": "network" | "input", "wedge_edge": {size:
        mean squared residual}, "slices": [...]}``; None where there is
        nothing to choose: noisy data (the prior runs at the network's size),
        an input no wider than ``adapted_n``, or too few tilts to hold out.
    """
    s = np.asarray(sino, dtype=np.float32)
    if s.shape[-1] <= adapted_n:
        return None
    if not is_clean(call_noise(slice_noise(s, angles_deg, device=device))):
        return None
    try:
        wedge_edge_split(angles_deg)
    except ValueError:  # coarse steps: nothing to hold out
        return None
    if progress is not None:
        progress(f"adapt: scoring joint's prior at {adapted_n} px and at {s.shape[-1]} px")
    rows = np.unique(np.linspace(0, len(s) - 1, SCORED_SLICES + 2).round().astype(int)[1:-1])
    residual = {}
    for size in CLEAN_PRIOR_SIZES:
        options = {"model": str(weights_dir), "prior_size": size}
        sc = score_method(s[rows], angles_deg, "joint", options, folds=0, frc=False, device=device)
        residual[size] = float(sc.wedge_edge)
    best = min(CLEAN_PRIOR_SIZES, key=residual.__getitem__)  # ties: the adapted size
    return {"clean_prior_size": best, "wedge_edge": residual, "slices": rows.tolist()}
