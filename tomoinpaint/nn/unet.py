"""De-artifact U-Net generator (stage 2 of the joint model).

A standard U-Net (Ronneberger et al., 2015): per level two 3x3 convs (optional
normalisation, ReLU), 2x2 max pooling on the way down, 2x2 transposed conv and
skip concatenation on the way up. It predicts a correction that is added to the
input slice (residual output); the last 1x1 conv starts at zero, so an untrained
model is the identity.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import UNetConfig

__all__ = ["UNetGenerator"]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(4, channels)
    return nn.Identity()


class _DoubleConv(nn.Sequential):
    """(conv3x3 -> norm -> ReLU) x 2."""

    def __init__(self, c_in: int, c_out: int, norm: str):
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias),
            _norm(norm, c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=bias),
            _norm(norm, c_out),
            nn.ReLU(inplace=True),
        )


class UNetGenerator(nn.Module):
    """U-Net that removes residual artifacts from reconstructed slices.

    Level ``i`` (``0..depth``) has ``base_features * 2**i`` channels. Inputs whose
    size is not a multiple of ``2**depth`` are padded (reflect padding,
    replicate where the image is too small to reflect) and the output is cropped
    back, so the output always has the input's size.

    Parameters
    ----------
    config : UNetConfig, optional
        Sizes; ``UNetConfig.default()`` if omitted.

    Shapes
    ------
    input : (B, 1, H, W)
        A reconstructed slice (e.g. WBP), any H and W >= 1.
    output : (B, 1, H, W)
        ``input + correction``.
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        config = UNetConfig.default() if config is None else config
        if not isinstance(config, UNetConfig):
            raise ValueError(f"config must be a UNetConfig, got {type(config).__name__}")
        self.config = config
        widths = [config.base_features * 2**i for i in range(config.depth + 1)]
        self.down = nn.ModuleList()
        c_in = 1
        for w in widths[:-1]:
            self.down.append(_DoubleConv(c_in, w, config.norm))
            c_in = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _DoubleConv(widths[-2], widths[-1], config.norm)
        self.upconv = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in reversed(range(config.depth)):
            self.upconv.append(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2))
            self.up.append(_DoubleConv(2 * widths[i], widths[i], config.norm))
        self.out = nn.Conv2d(widths[0], 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"UNetGenerator expects (B, 1, H, W), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = 2**self.config.depth
        ph, pw = (-h) % m, (-w) % m
        pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # left, right, top, bottom
        if ph or pw:
            mode = "reflect" if max(pad[0], pad[1]) < w and max(pad[2], pad[3]) < h else "replicate"
            y = F.pad(x, pad, mode=mode)
        else:
            y = x
        skips = []
        for block in self.down:
            y = block(y)
            skips.append(y)
            y = self.pool(y)
        y = self.bottleneck(y)
        for upconv, block, skip in zip(self.upconv, self.up, reversed(skips), strict=True):
            y = block(torch.cat([upconv(y), skip], dim=1))
        y = self.out(y)[..., pad[2] : pad[2] + h, pad[0] : pad[0] + w]
        return x + y
