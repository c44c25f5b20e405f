"""Simulated sinograms and tilt series without the inverse crime.

Following ``BENCHMARKS.md`` ("No inverse crime"): projections are simulated
from an image ``supersample`` times finer than the reconstruction grid with
the area-integrating ASTRA ``strip`` kernel and one detector pixel per
reconstruction pixel (:class:`tomoinpaint.project.Projector` with
``supersample``); the ground truth is the ``s x s`` block mean of the fine
image. Line integrals are in coarse (detector) pixel units, so a sinogram of
the ground truth on the coarse grid is close to, but not the same as, the
simulated one.
"""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

from ..geometry import Geometry, validate_angles, wedge_mask
from ..project import Projector
from ._util import as_rng, block_mean, check_image, check_size, circle_mask
from .augment import FAMILY_OPS
from .augment import augment as _augment
from .cellular import cellular_image
from .images import SPLITS, ct_slice, natural_image
from .noise import poisson_dose, resolve_dose
from .phantoms import random_shapes_phantom

__all__ = [
    "FAMILIES",
    "LIBRARY_FAMILIES",
    "simulate_sinogram",
    "simulate_tilt_series",
    "apply_wedge",
    "make_sample",
]

log = logging.getLogger(__name__)

#: Image families of the training library (paper, Table 1): the default.
FAMILIES = ("shapes", "natural", "ct")
#: Every family a library may draw: the paper's and cellular sections
#: (:mod:`.cellular`, electron tomography's membranes, particles and beads).
LIBRARY_FAMILIES = FAMILIES + ("cellular",)


def _check_supersample(s) -> int:
    if isinstance(s, bool) or int(s) != s or s < 1:
        raise ValueError(f"supersample must be a positive integer, got {s!r}")
    return int(s)


def _dose_rng(dose, rng):
    i0 = resolve_dose(dose)
    if i0 is not None and rng is None:
        raise ValueError(f"dose={dose!r} adds noise: pass rng (a numpy Generator or integer seed)")
    return i0, (None if i0 is None else as_rng(rng))


def _project(P: Projector, image_fine: np.ndarray) -> np.ndarray:
    return np.asarray(P.forward(image_fine), dtype=np.float32)


def simulate_sinogram(
    image_fine,
    angles_deg,
    *,
    supersample: int = 2,
    dose=None,
    rng=None,
    device: str = "auto",
    return_mu: bool = False,
):
    """Sinogram of a fine image with the strip kernel, and its ground truth.

    Parameters
    ----------
    image_fine : array_like, shape (n*s, n*s)
        Non-negative attenuation image at ``s = supersample`` times the
        reconstruction resolution.
    angles_deg : array_like, shape (n_angles,)
        Tilt angles, degrees.
    supersample : int
        ``s``; 1 simulates on the reconstruction grid (an inverse crime when
        reconstructed with the same projector: avoid for benchmarks).
    dose : None, str or float
        None / "noise-free", a name of :data:`.noise.DOSE_LEVELS`, or I0.
    rng : numpy.random.Generator or int, optional
        Required when ``dose`` adds noise.
    device : {"auto", "cpu", "cuda"}
        ASTRA device (the CUDA projector approximates the strip kernel by
        detector supersampling).
    return_mu : bool
        Also return the dose's μ (None when noise-free).

    Returns
    -------
    sino : numpy.ndarray, shape (n_angles, n), float32
        Line integrals in detector-pixel units (with noise at ``dose``).
    ground_truth : numpy.ndarray, shape (n, n), float32
        ``s x s`` block mean of ``image_fine``.
    mu : float or None
        Only with ``return_mu``.
    """
    img = check_image(image_fine, name="image_fine")
    s = _check_supersample(supersample)
    if img.shape[0] % s:
        raise ValueError(f"image_fine width {img.shape[0]} is not a multiple of supersample={s}")
    n = img.shape[0] // s
    angles = validate_angles(angles_deg, name="angles_deg")
    i0, rng = _dose_rng(dose, rng)
    with Projector(Geometry(angles, n), kernel="strip", device=device, supersample=s) as P:
        sino = _project(P, img)
    mu = None
    if i0 is not None:
        sino, mu = poisson_dose(sino, i0, rng, return_mu=True)
    gt = block_mean(img, s)
    return (sino, gt, mu) if return_mu else (sino, gt)


