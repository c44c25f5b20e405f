import numpy as np
import pytest

from tomoinpaint.geometry import Geometry, dose_symmetric_order, tilt_range
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import psnr
from tomoinpaint.project import forward_project
from tomoinpaint.recon import sart, sirt, tv, wbp
from tomoinpaint.recon.tv import estimate_noise
from tomoinpaint.sim import make_sample, poisson_dose, simulate_sinogram

N = 64
ANGLES = tilt_range(-67.5, 67.5, 1.5)  # 45° missing wedge


@pytest.fixture(scope="module")
def phantoms():
    """Held-out-style shapes phantoms, simulated without the inverse crime."""
    out = []
    for i in range(3):
        rng = np.random.default_rng([7, i])
        sino, gt = simulate_sinogram(make_sample("shapes", N, rng), ANGLES)
        out.append((sino, gt, poisson_dose(sino, 2000, rng)))
    return out


def _mean_psnr(phantoms, fn, noisy=False):
    return np.mean([psnr(gt, fn(low if noisy else clean)) for clean, gt, low in phantoms])


def test_sart_and_tv_beat_wbp_on_a_45_degree_wedge(phantoms):
    p_wbp = _mean_psnr(phantoms, lambda s: wbp(s, ANGLES))
    p_sart = _mean_psnr(phantoms, lambda s: sart(s, ANGLES))
    p_tv = _mean_psnr(phantoms, lambda s: tv(s, ANGLES, iterations=150))
    assert p_sart > p_wbp + 3
    assert p_tv > p_wbp + 3


def test_tv_beats_sart_at_low_dose(phantoms):
    p_sart = _mean_psnr(phantoms, lambda s: sart(s, ANGLES), noisy=True)
    p_tv = _mean_psnr(phantoms, lambda s: tv(s, ANGLES, iterations=150), noisy=True)
    assert p_tv > p_sart + 1


def test_tv_is_scale_equivariant(phantoms):
    clean = phantoms[0][0]
    a = tv(clean, ANGLES, iterations=40)
    b = tv(1000.0 * clean, ANGLES, iterations=40)
    np.testing.assert_allclose(b, 1000.0 * a, rtol=1e-3, atol=1e-3 * 1000 * a.max())


def test_noise_estimate_tracks_dose(phantoms):
    clean, _, low = phantoms[0]
    true = np.std(low - clean)
    assert estimate_noise(clean) < 0.05 * true
    assert estimate_noise(low) == pytest.approx(true, rel=0.35)


def test_noise_estimate_does_not_depend_on_the_order_tilts_are_stored(phantoms):
    clean, _, low = phantoms[0]
    order = dose_symmetric_order(ANGLES)
    for s in (clean, low):
        assert estimate_noise(s[order], ANGLES[order]) == pytest.approx(estimate_noise(s, ANGLES))
    # rows far apart in angle differ by the object: ignoring the angles misreads clean data
    assert estimate_noise(clean[order]) > 10 * estimate_noise(clean, ANGLES)


@pytest.mark.parametrize(
    "method",
    [
        lambda s, a: tv(s, a, iterations=40),
        lambda s, a: sart(s, a, sweeps=3),
        lambda s, a: sart(s, a, sweeps=3, order="sequential"),
    ],
    ids=["tv", "sart-random", "sart-sequential"],
)
def test_results_do_not_depend_on_the_order_tilts_are_stored(phantoms, method):
    order = dose_symmetric_order(ANGLES)
    for s in phantoms[0][0], phantoms[0][2]:
        a = method(s, ANGLES)
        b = method(s[order], ANGLES[order])
        np.testing.assert_allclose(b, a, atol=1e-4 * np.abs(a).max())


