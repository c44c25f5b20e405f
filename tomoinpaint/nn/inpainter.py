"""Sinogram-inpainting generator (stage 1 of the joint model).

The network follows ESRGAN's RRDB generator without its up-sampling layers (Ding
et al., 2019, Fig. 6): no pooling, no batch norm, every layer at the full
sinogram resolution, plus a stage of dilated convolutions that widens the
receptive field along the angle axis, where the missing wedge is a band of rows.

Input convention
----------------
``x`` has shape ``(B, 2, n_angles, n_det)``: channel 0 is the sinogram with the
missing rows set to zero, channel 1 the measured-row mask (1 on measured rows,
0 on missing ones, the same along a row). :func:`make_inpaint_input` builds it.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .blocks import LRELU_SLOPE, RRDB
from .config import InpainterConfig

__all__ = ["InpaintGenerator", "make_inpaint_input", "interpolate_missing_rows"]


def make_inpaint_input(sinogram: torch.Tensor, measured: torch.Tensor) -> torch.Tensor:
    """Stack a sinogram and its measured-row mask into the inpainter's input.

    Parameters
    ----------
    sinogram : torch.Tensor, shape (B, n_angles, n_det) or (B, 1, n_angles, n_det)
        Sinograms; values on missing rows are ignored (set to zero).
    measured : torch.Tensor of bool or {0, 1}, shape (n_angles,) or (B, n_angles)
        True for measured rows (tilt angles), False for missing ones.

    Returns
    -------
    torch.Tensor, shape (B, 2, n_angles, n_det)
        Channel 0: zero-filled sinogram; channel 1: the mask broadcast along
        the detector axis. Same dtype as ``sinogram``.

    Raises
    ------
    ValueError
        On shapes that do not match or a non-binary mask.
    """
    if sinogram.ndim == 4:
        if sinogram.shape[1] != 1:
            raise ValueError(
                f"sinogram must have shape (B, n_angles, n_det) or (B, 1, n_angles, n_det), "
                f"got {tuple(sinogram.shape)}"
            )
        sinogram = sinogram[:, 0]
    if sinogram.ndim != 3:
        raise ValueError(
            f"sinogram must have shape (B, n_angles, n_det) or (B, 1, n_angles, n_det), "
            f"got {tuple(sinogram.shape)}"
        )
    b, n_angles, n_det = sinogram.shape
    if measured.ndim == 1:
        measured = measured.expand(b, -1)
    if measured.shape != (b, n_angles):
        raise ValueError(
            f"measured must have shape (n_angles,) = ({n_angles},) or (B, n_angles) = "
            f"({b}, {n_angles}), got {tuple(measured.shape)}"
        )
    if measured.dtype != torch.bool:
        if not bool(((measured == 0) | (measured == 1)).all()):
            raise ValueError("measured must be boolean or contain only 0 and 1")
        measured = measured != 0
    keep = measured.to(sinogram.device)[:, :, None].expand(b, n_angles, n_det)
    filled = torch.where(keep, sinogram, torch.zeros((), dtype=sinogram.dtype))
    return torch.stack([filled, keep.to(sinogram.dtype)], dim=1)


def interpolate_missing_rows(sino: torch.Tensor, measured: torch.Tensor) -> torch.Tensor:
    """Linear interpolation along the angle axis between the nearest measured rows.

    Parameters
    ----------
    sino : torch.Tensor, shape (B, 1, n_angles, n_det)
    measured : torch.Tensor of bool, shape (B, n_angles)
        At least one True per sample.

    Returns
    -------
    torch.Tensor, shape (B, 1, n_angles, n_det)
        Measured rows unchanged; a missing row between measured rows ``p < i < q``
        is ``((q - i) row_p + (i - p) row_q) / (q - p)``, one beyond the last
        (first) measured row a copy of it.
    """
    b, _, n, d = sino.shape
    idx = torch.arange(n, device=sino.device).expand(b, n)
    prev = torch.where(measured, idx, torch.full_like(idx, -1)).cummax(dim=1).values
    nxt = torch.where(measured, idx, torch.full_like(idx, n))
    nxt = nxt.flip(1).cummin(dim=1).values.flip(1)
    prev = torch.where(prev < 0, nxt, prev)  # nothing measured before: copy the next row
    nxt = torch.where(nxt >= n, prev, nxt)  # nothing measured after: copy the previous row
    span = (nxt - prev).clamp(min=1).to(sino.dtype)
    w = torch.where(nxt > prev, (idx - prev).to(sino.dtype) / span, torch.zeros_like(span))

    def rows(i: torch.Tensor) -> torch.Tensor:
        return torch.gather(sino, 2, i[:, None, :, None].expand(b, 1, n, d))

    w = w[:, None, :, None]
    return (1.0 - w) * rows(prev) + w * rows(nxt)


class InpaintGenerator(nn.Module):
    """RRDB generator that fills the missing rows of a missing-wedge sinogram.

    Layers: first 3x3 conv (2 -> ``features``); ``n_rrdb`` RRDBs; one 3x3 conv
    with LeakyReLU per entry of ``dilations`` (dilation ``d``, padding ``d``);
    trunk conv; long skip from the first conv; two 3x3 convs (with LeakyReLU
    between them) down to one channel. No pooling, no up-sampling, no
    normalisation: any ``n_angles`` and ``n_det`` work.

    The last conv is initialised to zero, so an untrained model returns the
    filled input: the network predicts a residual added to the zero-filled
    sinogram, or, with ``config.fill == "linear"``, to the sinogram whose
    missing rows are interpolated between the nearest measured ones. With
    ``config.keep_measured`` (default) the output is then
    ``where(mask, input, prediction)``, i.e. ``mask * input + (1 - mask) *
    prediction`` for a binary mask, computed with ``torch.where`` so measured
    rows are copied bit for bit even if the prediction is not finite.

    Parameters
    ----------
    config : InpainterConfig, optional
        Sizes; ``InpainterConfig.default()`` if omitted.

    Shapes
    ------
    input : (B, 2, n_angles, n_det)
        Channel 0: zero-filled sinogram; channel 1: binary measured-row mask.
    output : (B, 1, n_angles, n_det)
        The full (inpainted) sinogram.
    """

    def __init__(self, config: InpainterConfig | None = None):
        super().__init__()
        config = InpainterConfig.default() if config is None else config
        if not isinstance(config, InpainterConfig):
            raise ValueError(f"config must be an InpainterConfig, got {type(config).__name__}")
        self.config = config
        nf = config.features
        act = nn.LeakyReLU(LRELU_SLOPE, inplace=True)
        self.conv_first = nn.Conv2d(2, nf, 3, padding=1)
        self.trunk = nn.Sequential(
            *(RRDB(nf, config.growth, config.residual_scale) for _ in range(config.n_rrdb))
        )
        layers: list[nn.Module] = []
        for d in config.dilations:
            layers += [nn.Conv2d(nf, nf, 3, padding=d, dilation=d), act]
        self.dilated = nn.Sequential(*layers)
        self.trunk_conv = nn.Conv2d(nf, nf, 3, padding=1)
        self.hr_conv = nn.Conv2d(nf, nf, 3, padding=1)
        self.act = act
        self.conv_last = nn.Conv2d(nf, 1, 3, padding=1)
        nn.init.zeros_(self.conv_last.weight)
        nn.init.zeros_(self.conv_last.bias)

    def receptive_field(self) -> int:
        """Receptive field (pixels, along each axis) of one output pixel.

        The longest path goes through every conv once:
        ``1 + 2 * (4 + 15 * n_rrdb + sum(dilations))`` (first, trunk, HR and last
        convs, five convs per dense block, three dense blocks per RRDB).
        """
        c = self.config
        return 1 + 2 * (4 + 15 * c.n_rrdb + sum(c.dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 2:
            raise ValueError(
                f"InpaintGenerator expects (B, 2, n_angles, n_det) = zero-filled sinogram + "
                f"mask, got shape {tuple(x.shape)}"
            )
        mask = x[:, 1:2]
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("channel 1 of the input (measured-row mask) must contain only 0 and 1")
        keep = mask != 0
        # never let the network see unmeasured values, whatever the caller left there
        sino = torch.where(keep, x[:, 0:1], torch.zeros((), dtype=x.dtype, device=x.device))
        if self.config.fill == "linear":
            sino = torch.where(keep, sino, interpolate_missing_rows(sino, keep[:, 0, :, 0]))
        feat = self.conv_first(torch.cat([sino, mask], dim=1))
        trunk = self.trunk_conv(self.dilated(self.trunk(feat)))
        feat = feat + trunk
        pred = sino + self.conv_last(self.act(self.hr_conv(feat)))
        if self.config.keep_measured:
            pred = torch.where(keep, sino, pred)
        return pred
