"""Phantoms: random nanocrystal-like shapes, a disk and Shepp–Logan.

The "random shapes" family follows the simulated part of the training library
of Ding et al. (2019, Table 1): random overlaps of round objects (discs and
ellipses) and convex polygons with 3–8 facets, sharp or with rounded corners,
that resemble cross-sections of faceted or rounded nanocrystals.

Coordinates
-----------
Every renderer works in *normalized* coordinates: the field of view is the
square ``[-1, 1]²`` whatever the pixel count, ``x`` runs along columns and
``y`` along rows, and the reconstruction circle (the disk inscribed in the
square) has radius 1. Objects are therefore described independently of the
resolution and can be drawn at any size ``n`` — in particular at ``2n`` for
the supersampled, inverse-crime-free simulation of :mod:`.tiltseries`. A
phantom drawn from a given seed shows the same objects at every ``n``.

Pixels are sampled at their centres (no anti-aliasing); the partial-volume
effect at edges comes from the block mean of the fine image.

Size: one module because every phantom family shares the resolution-free
shape descriptions and renderers defined here.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

import numpy as np
from tqdm.auto import tqdm

from ._util import as_rng, check_size, circle_mask, grid_coords
from .cells import cell_volume

__all__ = [
    "SHAPE_KINDS",
    "VOLUME_FAMILIES",
    "FOV_MARGIN",
    "circle_mask",
    "render_ellipse",
    "render_polygon",
    "random_convex_polygon",
    "random_shapes_phantom",
    "disk_phantom",
    "shepp_logan",
    "phantom_volume",
]

log = logging.getLogger(__name__)

#: Object kinds of the random-shapes family.
SHAPE_KINDS = ("ellipse", "polygon", "rounded_polygon")
#: Families understood by :func:`phantom_volume`.
VOLUME_FAMILIES = ("shapes", "shapes-2d", "disk", "shepp-logan", "cell")
#: Objects stay inside the disk of radius ``1 - FOV_MARGIN`` (normalized).
FOV_MARGIN = 0.05


# --------------------------------------------------------------------------
# renderers
# --------------------------------------------------------------------------
def _check_point(p, name: str) -> tuple[float, float]:
    a = np.asarray(p, dtype=np.float64)
    if a.shape != (2,) or not np.isfinite(a).all():
        raise ValueError(f"{name} must be two finite numbers (x, y), got {p!r}")
    return float(a[0]), float(a[1])


def render_ellipse(
    n: int, center=(0.0, 0.0), axes=(0.5, 0.5), angle_deg: float = 0.0, value: float = 1.0
) -> np.ndarray:
    """Draw a filled ellipse (a disc when both axes are equal).

    Parameters
    ----------
    n : int
        Image size.
    center : (float, float)
        Centre ``(x, y)`` in normalized coordinates (see module notes).
    axes : (float, float)
        Semi-axes ``(a, b)`` along the ellipse's own x and y, normalized units.
    angle_deg : float
        Counter-clockwise rotation of the ellipse, degrees.
    value : float
        Intensity inside the ellipse.

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
        ``value`` inside, 0 outside.
    """
    n = check_size(n)
    cx, cy = _check_point(center, "center")
    a, b = _check_point(axes, "axes")
    if a <= 0 or b <= 0:
        raise ValueError(f"axes must be positive, got {axes!r}")
    x, y = grid_coords(n)
    t = np.deg2rad(angle_deg)
    dx, dy = x - cx, y - cy
    u = dx * np.cos(t) + dy * np.sin(t)
    v = -dx * np.sin(t) + dy * np.cos(t)
    inside = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return (inside * np.float32(value)).astype(np.float32)


def _ccw_convex(vertices) -> np.ndarray:
    """Validate a convex polygon and return its vertices counter-clockwise."""
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 2 or v.shape[0] < 3:
        raise ValueError(f"vertices must have shape (k, 2) with k >= 3, got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("vertices contain NaN or Inf values")
    e = np.roll(v, -1, axis=0) - v
    cross = e[:, 0] * np.roll(e, -1, axis=0)[:, 1] - e[:, 1] * np.roll(e, -1, axis=0)[:, 0]
    scale = np.abs(e).max() ** 2
    if (cross > 1e-12 * scale).all():
        return v
    if (cross < -1e-12 * scale).all():
        return v[::-1].copy()
    raise ValueError("vertices must describe a strictly convex polygon (in order, no repeats)")


def render_polygon(n: int, vertices, value: float = 1.0, rounding: float = 0.0) -> np.ndarray:
    """Draw a filled convex polygon, optionally with rounded corners.

    Rounding is a Minkowski sum with a disc: the drawn shape is every point
    within ``rounding`` of the polygon, so the facets move outwards by
    ``rounding`` and each corner becomes a circular arc of that radius (the
    shape of a rounded nanocrystal). It is exact and resolution-independent.

    Parameters
    ----------
    n : int
        Image size.
    vertices : array_like, shape (k, 2)
        Corners ``(x, y)`` of a convex polygon in normalized coordinates, in
        order (either orientation).
    value : float
        Intensity inside the shape.
    rounding : float
        Corner radius in normalized units, >= 0.

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
    """
    n = check_size(n)
    v = _ccw_convex(vertices)
    if not np.isfinite(rounding) or rounding < 0:
        raise ValueError(f"rounding must be a finite number >= 0, got {rounding}")
    x, y = grid_coords(n)
    x = np.broadcast_to(x, (n, n))
    y = np.broadcast_to(y, (n, n))
    inside = np.ones((n, n), dtype=bool)
    dist2 = np.full((n, n), np.inf) if rounding > 0 else None
    for i in range(v.shape[0]):
        p0, p1 = v[i], v[(i + 1) % v.shape[0]]
        ex, ey = p1 - p0
        px, py = x - p0[0], y - p0[1]
        inside &= ex * py - ey * px >= 0.0  # left of a CCW edge
        if dist2 is not None:
            t = np.clip((px * ex + py * ey) / (ex * ex + ey * ey), 0.0, 1.0)
            np.minimum(dist2, (px - t * ex) ** 2 + (py - t * ey) ** 2, out=dist2)
    if dist2 is not None:
        inside |= dist2 <= rounding**2
    return (inside * np.float32(value)).astype(np.float32)


def random_convex_polygon(
    rng,
    n_facets: int,
    radius: float,
    *,
    center=(0.0, 0.0),
    aspect: float = 1.0,
    angle_deg: float = 0.0,
    regular: bool = False,
) -> np.ndarray:
    """Random convex polygon inscribed in a (possibly elongated) circle.

    Corners lie on an ellipse of semi-axes ``(radius, aspect * radius)``, at
    sorted random polar angles, so the polygon is always convex with exactly
    ``n_facets`` facets and fits in the disc of ``radius`` around ``center``.

    Parameters
    ----------
    rng : numpy.random.Generator or int
    n_facets : int
        Number of facets (corners), >= 3.
    radius : float
        Circumradius, normalized units.
    center : (float, float)
    aspect : float
        Ratio of the short to the long axis, in (0, 1].
    angle_deg : float
        Rotation, degrees.
    regular : bool
        Nearly regular facets (faceted crystal: hexagon, square, ...) rather
        than irregular ones.

    Returns
    -------
    numpy.ndarray, shape (n_facets, 2)
        Counter-clockwise corners ``(x, y)``.
    """
    rng = as_rng(rng)
    if int(n_facets) != n_facets or n_facets < 3:
        raise ValueError(f"n_facets must be an integer >= 3, got {n_facets}")
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    if not 0 < aspect <= 1:
        raise ValueError(f"aspect must be in (0, 1], got {aspect}")
    k = int(n_facets)
    step = 2 * np.pi / k
    phase = rng.uniform(0, 2 * np.pi)
    if regular:
        gaps = step * (1 + rng.uniform(-0.15, 0.15, k))
        gaps *= 2 * np.pi / gaps.sum()
    else:
        # Irregular: Dirichlet gaps with a floor; no gap reaches pi so the
        # polygon is not a sliver. Bounded retries, deterministic for the rng.
        min_gap = 0.35 * step
        for _ in range(100):
            gaps = min_gap + (2 * np.pi - k * min_gap) * rng.dirichlet(np.full(k, 2.0))
            if gaps.max() < 0.8 * np.pi:
                break
        else:  # pragma: no cover - practically unreachable
            gaps = np.full(k, step)
    t = phase + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
    u, w = radius * np.cos(t), aspect * radius * np.sin(t)
    r = np.deg2rad(angle_deg)
    cx, cy = _check_point(center, "center")
    x = cx + u * np.cos(r) - w * np.sin(r)
    y = cy + u * np.sin(r) + w * np.cos(r)
    return np.stack([x, y], axis=1)


# --------------------------------------------------------------------------
# random shapes
# --------------------------------------------------------------------------
def _check_range(r, name: str, lo: float = 0.0, hi: float = np.inf) -> tuple[float, float]:
    try:
        a, b = (float(r[0]), float(r[1]))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{name} must be a pair (low, high), got {r!r}") from None
    if not (lo <= a <= b <= hi):
        raise ValueError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {r!r}")
    return a, b


def _draw_shape(
    rng: np.random.Generator, kinds, size_range, intensity_range, facets_range, limit: float
) -> dict:
    """Draw the parameters of one object (independent of the resolution)."""
    kind = kinds[int(rng.integers(len(kinds)))]
    size = rng.uniform(*size_range)  # bounding radius
    # centre uniform in the disk where the whole object stays inside `limit`
    rho = (limit - size) * np.sqrt(rng.uniform())
    phi = rng.uniform(0, 2 * np.pi)
    center = (float(rho * np.cos(phi)), float(rho * np.sin(phi)))
    value = float(rng.uniform(*intensity_range))
    angle = float(rng.uniform(0, 180))
    obj = {
        "kind": kind,
        "center": center,
        "value": value,
        "angle_deg": angle,
        "radius": float(size),
    }
    if kind == "ellipse":
        aspect = 1.0 if rng.uniform() < 0.3 else float(rng.uniform(0.45, 1.0))  # disc or ellipse
        obj["axes"] = (float(size), float(size * aspect))
    else:
        k = int(rng.integers(facets_range[0], facets_range[1] + 1))
        regular = bool(rng.uniform() < 0.5)
        aspect = float(rng.uniform(0.6, 1.0))
        rounding = float(size * rng.uniform(0.1, 0.45)) if kind == "rounded_polygon" else 0.0
        obj["vertices"] = random_convex_polygon(
            rng, k, size - rounding, center=center, aspect=aspect, angle_deg=angle, regular=regular
        )
        obj["rounding"] = rounding
        obj["n_facets"] = k
    return obj


def _render_object(n: int, obj: dict, scale: float = 1.0) -> np.ndarray:
    """Render one object dict; ``scale`` shrinks it about its centre (3-D slices)."""
    if obj["kind"] == "ellipse":
        a, b = obj["axes"]
        return render_ellipse(
            n, obj["center"], (a * scale, b * scale), obj["angle_deg"], obj["value"]
        )
    c = np.asarray(obj["center"])
    v = c + scale * (np.asarray(obj["vertices"]) - c)
    return render_polygon(n, v, obj["value"], obj["rounding"] * scale)


def _combine(images, n: int, combine: str) -> np.ndarray:
    out = np.zeros((n, n), dtype=np.float32)
    for im in images:
        if combine == "add":
            out += im
        else:
            np.maximum(out, im, out=out)
    return out


def random_shapes_phantom(
    n: int,
    rng,
    *,
    n_objects=(3, 7),
    kinds=SHAPE_KINDS,
    size_range=(0.08, 0.4),
    intensity_range=(0.2, 1.0),
    facets_range=(3, 8),
    combine: str = "add",
    return_objects: bool = False,
):
    """Random overlapping discs/ellipses and (rounded) convex polygons.

    Parameters
    ----------
    n : int
        Image size; the same seed gives the same objects at every ``n``.
    rng : numpy.random.Generator or int
    n_objects : (int, int)
        Inclusive range of the number of objects.
    kinds : sequence of str
        Subset of :data:`SHAPE_KINDS`, drawn uniformly per object.
    size_range : (float, float)
        Range of the objects' bounding radius, normalized units (the field of
        view has half-width 1).
    intensity_range : (float, float)
        Range of each object's (constant, positive) intensity.
    facets_range : (int, int)
        Inclusive range of the number of facets of polygons (3–8 by default).
    combine : {"add", "max"}
        How overlapping objects combine: summed (like overlapping
        projections of material) or the brightest wins.
    return_objects : bool
        Also return the list of drawn object descriptions.

    Returns
    -------
    image : numpy.ndarray, shape (n, n), float32
        Non-negative; zero outside the disk of radius ``1 - FOV_MARGIN``.
    objects : list of dict
        Only with ``return_objects``: ``kind``, ``center``, ``value``, ... .
    """
    n = check_size(n)
    rng = as_rng(rng)
    lo, hi = _check_range(n_objects, "n_objects", 1)
    if int(lo) != lo or int(hi) != hi:
        raise ValueError(f"n_objects must be integers, got {n_objects!r}")
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in SHAPE_KINDS]
    if not kinds or bad:
        raise ValueError(
            f"unknown shape kinds {bad or kinds!r}; choose from {', '.join(SHAPE_KINDS)}"
        )
    limit = 1.0 - FOV_MARGIN
    size_range = _check_range(size_range, "size_range", 0.0, limit / 1.0)
    if size_range[0] <= 0:
        raise ValueError(f"size_range must be positive, got {size_range!r}")
    intensity_range = _check_range(intensity_range, "intensity_range", 0.0)
    facets_range = _check_range(facets_range, "facets_range", 3)
    if combine not in ("add", "max"):
        raise ValueError(f"unknown combine {combine!r}; choose 'add' or 'max'")
    count = int(rng.integers(int(lo), int(hi) + 1))
    objects = [
        _draw_shape(
            rng,
            kinds,
            size_range,
            intensity_range,
            (int(facets_range[0]), int(facets_range[1])),
            limit,
        )
        for _ in range(count)
    ]
    img = _combine((_render_object(n, o) for o in objects), n, combine)
    img *= circle_mask(n, limit)  # exact already; guards rounding at the border
    if return_objects:
        return img, objects
    return img


def disk_phantom(
    n: int, radius: float = 0.5, value: float = 1.0, *, center=(0.0, 0.0)
) -> np.ndarray:
    """A uniform disc.

    Parameters
    ----------
    n : int
        Image size.
    radius : float
        Radius as a fraction of the half field of view, in (0, 1]
        (``radius=0.5`` on ``n=64`` is 16 pixels).
    value : float
        Intensity inside the disc, >= 0.
    center : (float, float)
        Normalized centre; the disc must stay in the reconstruction circle.

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
    """
    n = check_size(n)
    if not 0 < radius <= 1:
        raise ValueError(
            f"radius must be in (0, 1] (fraction of the half field of view), got {radius}"
        )
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"value must be a finite number >= 0, got {value}")
    cx, cy = _check_point(center, "center")
    if np.hypot(cx, cy) + radius > 1 + 1e-9:
        raise ValueError(f"disc of radius {radius} at {center!r} leaves the reconstruction circle")
    return render_ellipse(n, (cx, cy), (radius, radius), 0.0, value)


@lru_cache(maxsize=1)
def _shepp_logan_source() -> np.ndarray:
    from skimage import data, io

    path = os.path.join(data.data_dir, "phantom.png")
    img = io.imread(path, as_gray=True).astype(np.float64)
    img.setflags(write=False)
    return img


def shepp_logan(n: int) -> np.ndarray:
    """The (modified) Shepp–Logan phantom shipped with scikit-image.

    Read from ``skimage/data/phantom.png`` (400 x 400, values in [0, 1]),
    resized to ``(n, n)`` with anti-aliasing. It lies inside the
    reconstruction circle.

    Parameters
    ----------
    n : int

    Returns
    -------
    numpy.ndarray, shape (n, n), float32, values in [0, 1]
    """
    from skimage.transform import resize

    n = check_size(n)
    src = _shepp_logan_source()
    if src.shape == (n, n):
        img = src
    else:
        img = resize(src, (n, n), order=1, anti_aliasing=n < src.shape[0])
    img = np.clip(img, 0.0, 1.0) * circle_mask(n)
    return img.astype(np.float32)


# --------------------------------------------------------------------------
# volumes
# --------------------------------------------------------------------------
def phantom_volume(
    ny: int,
    n: int,
    rng,
    family: str = "shapes",
    *,
    n_objects=(5, 12),
    progress: bool | None = None,
    **kwargs,
) -> np.ndarray:
    """A stack of phantom slices along the tilt axis.

    Parameters
    ----------
    ny : int
        Number of slices (along the tilt axis).
    n : int
        Slice size.
    rng : numpy.random.Generator or int
    family : {"shapes", "shapes-2d", "disk", "shepp-logan", "cell"}
        * ``"shapes"`` — 3-D objects sliced: ellipsoids, prisms and
          bipyramids (faceted crystals) with sharp or rounded polygonal
          cross-sections, so neighbouring slices are correlated. Voxels are
          isotropic: the y extent of the volume is ``2 * ny / n`` normalized
          units.
        * ``"shapes-2d"`` — an independent :func:`random_shapes_phantom` per
          slice.
        * ``"disk"`` — a cylinder (:func:`disk_phantom` in every slice).
        * ``"shepp-logan"`` — :func:`shepp_logan` in every slice.
        * ``"cell"`` — a cryo-ET-like cell sliced (:func:`~.cells.cell_volume`):
          membranes, vesicles, particles, filaments and gold beads.
    n_objects : (int, int)
        Range of the number of objects (``"shapes"``, ``"shapes-2d"``).
    progress : bool or None
        tqdm progress bar; None shows it only on a terminal.
    **kwargs
        Passed to :func:`random_shapes_phantom` (``"shapes-2d"``), or
        ``radius``/``value`` for ``"disk"``.

    Returns
    -------
    numpy.ndarray, shape (ny, n, n), float32
        Non-negative, zero outside the reconstruction circle of each slice.
    """
    ny = check_size(ny, name="ny", minimum=1)
    n = check_size(n)
    rng = as_rng(rng)
    if family not in VOLUME_FAMILIES:
        raise ValueError(
            f"unknown phantom family {family!r}; choose from {', '.join(VOLUME_FAMILIES)}"
        )
    disable = None if progress is None else not progress
    if family == "disk":
        return np.repeat(disk_phantom(n, **kwargs)[None], ny, axis=0)
    if family == "shepp-logan":
        return np.repeat(shepp_logan(n)[None], ny, axis=0)
    if family == "cell":
        if kwargs:
            raise ValueError(f"unexpected options for family 'cell': {sorted(kwargs)}")
        return cell_volume(ny, n, rng, progress=progress)
    if family == "shapes-2d":
        vol = np.empty((ny, n, n), dtype=np.float32)
        for k in tqdm(range(ny), desc="phantom slices", disable=disable):
            vol[k] = random_shapes_phantom(n, rng, n_objects=n_objects, **kwargs)
        return vol
    if kwargs:
        raise ValueError(f"unexpected options for family 'shapes': {sorted(kwargs)}")
    lo, hi = _check_range(n_objects, "n_objects", 1)
    limit = 1.0 - FOV_MARGIN
    half_y = ny / n  # half extent along y in normalized units
    count = int(rng.integers(int(lo), int(hi) + 1))
    objects = []
    for _ in range(count):
        obj = _draw_shape(rng, SHAPE_KINDS, (0.08, 0.4), (0.2, 1.0), (3, 8), limit)
        # along y: ellipsoids are round; polygons are prisms or bipyramids
        obj["y_center"] = float(rng.uniform(-half_y, half_y))
        obj["y_half"] = float(obj["radius"] * rng.uniform(0.6, 1.8))
        obj["profile"] = (
            "ellipsoid"
            if obj["kind"] == "ellipse"
            else ("prism" if rng.uniform() < 0.5 else "bipyramid")
        )
        objects.append(obj)
    yk = (2.0 * np.arange(ny) + 1.0 - ny) / n
    vol = np.zeros((ny, n, n), dtype=np.float32)
    mask = circle_mask(n, limit)
    for k in tqdm(range(ny), desc="phantom slices", disable=disable):
        parts = []
        for obj in objects:
            t = abs(yk[k] - obj["y_center"]) / obj["y_half"]
            if t >= 1.0:
                continue
            scale = {"ellipsoid": np.sqrt(1.0 - t * t), "prism": 1.0, "bipyramid": 1.0 - t}[
                obj["profile"]
            ]
            if scale * obj["radius"] < 0.5 / n:  # thinner than half a pixel
                continue
            parts.append(_render_object(n, obj, scale))
        vol[k] = _combine(parts, n, "add") * mask
    return vol
