"""Sinogram / tilt-series simulation without the inverse crime."""

import numpy as np
import pytest

from tomoinpaint.geometry import tilt_range, wedge_mask
from tomoinpaint.project import forward_project
from tomoinpaint.sim import tiltseries as ts
from tomoinpaint.sim._util import circle_mask
from tomoinpaint.sim.phantoms import phantom_volume, random_shapes_phantom

ANGLES = tilt_range(-90.0, 88.5, 4.5)  # 40 angles


@pytest.fixture(scope="module")
def fine():
    return random_shapes_phantom(64, 21)  # (2n, 2n) for n = 32


def test_ground_truth_is_block_mean(fine):
    sino, gt = ts.simulate_sinogram(fine, ANGLES, device="cpu")
    assert sino.shape == (ANGLES.size, 32) and sino.dtype == np.float32
    expected = fine.astype(np.float64).reshape(32, 2, 32, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(gt, expected, rtol=1e-6, atol=1e-7)


def test_no_inverse_crime(fine):
    sino, gt = ts.simulate_sinogram(fine, ANGLES, device="cpu")
    coarse = forward_project(gt, ANGLES, kernel="linear", device="cpu")
    rel = np.linalg.norm(sino - coarse) / np.linalg.norm(sino)
    assert 1e-3 < rel < 0.05  # close, but not the reconstruction model itself
    # line integrals are in coarse-pixel units: totals agree
    assert sino.sum() == pytest.approx(coarse.sum(), rel=0.01)


def test_dose_needs_rng_and_is_deterministic(fine):
    with pytest.raises(ValueError, match="rng"):
        ts.simulate_sinogram(fine, ANGLES, dose="low", device="cpu")
    a, _, mu = ts.simulate_sinogram(fine, ANGLES, dose="low", rng=3, device="cpu", return_mu=True)
    b, _ = ts.simulate_sinogram(fine, ANGLES, dose="low", rng=3, device="cpu")
    clean, _ = ts.simulate_sinogram(fine, ANGLES, device="cpu")
    np.testing.assert_array_equal(a, b)
    assert mu > 0 and not np.array_equal(a, clean)


def test_tilt_series_matches_slice_by_slice():
    vol = phantom_volume(4, 32, 2)  # fine (ny, 2n, 2n) with n = 16
    series, gt = ts.simulate_tilt_series(vol, ANGLES, device="cpu")
    assert series.shape == (ANGLES.size, 4, 16) and gt.shape == (4, 16, 16)
    for y in range(4):
        sino, g = ts.simulate_sinogram(vol[y], ANGLES, device="cpu")
        np.testing.assert_array_equal(series[:, y, :], sino)
        np.testing.assert_array_equal(gt[y], g)
    noisy, _ = ts.simulate_tilt_series(vol, ANGLES, dose="moderate", rng=0, device="cpu")
    assert noisy.shape == series.shape and not np.array_equal(noisy, series)


def test_apply_wedge(fine):
    sino, _ = ts.simulate_sinogram(fine, ANGLES, device="cpu")
    wedge, mask = ts.apply_wedge(sino, ANGLES, -67.5, 67.5)
    np.testing.assert_array_equal(mask, wedge_mask(ANGLES, -67.5, 67.5))
    assert 0 < mask.sum() < mask.size
    assert not wedge[~mask].any()
    np.testing.assert_array_equal(wedge[mask], sino[mask])


@pytest.mark.parametrize("family", ts.FAMILIES)
def test_make_sample(family):
    n = 16
    img = ts.make_sample(family, n, np.random.default_rng(4))
    assert img.shape == (2 * n, 2 * n) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() > 0
    gt = img.reshape(n, 2, n, 2).mean(axis=(1, 3))
    assert not gt[~circle_mask(n)].any()
    np.testing.assert_array_equal(img, ts.make_sample(family, n, np.random.default_rng(4)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ts.make_sample("dogs", 16, 0), "dogs"),
        (lambda: ts.make_sample("natural", 16, 0, split="val"), "val"),
        (lambda: ts.simulate_sinogram(np.zeros((15, 15)), ANGLES), "multiple"),
        (lambda: ts.simulate_sinogram(np.zeros((16, 8)), ANGLES), "square"),
        (lambda: ts.simulate_sinogram(np.zeros((16, 16)), ANGLES, supersample=0), "supersample"),
        (lambda: ts.simulate_tilt_series(np.zeros((16, 16)), ANGLES), "ny, N, N"),
        (lambda: ts.apply_wedge(np.zeros((3, 8)), ANGLES, -60, 60), "angles"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.gpu
def test_cuda_simulation_close_to_cpu(fine):
    from tomoinpaint.project import cuda_available

    if not cuda_available():
        pytest.skip("no CUDA GPU")
    cpu, gt_cpu = ts.simulate_sinogram(fine, ANGLES, device="cpu")
    gpu, gt_gpu = ts.simulate_sinogram(fine, ANGLES, device="cuda")
    np.testing.assert_array_equal(gt_cpu, gt_gpu)
    assert np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu) < 0.02
