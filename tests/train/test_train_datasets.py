"""Stage-1 dataset: shapes, normalisation from measured rows, zero-filled wedge, flips."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from tomoinpaint.geometry import tilt_range, wedge_mask
from tomoinpaint.nn.grid import (
    centered_layout,
    image_scale,
    mirror_permutation,
    sinogram_scale,
    to_layout,
)
from tomoinpaint.project import forward_project
from tomoinpaint.train import InpaintDataset, Library, split_indices
from tomoinpaint.train.datasets import (
    allowed_flips,
    flip_image,
    flip_sinogram,
)

from .conftest import ANGLES, WEDGE, N, tiny_data


def _raw(path, i):
    with h5py.File(path, "r") as f:
        return {
            k: f[k][i] for k in ("sinogram", "sinogram_clean", "sinogram_wedge", "ground_truth")
        }


def _test_image(n=N):
    img = np.zeros((n, n), np.float32)
    img[5:12, 8:20] = 1.0
    img[20:25, 3:9] = 2.0
    img[14, 25] = 3.0
    return img


@pytest.mark.parametrize("layout", ["library", "centered"])
def test_stage1_item_shapes_zero_rows_and_measured_rows(library, layout):
    data = tiny_data(library, layout=layout, flips=False)
    ds = InpaintDataset(data, with_ground_truth=True)
    A = tilt_range(*ANGLES).size
    assert len(ds) == 10
    noisy_seen = 0
    for i in range(10):
        item = ds[i]
        assert item["input"].shape == (2, A, N) and item["input"].dtype == torch.float32
        assert item["target"].shape == (1, A, N)
        assert item["ground_truth"].shape == (1, N, N)
        mask = item["mask"].numpy()
        np.testing.assert_array_equal(mask, ds.mask)
        x = item["input"].numpy()
        # channel 1 is the mask, channel 0 is exactly zero on missing rows
        np.testing.assert_array_equal(x[1], np.broadcast_to(mask[:, None], (A, N)))
        assert not x[0][~mask].any()
        # measured rows equal the noisy data (in the dataset's row order) / s
        raw = _raw(library, i)
        noisy, clean = raw["sinogram"], raw["sinogram_clean"]
        if layout == "centered":
            _, perm, flip = centered_layout(
                tilt_range(*ANGLES), wedge_mask(tilt_range(*ANGLES), *WEDGE)
            )
            noisy, clean = to_layout(noisy, perm, flip), to_layout(clean, perm, flip)
        s = float(item["scale"])
        assert s == pytest.approx(sinogram_scale(noisy, mask), rel=1e-6)
        np.testing.assert_allclose(x[0][mask] * s, noisy[mask], rtol=1e-6, atol=1e-6)
        noisy_seen += not np.allclose(noisy, clean)
        np.testing.assert_allclose(item["target"][0].numpy() * s, clean, rtol=1e-6, atol=1e-6)
        gt = item["ground_truth"][0].numpy() * image_scale(s, N)
        np.testing.assert_allclose(gt, raw["ground_truth"], rtol=1e-6, atol=1e-7)
    assert noisy_seen >= 3  # inputs are noisy, targets clean


def test_normalisation_uses_measured_rows_only(library):
    ds = InpaintDataset(tiny_data(library, flips=False))
    item = ds[2]
    x, m = item["input"][0].numpy(), item["mask"].numpy()
    # by construction the measured rows' maxima average to 1 after scaling
    assert x[m].max(axis=1).mean() == pytest.approx(1.0, rel=1e-5)
    sino = np.random.default_rng(0).random((m.size, 8)) + 1.0
    garbage = sino.copy()
    garbage[~m] = 1e6
    assert sinogram_scale(garbage, m) == sinogram_scale(sino, m)
    assert sinogram_scale(np.zeros((m.size, 8)), m) == 1.0  # empty sinogram
    batch = np.stack([sino, 2 * sino])
    np.testing.assert_allclose(
        sinogram_scale(batch, m), [sinogram_scale(sino, m)] * 2 * np.array([1, 2])
    )


@pytest.mark.parametrize("grid", ["library", "centered"])
@pytest.mark.parametrize("op", [0, 1, 2, 3])
def test_flips_keep_the_geometry(grid, op):
    """flip_sinogram(P img) == P(flip_image(img)) with the project's projector."""
    angles = tilt_range(-90.0, 88.5, 1.5)
    mask = wedge_mask(angles, -67.5, 67.5)
    if grid == "centered":
        angles, perm, _ = centered_layout(angles, mask)
        mask = mask[perm]
    assert allowed_flips(angles, mask) == (0, 1, 2, 3)
    img = _test_image()
    p = forward_project(img, angles, device="cpu")
    mir = mirror_permutation(angles)
    q = forward_project(flip_image(img, op), angles, device="cpu")
    np.testing.assert_allclose(flip_sinogram(p, op, mir), q, atol=1e-3 * p.max())
    if op in (2, 3):  # the mirror keeps the measured rows
        np.testing.assert_array_equal(mask[mir[0]], mask)


