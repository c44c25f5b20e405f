"""Ground-truth-free scores of reconstruction methods on measured tilt series.

:mod:`.holdout` holds tilts out and asks each method to predict them;
:mod:`.frc` correlates reconstructions from the even and the odd tilts.
"""

from .frc import FRC_THRESHOLD, fourier_ring_correlation, frc_resolution
from .holdout import (
    MIN_SCORING_TILTS,
    MethodScore,
    even_odd_split,
    holdout_residual,
    interleaved_folds,
    score_method,
    wedge_edge_split,
)

__all__ = [
    "FRC_THRESHOLD",
    "MIN_SCORING_TILTS",
    "MethodScore",
    "even_odd_split",
    "fourier_ring_correlation",
    "frc_resolution",
    "holdout_residual",
    "interleaved_folds",
    "score_method",
    "wedge_edge_split",
]
