"""``--method auto``: pick the reconstruction that best predicts held-out measurements.

The candidates (TV and the deep model at a few prior weights) are scored on
a sample of the volume's slices by :func:`~.holdout.score_method` without the
FRC (its two half-data reconstructions do not enter the choice), and the one
with the smallest combined hold-out residual (wedge edge + interleaved)
reconstructs the volume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..recon.joint import weights_available
from .holdout import score_method

__all__ = ["AUTO_CANDIDATES", "AutoChoice", "auto_candidates", "choose_method"]

#: (method, options) tried by ``--method auto`` when the deep model's weights are installed.
AUTO_CANDIDATES = (
    ("tv", {}),
    ("joint", {}),
    ("joint", {"prior_weight": 0.1}),
    ("joint", {"prior_weight": 10.0}),
)


def auto_candidates(model=None) -> list[tuple[str, dict]]:
    """The candidates: TV alone without installed weights (or ``model``)."""
    if model is None and not weights_available():
        return [("tv", {})]
    extra = {} if model is None else {"model": model}
    return [(m, {**o, **extra} if m == "joint" else dict(o)) for m, o in AUTO_CANDIDATES]


@dataclass
class AutoChoice:
    """The outcome of :func:`choose_method`.

    Attributes
    ----------
    method : str
    options : dict
    scores : list of dict
        One per candidate: method, options, wedge-edge and interleaved
        residuals, their sum (``held_out``) and seconds.
    rows : list of int
        The scored slices.
    seconds : float
        Time spent choosing.
    """

    method: str
    options: dict
    scores: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready (for the output's sidecar)."""
        return {
            "method": self.method,
            "options": {k: str(v) if k == "model" else v for k, v in self.options.items()},
            "scores": self.scores,
            "rows": self.rows,
            "seconds": self.seconds,
        }


def choose_method(
    sino,
    angles_deg,
    candidates=None,
    *,
    rows=None,
    folds: int = 4,
    device: str = "auto",
    progress=None,
) -> AutoChoice:
    """Score the candidates on sample sinograms and return the best.

    Parameters
    ----------
    sino : array_like, shape (n_slices, n_tilts, n_det)
        Sample slices of the volume (line integrals).
    angles_deg : array_like, shape (n_tilts,)
    candidates : sequence of (str, dict), optional
        Default :func:`auto_candidates`.
    rows : sequence of int, optional
        Which rows the sample is (recorded only).
    folds : int
        Interleaved hold-out folds.
    device : {"auto", "cpu", "cuda"}
    progress : callable, optional
        Called with a one-line message per candidate.

    Returns
    -------
    AutoChoice
    """
    t0 = time.perf_counter()
    cands = list(auto_candidates() if candidates is None else candidates)
    s = np.asarray(sino, dtype=np.float32)
    scores = []
    for method, options in cands:
        if progress is not None:
            progress(f"auto: scoring {method} {options or ''} on {s.shape[0]} slice(s)")
        sc = score_method(s, angles_deg, method, options, folds=folds, frc=False, device=device)
        scores.append(
            {
                "method": method,
                "options": {k: str(v) if k == "model" else v for k, v in options.items()},
                "wedge_edge": sc.wedge_edge,
                "interleaved": sc.interleaved,
                "held_out": sc.held_out,
                "seconds": sc.seconds,
            }
        )
    best = int(np.argmin([x["held_out"] for x in scores]))
    return AutoChoice(
        method=cands[best][0],
        options=dict(cands[best][1]),
        scores=scores,
        rows=[] if rows is None else [int(r) for r in rows],
        seconds=time.perf_counter() - t0,
    )
