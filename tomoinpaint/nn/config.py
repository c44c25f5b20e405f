"""Typed, frozen configurations of the networks (their builders: :mod:`.build`).

Every network of :mod:`tomoinpaint.nn` is built from one frozen dataclass:

=====================  =========================  ==============================
architecture name      config class               module built
=====================  =========================  ==============================
``"inpainter"``        :class:`InpainterConfig`   :class:`~.InpaintGenerator`
``"unet"``             :class:`UNetConfig`        :class:`~.UNetGenerator`
``"inpaint_disc"``     :class:`DiscriminatorConfig`  :class:`~.DualPathDiscriminator`
``"deartifact_disc"``  :class:`DiscriminatorConfig`  :class:`~.DeartifactDiscriminator`
=====================  =========================  ==============================

Each config has three presets:

``paper``
    The sizes of Ding et al. (2019), which follow ESRGAN (Wang et al., 2018) for
    the inpainting generator: 64 features, growth 32, 23 RRDBs. The paper's
    figures of the networks (Figs. 6, 7, S1, S2) are not part of its text, so
    several numbers are our choice; each field's docstring says which.
``default``
    Small enough to train on two CPU cores (about 0.15 M parameters for the
    inpainter).
``tiny``
    A few thousand parameters, for tests.

``from_dict`` refuses unknown keys (a ``ValueError`` naming them) and turns JSON
lists back into tuples; ``to_dict`` gives a JSON-ready dict (tuples as lists),
so ``Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ..config import from_dict, to_dict

__all__ = [
    "InpainterConfig",
    "UNetConfig",
    "DiscriminatorConfig",
    "CONFIG_CLASSES",
    "PRESETS",
    "config_from_dict",
]

_C = TypeVar("_C")

#: Names of the two discriminator flavours accepted by ``DiscriminatorConfig`` presets.
DiscKind = Literal["inpaint", "deartifact"]


# --------------------------------------------------------------------------- helpers
def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_int_tuple(name: str, value: Any, minimum: int, *, allow_empty: bool) -> None:
    if not isinstance(value, tuple):
        raise ValueError(f"{name} must be a tuple of integers, got {value!r}")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    for v in value:
        _check_int(f"each entry of {name}", v, minimum)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


# --------------------------------------------------------------------------- configs
#: How the inpainter fills missing rows before its residual (see InpainterConfig.fill).
FILLS = ("zero", "linear")


@dataclass(frozen=True)
class InpainterConfig:
    """Sinogram-inpainting generator (:class:`~.InpaintGenerator`).

    Attributes
    ----------
    features : int
        Channels of the trunk (ESRGAN ``nf``). Paper: 64.
    growth : int
        Growth channels of each dense block (ESRGAN ``gc``). Paper (via ESRGAN): 32.
    n_rrdb : int
        Number of Residual-in-Residual Dense Blocks in the trunk. Paper (via
        ESRGAN): 23.
    dilations : tuple of int
        Dilation of each 3x3 convolution of the dilated stage that follows the
        RRDB trunk. The paper names "a dilated convolution layer" without its
        dilation; the paper preset uses one layer with dilation 2 (our choice).
    residual_scale : float
        Scaling of the residual branch of every dense block and RRDB (ESRGAN: 0.2).
    keep_measured : bool
        If true (default), the output equals the input on measured rows, exactly.
    fill : {"zero", "linear"}
        What the network sees on missing rows and adds its residual to: zeros
        (the paper) or the linear interpolation along the angles between the
        nearest measured rows (a start that is already a fair inpainting).
    """

    features: int = 64
    growth: int = 32
    n_rrdb: int = 23
    dilations: tuple[int, ...] = (2,)
    residual_scale: float = 0.2
    keep_measured: bool = True
    fill: str = "zero"

    def __post_init__(self) -> None:
        _check_int("features", self.features, 1)
        _check_int("growth", self.growth, 1)
        _check_int("n_rrdb", self.n_rrdb, 0)
        _check_int_tuple("dilations", self.dilations, 1, allow_empty=True)
        if isinstance(self.residual_scale, bool) or not isinstance(
            self.residual_scale, (int, float)
        ):
            raise ValueError(f"residual_scale must be a number, got {self.residual_scale!r}")
        if not 0.0 < float(self.residual_scale) <= 1.0:
            raise ValueError(f"residual_scale must be in (0, 1], got {self.residual_scale!r}")
        if not isinstance(self.keep_measured, bool):
            raise ValueError(f"keep_measured must be a bool, got {self.keep_measured!r}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {self.fill!r}")

    @classmethod
    def paper(cls) -> InpainterConfig:
        """Paper/ESRGAN sizes: 64 features, growth 32, 23 RRDBs, one dilated conv (d=2)."""
        return cls(features=64, growth=32, n_rrdb=23, dilations=(2,))

    @classmethod
    def default(cls) -> InpainterConfig:
        """CPU-trainable: 16 features, growth 12, 2 RRDBs, dilated convs d=2 and d=4."""
        return cls(features=16, growth=12, n_rrdb=2, dilations=(2, 4))

    @classmethod
    def tiny(cls) -> InpainterConfig:
        """For tests: 8 features, growth 4, 1 RRDB, dilated convs d=2 and d=4."""
        return cls(features=8, growth=4, n_rrdb=1, dilations=(2, 4))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InpainterConfig:
        """Build from a dict; unknown keys raise ``ValueError``."""
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return to_dict(self)


@dataclass(frozen=True)
class UNetConfig:
    """De-artifact U-Net generator (:class:`~.UNetGenerator`).

    Attributes
    ----------
    depth : int
        Number of 2x down-samplings (max pooling). Inputs of any size are padded
        to a multiple of ``2**depth`` internally. Paper: "a standard U-net"
        (Ronneberger et al., 2015), i.e. depth 4.
    base_features : int
        Channels at full resolution; doubled at each level. Standard U-net: 64.
    norm : {"none", "batch", "group"}
        Normalisation after each 3x3 conv. The paper is silent; the paper preset
        uses batch norm (the paper trains stage 2 with large batches), the
        default preset group norm with 4 groups (independent of the batch size).
    """

    depth: int = 4
    base_features: int = 64
    norm: str = "batch"

    def __post_init__(self) -> None:
        _check_int("depth", self.depth, 1)
        _check_int("base_features", self.base_features, 1)
        _check_choice("norm", self.norm, ("none", "batch", "group"))
        if self.norm == "group" and self.base_features % 4:
            raise ValueError(
                f"norm='group' uses 4 groups: base_features must be a multiple of 4, "
                f"got {self.base_features}"
            )

    @classmethod
    def paper(cls) -> UNetConfig:
        """Standard U-net: depth 4, 64 base features, batch norm (norm is our choice)."""
        return cls(depth=4, base_features=64, norm="batch")

    @classmethod
    def default(cls) -> UNetConfig:
        """CPU-trainable: depth 3, 16 base features, group norm."""
        return cls(depth=3, base_features=16, norm="group")

    @classmethod
    def tiny(cls) -> UNetConfig:
        """For tests: depth 2, 4 base features, group norm."""
        return cls(depth=2, base_features=4, norm="group")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UNetConfig:
        """Build from a dict; unknown keys raise ``ValueError``."""
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return to_dict(self)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Conditional dual-path discriminators (both stages).

    The same config type serves :class:`~.DualPathDiscriminator` (stage 1,
    sinograms; group norm, no pooling) and :class:`~.DeartifactDiscriminator`
    (stage 2, slices; batch norm, max pooling before the output); the classes
    fix the normalisation and pooling, the config sets the sizes.

    Attributes
    ----------
    features : int
        Channels after the first conv; doubled at each down-sampling, at most
        ``8 * features``. Paper: 64.
    first_kernel : tuple of (int, int)
        Kernel (rows, cols) of the first conv; odd numbers. The paper uses an
        asymmetric first kernel for sinograms without giving its size; (3, 7)
        is our choice (a sinogram row is one projection, so the kernel is wider
        along the detector). Slices are square: (3, 3) for stage 2.
    slow_dilations : tuple of int
        Dilations of the 3x3 convs that open the slow (large receptive field)
        path. Stage 1: (2, 4), our choice; stage 2: (2,), as in the paper.
    n_down : int
        Stride-2 4x4 convs in each path; the patch map is ``2**n_down`` times
        smaller than the input (``2**(n_down + 1)`` for stage 2, which max-pools
        once more). Our choice: 3.
    norm_groups : int
        Groups of the group norm of stage 1 (paper: 4). Unused by stage 2.
    cond_channels : int
        Channels of the condition (the generator's input): 2 for stage 1
        (zero-filled sinogram + mask), 1 for stage 2 (the WBP slice).
    sample_channels : int
        Channels of the judged sample (1: a sinogram or a slice).
    """

    features: int = 64
    first_kernel: tuple[int, int] = (3, 7)
    slow_dilations: tuple[int, ...] = (2, 4)
    n_down: int = 3
    norm_groups: int = 4
    cond_channels: int = 2
    sample_channels: int = 1

    def __post_init__(self) -> None:
        _check_int("features", self.features, 1)
        _check_int_tuple("first_kernel", self.first_kernel, 1, allow_empty=False)
        if len(self.first_kernel) != 2 or any(k % 2 == 0 for k in self.first_kernel):
            raise ValueError(
                f"first_kernel must be two odd integers (rows, cols), got {self.first_kernel!r}"
            )
        _check_int_tuple("slow_dilations", self.slow_dilations, 1, allow_empty=False)
        _check_int("n_down", self.n_down, 1)
        _check_int("norm_groups", self.norm_groups, 1)
        if self.features % self.norm_groups:
            raise ValueError(
                f"features ({self.features}) must be a multiple of norm_groups ({self.norm_groups})"
            )
        _check_int("cond_channels", self.cond_channels, 0)
        _check_int("sample_channels", self.sample_channels, 1)

    @classmethod
    def paper(cls, kind: DiscKind = "inpaint") -> DiscriminatorConfig:
        """Paper sizes (64 features) for ``kind`` "inpaint" (stage 1) or "deartifact"."""
        return cls._preset(kind, features=64, n_down=3)

    @classmethod
    def default(cls, kind: DiscKind = "inpaint") -> DiscriminatorConfig:
        """CPU-trainable: 16 features, 3 down-samplings."""
        return cls._preset(kind, features=16, n_down=3)

    @classmethod
    def tiny(cls, kind: DiscKind = "inpaint") -> DiscriminatorConfig:
        """For tests: 8 features, 2 down-samplings."""
        return cls._preset(kind, features=8, n_down=2)

    @classmethod
    def _preset(cls, kind: str, *, features: int, n_down: int) -> DiscriminatorConfig:
        if kind == "inpaint":
            return cls(
                features=features,
                first_kernel=(3, 7),
                slow_dilations=(2, 4),
                n_down=n_down,
                cond_channels=2,
                sample_channels=1,
            )
        if kind == "deartifact":
            return cls(
                features=features,
                first_kernel=(3, 3),
                slow_dilations=(2,),
                n_down=n_down,
                cond_channels=1,
                sample_channels=1,
            )
        raise ValueError(f"kind must be 'inpaint' or 'deartifact', got {kind!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiscriminatorConfig:
        """Build from a dict; unknown keys raise ``ValueError``."""
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return to_dict(self)


#: Architecture name -> config class.
CONFIG_CLASSES: dict[str, type] = {
    "inpainter": InpainterConfig,
    "unet": UNetConfig,
    "inpaint_disc": DiscriminatorConfig,
    "deartifact_disc": DiscriminatorConfig,
}

#: Architecture name -> preset name -> config.
PRESETS: dict[str, dict[str, Any]] = {
    "inpainter": {
        "paper": InpainterConfig.paper(),
        "default": InpainterConfig.default(),
        "tiny": InpainterConfig.tiny(),
    },
    "unet": {
        "paper": UNetConfig.paper(),
        "default": UNetConfig.default(),
        "tiny": UNetConfig.tiny(),
    },
    "inpaint_disc": {
        "paper": DiscriminatorConfig.paper("inpaint"),
        "default": DiscriminatorConfig.default("inpaint"),
        "tiny": DiscriminatorConfig.tiny("inpaint"),
    },
    "deartifact_disc": {
        "paper": DiscriminatorConfig.paper("deartifact"),
        "default": DiscriminatorConfig.default("deartifact"),
        "tiny": DiscriminatorConfig.tiny("deartifact"),
    },
}


def check_architecture(architecture: str) -> None:
    if architecture not in CONFIG_CLASSES:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of {sorted(CONFIG_CLASSES)}"
        )


def config_from_dict(architecture: str, data: Mapping[str, Any]) -> Any:
    """The config of ``architecture`` built from ``data`` (unknown keys refused).

    Parameters
    ----------
    architecture : str
        A key of :data:`CONFIG_CLASSES`.
    data : mapping
        Config fields, e.g. ``cfg.to_dict()`` or a parsed JSON/YAML section.

    Raises
    ------
    ValueError
        Unknown architecture or unknown/invalid config keys.
    """
    check_architecture(architecture)
    return CONFIG_CLASSES[architecture].from_dict(data)
