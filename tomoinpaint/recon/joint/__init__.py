"""The two-step deep model (Ding et al., Sci. Rep. 2019) and the project's joint pipeline.

Four methods, each with the signature of every other method
(``method(sino, angles_deg, *, ..., device)``, a sinogram or a stack of them,
any tilt angles, any detector width, any intensity units):

``inpaint``
    The inpainting GAN fills the missing wedge; WBP of the measured
    projections plus the inpainted ones (the paper's Fig. 13 ablation).
``deartifact``
    The de-artifact U-Net applied to the WBP of the measured projections
    (the other Fig. 13 ablation).
``paper``
    Inpaint -> WBP -> de-artifact, as published.
``joint``
    The networks' estimate made consistent with the measurements: TV (PDHG,
    :func:`tomoinpaint.recon.tv`) started from the network image, on the
    measured projections at full weight plus the network's projections at
    the missing angles (and, for the "tv" prior, at the measured ones: a
    second estimate of them) at weight ``prior_weight``, with the TV weight that
    TV alone would use on the measured data. By default the network image is
    the de-artifact network applied to TV (``prior_source="tv"``), averaged
    over the image flips that keep the measured angles
    (:func:`~.steps.symmetric_flips`), and the prior weight follows the noise level
    and, on clean data, the prior's error at the measured tilts next to the wedge
    (:func:`auto_prior_weight`, :func:`measured_edge_error`): chosen on validation
    data by ``benchmarks/joint_tuning.py``, ``benchmarks/prior_weight_floor.py`` and
    ``benchmarks/prior_weight_edge.py``.

The model grid
--------------
The networks were trained on one angular grid and slice size, recorded in
their model card (``metadata.grid``: ``n``, ``angles_deg``, the half turn
centred on the trained wedge). A sinogram is moved onto it by
:func:`to_model_grid`: the detector is resampled to ``n`` pixels (line
integrals converted to model-pixel units, so images keep the input's units),
and each grid angle θ is filled from the measured angle θ - 180 m (detector
flipped for odd m) by linear interpolation between the nearest tilts, if it
lies within the measured tilt range. That range is taken to end where the
largest gap of the angles modulo 180° begins (:func:`~.regrid.unwrap_at_wedge`),
so a 0–180° scan with a block dropped from its middle has its wedge there.
Grid angles outside it are the missing wedge the inpainter fills (the
``joint`` prior's TV runs on the measured angles instead where they are
further apart than the grid's: :func:`~.prior.tv_on_measured_angles`). The
de-artifact network for TV inputs (the ``joint`` prior) may have been
trained at another slice size (its card's ``grid.n``,
:attr:`JointModel.tv_n`) on the same angles: its TV runs on the grid at
that size. Network images are resampled back to the input's
detector width. Measured projections are never altered: ``inpaint`` and
``joint`` use them as given; only missing angles come from the network.

Modules
-------
``params``       :class:`JointParams`, the tuned defaults (:data:`DEFAULTS`)
``model``        weights directory, :class:`JointModel`, loading (cached per process)
``regrid``       the model grid: sinograms onto it, images back
``steps``        the networks on model-grid data; flips that keep the measured angles
``prior``        :class:`NetworkPrior`, :func:`measured_edge_error`
``prior_weight`` :func:`auto_prior_weight`, how far ``joint`` trusts the prior
``consistency``  :func:`data_consistency`: TV with the prior's projections as extra rows;
                 :func:`slice_noise`, the noise both weights follow
``methods``      ``inpaint``, ``deartifact``, ``paper``, ``joint``; :func:`joint_prior`,
                 the prior as ``joint`` makes it, and :func:`joint_from_prior`, the rest
"""

from .consistency import (
    call_noise,
    data_consistency,
    slice_noise,
    step_iterations,
    step_ratio_for,
)
from .methods import deartifact, inpaint, joint, joint_from_prior, joint_prior, paper
from .model import (
    TV_DEARTIFACT_FILE,
    WEIGHT_FILES,
    WEIGHTS_DIR,
    JointModel,
    load_joint_model,
    weights_available,
)
from .params import DEFAULTS, PRIOR_SIZES, PRIOR_SOURCES, JointParams, check_prior_weight
from .prior import (
    NetworkPrior,
    edge_error,
    measured_edge_error,
    network_prior,
)
from .prior_weight import auto_prior_weight, coarse_weight_factor
from .regrid import resample_detector, to_model_grid
from .steps import symmetric_flips

__all__ = [
    "JointParams",
    "DEFAULTS",
    "PRIOR_SOURCES",
    "PRIOR_SIZES",
    "check_prior_weight",
    "JointModel",
    "WEIGHTS_DIR",
    "WEIGHT_FILES",
    "TV_DEARTIFACT_FILE",
    "weights_available",
    "load_joint_model",
    "to_model_grid",
    "resample_detector",
    "inpaint",
    "deartifact",
    "paper",
    "joint",
    "joint_prior",
    "joint_from_prior",
    "NetworkPrior",
    "network_prior",
    "edge_error",
    "measured_edge_error",
    "auto_prior_weight",
    "coarse_weight_factor",
    "symmetric_flips",
    "data_consistency",
    "slice_noise",
    "step_iterations",
    "call_noise",
    "step_ratio_for",
]
