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

__all__ = [
    "run_inpainter",
    "run_deartifact",
    "for_cpu_inference",
    "flush_subnormal_weights",
    "CPU_PIXELS_PER_PASS",
]

#: On the CPU, a forward pass takes at most this many input pixels per
#: network (slices of ``batch_size`` or fewer): larger passes outgrow the
#: caches. Measured on 2 cores (``benchmarks/results/cpu_kernels.md``), the
#: de-artifact U-Net channels-last, ms per image: 512 px 81 alone, 284 in
#: passes of 8; 256 px 17 alone, 26 in passes of 8; 128 px about 6 in
#: passes of 2 to 8. The inpainter (sinograms of 120 x 64) was fastest at 4
#: per pass.
CPU_PIXELS_PER_PASS = {"deartifact": 1 << 16, "inpainter": 1 << 15}


def flush_subnormal_weights(model: torch.nn.Module) -> int:
    """Set a model's subnormal parameters to zero, in place; returns how many there were.

    Weight decay drives unused weights towards zero, and float32 weights
    below 1.2e-38 are *subnormal*: x86 CPUs compute with them through a slow
    microcode path. The installed ``deartifact_tv`` holds 805,417 of them
    (41 % of its weights, in the bottleneck); with them, its channels-last
    convolutions ran 5x slower on this project's CPU machine
    (``benchmarks/results/subnormal_weights.md``). Their contribution to any
    output is below float32 resolution, so zeroing them leaves the outputs
    unchanged (bit for bit on that benchmark's slices).
    """
    tiny = torch.finfo(torch.float32).tiny
    count = 0
    with torch.no_grad():
        for p in model.parameters():
            if p.is_floating_point():
                sub = (p.abs() < tiny) & (p != 0)
                count += int(sub.sum())
                p.masked_fill_(sub, 0.0)
    return count


def for_cpu_inference(model: torch.nn.Module) -> torch.nn.Module:
    """Prepare a model for inference on the CPU, in place; returns it.

    Its subnormal weights are zeroed (:func:`flush_subnormal_weights`) and
    it is laid out channels-last: oneDNN's convolutions run 1.1-2.3x faster
    on channels-last weights and inputs (the de-artifact U-Net at 128-512 px,
    2 cores, ``benchmarks/results/cpu_kernels.md``); the results are the same
    up to float rounding. Only for models that are not trained further:
    a layout change mid-training would change the rounding of later steps.
    """
    flush_subnormal_weights(model)
    return model.to(memory_format=torch.channels_last)


def _per_pass(batch_size: int, pixels: int, dev: torch.device, kind: str) -> int:
    """Slices per forward pass: ``batch_size``, on the CPU at most the pixel budget."""
    if dev.type != "cpu":
        return batch_size
    return max(1, min(batch_size, CPU_PIXELS_PER_PASS[kind] // max(pixels, 1)))


def _layout(x: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """Inputs channels-last on the CPU (see :func:`for_cpu_inference`)."""
    return x.contiguous(memory_format=torch.channels_last) if dev.type == "cpu" else x


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
        Sinograms per forward pass (on the CPU at most ``CPU_PIXELS_PER_PASS``).
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
    step = _per_pass(batch_size, sinos.shape[-1] * sinos.shape[-2], dev, "inpainter")
    for a in range(0, sinos.shape[0], step):
        b = min(a + step, sinos.shape[0])
        x = torch.from_numpy(sinos[a:b] / scales[a:b, None, None]).to(dev)
        y = model(_layout(make_inpaint_input(x, mask_t), dev))[:, 0].float().cpu().numpy()
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
    step = _per_pass(batch_size, imgs.shape[-1] * imgs.shape[-2], dev, "deartifact")
    for a in range(0, imgs.shape[0], step):
        b = min(a + step, imgs.shape[0])
        x = torch.from_numpy(imgs[a:b] / sc[a:b, None, None])[:, None].to(dev)
        out[a:b] = model(_layout(x, dev))[:, 0].float().cpu().numpy() * sc[a:b, None, None]
    model.train(was_training)
    return out
