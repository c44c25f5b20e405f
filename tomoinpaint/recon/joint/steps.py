"""The network steps of the deep methods on model-grid data (inpainting, de-artifacting, flips)."""

from __future__ import annotations

import numpy as np

from ...nn.grid import sinogram_scale
from ...nn.inference import run_deartifact, run_inpainter
from ..wbp import wbp
from .model import JointModel
from .regrid import GridData, resize_images, to_input_units

__all__ = [
    "inpaint_grid",
    "deartifact_grid",
    "deartifact_flipped",
    "symmetric_flips",
    "nearest_gap",
    "missing_rows",
    "paper_images",
]


def inpaint_grid(m: JointModel, st: GridData, batch_size: int) -> np.ndarray:
    if st.full is None:
        st.full = run_inpainter(
            m.inpainter, st.grid_sino, st.covered, batch_size=batch_size, device=m.device
        )
        # Covered rows are the (regridded) measurements, exactly.
        st.full[:, st.covered] = st.grid_sino[:, st.covered]
    return st.full


def deartifact_grid(
    m: JointModel, st: GridData, images: np.ndarray, batch_size: int, net=None
) -> np.ndarray:
    """The de-artifact network (``net``, default ``m.deartifact``) on model-grid images."""
    net = m.deartifact if net is None else net
    scales = np.atleast_1d(sinogram_scale(st.grid_sino, st.covered))
    return run_deartifact(net, images, scales, batch_size=batch_size, device=m.device)


def symmetric_flips(angles_deg, covered) -> list[tuple[int, ...]]:
    """Image flips (axes of a ``(B, n, n)`` stack) under which the measured angles stay measured.

    A reflection of the slice about either image axis sends a parallel
    projection at angle θ to one at -θ (mod 180°, detector reversed); a half
    turn (both flips) sends it to itself. So the half turn keeps any angle
    set, and the single flips keep one that is symmetric about 0° (mod 180°),
    such as every symmetric tilt range. For those flips, TV of the flipped
    data is the flipped TV image: the de-artifact network may be run on the
    flipped image and its output flipped back.

    Parameters
    ----------
    angles_deg : numpy.ndarray, shape (n_grid,)
    covered : numpy.ndarray of bool, shape (n_grid,)
        The measured grid angles.

    Returns
    -------
    list of tuple of int
        ``()`` (identity) first, then ``(-2, -1)``, then ``(-2,)`` and
        ``(-1,)`` if the measured set is mirror-symmetric.
    """
    flips = [(), (-2, -1)]
    a = np.asarray(angles_deg, np.float64)[np.asarray(covered, bool)]
    if a.size and np.all(nearest_gap(-a, a, 180.0) < 1e-6):
        flips += [(-2,), (-1,)]
    return flips


def nearest_gap(angles_deg, others_deg, period: float) -> np.ndarray:
    """Distance (degrees, modulo ``period``) from each angle to the nearest of ``others_deg``.

    Returns
    -------
    numpy.ndarray, shape (n_angles,)
    """
    a = np.asarray(angles_deg, np.float64)[:, None]
    b = np.asarray(others_deg, np.float64)[None, :]
    half = 0.5 * period
    return np.abs(np.mod(a - b + half, period) - half).min(axis=1)


def deartifact_flipped(
    m: JointModel, st: GridData, images: np.ndarray, batch_size: int, net, flips
) -> np.ndarray:
    """The mean of the network's outputs over ``flips`` (each flipped back)."""
    outs = [
        np.flip(deartifact_grid(m, st, np.flip(images, f).copy(), batch_size, net), f)
        for f in flips
    ]
    return np.mean(outs, axis=0, dtype=np.float64).astype(np.float32)


def missing_rows(m: JointModel, st: GridData, n_det: int) -> tuple[np.ndarray, np.ndarray]:
    """Inpainted projections outside the measured range, in input units: (angles, rows)."""
    miss = ~st.covered
    return m.angles_deg[miss], to_input_units(st.full[:, miss], st, n_det)


def paper_images(m, st, n_det, batch_size, device):
    full = inpaint_grid(m, st, batch_size)
    rec = wbp(full, m.angles_deg, filter=m.wbp_filter, device=device)
    rec = rec.reshape(full.shape[0], m.n, m.n)
    return resize_images(deartifact_grid(m, st, rec, batch_size), n_det)