def simulate_tilt_series(
    volume_fine,
    angles_deg,
    *,
    supersample: int = 2,
    dose=None,
    rng=None,
    device: str = "auto",
    progress: bool | None = None,
):
    """Tilt series of a fine volume, slice by slice, and its ground truth.

    Parameters
    ----------
    volume_fine : array_like, shape (ny, n*s, n*s)
        Slices along the tilt axis, each ``s = supersample`` times finer than
        the reconstruction grid in-plane (not along ``y``).
    angles_deg : array_like, shape (n_tilts,)
    supersample : int
    dose : None, str or float
        As in :func:`simulate_sinogram`; one μ for the whole series (from its
        most attenuating ray), as in a real acquisition.
    rng : numpy.random.Generator or int, optional
        Required when ``dose`` adds noise.
    device : {"auto", "cpu", "cuda"}
    progress : bool or None
        tqdm progress bar over slices; None shows it only on a terminal.

    Returns
    -------
    tilt_series : numpy.ndarray, shape (n_tilts, ny, n), float32
    ground_truth : numpy.ndarray, shape (ny, n, n), float32
    """
    vol = np.asarray(volume_fine)
    if vol.ndim != 3 or vol.shape[1] != vol.shape[2]:
        raise ValueError(f"volume_fine must have shape (ny, N, N), got {vol.shape}")
    s = _check_supersample(supersample)
    if vol.shape[1] % s:
        raise ValueError(f"volume_fine width {vol.shape[1]} is not a multiple of supersample={s}")
    vol = vol.astype(np.float32, copy=False)
    if not np.isfinite(vol).all():
        raise ValueError("volume_fine contains NaN or Inf values")
    ny, n = vol.shape[0], vol.shape[1] // s
    angles = validate_angles(angles_deg, name="angles_deg")
    i0, rng = _dose_rng(dose, rng)
    ts = np.empty((angles.size, ny, n), dtype=np.float32)
    disable = None if progress is None else not progress
    with Projector(Geometry(angles, n), kernel="strip", device=device, supersample=s) as P:
        for y in tqdm(range(ny), desc="projecting slices", disable=disable):
            ts[:, y, :] = _project(P, vol[y])
    if i0 is not None:
        ts = poisson_dose(ts, i0, rng)
    return ts, block_mean(vol, s)


def apply_wedge(sino, full_angles_deg, tilt_min: float, tilt_max: float):
    """Zero-fill the rows of a complete sinogram that a tilt range misses.

    Parameters
    ----------
    sino : array_like, shape (..., n_angles, n_det)
        Complete sinogram(s) on ``full_angles_deg``.
    full_angles_deg : array_like, shape (n_angles,)
    tilt_min, tilt_max : float
        Measured range, degrees (see :func:`tomoinpaint.geometry.wedge_mask`).

    Returns
    -------
    wedge_sino : numpy.ndarray, same shape, float32
        Measured rows equal to ``sino``'s, missing rows exactly 0.
    mask : numpy.ndarray of bool, shape (n_angles,)
        True for measured angles.
    """
    s = np.asarray(sino, dtype=np.float32)
    mask = wedge_mask(full_angles_deg, tilt_min, tilt_max)
    if s.ndim < 2 or s.shape[-2] != mask.size:
        raise ValueError(
            f"sino has shape {s.shape}; expected (..., {mask.size}, n_det) for {mask.size} angles"
        )
    out = np.where(mask[:, None], s, np.float32(0.0)).astype(np.float32)
    return out, mask


def make_sample(
    family: str,
    n: int,
    rng,
    *,
    supersample: int = 2,
    split: str = "train",
    augment: bool = True,
    ops=None,
    p: float = 0.5,
) -> np.ndarray:
    """Draw one fine image of a library family, augmented.

    Parameters
    ----------
    family : {"shapes", "natural", "ct", "cellular"}
        Random nanocrystal-like shapes, natural photographs, CT slices or
        cellular sections (:func:`.cellular.cellular_image`).
    n : int
        Reconstruction size; the image is ``(n*s, n*s)``.
    rng : numpy.random.Generator or int
    supersample : int
        ``s``.
    split : {"train", "test"}
        For "natural" and "ct": which source files (see :mod:`.images`).
        "shapes" and "cellular" have no files: hold out test images by seed
        range instead.
    augment : bool
        Apply :func:`.augment.augment`.
    ops : sequence of str, optional
        Augmentations; default :data:`.augment.FAMILY_OPS` of the family.
    p : float
        Probability of each augmentation.

    Returns
    -------
    numpy.ndarray, shape (n*s, n*s), float32
        Non-negative; zero outside the reconstruction circle of the coarse
        ``(n, n)`` grid (whole ``s x s`` blocks), so the ground truth is too.
    """
    if family not in LIBRARY_FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(LIBRARY_FAMILIES)}")
    n = check_size(n)
    s = _check_supersample(supersample)
    rng = as_rng(rng)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    N = n * s
    if family == "shapes":
        img = random_shapes_phantom(N, rng)
    elif family == "natural":
        img = natural_image(N, rng, split)
    elif family == "cellular":
        img = cellular_image(N, rng)
    else:
        img = ct_slice(N, rng, split)
    if augment:
        img = _augment(img, rng, ops=FAMILY_OPS[family] if ops is None else ops, p=p)
    coarse = circle_mask(n)
    fine = np.kron(coarse, np.ones((s, s), dtype=bool)) if s > 1 else coarse
    return (img * fine).astype(np.float32)
