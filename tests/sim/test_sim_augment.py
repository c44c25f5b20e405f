"""Augmentations: composable, deterministic, keep objects in the field of view."""

import importlib

import numpy as np
import pytest

from tomoinpaint.sim._util import circle_mask
from tomoinpaint.sim.phantoms import disk_phantom, random_shapes_phantom

# the package exports the function ``augment``, which hides the submodule attribute
aug = importlib.import_module("tomoinpaint.sim.augment")


@pytest.mark.parametrize("name", list(aug.AUGMENTATIONS))
def test_each_op_shape_range_circle_determinism(name):
    img = random_shapes_phantom(32, 1)
    op = aug.AUGMENTATIONS[name]
    out = op(img, np.random.default_rng(0))
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0
    assert not out[~circle_mask(32)].any()
    np.testing.assert_array_equal(out, op(img, np.random.default_rng(0)))


def test_affine_warp_convention():
    n = 64
    disk = disk_phantom(n, 0.4)
    half = aug.affine_warp(disk, 0.5 * np.eye(2))
    assert half.sum() == pytest.approx(disk.sum() / 4, rel=0.05)
    moved = aug.affine_warp(disk, np.eye(2), shift=(0.5, 0.0))  # +x = +columns
    rows, cols = np.nonzero(moved > 0.5)
    assert cols.mean() - (n - 1) / 2 == pytest.approx(n / 4, abs=0.5)
    assert rows.mean() == pytest.approx((n - 1) / 2, abs=0.5)


@pytest.mark.parametrize("seed", range(4))
def test_pad_resize_keeps_the_disk_inside(seed):
    full = disk_phantom(64, 1.0)
    out = aug.pad_resize(full, seed, scale_range=(0.5, 0.5))
    assert out.sum() == pytest.approx(full.sum() / 4, rel=0.05)  # nothing cut off


@pytest.mark.parametrize("seed", range(4))
def test_random_affine_keeps_the_disk_inside(seed):
    full = disk_phantom(64, 1.0)
    out = aug.random_affine(full, seed)
    # whatever the map, the disk maps into the disk: no mass beyond the circle
    big = aug.random_affine(full, seed, keep_inside=False)
    assert out.sum() <= full.sum() * 1.02
    assert out[circle_mask(64)].min() >= 0 and big.min() >= 0


def test_flip_is_exact():
    img = random_shapes_phantom(16, 2)
    outs = {aug.random_flip(img, s).tobytes() for s in range(20)}
    flips = {img.tobytes(), img[:, ::-1].tobytes(), img[::-1].tobytes(), img[::-1, ::-1].tobytes()}
    assert outs <= flips and len(outs) > 1


def test_augment_chain():
    img = random_shapes_phantom(32, 4)
    np.testing.assert_array_equal(aug.augment(img, 0, p=0.0), img)
    a = aug.augment(img, np.random.default_rng(3), p=1.0)
    b = aug.augment(img, np.random.default_rng(3), p=1.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, img)
    assert set(aug.FAMILY_OPS) == {"natural", "shapes", "ct", "cellular"}


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: aug.augment(np.zeros((8, 8)), 0, ops=("blur",)), "blur"),
        (lambda: aug.augment(np.zeros((8, 8)), 0, p=2), "p must"),
        (lambda: aug.random_rotation(np.zeros((8, 9)), 0), "square"),
        (lambda: aug.pad_resize(np.zeros((8, 8)), 0, scale_range=(0.5, 2)), "scale_range"),
        (lambda: aug.random_noise(np.full((8, 8), np.nan), 0), "NaN"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
