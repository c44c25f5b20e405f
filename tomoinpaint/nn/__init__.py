"""Neural networks of the joint deep model (Ding et al., 2019).

Stage 1, sinogram inpainting
    :class:`InpaintGenerator` (ESRGAN RRDB trunk + dilated convs, keeps measured
    rows exactly) and :class:`DualPathDiscriminator` (conditional, group norm,
    asymmetric first kernel).
Stage 2, de-artifacting reconstructed slices
    :class:`UNetGenerator` (residual U-Net, any size) and
    :class:`DeartifactDiscriminator` (conditional, batch norm, max pooling).
Losses
    :func:`mse_loss`, least-squares and relativistic average least-squares GAN
    losses by name in :data:`ADVERSARIAL_LOSSES`, and :class:`GeneratorLoss`
    (``mse + gan_weight * adversarial``).
Configs and builders
    Frozen dataclasses :class:`InpainterConfig`, :class:`UNetConfig`,
    :class:`DiscriminatorConfig` with ``paper``/``default``/``tiny`` presets;
    :data:`BUILDERS` maps architecture names to builder functions; :func:`build`.
Weights
    :func:`save_model` / :func:`load_model`: safetensors + JSON model card, never
    unpickling.

Shapes: sinograms ``(B, C, n_angles, n_det)``, slices ``(B, C, n, n)``.
"""

from .blocks import RRDB, ResidualDenseBlock
from .build import BUILDERS, build
from .config import (
    CONFIG_CLASSES,
    PRESETS,
    DiscriminatorConfig,
    InpainterConfig,
    UNetConfig,
    config_from_dict,
)
from .discriminators import DeartifactDiscriminator, DualPathDiscriminator
from .inpainter import InpaintGenerator, make_inpaint_input
from .losses import (
    ADVERSARIAL_LOSSES,
    AdversarialLoss,
    GeneratorLoss,
    lsgan_d_loss,
    lsgan_g_loss,
    mse_loss,
    rlsgan_d_loss,
    rlsgan_g_loss,
)
from .summary import count_parameters, describe
from .unet import UNetGenerator
from .weights import card_path_for, load_model, read_card, save_model

__all__ = [
    "ResidualDenseBlock",
    "RRDB",
    "InpaintGenerator",
    "make_inpaint_input",
    "UNetGenerator",
    "DualPathDiscriminator",
    "DeartifactDiscriminator",
    "InpainterConfig",
    "UNetConfig",
    "DiscriminatorConfig",
    "BUILDERS",
    "CONFIG_CLASSES",
    "PRESETS",
    "build",
    "config_from_dict",
    "mse_loss",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "rlsgan_d_loss",
    "rlsgan_g_loss",
    "AdversarialLoss",
    "ADVERSARIAL_LOSSES",
    "GeneratorLoss",
    "count_parameters",
    "describe",
    "save_model",
    "load_model",
    "read_card",
    "card_path_for",
]
