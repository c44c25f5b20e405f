"""Phantoms: non-negative, inside the circle, deterministic, both shape kinds."""

import numpy as np
import pytest

from tomoinpaint.sim import phantoms as ph
from tomoinpaint.sim._util import block_mean, circle_mask


def _pixel_area(n):
    return (2.0 / n) ** 2  # normalized units


@pytest.mark.parametrize("seed", range(6))
def test_random_shapes_nonnegative_and_inside_circle(seed):
    n = 48
    img = ph.random_shapes_phantom(n, seed)
    assert img.shape == (n, n) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() > 0
    assert not img[~circle_mask(n, 1.0 - ph.FOV_MARGIN)].any()


def test_random_shapes_deterministic_and_seed_dependent():
    a = ph.random_shapes_phantom(32, np.random.default_rng(7))
    b = ph.random_shapes_phantom(32, np.random.default_rng(7))
    c = ph.random_shapes_phantom(32, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_shapes_same_objects_at_any_resolution():
    coarse, obj_c = ph.random_shapes_phantom(32, 3, return_objects=True)
    fine, obj_f = ph.random_shapes_phantom(64, 3, return_objects=True)
    assert [o["center"] for o in obj_c] == [o["center"] for o in obj_f]
    # the fine image averaged to the coarse grid differs only at edges
    diff = np.abs(block_mean(fine, 2) - coarse).sum() / coarse.sum()
    assert diff < 0.15


def test_shapes_family_has_round_and_polygonal_objects():
    kinds, facets = set(), set()
    for seed in range(10):
        _, objects = ph.random_shapes_phantom(16, seed, return_objects=True)
        for o in objects:
            kinds.add(o["kind"])
            if "n_facets" in o:
                facets.add(o["n_facets"])
                assert len(o["vertices"]) == o["n_facets"]
    assert kinds == set(ph.SHAPE_KINDS)
    assert facets <= set(range(3, 9)) and len(facets) >= 3


def test_render_ellipse_area_and_orientation():
    n = 256
    img = ph.render_ellipse(n, (0.1, -0.2), (0.5, 0.25), angle_deg=0.0, value=2.0)
    assert set(np.unique(img)) == {0.0, 2.0}
    area = (img > 0).sum() * _pixel_area(n)
    assert area == pytest.approx(np.pi * 0.5 * 0.25, rel=0.02)
    # long axis along x (columns) at angle 0, along y (rows) at 90 degrees
    rows, cols = np.nonzero(img)
    assert np.ptp(cols) > 1.8 * np.ptp(rows)
    rot = ph.render_ellipse(n, (0.0, 0.0), (0.5, 0.25), angle_deg=90.0)
    rows, cols = np.nonzero(rot)
    assert np.ptp(rows) > 1.8 * np.ptp(cols)


def test_render_polygon_area_and_minkowski_rounding():
    n = 512
    square = [(-0.3, -0.3), (0.3, -0.3), (0.3, 0.3), (-0.3, 0.3)]
    sharp = ph.render_polygon(n, square)
    assert (sharp > 0).sum() * _pixel_area(n) == pytest.approx(0.36, rel=0.02)
    # clockwise order is accepted too
    np.testing.assert_array_equal(ph.render_polygon(n, square[::-1]), sharp)
    r = 0.1
    rounded = ph.render_polygon(n, square, rounding=r)
    # Steiner formula: area of a convex set grown by r = A + P r + pi r^2
    expected = 0.36 + 2.4 * r + np.pi * r**2
    assert (rounded > 0).sum() * _pixel_area(n) == pytest.approx(expected, rel=0.02)
    # the corner is round: the diagonal point just beyond sqrt(2) r is outside
    assert (rounded >= sharp).all()


def test_random_convex_polygon_is_convex_with_k_facets():
    for k in range(3, 9):
        for regular in (False, True):
            v = ph.random_convex_polygon(k, k, 0.4, center=(0.1, 0.2), aspect=0.7, regular=regular)
            assert v.shape == (k, 2)
            assert (np.hypot(v[:, 0] - 0.1, v[:, 1] - 0.2) <= 0.4 + 1e-12).all()
            ph._ccw_convex(v)  # raises if not strictly convex


def test_render_polygon_rejects_nonconvex():
    with pytest.raises(ValueError, match="convex"):
        ph.render_polygon(16, [(0, 0), (0.5, 0), (0.1, 0.1), (0, 0.5)])
    with pytest.raises(ValueError, match="vertices"):
        ph.render_polygon(16, [(0, 0), (0.5, 0)])


def test_disk_phantom():
    n = 128
    d = ph.disk_phantom(n, 0.5, 3.0)
    assert d.max() == 3.0 and d.min() == 0.0
    assert (d > 0).sum() * _pixel_area(n) == pytest.approx(np.pi * 0.25, rel=0.02)
    with pytest.raises(ValueError, match="radius"):
        ph.disk_phantom(n, 20)
    with pytest.raises(ValueError, match="leaves"):
        ph.disk_phantom(n, 0.5, center=(0.8, 0.0))


def test_shepp_logan():
    img = ph.shepp_logan(40)
    assert img.shape == (40, 40) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1 and img.max() > 0.5
    assert not img[~circle_mask(40)].any()


def test_phantom_volume_shapes_correlated_and_inside():
    vol = ph.phantom_volume(24, 32, 11)
    assert vol.shape == (24, 32, 32) and vol.dtype == np.float32
    assert vol.min() >= 0 and vol.max() > 0
    assert not vol[:, ~circle_mask(32, 1.0 - ph.FOV_MARGIN)].any()
    np.testing.assert_array_equal(vol, ph.phantom_volume(24, 32, 11))
    # neighbouring slices are similar (sliced 3-D objects), not independent
    a, b = vol[:-1].reshape(23, -1), vol[1:].reshape(23, -1)
    same = (np.abs(a - b).sum(1) <= 0.5 * (a.sum(1) + b.sum(1)) + 1e-9).mean()
    assert same > 0.8


@pytest.mark.parametrize("family", ["shapes-2d", "disk", "shepp-logan"])
def test_phantom_volume_other_families(family):
    vol = ph.phantom_volume(3, 16, 0, family)
    assert vol.shape == (3, 16, 16) and vol.min() >= 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ph.random_shapes_phantom(1, 0), "n must"),
        (lambda: ph.random_shapes_phantom(16, None), "rng"),
        (lambda: ph.random_shapes_phantom(16, 0, kinds=("star",)), "star"),
        (lambda: ph.random_shapes_phantom(16, 0, combine="mean"), "mean"),
        (lambda: ph.phantom_volume(4, 16, 0, "cubes"), "cubes"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
