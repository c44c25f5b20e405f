"""A 2D cellular-section image family for the training library (``"cellular"``).

The paper's three families (nanocrystal-like shapes, photographs, CT slices)
hold no thin membranes, no crowd of small dense particles and no fiducial
beads, the content of most electron tomograms. This family draws them in 2D,
so that a network can learn what the missing wedge does to them:

* a cell envelope, a smooth random closed curve (not an ellipse) drawn as a
  membrane of random thickness around a faint cytoplasm, or, one time in four,
  no envelope at all (a section inside a larger cell);
* organelles and vesicles, smaller random closed curves with their own lumen
  density, some with a double membrane;
* 30 to 400 small particles (ellipses of random density);
* curved filaments (quadratic Bézier curves of random width);
* now and then dense beads (gold fiducials).

It is a training family: it shares no generator with :mod:`.cells`, the 3D
cryo-ET-like test volumes (ellipsoids, spheres, straight rods, sliced along
the tilt axis), so results on those stay a test of generalization in shape
while no longer being a test of content the networks never saw.

Coordinates are normalized (the reconstruction circle has radius 1), so a
seed draws the same section at every size.
"""

from __future__ import annotations

import numpy as np

from ._util import as_rng, check_size, grid_coords

__all__ = ["cellular_image"]

#: Everything stays inside the disk of this radius (normalized).
_LIMIT = 0.95


def _blob_radius(rng: np.random.Generator, radius: float, roughness: float):
    """A smooth random closed outline about its centre: ``r(theta)`` as a closure.

    ``r(theta) = radius * (1 + sum_k a_k cos(k theta + phi_k))``, k = 2..5,
    with ``sum_k |a_k| <= 0.5``, so ``r`` stays between ``radius / 2`` and
    ``1.5 * radius``.
    """
    k = np.arange(2, 6)
    a = rng.normal(0.0, roughness, size=k.size) / k  # higher orders smaller: smooth
    a *= min(1.0, 0.5 / max(np.abs(a).sum(), 1e-12))
    phi = rng.uniform(0.0, 2.0 * np.pi, size=k.size)

    def r(theta: np.ndarray) -> np.ndarray:
        waves = np.cos(k[:, None, None] * theta + phi[:, None, None])  # (4, n, n)
        return radius * (1.0 + np.tensordot(a, waves, axes=1))

    return r


def _blob_masks(x, z, cx, cz, r_of, width):
    """Inside and membrane masks of the outline ``r_of`` centred at (cx, cz)."""
    rho = np.hypot(x - cx, z - cz)
    rr = r_of(np.arctan2(z - cz, x - cx))
    inside = rho < rr
    return inside, inside & (rho > rr - width)


def _bezier_distance(x, z, p0, p1, p2, spacing: float) -> np.ndarray:
    """Distance of each pixel to a quadratic Bézier curve sampled every ``spacing`` or closer."""
    length = np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p1)  # bounds the arc length
    t = np.linspace(0.0, 1.0, int(np.ceil(length / spacing)) + 2)[:, None]
    pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2  # (samples, 2)
    d2 = np.full(np.broadcast_shapes(x.shape, z.shape), np.inf)
    for px, pz in pts:
        np.minimum(d2, (x - px) ** 2 + (z - pz) ** 2, out=d2)
    return np.sqrt(d2)


def cellular_image(n: int, rng) -> np.ndarray:
    """Draw one cellular section.

    Parameters
    ----------
    n : int
        Image size.
    rng : numpy.random.Generator or int

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
        Non-negative densities (cytoplasm 0.1–0.35, membranes 0.6–1.2,
        particles 0.4–1.1, beads 2–4), zero outside the disk of radius 0.95.
    """
    n = check_size(n)
    rng = as_rng(rng)
    x, z = grid_coords(n)
    disk = np.hypot(x, z) < _LIMIT
    img = np.zeros((n, n), dtype=np.float32)
    membrane = float(rng.uniform(0.6, 1.2))
    thickness = float(rng.uniform(0.008, 0.025))

    # the envelope, or (one time in four) cytoplasm filling the field
    if rng.uniform() < 0.25:
        cell = disk.copy()
        shell = np.zeros_like(disk)
        cx = cz = 0.0
        extent = _LIMIT
    else:
        extent = float(rng.uniform(0.45, 0.8))
        r_of = _blob_radius(rng, extent, 0.25)
        room = max(_LIMIT - 1.5 * extent, 0.0)
        cx, cz = rng.uniform(-room, room, size=2) / np.sqrt(2)
        cell, shell = _blob_masks(x, z, cx, cz, r_of, thickness)
        cell &= disk
    img[cell] = rng.uniform(0.1, 0.35)

    def point_inside(margin: float) -> tuple[float, float]:
        rho = max(extent - margin, 0.0) * np.sqrt(rng.uniform())
        phi = rng.uniform(0.0, 2.0 * np.pi)
        return cx + rho * np.cos(phi), cz + rho * np.sin(phi)

    for _ in range(int(rng.integers(2, 13))):  # organelles and vesicles
        size = float(rng.uniform(0.03, 0.18))
        ox, oz = point_inside(1.3 * size)
        inside, wall = _blob_masks(x, z, ox, oz, _blob_radius(rng, size, 0.2), thickness)
        img[inside & cell] = rng.uniform(0.0, 0.5)
        img[wall & cell] = membrane
        if rng.uniform() < 0.2 and size > 0.08:  # a double membrane
            inner_r = _blob_radius(rng, size - 3 * thickness, 0.05)
            _, wall2 = _blob_masks(x, z, ox, oz, inner_r, thickness)
            img[wall2 & cell] = membrane

    for _ in range(int(rng.integers(0, 9))):  # filaments
        p0, p1, p2 = (np.array(point_inside(0.05)) for _ in range(3))
        width = float(rng.uniform(0.004, 0.012))
        img[(_bezier_distance(x, z, p0, p1, p2, width) < width) & cell] = rng.uniform(0.3, 0.8)

    for _ in range(int(rng.integers(30, 401))):  # particles, drawn in their bounding box
        a, b = rng.uniform(0.005, 0.02), rng.uniform(0.005, 0.02)
        px, pz = point_inside(0.03)
        ang = rng.uniform(0.0, np.pi)
        c, s = np.cos(ang), np.sin(ang)
        u = c * (x - px) + s * (z - pz)
        v = -s * (x - px) + c * (z - pz)
        img[((u / a) ** 2 + (v / b) ** 2 < 1.0) & cell] = rng.uniform(0.4, 1.1)

    img[shell] = membrane  # the envelope's membrane covers what reached it
    if rng.uniform() < 0.6:
        for _ in range(int(rng.integers(1, 6))):  # gold beads, anywhere in the field
            r = rng.uniform(0.01, 0.025)
            rho = (_LIMIT - r) * np.sqrt(rng.uniform())
            phi = rng.uniform(0.0, 2.0 * np.pi)
            bead = np.hypot(x - rho * np.cos(phi), z - rho * np.sin(phi)) < r
            img[bead] = rng.uniform(2.0, 4.0)
    img[~disk] = 0.0
    return img
