"""ESRGAN building blocks: Residual Dense Block and Residual-in-Residual Dense Block.

After Wang et al., *ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks* (ECCV workshops, 2018): no batch normalisation, LeakyReLU(0.2), dense
connections inside a block, and residual scaling (0.2) of every residual branch.
All convolutions are 3x3 with "same" padding, so the spatial size is preserved
for any input size.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["ResidualDenseBlock", "RRDB", "scaled_kaiming_init_"]

#: Negative slope of every LeakyReLU of the ESRGAN blocks.
LRELU_SLOPE = 0.2


def scaled_kaiming_init_(module: nn.Module, scale: float = 0.1) -> None:
    """Kaiming-normal init of every conv of ``module``, scaled by ``scale``; zero biases.

    ESRGAN initialises its residual blocks this way (``scale=0.1``) so that a
    deep stack of them starts close to the identity.

    Parameters
    ----------
    module : torch.nn.Module
        Initialised in place (all its ``nn.Conv2d`` sub-modules).
    scale : float
        Factor applied to the Kaiming-normal weights.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0.0, mode="fan_in")
            with torch.no_grad():
                m.weight.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs with a scaled residual connection.

    Conv ``i`` (``i = 1..4``) sees the block input and the outputs of all previous
    convs (``features + (i - 1) * growth`` channels) and produces ``growth``
    channels followed by LeakyReLU(0.2); conv 5 maps all of them back to
    ``features`` channels without activation. Output:
    ``x + residual_scale * conv5(...)``.

    Parameters
    ----------
    features : int
        Channels of the input and output.
    growth : int
        Channels produced by each of the first four convs.
    residual_scale : float
        Scaling of the residual branch (ESRGAN: 0.2).

    Shapes
    ------
    input : (B, features, H, W)
    output : (B, features, H, W)
    """

    def __init__(self, features: int = 64, growth: int = 32, residual_scale: float = 0.2):
        super().__init__()
        self.residual_scale = float(residual_scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(features + i * growth, growth if i < 4 else features, 3, padding=1)
            for i in range(5)
        )
        self.act = nn.LeakyReLU(LRELU_SLOPE, inplace=True)
        scaled_kaiming_init_(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs[:-1]:
            feats.append(self.act(conv(torch.cat(feats, dim=1))))
        out = self.convs[-1](torch.cat(feats, dim=1))
        return x + self.residual_scale * out


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: three dense blocks and a scaled residual.

    Output: ``x + residual_scale * rdb3(rdb2(rdb1(x)))``.

    Parameters
    ----------
    features, growth, residual_scale
        As for :class:`ResidualDenseBlock` (the same scale is used inside and
        outside the dense blocks).

    Shapes
    ------
    input : (B, features, H, W)
    output : (B, features, H, W)
    """

    def __init__(self, features: int = 64, growth: int = 32, residual_scale: float = 0.2):
        super().__init__()
        self.residual_scale = float(residual_scale)
        self.rdbs = nn.Sequential(
            *(ResidualDenseBlock(features, growth, residual_scale) for _ in range(3))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual_scale * self.rdbs(x)
