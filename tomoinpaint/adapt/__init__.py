"""Self-supervised adaptation of the deep model to the user's own tilt series.

``fourier``  which Fourier directions a tilt scheme measured; the loss restricted to them
``projection_loss``  the default loss: the output's projections against the other
             half's measured ones (no reconstruction in the target)
``pairs``    training pairs from the data alone (even/odd halves, rotations)
``run``      :func:`adapt`: rounds of pairs and Adam steps, checkpoints, the weights directory
"""

from .fourier import direction_angles, masked_fourier_loss, measured_direction_mask
from .pairs import AdaptData, make_pairs, prepare_halves, rotate_slices
from .projection_loss import measured_projection_loss, project_image
from .run import MIN_ADAPT_SLICES, AdaptResult, AdaptSettings, adapt, data_fingerprint

__all__ = [
    "adapt",
    "AdaptSettings",
    "AdaptResult",
    "MIN_ADAPT_SLICES",
    "data_fingerprint",
    "AdaptData",
    "prepare_halves",
    "make_pairs",
    "rotate_slices",
    "direction_angles",
    "measured_direction_mask",
    "masked_fourier_loss",
    "measured_projection_loss",
    "project_image",
]
