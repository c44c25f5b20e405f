import numpy as np
import pytest

from tomoinpaint.geometry import tilt_range
from tomoinpaint.project import forward_project
from tomoinpaint.recon import FILTERS, filter_sinogram, wbp
from tomoinpaint.sim import make_sample, simulate_sinogram


def _disk(n, r, s=1):
    yy, xx = (np.mgrid[: n * s, : n * s] - (n * s - 1) / 2) / s
    return (xx**2 + yy**2 < r**2).astype(np.float32)


@pytest.mark.parametrize("filt", FILTERS)
def test_full_angle_disk_is_accurate(filt):
    n = 96
    fine = _disk(n, 30, 2)
    gt = fine.reshape(n, 2, n, 2).mean((1, 3))
    angles = tilt_range(0, 179, 1)
    rec = wbp(forward_project(fine, angles, kernel="strip", supersample=2), angles, filter=filt)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    r = np.hypot(xx, yy)
    inside, outside = r < 27, (r > 33) & (r < 45)
    assert abs(rec[inside].mean() - 1.0) < 0.01  # correct scale
    assert rec[inside].std() < 0.03
    assert np.abs(rec[outside]).max() < 0.05
    assert np.sqrt(np.mean((rec - gt) ** 2)) < 0.06


def test_non_uniform_sampling_is_weighted():
    n = 64
    img = _disk(n, 20)
    angles = np.concatenate([tilt_range(0, 89.5, 0.5), tilt_range(90, 178, 2)])
    rec = wbp(forward_project(img, angles), angles)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    assert rec[np.hypot(xx, yy) < 17].mean() == pytest.approx(1.0, abs=0.01)


def test_stack_equals_slices_and_order_invariance():
    n = 32
    angles = tilt_range(-60, 60, 3)
    rng = np.random.default_rng(0)
    imgs = rng.random((3, n, n)).astype(np.float32) * _disk(n, 14)
    sinos = forward_project(imgs, angles)
    stack = wbp(sinos, angles)
    np.testing.assert_allclose(stack[1], wbp(sinos[1], angles), atol=1e-5)
    perm = rng.permutation(angles.size)
    np.testing.assert_allclose(wbp(sinos[0][perm], angles[perm]), stack[0], atol=1e-4)


def test_filters_differ_and_unknown_refused():
    s = np.random.default_rng(0).random((5, 32)).astype(np.float32)
    outs = [filter_sinogram(s, f) for f in FILTERS]
    assert all(not np.allclose(outs[0], o) for o in outs[1:])
    with pytest.raises(ValueError, match="unknown filter"):
        filter_sinogram(s, "gauss")


def test_angle_count_mismatch_refused():
    with pytest.raises(ValueError, match="projections but 10 angles"):
        wbp(np.zeros((9, 32)), tilt_range(0, 90, 10))


@pytest.mark.parametrize("slab", [(0, 9), (20, 35), (50, 64), (0, 64)])
def test_a_slab_is_the_same_rows_of_the_whole_slice(slab):
    # back-projection is pixel by pixel: the slab's pixels are the whole slice's there
    angles = tilt_range(-60.0, 60.0, 2.0)
    sino, _ = simulate_sinogram(make_sample("shapes", 64, np.random.default_rng(3)), angles)
    stack = np.stack([sino, 0.5 * sino])
    full = wbp(stack, angles, device="cpu")
    part = wbp(stack, angles, device="cpu", slab=slab)
    z0, z1 = slab
    assert part.shape == (2, z1 - z0, 64)
    np.testing.assert_allclose(part, full[:, z0:z1], atol=1e-5 * np.abs(full).max())
    if z1 - z0 < 64:  # and not the rows next to them (the window is where it says)
        near = full[:, z0 + 1 : z1 + 1] if z1 < 64 else full[:, z0 - 1 : z1 - 1]
        assert np.abs(part - near).max() > 1e-3 * np.abs(full).max()  # 100x the tolerance


def test_a_slab_must_lie_in_the_slice():
    angles = tilt_range(-60.0, 60.0, 2.0)
    sino = np.ones((angles.size, 16), np.float32)
    for bad in [(-1, 5), (5, 5), (10, 17)]:
        with pytest.raises(ValueError, match="rows must be a range within 0..16"):
            wbp(sino, angles, device="cpu", slab=bad)
