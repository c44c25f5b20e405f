"""SART and SIRT through ASTRA's own implementations (CPU or CUDA)."""

from __future__ import annotations

import astra
import numpy as np

from ..geometry import validate_angles
from ..project import Projector
from .common import as_geometry, check_fraction, check_positive_int

__all__ = ["sart", "sirt", "PROJECTION_ORDERS"]

PROJECTION_ORDERS = ("random", "sequential")


def _projection_order(order: str, angles_deg, sweeps: int, seed: int) -> np.ndarray:
    """Projection indices for ``sweeps`` SART sweeps.

    "sequential" visits the projections in angle order, "random" in a fresh
    permutation of that order per sweep drawn from ``seed`` (ASTRA's own
    random order is not seedable, and reproducible output matters when a
    volume run is resumed). Both go by the angles, not by the rows' order, so
    a tilt series stored in acquisition order (dose-symmetric: 0°, +3°, -3°,
    ...) gives the same image as the same series sorted.
    """
    by_angle = np.argsort(np.asarray(angles_deg, dtype=np.float64), kind="stable")
    if order == "sequential":
        return np.tile(by_angle, sweeps)
    rng = np.random.default_rng(seed)
    return np.concatenate([by_angle[rng.permutation(by_angle.size)] for _ in range(sweeps)])


def _run_iterative(name, sino, angles_deg, iterations, options, x0, device, slab=None):
    geom = as_geometry(angles_deg, sino)
    s = geom.check_sinogram(sino)
    plane = (geom.n_det, geom.n_det) if slab is None else (slab[1] - slab[0], geom.n_det)
    init = None
    if x0 is not None:
        init = np.asarray(x0, dtype=np.float32)
        if init.shape != s.shape[:-2] + plane:
            raise ValueError(f"x0 has shape {init.shape}, expected {s.shape[:-2] + plane}")
    with Projector(geom, kernel="linear", device=device, rows=slab) as P:

        def one(k):
            sl = s if s.ndim == 2 else s[k]
            astra.data2d.store(P.sino_id, sl)
            if init is None:
                astra.data2d.store(P.vol_id, 0.0)
            else:
                astra.data2d.store(P.vol_id, init if init.ndim == 2 else init[k])
            P.run_algorithm(name, iterations, options=options)
            return astra.data2d.get(P.vol_id)

        if s.ndim == 2:
            return one(0)
        return np.stack([one(k) for k in range(s.shape[0])])


def sart(
    sino,
    angles_deg,
    *,
    sweeps: int = 20,
    relaxation: float = 1.0,
    nonnegative: bool = True,
    order: str = "random",
    seed: int = 0,
    x0=None,
    device: str = "auto",
    slab: tuple[int, int] | None = None,
) -> np.ndarray:
    """Simultaneous algebraic reconstruction technique (ASTRA ``SART``).

    One sweep updates the image once per projection, so a sweep costs about
    one forward and one back projection.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    sweeps : int
        Passes over all projections.
    relaxation : float
        Step length in (0, 2].
    nonnegative : bool
        Clip negative values after each update.
    order : {"random", "sequential"}
        Order in which projections are visited: by angle, or a seeded
        permutation of that per sweep (either way independent of the order
        the rows are stored in).
    seed : int
        Seed of the random order.
    x0 : array_like, optional, shape (n_det, n_det) or (n_slices, n_det, n_det)
        Starting image (zeros by default).
    device : {"auto", "cpu", "cuda"}
    slab : (int, int), optional
        Reconstruct only rows ``z0..z1-1`` of each slice, as IMOD's SIRT does
        within THICKNESS: everything the projections hold is put inside the
        slab. Much sharper when the specimen lies inside it, much worse when
        it does not (``benchmarks/results/slab_support.md``); the image is
        ``(z1 - z0, n_det)``.

    Returns
    -------
    numpy.ndarray, shape (n_det, n_det) or (n_slices, n_det, n_det), float32
    """
    sweeps = check_positive_int(sweeps, "sweeps")
    relaxation = check_fraction(relaxation, "relaxation")
    if order not in PROJECTION_ORDERS:
        raise ValueError(
            f"unknown projection order {order!r}; choose one of {', '.join(PROJECTION_ORDERS)}"
        )
    idx = _projection_order(order, validate_angles(angles_deg), sweeps, seed)
    options = {
        "ProjectionOrder": "custom",
        "ProjectionOrderList": idx.astype(np.float64),
        "Relaxation": relaxation,
    }
    if nonnegative:
        options["MinConstraint"] = 0.0
    return _run_iterative("SART", sino, angles_deg, idx.size, options, x0, device, slab)


def sirt(
    sino,
    angles_deg,
    *,
    iterations: int = 100,
    relaxation: float = 1.0,
    nonnegative: bool = True,
    x0=None,
    device: str = "auto",
    slab: tuple[int, int] | None = None,
) -> np.ndarray:
    """Simultaneous iterative reconstruction technique (ASTRA ``SIRT``).

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    iterations : int
    relaxation : float
        Step length in (0, 2].
    nonnegative : bool
    x0 : array_like, optional
        Starting image (zeros by default).
    device : {"auto", "cpu", "cuda"}
    slab : (int, int), optional
        Rows ``z0..z1-1`` only, a support constraint, as for :func:`sart`.

    Returns
    -------
    numpy.ndarray, shape (n_det, n_det) or (n_slices, n_det, n_det), float32
    """
    iterations = check_positive_int(iterations, "iterations")
    relaxation = check_fraction(relaxation, "relaxation")
    options = {"Relaxation": relaxation}
    if nonnegative:
        options["MinConstraint"] = 0.0
    return _run_iterative("SIRT", sino, angles_deg, iterations, options, x0, device, slab)