def test_nonnegativity_and_relaxation_options(phantoms):
    clean = phantoms[0][0]
    assert sart(clean, ANGLES, sweeps=5).min() >= 0
    assert sart(clean, ANGLES, sweeps=5, nonnegative=False).min() < 0
    assert sirt(clean, ANGLES, iterations=20).min() >= 0
    a = sart(clean, ANGLES, sweeps=3, relaxation=1.0)
    b = sart(clean, ANGLES, sweeps=3, relaxation=0.3)
    assert not np.allclose(a, b)
    # seeded random order is reproducible
    np.testing.assert_array_equal(sart(clean, ANGLES, sweeps=2), sart(clean, ANGLES, sweeps=2))


def test_sirt_converges_towards_data(phantoms):
    clean, gt, _ = phantoms[0]
    assert psnr(gt, sirt(clean, ANGLES, iterations=100)) > psnr(
        gt, sirt(clean, ANGLES, iterations=5)
    )


def test_warm_start_is_used(phantoms):
    clean, gt, _ = phantoms[0]
    cold = sart(clean, ANGLES, sweeps=1)
    warm = sart(clean, ANGLES, sweeps=1, x0=gt)
    assert psnr(gt, warm) > psnr(gt, cold) + 3


def test_registry_rejects_unknown_method_and_option(phantoms):
    clean = phantoms[0][0]
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        reconstruct(clean, ANGLES, "magic")
    with pytest.raises(ValueError, match="no option sweeps"):
        reconstruct(clean, ANGLES, "wbp", sweeps=3)
    with pytest.raises(ValueError, match="weight"):
        tv(clean, ANGLES, weight=-1)
    with pytest.raises(ValueError, match="sweeps"):
        sart(clean, ANGLES, sweeps=0)


def test_tv_backends_agree_and_slices_do_not_depend_on_their_neighbours(phantoms):
    """The matrix backend runs ASTRA's operator on groups of slices: each slice's
    result is the one it gets alone, and the one of the slice-by-slice ASTRA solver
    (to float32 rounding)."""
    from tomoinpaint.recon.tv import TV_BATCH

    angles = tilt_range(-60, 60, 3.0)
    sino1 = forward_project(phantoms[0][1], angles, kernel="linear")
    # a stack longer than one group, the slices scaled differently (own scale and weight)
    stack = np.stack([sino1 * (1.0 + 0.5 * k) for k in range(TV_BATCH + 2)])
    fast = tv(stack, angles, iterations=60, backend="matrix")
    alone = tv(stack[TV_BATCH + 1], angles, iterations=60, backend="matrix")
    np.testing.assert_allclose(fast[TV_BATCH + 1], alone, rtol=1e-5, atol=1e-6)
    slow = tv(stack[:2], angles, iterations=60, backend="astra")
    np.testing.assert_allclose(fast[:2], slow, rtol=0, atol=1e-4 * float(np.abs(slow).max()))
    np.testing.assert_allclose(fast[1], fast[0] * 1.5, rtol=1e-4, atol=1e-5)


def test_the_step_ratio_changes_the_path_not_the_problem(phantoms):
    """PDHG's dual/primal step ratio is a convergence setting: two ratios lower the same
    objective (1/2 |Ax - b|^2 + lam a^2 s TV(x)) to the same value, though their early
    iterates differ."""
    from tomoinpaint.project import open_projector
    from tomoinpaint.recon.tv import image_scale, operator_norm, tv_solve

    angles = tilt_range(0.0, 179.0, 1.0)
    sino = forward_project(phantoms[0][1], angles, kernel="linear")
    lam = 0.005
    with open_projector(Geometry(angles, N), kernel="linear", device="cpu") as P:
        weight = lam * operator_norm(angles, N, device="cpu", backend=P.backend) ** 2
        weight *= image_scale(P, sino)

        def objective(iterations, ratio):
            x = tv_solve(P, sino, weight=lam, iterations=iterations, step_ratio=ratio)
            gy = np.diff(x, axis=0, append=x[-1:])
            gx = np.diff(x, axis=1, append=x[:, -1:])
            misfit = 0.5 * np.sum((P.forward(x) - sino) ** 2, dtype=np.float64)
            return misfit + weight * np.sum(np.hypot(gx, gy), dtype=np.float64)

        early = [objective(20, r) for r in (10.0, 20.0)]
        late = [objective(1500, r) for r in (10.0, 20.0)]
        with pytest.raises(ValueError, match="step_ratio"):
            tv_solve(P, sino, iterations=1, step_ratio=0.0)
    assert abs(early[0] - early[1]) > 0.03 * late[0]
    assert abs(late[0] - late[1]) < 0.005 * late[0]
    assert max(late) < min(early)


