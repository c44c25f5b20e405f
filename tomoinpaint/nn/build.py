"""The visible dict of network builders: architecture name -> network.

The configs live in :mod:`.config` (which imports no network); this module
imports both, so a network module may import its config without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch.nn as nn

from .config import (
    CONFIG_CLASSES,
    PRESETS,
    DiscriminatorConfig,
    InpainterConfig,
    UNetConfig,
    check_architecture,
    config_from_dict,
)
from .discriminators import DeartifactDiscriminator, DualPathDiscriminator
from .inpainter import InpaintGenerator
from .unet import UNetGenerator

__all__ = ["BUILDERS", "build"]


def build_inpainter(config: InpainterConfig) -> nn.Module:
    """Build an :class:`~.InpaintGenerator` from ``config``."""
    return InpaintGenerator(config)


def build_unet(config: UNetConfig) -> nn.Module:
    """Build a :class:`~.UNetGenerator` from ``config``."""
    return UNetGenerator(config)


def build_inpaint_disc(config: DiscriminatorConfig) -> nn.Module:
    """Build a :class:`~.DualPathDiscriminator` (stage 1) from ``config``."""
    return DualPathDiscriminator(config)


def build_deartifact_disc(config: DiscriminatorConfig) -> nn.Module:
    """Build a :class:`~.DeartifactDiscriminator` (stage 2) from ``config``."""
    return DeartifactDiscriminator(config)


#: Architecture name -> builder taking the architecture's config.
BUILDERS: dict[str, Callable[[Any], nn.Module]] = {
    "inpainter": build_inpainter,
    "unet": build_unet,
    "inpaint_disc": build_inpaint_disc,
    "deartifact_disc": build_deartifact_disc,
}


def build(architecture: str, config: Any = "default") -> nn.Module:
    """Build a network by architecture name.

    Parameters
    ----------
    architecture : str
        A key of :data:`BUILDERS`.
    config : config dataclass, mapping or str
        The architecture's config, a dict of its fields, or a preset name
        (``"paper"``, ``"default"``, ``"tiny"``).

    Returns
    -------
    torch.nn.Module
        In training mode, with the config attached as ``module.config``.
    """
    check_architecture(architecture)
    if isinstance(config, str):
        presets = PRESETS[architecture]
        if config not in presets:
            raise ValueError(f"unknown preset {config!r}; choose one of {sorted(presets)}")
        config = presets[config]
    elif isinstance(config, Mapping):
        config = config_from_dict(architecture, config)
    expected = CONFIG_CLASSES[architecture]
    if not isinstance(config, expected):
        raise ValueError(
            f"architecture {architecture!r} needs a {expected.__name__}, "
            f"got {type(config).__name__}"
        )
    return BUILDERS[architecture](config)
