"""Conditional dual-path discriminators of both stages.

Both discriminators judge a sample *given the generator's input* (conditional
GAN): their input is ``concat(condition, sample)`` along channels. After a first
conv, the features go through two paths in parallel (Ding et al., 2019, Fig. 7):

* the **slow path** opens with dilated 3x3 convs (large receptive field: global
  features) and then down-samples;
* the **fast path** down-samples straight away (small receptive field: local
  features).

Each path has ``n_down`` stride-2 4x4 convs (channels doubled each time, capped
at ``8 * features``); the two are concatenated, fused by a 1x1 conv and mapped
to one channel by a 3x3 output conv.

Output: a **patch map** of scores, shape ``(B, 1, H // 2**n_down, W // 2**n_down)``
for stage 1 and ``(B, 1, H // 2**(n_down + 1), W // 2**(n_down + 1))`` for
stage 2 (which max-pools before the output conv). Each score judges one
overlapping patch; the losses of :mod:`.losses` average over all of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from .config import DiscriminatorConfig

__all__ = ["DualPathDiscriminator", "DeartifactDiscriminator"]

_SLOPE = 0.2


def _down(c_in: int, c_out: int, norm: Callable[[int], nn.Module]) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 4, stride=2, padding=1),
        norm(c_out),
        nn.LeakyReLU(_SLOPE, inplace=True),
    ]


class _DualPathNet(nn.Module):
    """The shared layer stack; ``norm`` and ``final_pool`` make the two flavours."""

    def __init__(
        self,
        config: DiscriminatorConfig,
        norm: Callable[[int], nn.Module],
        final_pool: nn.Module | None,
    ):
        super().__init__()
        nf = config.features
        kh, kw = config.first_kernel
        self.stem = nn.Sequential(
            nn.Conv2d(
                config.cond_channels + config.sample_channels,
                nf,
                (kh, kw),
                padding=(kh // 2, kw // 2),
            ),
            nn.LeakyReLU(_SLOPE, inplace=True),
        )
        widths = [min(nf * 2**i, 8 * nf) for i in range(config.n_down + 1)]
        slow: list[nn.Module] = []
        for d in config.slow_dilations:
            slow += [
                nn.Conv2d(nf, nf, 3, padding=d, dilation=d),
                norm(nf),
                nn.LeakyReLU(_SLOPE, inplace=True),
            ]
        fast: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            slow += _down(c_in, c_out, norm)
            fast += _down(c_in, c_out, norm)
        self.slow = nn.Sequential(*slow)
        self.fast = nn.Sequential(*fast)
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * widths[-1], widths[-1], 1),
            norm(widths[-1]),
            nn.LeakyReLU(_SLOPE, inplace=True),
        )
        self.pool = final_pool if final_pool is not None else nn.Identity()
        self.head = nn.Conv2d(widths[-1], 1, 3, padding=1)
        self.min_size = 2 ** (config.n_down + (final_pool is not None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.stem(x)
        y = torch.cat([self.slow(f), self.fast(f)], dim=1)
        return self.head(self.pool(self.fuse(y)))


def _conditional_input(
    config: DiscriminatorConfig, min_size: int, condition: torch.Tensor, sample: torch.Tensor
) -> torch.Tensor:
    if condition.ndim != 4 or sample.ndim != 4:
        raise ValueError(
            f"condition and sample must be (B, C, H, W), got shapes {tuple(condition.shape)} "
            f"and {tuple(sample.shape)}"
        )
    if condition.shape[1] != config.cond_channels or sample.shape[1] != config.sample_channels:
        raise ValueError(
            f"expected {config.cond_channels} condition and {config.sample_channels} sample "
            f"channels, got {condition.shape[1]} and {sample.shape[1]}"
        )
    if condition.shape[0] != sample.shape[0] or condition.shape[2:] != sample.shape[2:]:
        raise ValueError(
            f"condition {tuple(condition.shape)} and sample {tuple(sample.shape)} differ in "
            f"batch or spatial size"
        )
    if min(sample.shape[2:]) < min_size:
        raise ValueError(
            f"input {tuple(sample.shape[2:])} is too small: this discriminator needs H and W "
            f">= {min_size}"
        )
    return torch.cat([condition, sample], dim=1)


class DualPathDiscriminator(nn.Module):
    """Stage-1 (sinogram) conditional discriminator: group norm, no pooling.

    Parameters
    ----------
    config : DiscriminatorConfig, optional
        Sizes; ``DiscriminatorConfig.default("inpaint")`` if omitted. The first
        conv has the asymmetric kernel ``config.first_kernel`` (rows = angles,
        cols = detector); group norm uses ``config.norm_groups`` groups.

    Shapes
    ------
    condition : (B, cond_channels, H, W)
        The generator's input (zero-filled sinogram + mask: 2 channels).
    sample : (B, sample_channels, H, W)
        A real (complete) or generated (inpainted) sinogram.
    output : (B, 1, H // 2**n_down, W // 2**n_down)
        Patch map of raw scores (no sigmoid). H, W >= ``2**n_down``.
    """

    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__()
        config = DiscriminatorConfig.default("inpaint") if config is None else config
        if not isinstance(config, DiscriminatorConfig):
            raise ValueError(f"config must be a DiscriminatorConfig, got {type(config).__name__}")
        self.config = config
        groups = config.norm_groups
        self.net = _DualPathNet(config, lambda c: nn.GroupNorm(groups, c), final_pool=None)

    def forward(self, condition: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        return self.net(_conditional_input(self.config, self.net.min_size, condition, sample))


class DeartifactDiscriminator(nn.Module):
    """Stage-2 (slice) conditional discriminator: batch norm, max pooling before the output.

    Parameters
    ----------
    config : DiscriminatorConfig, optional
        Sizes; ``DiscriminatorConfig.default("deartifact")`` if omitted (slow path
        with one dilation-2 conv, as in the paper).

    Shapes
    ------
    condition : (B, cond_channels, H, W)
        The generator's input (the WBP slice: 1 channel).
    sample : (B, sample_channels, H, W)
        A ground-truth or de-artifacted slice.
    output : (B, 1, H // 2**(n_down + 1), W // 2**(n_down + 1))
        Patch map of raw scores (no sigmoid). H, W >= ``2**(n_down + 1)``.
    """

    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__()
        config = DiscriminatorConfig.default("deartifact") if config is None else config
        if not isinstance(config, DiscriminatorConfig):
            raise ValueError(f"config must be a DiscriminatorConfig, got {type(config).__name__}")
        self.config = config
        self.net = _DualPathNet(config, nn.BatchNorm2d, final_pool=nn.MaxPool2d(2))

    def forward(self, condition: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        return self.net(_conditional_input(self.config, self.net.min_size, condition, sample))
