"""Classical reconstruction algorithms: plain functions on a sinogram or a stack.

Every method has the signature ``method(sino, angles_deg, *, ..., device="auto")``
with ``sino`` of shape ``(n_angles, n_det)`` or ``(n_slices, n_angles, n_det)``
and returns ``(n_det, n_det)`` or ``(n_slices, n_det, n_det)`` float32 images in
the units of the data. numpy and ASTRA only, never torch. The deep methods are in :mod:`.joint`;
:data:`tomoinpaint.methods.METHODS` is the one registry of both that the CLI
and the volume pipeline use.
"""

from __future__ import annotations

from .filters import FILTERS, filter_sinogram, ramp_filter
from .iterative import PROJECTION_ORDERS, sart, sirt
from .tv import auto_tv_weight, estimate_noise, operator_norm, tv
from .wbp import fbp, wbp

__all__ = [
    "wbp",
    "fbp",
    "sart",
    "sirt",
    "tv",
    "FILTERS",
    "PROJECTION_ORDERS",
    "filter_sinogram",
    "ramp_filter",
    "auto_tv_weight",
    "estimate_noise",
    "operator_norm",
]
