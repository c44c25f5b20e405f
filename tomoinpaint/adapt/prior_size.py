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

import time
from collections.abc import Callable

import numpy as np

from ..recon.joint.consistency import call_noise, slice_noise
from ..recon.joint.prior import is_clean
from ..score.holdout import score_method, wedge_edge_split

__all__ = [
    "CLEAN_PRIOR_SIZES",
    "SCORED_SLICES",
    "choice_seconds",
    "choose_clean_prior_size",
    "has_choice",
]

#: What the card's ``clean_prior_size`` may say (the adapted size first: the default).
CLEAN_PRIOR_SIZES = ("network", "input")
#: Sample slices the two sizes are scored on.
SCORED_SLICES = 2


def has_choice(sino: np.ndarray, angles_deg, adapted_n: int, device: str = "auto") -> bool:
    """Whether :func:`choose_clean_prior_size` has a size to choose for these data.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_slices, n_tilts, n_det)
    angles_deg : array_like, shape (n_tilts,)
    adapted_n : int
        The slice size the network is adapted at.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    bool
        False for noisy data (the prior runs at the network's size), an input
        no wider than ``adapted_n``, or tilts too coarse to hold any out.
    """
    if sino.shape[-1] <= adapted_n:
        return False
    if not is_clean(call_noise(slice_noise(sino, angles_deg, device=device))):
        return False
    try:
        wedge_edge_split(angles_deg)
    except ValueError:  # coarse steps: nothing to hold out
        return False
    return True


def _scored_rows(n_slices: int) -> np.ndarray:
    """Indices of the sample slices the sizes are scored on (inner, evenly spread)."""
    return np.unique(np.linspace(0, n_slices - 1, SCORED_SLICES + 2).round().astype(int)[1:-1])


def _wedge_edge_residual(weights_dir, sino, angles_deg, size: str, device: str) -> float:
    """Mean squared residual at the held-out wedge-edge tilts of ``joint`` at ``size``."""
    options = {"model": str(weights_dir), "prior_size": size}
    sc = score_method(sino, angles_deg, "joint", options, folds=0, frc=False, device=device)
    return float(sc.wedge_edge)


def choice_seconds(weights_dir, sino: np.ndarray, angles_deg, device: str = "auto") -> float:
    """Measured estimate of :func:`choose_clean_prior_size`'s time, to reserve in a budget.

    Scores one slice with ``weights_dir`` at the input's width (the dearer of
    the two sizes) and counts it once per slice and size scored.

    Parameters
    ----------
    weights_dir : str or path-like
        Weights of the same architecture as the adapted ones (the base weights).
    sino : numpy.ndarray, shape (n_slices, n_tilts, n_det)
    angles_deg : array_like, shape (n_tilts,)
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    float
        Seconds.
    """
    row = _scored_rows(len(sino))[:1]
    t0 = time.perf_counter()
    _wedge_edge_residual(weights_dir, sino[row], angles_deg, "input", device)
    return (time.perf_counter() - t0) * SCORED_SLICES * len(CLEAN_PRIOR_SIZES)


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
    if not has_choice(s, angles_deg, adapted_n, device=device):
        return None
    if progress is not None:
        progress(f"adapt: scoring joint's prior at {adapted_n} px and at {s.shape[-1]} px")
    rows = _scored_rows(len(s))
    residual = {
        size: _wedge_edge_residual(weights_dir, s[rows], angles_deg, size, device)
        for size in CLEAN_PRIOR_SIZES
    }
    best = min(CLEAN_PRIOR_SIZES, key=residual.__getitem__)  # ties: the adapted size
    return {"clean_prior_size": best, "wedge_edge": residual, "slices": rows.tolist()}
