"""Training pairs for the de-artifact network made from the user's tilt series alone.

The idea of IsoNet and DeepDeWedge, in 2D, for the network of ``joint``'s
prior (it de-artifacts TV reconstructions on the model grid):

1. Split the measured tilts into two interleaved halves (even and odd rank
   along the measured arc) and reconstruct each with TV on the model grid:
   two images of the same slice with independent noise.
2. Rotate both by a random angle φ, which moves well-measured directions
   into the missing wedge.
3. Project the rotated first half at the measured angles, add noise at the
   measured level and reconstruct that with TV: an input with the user's own
   wedge artefacts, whose wedge now holds known detail.
4. The target is the second half (other noise, so the network cannot learn
   to reproduce noise), in one of two forms
   (:class:`~.run.AdaptSettings`'s ``target``):

   - "projections" (the default): its own measured projections, met by the
     output's projections at the half's angles plus φ
     (:mod:`~.projection_loss`): no reconstruction's smoothing or streaks;
   - "image": its TV image turned by φ, trusted only in the Fourier
     directions it was measured in, the measured directions turned by φ
     (:func:`~.fourier.measured_direction_mask`).

Both halves are set up as ``joint``'s prior sees the data: the angles turned
by :func:`~tomoinpaint.recon.joint.regrid.wedge_alignment` so that the wedge
lies where the network's training put it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn.grid import image_scale, sinogram_scale
from ..project import forward_project
from ..recon.joint.model import JointModel
from ..recon.joint.regrid import (
    resample_detector,
    rotate_slices,
    to_model_grid,
    wedge_alignment,
)
from ..recon.tv import STEP_RATIO, tv
from ..recon.tv_weights import estimate_noise
from ..score.holdout import even_odd_split
from .fourier import measured_direction_mask

__all__ = [
    "AdaptData",
    "prepare_halves",
    "make_pairs",
    "rotate_slices",
    "TARGETS",
]

#: What the network's output is compared with (:class:`~.run.AdaptSettings`'s ``target``).
TARGETS = ("projections", "image")


@dataclass(frozen=True)
class AdaptData:
    """The user's slices on the model grid, ready to make pairs from.

    Attributes
    ----------
    halves : numpy.ndarray, shape (2, n_slices, n, n)
        TV of the even and of the odd tilts, on the model grid (model units).
    angles_deg : numpy.ndarray, shape (n_measured,)
        The model-grid angles the full data cover (what the network sees).
    sigma : numpy.ndarray, shape (n_slices,)
        Noise of the full data's regridded sinograms (model units).
    tv_iterations : int
        Iterations of the TV inputs.
    half_sinos : tuple of two numpy.ndarray, shapes (n_slices, n_tilts_h, n)
        Each half's measured projections at the model grid's detector width
        (model units): the "projections" target.
    half_angles : tuple of two numpy.ndarray, shapes (n_tilts_h,)
        Their angles (degrees, turned as the halves' images are).
    """

    halves: np.ndarray
    angles_deg: np.ndarray
    sigma: np.ndarray
    tv_iterations: int
    half_sinos: tuple
    half_angles: tuple

    @property
    def n(self) -> int:
        """Slice size on the model grid."""
        return int(self.halves.shape[-1])


def prepare_halves(
    m: JointModel,
    sino: np.ndarray,
    angles_deg,
    device: str = "auto",
    tv_iterations: int | None = None,
    size: int | None = None,
) -> AdaptData:
    """Reconstruct the even and odd halves of each slice on the model grid.

    Parameters
    ----------
    m : JointModel
        Loaded weights with the network of the "tv" prior.
    sino : numpy.ndarray, shape (n_slices, n_tilts, n_det)
    angles_deg : array_like, shape (n_tilts,)
    device : {"auto", "cpu", "cuda"}
    tv_iterations : int, optional
        Of every TV (the halves and the pairs' inputs); default: those the
        network's training inputs were made with. (As many as ``joint``'s
        prior runs for wider inputs, 300 instead of 150 on the 400-px tooth,
        adapted worse: ``benchmarks/results/adaptation_tooth_pair_iterations.md``.)
    size : int, optional
        Slice size of the grid (default: the "tv" network's, ``m.tv_size``).

    Returns
    -------
    AdaptData
    """
    a = np.asarray(angles_deg, dtype=np.float64)
    if tv_iterations is None:
        tv_iterations = m.tv_iterations
    a = a + wedge_alignment(m, a)
    n = m.tv_size if size is None else int(size)
    grid, covered, factor = to_model_grid(sino, a, m.angles_deg, n)
    sigma = np.array(
        [estimate_noise(g[covered], m.angles_deg[covered]) for g in grid], dtype=np.float32
    )
    measured = resample_detector(sino, n) / np.float32(factor)  # the angles as they are
    halves, half_sinos, half_angles = [], [], []
    for half in even_odd_split(a):
        g, cov, _ = to_model_grid(sino[:, half], a[half], m.angles_deg, n)
        rec = tv(
            g[:, cov],
            m.angles_deg[cov],
            iterations=tv_iterations,
            device=device,
            step_ratio=STEP_RATIO,  # as the networks' TV inputs were made
        )
        halves.append(rec.reshape(-1, n, n))
        half_sinos.append(measured[:, half])
        half_angles.append(a[half])
    return AdaptData(
        np.stack(halves),
        m.angles_deg[covered],
        sigma,
        int(tv_iterations),
        tuple(half_sinos),
        tuple(half_angles),
    )


def make_pairs(
    data: AdaptData,
    rng: np.random.Generator,
    count: int,
    device: str = "auto",
    target: str = "projections",
) -> dict[str, np.ndarray]:
    """``count`` (input, target, mask) pairs, normalised as the network sees them.

    Parameters
    ----------
    data : AdaptData
    rng : numpy.random.Generator
        Draws the slices, which half is the input, the rotations and the noise.
    count : int
    device : {"auto", "cpu", "cuda"}
    target : {"projections", "image"}
        Which target to make (the draws from ``rng``, and so the inputs, are
        the same for both).

    Returns
    -------
    dict
        ``inputs`` (float32, shape (count, n, n), divided by the image scale
        the network is run with) and ``phi`` (shape (count,): each pair's
        turn, degrees), and for the "projections" target ``target_sinos``
        and ``target_angles`` (lists of ``count`` arrays, shapes
        (n_tilts_h, n) and (n_tilts_h,)): the other half's measured
        projections in the inputs' units, and the angles at which the
        output, turned by φ, meets them; for the "image" target ``targets``
        (float32, shape (count, n, n), in the inputs' units) and ``masks``
        (bool, same shape: the Fourier directions the target was measured in).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    n_slices = data.halves.shape[1]
    k = rng.integers(0, n_slices, count)
    first = rng.integers(0, 2, count)
    phi = rng.uniform(0.0, 180.0, count)
    src = np.stack([rotate_slices(data.halves[first[j], k[j]], phi[j]) for j in range(count)])
    sino = forward_project(src, data.angles_deg, kernel="linear", device=device)
    sino += (rng.standard_normal(sino.shape) * data.sigma[k, None, None]).astype(np.float32)
    inputs = tv(
        sino,
        data.angles_deg,
        iterations=data.tv_iterations,
        device=device,
        step_ratio=STEP_RATIO,  # as the networks' TV inputs were made
    )
    inputs = inputs.reshape(count, data.n, data.n)
    every_row = np.ones(data.angles_deg.size, dtype=bool)
    scale = image_scale(np.atleast_1d(sinogram_scale(sino, every_row)), data.n)
    scale = scale.astype(np.float32)[:, None, None]
    other = 1 - first
    pairs = {"inputs": inputs / scale, "phi": phi}
    if target == "image":
        tgt = np.stack([rotate_slices(data.halves[other[j], k[j]], phi[j]) for j in range(count)])
        masks = np.stack([measured_direction_mask(data.n, data.angles_deg + p) for p in phi])
        return pairs | {"targets": tgt / scale, "masks": masks}
    per_pair = zip(other, k, phi, scale[:, 0, 0], strict=True)
    target_sinos, target_angles = [], []
    for h, i, p, c in per_pair:
        target_sinos.append(data.half_sinos[h][i] / c)
        target_angles.append(data.half_angles[h] + p)
    return pairs | {"target_sinos": target_sinos, "target_angles": target_angles}