def test_sart_and_sirt_in_a_slab_put_everything_inside_it():
    # a specimen inside rows 44..83: reconstructing there only (IMOD's SIRT within THICKNESS)
    # is a support constraint, far closer to it than the whole slice's rows
    from tomoinpaint.sim import simulate_sinogram

    n, z0, z1 = 128, 44, 84
    fine = make_sample("natural", n, np.random.default_rng(4))
    band = np.zeros_like(fine)
    band[2 * z0 : 2 * z1] = 1.0  # the fine grid is 2n
    angles = tilt_range(-60.0, 60.0, 2.0)
    sino, gt = simulate_sinogram(fine * band, angles)
    span = float(gt.max() - gt.min())
    for method, kw in (("sart", {"sweeps": 10}), ("sirt", {"iterations": 50})):
        whole = reconstruct(sino, angles, method, device="cpu", **kw)[z0:z1]
        inside = reconstruct(sino, angles, method, device="cpu", slab=(z0, z1), **kw)
        assert inside.shape == (z1 - z0, n)
        gain = psnr(gt[z0:z1], inside, data_range=span) - psnr(gt[z0:z1], whole, data_range=span)
        assert gain > 3.0, (method, gain)
    with pytest.raises(ValueError, match=r"x0 has shape \(128, 128\), expected \(40, 128\)"):
        sart(sino, angles, device="cpu", slab=(z0, z1), x0=np.zeros((n, n)))


class _HeldToTheSlab:
    """The whole slice's projector seen through an image that is zero outside rows z0..z1-1."""

    def __init__(self, P, z0: int, z1: int):
        self.P, self.z0, self.z1 = P, z0, z1
        self.geometry = P.geometry
        self.vol_shape = (z1 - z0, P.vol_shape[1])

    def forward(self, x):
        whole = np.zeros(x.shape[:-2] + self.P.vol_shape, np.float32)
        whole[..., self.z0 : self.z1, :] = x
        return self.P.forward(whole)

    def back(self, y):
        return self.P.back(y)[..., self.z0 : self.z1, :]


def test_tv_in_a_slab_solves_the_whole_slices_problem_held_to_zero_outside_it():
    # the slab's TV is the whole slice's objective (same weight: the whole slice's
    # operator norm) over images that are zero outside the slab; the matrix and ASTRA
    # backends agree, and a slab that is the whole slice is plain TV
    from tomoinpaint.project import Projector
    from tomoinpaint.recon.tv import operator_norm, power_iteration, tv_solve

    n, z0, z1 = 64, 22, 42
    fine = make_sample("shapes", n, np.random.default_rng(5))
    band = np.zeros_like(fine)
    band[2 * z0 : 2 * z1] = 1.0
    angles = tilt_range(-60.0, 60.0, 3.0)
    sino, _ = simulate_sinogram(fine * band, angles)
    sino = poisson_dose(sino, 2e4, np.random.default_rng(1))
    inside = tv(sino, angles, device="cpu", slab=(z0, z1), iterations=200)
    assert inside.shape == (z1 - z0, n)
    with (
        Projector(Geometry(angles, n), device="cpu") as P,
        Projector(Geometry(angles, n), device="cpu", rows=(z0, z1)) as S,
    ):
        held_op = _HeldToTheSlab(P, z0, z1)
        held = tv_solve(held_op, sino, iterations=200, norm=operator_norm(angles, n, device="cpu"))
        # had the slab's own (smaller) norm scaled the weight, TV would smooth less
        own = tv_solve(held_op, sino, iterations=200, norm=power_iteration(S))
    # ASTRA steps along rays from the edge of the image it is given: float32 differences
    np.testing.assert_allclose(inside, held, rtol=0, atol=2e-3 * np.abs(held).max())
    assert np.abs(own - held).max() > 10 * np.abs(inside - held).max()
    astra_2d = tv(sino, angles, device="cpu", slab=(z0, z1), iterations=200, backend="astra")
    np.testing.assert_allclose(astra_2d, inside, rtol=0, atol=1e-4 * np.abs(inside).max())
    np.testing.assert_allclose(
        tv(sino, angles, device="cpu", slab=(0, n), iterations=50),
        tv(sino, angles, device="cpu", iterations=50),
        rtol=0,
        atol=1e-5 * np.abs(inside).max(),
    )
    with pytest.raises(ValueError, match=r"x0 has shape \(64, 64\), expected \(20, 64\)"):
        tv(sino, angles, device="cpu", slab=(z0, z1), x0=np.zeros((n, n)))
    with pytest.raises(ValueError, match="rows must be a range"):
        tv(sino, angles, device="cpu", slab=(40, 70))


