"""A cryo-ET-like cell section: membranes, vesicles, macromolecules, gold fiducials.

Electron tomography's main subject, and unlike every training family:

* thin lipid membranes (the cell's envelope, vesicles), which the missing
  wedge erases where they run across the beam;
* many small dense particles (ribosome-sized) on a faint cytoplasm;
* thin filaments running in any direction in 3D;
* a few gold fiducial beads, several times denser than anything else, whose
  streaks dominate a limited-angle reconstruction.

Every object is 3D (an ellipsoidal envelope, spherical shells and spheres,
rods) and the volume is sliced along the tilt axis, as the ``"shapes"``
family of :func:`~.phantoms.phantom_volume` is: neighbouring slices are
correlated and no two are equal. Coordinates are normalized as in
:mod:`.phantoms` (the reconstruction circle has radius 1 whatever ``n``), so
one seed draws the same cell at every size; ``t`` is the coordinate along
the tilt axis, where voxels are isotropic (the volume's extent there is
``2 * ny / n``).

Sizes are set for binned tomograms of 256–1024 px: at 256 px a membrane is
about 2 px thick, a particle 2–4 px across, a bead 3–5 px.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ._util import as_rng, check_size, circle_mask, grid_coords

__all__ = ["CELL_VALUES", "cell_volume"]

#: Density of each component (the painter's order: later ones cover earlier ones).
CELL_VALUES = {
    "cytoplasm": 0.2,
    "lumen": 0.1,
    "membrane": 1.0,
    "filament": 0.5,
    "particle": 0.7,
    "gold": 3.0,
}
#: Objects stay inside the disk of this radius (normalized), as the other families do.
_LIMIT = 0.95


def _sphere(rng, center_range, t_range, r_range) -> dict:
    """A sphere's centre (x, z, t) and radius, uniformly drawn."""
    (x0, x1), (t0, t1) = center_range, t_range
    return {
        "x": float(rng.uniform(x0, x1)),
        "z": float(rng.uniform(x0, x1)),
        "t": float(rng.uniform(t0, t1)),
        "r": float(rng.uniform(*r_range)),
    }


def _to_disc(rng, sphere: dict, cx: float, cz: float, radius: float) -> dict:
    """``sphere`` with its centre moved to a uniform point of a disc in the slice plane.

    The disc has ``radius`` about (``cx``, ``cz``); the (x, z) that
    :func:`_sphere` drew are replaced (still drawn, so that a seed draws the
    cell it always drew).
    """
    rho = radius * np.sqrt(rng.uniform())
    phi = rng.uniform(0.0, 2.0 * np.pi)
    sphere["x"], sphere["z"] = cx + rho * np.cos(phi), cz + rho * np.sin(phi)
    return sphere


def _draw_cell(rng: np.random.Generator, half_t: float) -> dict:
    """Every object of one cell, independent of the resolution."""
    a, c = rng.uniform(0.55, 0.8, size=2)
    shift = 0.9 - max(a, c)
    cell = {
        "x": float(rng.uniform(-shift, shift) / np.sqrt(2)),
        "z": float(rng.uniform(-shift, shift) / np.sqrt(2)),
        "axes": (float(a), float(c), float(rng.uniform(1.0, 2.0))),  # x', z', t
        "angle": float(rng.uniform(0.0, np.pi)),
        "membrane": float(rng.uniform(0.012, 0.02)),
    }
    inner = 0.8 * min(a, c)  # objects inside the cell: centres within this of its centre

    def inside(r_range, count_range, t_extra=0.0):
        count = int(rng.integers(count_range[0], count_range[1] + 1))
        out = []
        for _ in range(count):
            s = _sphere(rng, (-1.0, 1.0), (-half_t - t_extra, half_t + t_extra), r_range)
            out.append(_to_disc(rng, s, cell["x"], cell["z"], inner - s["r"]))
        return out

    cell["vesicles"] = inside((0.04, 0.14), (4, 10), t_extra=0.1)
    cell["particles"] = inside((0.008, 0.016), (150, 350))
    rods = []
    for _ in range(int(rng.integers(2, 7))):
        d = rng.normal(size=3)
        through = inside((0.0, 0.0), (1, 1))[0]  # a point in the cell
        rods.append(
            {
                "point": np.array([through["x"], through["z"], through["t"]]),
                "direction": d / np.linalg.norm(d),
                "r": float(rng.uniform(0.006, 0.01)),
            }
        )
    cell["filaments"] = rods
    gold = []
    for _ in range(int(rng.integers(2, 6))):
        g = _sphere(rng, (-1.0, 1.0), (-half_t, half_t), (0.012, 0.02))
        gold.append(_to_disc(rng, g, 0.0, 0.0, _LIMIT - g["r"]))
    cell["gold"] = gold
    return cell