def test_centered_layout_is_a_valid_grid():
    angles = tilt_range(-90.0, 88.5, 1.5)
    mask = wedge_mask(angles, -67.5, 67.5)
    theta, perm, flip = centered_layout(angles, mask)
    np.testing.assert_allclose(theta, tilt_range(0.0, 178.5, 1.5))
    missing = theta[~mask[perm]]
    np.testing.assert_allclose(missing, tilt_range(69.0, 111.0, 1.5))  # one band, in the middle
    img = _test_image()
    p = forward_project(img, angles, device="cpu")
    q = forward_project(img, theta, device="cpu")
    np.testing.assert_allclose(to_layout(p, perm, flip), q, atol=1e-3 * p.max())


def test_asymmetric_wedge_allows_only_the_detector_flip():
    angles = tilt_range(-90.0, 88.0, 2.0)
    mask = wedge_mask(angles, -70.0, 50.0)
    assert allowed_flips(angles, mask) == (0, 1)
    theta, perm, _ = centered_layout(angles, mask)
    assert theta[0] == pytest.approx(-10.0)
    band = np.flatnonzero(~mask[perm])
    np.testing.assert_array_equal(band, np.arange(band[0], band[-1] + 1))  # contiguous


def test_augmented_items_are_consistent_and_seeded(library):
    ds = InpaintDataset(tiny_data(library), with_ground_truth=True)
    plain = ds[3]
    seen = set()
    for seed in range(40):
        a, b = ds[(3, seed)], ds[(3, seed)]
        assert torch.equal(a["input"], b["input"])  # same seed, same flip
        op = int(a["flip"])
        seen.add(op)
        mir = mirror_permutation(ds.angles)
        np.testing.assert_array_equal(
            a["target"][0].numpy(), flip_sinogram(plain["target"][0].numpy(), op, mir)
        )
        np.testing.assert_array_equal(
            a["ground_truth"][0].numpy(), flip_image(plain["ground_truth"][0].numpy(), op)
        )
        assert not a["input"][0].numpy()[~a["mask"].numpy()].any()
    assert seen == {0, 1, 2, 3}


def test_library_checks_and_filters(library):
    with pytest.raises(ValueError, match="n=32"):
        Library(library, tiny_data(library).replace(n=64))
    with pytest.raises(ValueError, match="angles"):
        Library(library, tiny_data(library).replace(angles=(-90.0, 88.5, 1.5)))
    with pytest.raises(ValueError, match="wedge"):
        Library(library, tiny_data(library).replace(wedge=(-60.0, 60.0)))
    lib = Library(library, tiny_data(library, doses=("low",)))
    assert 0 < len(lib) < 10 and set(lib.doses) == {"low"}
    with pytest.raises(ValueError, match="does not exist"):
        Library(library.parent / "missing.h5")


def test_split_indices_is_seeded_and_disjoint():
    tr, va = split_indices(20, 5, seed=1)
    assert len(va) == 5 and len(tr) == 15 and not set(tr) & set(va)
    np.testing.assert_array_equal(split_indices(20, 5, seed=1)[1], va)
    assert not np.array_equal(split_indices(20, 5, seed=2)[1], va)
    with pytest.raises(ValueError):
        split_indices(5, 5, seed=0)


def test_library_grid_is_the_configs_model_grid(library):
    for layout in ("centered", "library"):
        data = tiny_data(library, layout=layout)
        lib = Library(library, data)
        angles, measured = data.model_grid()
        np.testing.assert_allclose(lib.angles, angles)
        np.testing.assert_array_equal(lib.mask, measured)
    assert tiny_data(library).model_grid()[0][0] == 0.0  # centered: 0 ... 177 degrees
