"""A loss against the other half's measured projections, with no reconstruction in the target.

The network's output for a pair is an image of the slice turned by φ. Its
projections at the other half's tilt angles plus φ are, for the right image,
exactly that half's measured projections (a parallel-beam series at angles
``θ + φ`` is the series of the object turned by φ,
:func:`~tomoinpaint.recon.joint.regrid.wedge_alignment`). Comparing there
needs no reconstruction of the target: a reconstruction (TV of the half)
would hand the network its smoothing and, from half the tilts, its
angular-undersampling streaks as truth. Measured projections carry neither,
only noise that the input does not share, so the network learns their
expectation (Noise2Noise). By the Fourier slice theorem the loss sees the
output only along the Fourier directions of those angles, the ones that
were measured.

Residuals are filtered by ``sqrt|f|`` along the detector before squaring:
a projection's frequency ``f`` stands for a ring of the image's Fourier
plane whose area grows with ``|f|``, so the loss weighs the image's
frequencies as a pixel-domain squared error would, instead of favouring
the lowest ones.
"""

from __future__ import annotations

import numpy as np
import torch

from ..project import back_project, forward_project

__all__ = ["project_image", "measured_projection_loss"]


class _Project(torch.autograd.Function):
    """ASTRA's parallel-beam projection of one image; its backward is the exact adjoint."""

    @staticmethod
    def forward(ctx, image, angles):
        ctx.angles = angles
        out = forward_project(image.detach().cpu().numpy(), angles, kernel="linear")
        return torch.from_numpy(out).to(image.device)

    @staticmethod
    def backward(ctx, grad):
        g = back_project(grad.detach().cpu().numpy(), ctx.angles, kernel="linear")
        return torch.from_numpy(np.asarray(g, np.float32)).to(grad.device), None


def project_image(image: torch.Tensor, angles_deg) -> torch.Tensor:
    """Differentiable projection of one image (ASTRA, linear kernel).

    Parameters
    ----------
    image : torch.Tensor, shape (n, n)
    angles_deg : array_like, shape (n_angles,)

    Returns
    -------
    torch.Tensor, shape (n_angles, n)
    """
    return _Project.apply(image, np.asarray(angles_deg, dtype=np.float64))


def _ramp_root(n: int, device) -> torch.Tensor:
    """``sqrt|f|`` on the rfft of a row zero-padded to ``2n`` (f in cycles per pixel)."""
    f = torch.fft.rfftfreq(2 * n, device=device)
    f[0] = 0.25 / n  # the mean still counts, as a quarter of the first frequency
    return f.sqrt()


def measured_projection_loss(pred: torch.Tensor, sinos, angles) -> torch.Tensor:
    """Mean ramp-weighted squared residual of ``pred``'s projections against measured ones.

    Parameters
    ----------
    pred : torch.Tensor, shape (B, n, n)
    sinos : sequence of B numpy.ndarray, shapes (n_angles_j, n)
        Each target's measured projections, in ``pred``'s units.
    angles : sequence of B array_like, shapes (n_angles_j,)
        Where ``pred[j]`` is projected to meet ``sinos[j]`` (degrees).

    Returns
    -------
    torch.Tensor
        A scalar: the mean over the pairs of ``sum |rfft(r)|^2 |f|`` over the
        projections of each, divided by their number of values. Changes of
        ``pred`` along Fourier directions no angle samples leave it unchanged
        (up to the projector's interpolation).
    """
    n = pred.shape[-1]
    weight = _ramp_root(n, pred.device)
    total = pred.new_zeros(())
    for j in range(pred.shape[0]):
        target = torch.from_numpy(np.asarray(sinos[j], np.float32)).to(pred.device)
        r = project_image(pred[j], angles[j]) - target
        spectrum = torch.fft.rfft(r, n=2 * n, dim=-1) * weight
        total = total + (spectrum.abs() ** 2).sum() / r.numel()
    return total / pred.shape[0]