def _ball(x, z, t, s: dict) -> np.ndarray:
    """Pixels of the slice at ``t`` inside the sphere ``s``."""
    return (x - s["x"]) ** 2 + (z - s["z"]) ** 2 + (t - s["t"]) ** 2 < s["r"] ** 2


def _render_slice(n: int, cell: dict, t: float) -> np.ndarray:
    """The slice at tilt-axis coordinate ``t``, shape (n, n), float32."""
    x, z = grid_coords(n)
    img = np.zeros((n, n), dtype=np.float32)
    # the envelope: an ellipsoid turned in the slice plane, its membrane a shell
    ca, sa = np.cos(cell["angle"]), np.sin(cell["angle"])
    u = ca * (x - cell["x"]) + sa * (z - cell["z"])
    v = -sa * (x - cell["x"]) + ca * (z - cell["z"])
    a, c, b = cell["axes"]
    rho = np.sqrt((u / a) ** 2 + (v / c) ** 2 + (t / b) ** 2)
    inside_cell = rho < 1.0
    img[inside_cell] = CELL_VALUES["cytoplasm"]
    for ves in cell["vesicles"]:
        img[_ball(x, z, t, ves)] = CELL_VALUES["membrane"]
        lumen = dict(ves, r=ves["r"] - cell["membrane"])
        img[_ball(x, z, t, lumen)] = CELL_VALUES["lumen"]
    for rod in cell["filaments"]:
        # distance from each pixel (x, z, t) to the rod's axis, inside the cell only
        p = np.stack(np.broadcast_arrays(x, z, np.full_like(x + z, t)), axis=-1) - rod["point"]
        along = p @ rod["direction"]
        dist2 = np.einsum("...i,...i->...", p, p) - along**2
        img[(dist2 < rod["r"] ** 2) & inside_cell] = CELL_VALUES["filament"]
    for part in cell["particles"]:
        img[_ball(x, z, t, part) & inside_cell] = CELL_VALUES["particle"]
    # the envelope's membrane: the shell of the ellipsoid's thickness
    shell = inside_cell & (rho > 1.0 - cell["membrane"] / min(a, c))
    img[shell] = CELL_VALUES["membrane"]
    for g in cell["gold"]:
        img[_ball(x, z, t, g)] = CELL_VALUES["gold"]
    return img * circle_mask(n, _LIMIT)


def cell_volume(ny: int, n: int, rng, *, progress: bool | None = None) -> np.ndarray:
    """A cryo-ET-like cell, sliced along the tilt axis.

    Parameters
    ----------
    ny : int
        Number of slices (along the tilt axis).
    n : int
        Slice size.
    rng : numpy.random.Generator or int
    progress : bool or None
        tqdm progress bar; None shows it only on a terminal.

    Returns
    -------
    numpy.ndarray, shape (ny, n, n), float32
        Non-negative (values from :data:`CELL_VALUES`), zero outside the
        disk of radius 0.95.
    """
    ny = check_size(ny, name="ny", minimum=1)
    n = check_size(n)
    rng = as_rng(rng)
    half_t = ny / n
    cell = _draw_cell(rng, half_t)
    ts = (2.0 * np.arange(ny) + 1.0 - ny) / n
    disable = None if progress is None else not progress
    vol = np.empty((ny, n, n), dtype=np.float32)
    for k in tqdm(range(ny), desc="cell slices", disable=disable):
        vol[k] = _render_slice(n, cell, ts[k])
    return vol