def test_tv_step_ratio_auto_grows_with_weight_and_width_per_slice():
    """``step_ratio="auto"`` (the default): 10 at the weight floor up to 768 px, in
    proportion to the weight times the width above; in a stack each slice follows the
    iteration it follows alone with its own ratio, and a ratio that is neither a number
    nor "auto" is refused."""
    from tomoinpaint.recon.tv import (
        STEP_RATIO,
        STEP_RATIO_WIDTH,
        TV_WEIGHT_FLOOR,
        default_weight,
        step_ratio_for_weight,
    )

    assert step_ratio_for_weight(TV_WEIGHT_FLOOR, STEP_RATIO_WIDTH) == STEP_RATIO
    assert step_ratio_for_weight(TV_WEIGHT_FLOOR, 128) == STEP_RATIO
    assert step_ratio_for_weight(20 * TV_WEIGHT_FLOOR, 2 * STEP_RATIO_WIDTH) == pytest.approx(400)
    np.testing.assert_allclose(
        step_ratio_for_weight(np.array([1.0, 4.0, 8.0]) * TV_WEIGHT_FLOOR, 192), [10, 10, 20]
    )
    n = 64
    fine = make_sample("shapes", 2 * n, np.random.default_rng(5))
    angles = tilt_range(-60.0, 60.0, 3.0)
    clean, _ = simulate_sinogram(fine, angles)
    noisy = poisson_dose(clean, 100, np.random.default_rng(1))
    width = clean.shape[-1]
    ratios = [
        float(step_ratio_for_weight(default_weight(s, angles), width)) for s in (clean, noisy)
    ]
    assert ratios[0] == STEP_RATIO and ratios[1] > 1.5 * STEP_RATIO
    both = tv(np.stack([clean, noisy]), angles, iterations=40, step_ratio="auto", device="cpu")
    for k, s in enumerate((clean, noisy)):
        alone = tv(s, angles, iterations=40, step_ratio=ratios[k], device="cpu")
        np.testing.assert_allclose(both[k], alone, rtol=0, atol=1e-5 * np.abs(alone).max())
    fixed = tv(noisy, angles, iterations=40, step_ratio=STEP_RATIO, device="cpu")
    assert np.abs(fixed - both[1]).max() > 1e-3 * np.abs(fixed).max()  # the ratio was used
    default = tv(noisy, angles, iterations=40, device="cpu")  # "auto" is the default
    np.testing.assert_allclose(default, both[1], rtol=0, atol=1e-5 * np.abs(default).max())
    for bad in ("fast", 0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="step_ratio must be 'auto' or a positive number"):
            tv(noisy, angles, iterations=2, step_ratio=bad, device="cpu")
