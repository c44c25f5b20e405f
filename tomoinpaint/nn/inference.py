"""Running the generators on numpy arrays, normalised as in training.

:func:`run_inpainter` (stage 1, sinograms on the model grid) and
:func:`run_deartifact` (stage 2, reconstructed slices) do the round trip of
:mod:`.grid`'s normalisation, batch by batch, without gradients.
"""

from __future__ import annotations

import numpy as np
import torch

from .grid import image_scale, sinogram_scale
from .inpainter import make_inpaint_input

__all__ = ["run_inpainter", "run_deartifact"]


@torch.no_grad()
def run_inpainter(
    model: torch.nn.Module,
    sinograms,
    measured,
    *,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Inpaint missing-wedge sinograms with a stage-1 generator, normalising as in training.

    Parameters
    ----------
    model : InpaintGenerator
    sinograms : array_like, shape (B, n_angles, n_det)
        Measured sinograms on the model's grid; missing rows are ignored.
    measured : array_like of bool, shape (n_angles,)
    batch_size : int
    device : str or torch.device

    Returns
    -------
    numpy.ndarray, float32, shape (B, n_angles, n_det)
        Complete sinograms in the units of the input; measured rows are the
        input's, exactly up to the scaling round trip.
    """
    sinos = np.asarray(sinograms, dtype=np.float32)
    m = np.asarray(measured, dtype=bool)
    scales = np.atleast_1d(sinogram_scale(sinos, m)).astype(np.float32)
    dev = torch.device(device)
    was_training = model.training
    model.eval()
    out = np.empty_like(sinos)
    mask_t = torch.from_numpy(m).to(dev)
    for a in range(0, sinos.shape[0], batch_size):
        b = min(a + batch_size, sinos.shape[0])
        x = torch.from_numpy(sinos[a:b] / scales[a:b, None, None]).to(dev)
        y = model(make_inpaint_input(x, mask_t))[:, 0].float().cpu().numpy()
        out[a:b] = y * scales[a:b, None, None]
    model.train(was_training)
    return out


@torch.no_grad()
def run_deartifact(
    model: torch.nn.Module,
    images,
    sino_scales,
    *,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """De-artifact reconstructions with a stage-2 generator, normalising as in training.

    Parameters
    ----------
    model : UNetGenerator
    images : array_like, shape (B, n, n)
        Reconstructions in physical units.
    sino_scales : array_like, shape (B,)
        :func:`sinogram_scale` of each slice's measured sinogram.

    Returns
    -------
    numpy.ndarray, float32, shape (B, n, n)
    """
    imgs = np.asarray(images, dtype=np.float32)
    sc = image_scale(np.asarray(sino_scales, dtype=np.float32).reshape(-1), imgs.shape[-1])
    dev = torch.device(device)
    was_training = model.training
    model.eval()
    out = np.empty_like(imgs)
    for a in range(0, imgs.shape[0], batch_size):
        b = min(a + batch_size, imgs.shape[0])
        x = torch.from_numpy(imgs[a:b] / sc[a:b, None, None])[:, None].to(dev)
        out[a:b] = model(x)[:, 0].float().cpu().numpy() * sc[a:b, None, None]
    model.train(was_training)
    return out
