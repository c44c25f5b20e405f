"""The deep-model methods (inpaint, deartifact, paper, joint) with small random networks.

These check the plumbing the trained weights rely on: regridding onto the
model grid, units, measured projections kept, shapes, batching; the quality of
trained weights is the business of ``benchmarks/joint_quality.py``.
"""

import dataclasses

import numpy as np
import pytest

from tomoinpaint.geometry import dose_symmetric_order, tilt_range
from tomoinpaint.methods import METHODS, reconstruct
from tomoinpaint.project import forward_project
from tomoinpaint.recon import tv, wbp
from tomoinpaint.recon.joint import (
    load_joint_model,
    resample_detector,
    to_model_grid,
    weights_available,
)
from tomoinpaint.recon.joint.regrid import prepare
from tomoinpaint.recon.joint.steps import inpaint_grid
from tomoinpaint.sim import make_sample, simulate_sinogram

# The grid of the ``tiny_weights`` fixture (tests/conftest.py).
N = 32
GRID = np.arange(0.0, 180.0, 3.0)  # a half turn, centred on the wedge at 90°
TRAINED = (GRID <= 60.0) | (GRID >= 120.0)  # tilts -60 ... 60
TILTS = tilt_range(-60.0, 60.0, 3.0)


@pytest.fixture(scope="module")
def weights(tiny_weights):
    model = load_joint_model(tiny_weights)
    assert model.n == N and np.array_equal(model.angles_deg, GRID)
    return tiny_weights


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(3)
    img = make_sample("shapes", 2 * N, rng)
    sino, gt = simulate_sinogram(img, TILTS)
    return sino, gt


def test_deep_methods_are_registered():
    for name in ("joint", "paper", "inpaint", "deartifact"):
        assert name in METHODS


def test_missing_weights_is_a_clear_error(tmp_path):
    assert not weights_available(tmp_path)
    with pytest.raises(FileNotFoundError, match="inpainter.safetensors"):
        load_joint_model(tmp_path)


def test_regridding_puts_each_tilt_on_its_grid_row():
    img = make_sample("shapes", N, np.random.default_rng(1), supersample=1)
    sino = forward_project(img, TILTS)
    grid_sino, covered, factor = to_model_grid(sino, TILTS, GRID, N)
    assert factor == 1.0
    np.testing.assert_array_equal(covered, TRAINED)
    ref = forward_project(img, GRID)
    # Rows at 0...60° are tilts 0...60°; rows at 120...177° are tilts -60...-3°,
    # flipped on the detector (p(θ + 180°, t) = p(θ, -t)).
    scale = np.abs(ref).max()
    assert np.abs(grid_sino[covered] - ref[covered]).max() < 0.02 * scale
    assert np.all(grid_sino[~covered] == 0)


def test_regridding_interpolates_other_steps_and_ranges():
    img = make_sample("shapes", N, np.random.default_rng(2), supersample=1)
    tilts = tilt_range(-50.0, 40.0, 2.0)  # another step, asymmetric
    grid_sino, covered, _ = to_model_grid(forward_project(img, tilts), tilts, GRID, N)
    equiv = np.where(GRID > 90.0, GRID - 180.0, GRID)
    np.testing.assert_array_equal(covered, (equiv >= -51.0) & (equiv <= 41.0))
    ref = forward_project(img, GRID)
    err = np.abs(grid_sino[covered] - ref[covered]).max() / np.abs(ref).max()
    assert err < 0.1  # linear interpolation between tilts 2° apart


def test_regridding_finds_a_wedge_inside_the_tilt_range():
    # a 0-180 degree scan with a 45 degree block dropped from its middle: 0 and 177
    # are neighbours, the gap is 66...111 (the wedge), not the ends of the range
    img = make_sample("shapes", N, np.random.default_rng(5), supersample=1)
    scan = np.arange(0.0, 180.0, 3.0)
    kept = scan[(scan < 66.0) | (scan > 111.0)]
    grid_sino, covered, _ = to_model_grid(forward_project(img, kept), kept, GRID, N)
    np.testing.assert_array_equal(covered, (GRID <= 64.5) | (GRID >= 112.5))
    ref = forward_project(img, GRID)
    err = np.abs(grid_sino[covered] - ref[covered]).max() / np.abs(ref).max()
    assert err < 0.02
    assert np.all(grid_sino[~covered] == 0)


def test_joint_is_the_same_for_a_tilt_series_written_as_a_scan_with_a_gap(weights, sample):
    # tilts -60...60 and the same projections written as 0...60 plus 120...177
    # (a 0-180 scan with a block dropped at 90): p(θ + 180°, t) = p(θ, -t)
    from tomoinpaint.recon.joint import joint

    sino, _ = sample
    negative = TILTS < 0
    scan = np.where(negative, TILTS + 180.0, TILTS)
    as_scan = np.where(negative[:, None], sino[:, ::-1], sino)
    kw = dict(model=str(weights), iterations=10, device="cpu")
    np.testing.assert_allclose(
        joint(as_scan, scan, **kw), joint(sino, TILTS, **kw), atol=1e-4 * np.abs(sino).max()
    )


def test_joint_does_not_depend_on_the_order_tilts_are_stored(weights, sample):
    # dose-symmetric tilt series are stored in acquisition order: 0, +3, -3, +6, ...
    from tomoinpaint.recon.joint import joint

    sino, _ = sample
    noisy = sino + np.random.default_rng(5).normal(0.0, 0.05 * sino.max(), sino.shape)
    order = dose_symmetric_order(TILTS)
    kw = dict(model=str(weights), iterations=10, device="cpu")
    for s in (sino, noisy.astype(np.float32)):
        np.testing.assert_allclose(
            joint(s[order], TILTS[order], **kw), joint(s, TILTS, **kw), atol=1e-4 * np.abs(s).max()
        )


def test_regridding_a_full_turn_averages_opposite_projections():
    img = make_sample("shapes", N, np.random.default_rng(6), supersample=1)
    turn = np.arange(0.0, 360.0, 3.0)
    sino = forward_project(img, turn)
    sino[turn >= 180.0] += 1.0  # opposite views disagree by a constant: averaged, 0.5
    grid_sino, covered, _ = to_model_grid(sino, turn, GRID, N)
    assert covered.all()
    ref = forward_project(img, GRID)
    np.testing.assert_allclose(grid_sino - ref, 0.5, atol=0.02 * np.abs(ref).max())


def test_regridding_keeps_image_units_on_a_wider_detector():
    img = make_sample("shapes", 2 * N, np.random.default_rng(4), supersample=1)
    sino = forward_project(img, TILTS)
    grid_sino, covered, factor = to_model_grid(sino, TILTS, GRID, N)
    assert factor == 2.0
    rec = wbp(grid_sino[covered], GRID[covered])
    # The 32-px reconstruction shows the 64-px one at half resolution, in the same units.
    ref = wbp(sino, TILTS)
    assert abs(rec.mean() - ref.mean()) < 0.05 * abs(ref.mean())
    assert abs(np.percentile(rec, 99) - np.percentile(ref, 99)) < 0.15 * np.percentile(ref, 99)


def test_resample_detector_keeps_constant_values():
    flat = np.full((3, 64), 2.5, np.float32)
    np.testing.assert_allclose(resample_detector(flat, 32), 2.5, rtol=1e-6)
    np.testing.assert_allclose(resample_detector(flat, 100), 2.5, rtol=1e-6)


def test_inpainting_keeps_the_measured_rows(weights, sample):
    model = load_joint_model(weights)
    sino, _ = sample
    st = prepare(model, sino[None], TILTS)
    full = inpaint_grid(model, st, batch_size=4)
    np.testing.assert_array_equal(full[:, st.covered], st.grid_sino[:, st.covered])
    assert np.any(full[:, ~st.covered] != 0)


@pytest.mark.parametrize("method", ["joint", "paper", "inpaint", "deartifact"])
def test_deep_methods_shapes_and_units(weights, sample, method):
    sino, _ = sample
    opts = {"model": str(weights), "device": "cpu"}
    if method == "joint":
        opts["iterations"] = 20
    one = reconstruct(sino, TILTS, method, **opts)
    assert one.shape == (2 * N, 2 * N) and one.dtype == np.float32
    stack = reconstruct(np.stack([sino, 3.0 * sino]), TILTS, method, **opts)
    assert stack.shape == (2, 2 * N, 2 * N)
    np.testing.assert_allclose(stack[0], one, rtol=1e-4, atol=1e-5 * np.abs(one).max())
    # Any intensity scale: normalised in, returned in the input's units.
    np.testing.assert_allclose(stack[1], 3.0 * one, rtol=1e-3, atol=1e-3 * np.abs(one).max())


def test_joint_rejects_bad_prior_weight(weights, sample):
    for bad in (0.0, -1.0, float("inf"), "high"):
        with pytest.raises(ValueError, match="prior_weight"):
            reconstruct(sample[0], TILTS, "joint", model=str(weights), prior_weight=bad)


def test_auto_prior_weight_follows_the_noise():
    """Noise-free data trust the measurements most; at low dose the prior counts most."""
    from tomoinpaint.recon.joint import DEFAULTS, auto_prior_weight

    assert auto_prior_weight(0.0) == DEFAULTS.weight_min
    noises = [0.12, 0.2, 0.3, 0.5, 5.0]
    pws = [auto_prior_weight(v) for v in noises]
    assert pws[0] < 1.0 < pws[-2] and pws[-1] == DEFAULTS.weight_max
    assert pws[2] == pytest.approx(1.0)  # noise_match: weighted like a measurement
    assert all(np.diff(pws) > 0)
    # another upper clip (for tuning) clips there, and only there
    assert auto_prior_weight(noises[-1], maximum=2.0) == 2.0
    assert auto_prior_weight(noises[1], maximum=1e6) == pws[1]


def test_auto_prior_weight_reads_the_noise_at_the_priors_resolution():
    """A prior on a grid k times coarser: the weight of noise / k, as a measurement there,
    times the coarse prior's factor; the floor and the ceiling as at the input's size."""
    from tomoinpaint.recon.joint import DEFAULTS, auto_prior_weight, coarse_weight_factor

    noise = 2.0 * DEFAULTS.noise_match
    assert auto_prior_weight(noise, resolution=0.5, coarse_weight=1.0) == pytest.approx(1.0)
    coarse = auto_prior_weight(noise, resolution=0.5)
    assert coarse == pytest.approx(coarse_weight_factor(0.5) * 1.0)
    assert coarse < auto_prior_weight(noise) == 4.0
    # the factor applies to a coarse prior only, and before the clip
    assert auto_prior_weight(noise, coarse_weight=0.5) == 4.0
    assert auto_prior_weight(0.0, resolution=0.5) == DEFAULTS.weight_min
    assert auto_prior_weight(1e3, resolution=0.5) == DEFAULTS.weight_max
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="resolution"):
            auto_prior_weight(noise, resolution=bad)


def test_coarse_weight_factor_dips_at_twice_the_priors_width():
    """1 at the input's size, coarse_weight at half of it, 1 again from coarse_weight_end
    times coarser on, log-linear between (the measured points: 2, 4, 8 times coarser)."""
    from tomoinpaint.recon.joint import DEFAULTS, coarse_weight_factor

    end = DEFAULTS.coarse_weight_end
    assert coarse_weight_factor(1.0) == 1.0
    assert coarse_weight_factor(0.5) == pytest.approx(DEFAULTS.coarse_weight)
    assert coarse_weight_factor(1 / end) == coarse_weight_factor(1 / (2 * end)) == 1.0
    # halfway between the dip and the end in octaves: the geometric mean
    mid = 2.0 ** (-(1.0 + np.log2(end)) / 2)
    assert coarse_weight_factor(mid) == pytest.approx(np.sqrt(DEFAULTS.coarse_weight))
    # down from the input's size to the dip, up from it to the end
    down = [coarse_weight_factor(r) for r in np.linspace(1.0, 0.5, 6)]
    up = [coarse_weight_factor(2.0**-o) for o in np.linspace(1.0, np.log2(end), 6)]
    assert all(np.diff(down) < 0) and all(np.diff(up) > 0)


def test_clean_data_trust_a_prior_as_far_as_it_predicts_the_wedge_edge():
    """Beyond the match the clean-data floor falls as 1 / edge error squared; noisy data keep
    the noise rule."""
    from tomoinpaint.recon.joint import DEFAULTS, auto_prior_weight

    match = 0.2
    at_match = auto_prior_weight(0.0, edge_error=match, edge_error_match=match)
    assert at_match == pytest.approx(DEFAULTS.weight_min)
    twice = auto_prior_weight(0.0, edge_error=2 * match, edge_error_match=match)
    assert twice == pytest.approx(DEFAULTS.weight_min / 4)
    # a prior that predicts the edge better than the match keeps the floor: never up
    assert (
        auto_prior_weight(0.0, edge_error=match / 2, edge_error_match=match) == DEFAULTS.weight_min
    )
    assert auto_prior_weight(0.0, edge_error=100.0, edge_error_match=match) == DEFAULTS.weight_floor
    # no edge error, or no match: the fixed floor
    assert (
        auto_prior_weight(0.0, edge_error=2 * match, edge_error_match=None) == DEFAULTS.weight_min
    )
    assert auto_prior_weight(0.0, edge_error=None, edge_error_match=match) == DEFAULTS.weight_min
    # noisy data: the edge error includes the noise, and the noise rule's weight is larger
    noise = 1.0
    assert auto_prior_weight(noise, edge_error=noise, edge_error_match=match) == auto_prior_weight(
        noise, edge_error_match=None
    )


def test_measured_edge_error_checks_the_prior_at_the_tilts_next_to_the_wedge(sample):
    """0 where the prior's projections are the measurements; only the edge tilts count."""
    from tomoinpaint.geometry import wedge_edge_tilts
    from tomoinpaint.recon.joint import DEFAULTS, NetworkPrior, measured_edge_error

    sino = np.stack([sample[0], 2.0 * sample[0]]).astype(np.float32)
    scales = np.array([1.0, 2.0])

    def prior(rows):
        return NetworkPrior(np.zeros((2, 8, 8)), np.zeros(0), np.zeros((2, 0, 8)), 8, None, rows)

    assert np.all(measured_edge_error(prior(sino.copy()), sino, TILTS, scales) == 0.0)
    edge = wedge_edge_tilts(TILTS, DEFAULTS.edge_degrees)
    off = sino.copy()
    off[:, ~edge] += 5.0  # away from the wedge: not counted
    assert np.all(measured_edge_error(prior(off), sino, TILTS, scales) == 0.0)
    off = sino.copy()
    off[:, edge] += 1.0
    err = measured_edge_error(prior(off), sino, TILTS, scales)
    assert err == pytest.approx([1.0, 0.5])  # relative to each slice's scale
    assert measured_edge_error(prior(None), sino, TILTS, scales) is None


def test_auto_prior_weight_follows_a_coarser_prior(weights, sample):
    """data_consistency scales the automatic weight by the prior's width over the input's."""
    from tomoinpaint.recon.joint import auto_prior_weight, data_consistency, network_prior
    from tomoinpaint.recon.tv_weights import noise_level

    wide = sample[0]  # twice the network's width
    assert wide.shape[-1] == 2 * N
    noisy = wide + np.random.default_rng(1).normal(0, 0.05 * wide.max(), wide.shape)
    noisy = noisy.astype(np.float32)
    prior = network_prior(noisy, TILTS, model=str(weights), source="tv", device="cpu")
    assert prior.model_n == N
    auto = data_consistency(noisy, TILTS, prior, prior_weight="auto", iterations=20)
    noise = noise_level(noisy, TILTS)
    scaled, unscaled = (auto_prior_weight(noise, resolution=r) for r in (0.5, 1.0))
    assert scaled < unscaled
    one = data_consistency(noisy, TILTS, prior, prior_weight=scaled, iterations=20)
    np.testing.assert_allclose(auto, one, rtol=1e-5, atol=1e-6)
    other = data_consistency(noisy, TILTS, prior, prior_weight=unscaled, iterations=20)
    assert np.abs(other - auto).max() > 1e-3 * np.abs(auto).max()


def test_auto_prior_weight_is_applied_per_slice(weights, sample):
    """prior_weight="auto" gives what the explicit weight of each slice's noise (and the
    prior's edge error) gives."""
    from tomoinpaint.recon.joint import (
        auto_prior_weight,
        data_consistency,
        measured_edge_error,
        network_prior,
        slice_noise,
    )

    sino = sample[0]
    noisy = sino + np.random.default_rng(0).normal(0, 0.05 * sino.max(), sino.shape)
    stack = np.stack([sino, noisy]).astype(np.float32)
    prior = network_prior(stack, TILTS, model=str(weights), source="tv", device="cpu")
    auto = data_consistency(stack, TILTS, prior, prior_weight="auto", iterations=20)
    resolution = prior.model_n / sino.shape[-1]  # the prior's grid is the network's
    scales, noises = slice_noise(stack, TILTS)
    errors = measured_edge_error(prior, stack, TILTS, scales)
    pws = [
        auto_prior_weight(v, resolution=resolution, edge_error=e)
        for v, e in zip(noises, errors, strict=True)
    ]
    assert pws[0] < pws[1]
    for k, pw in enumerate(pws):
        one = data_consistency(stack, TILTS, prior, prior_weight=pw, iterations=20)[k]
        np.testing.assert_allclose(auto[k], one, rtol=1e-5, atol=1e-6)


def test_noise_estimates_handed_in_are_the_ones_used(weights, sample):
    """joint estimates each slice's noise once and hands it to the data-consistency step:
    the same estimates give the same image, other estimates another, a wrong count is refused."""
    from tomoinpaint.recon.joint import data_consistency, network_prior, slice_noise
    from tomoinpaint.recon.tv_weights import noise_level

    sino = sample[0]
    noisy = sino + np.random.default_rng(0).normal(0, 0.05 * sino.max(), sino.shape)
    stack = np.stack([sino, noisy]).astype(np.float32)
    scales, noises = slice_noise(stack, TILTS, device="cpu")
    assert noises == pytest.approx([noise_level(s, TILTS, device="cpu") for s in stack], rel=1e-4)
    prior = network_prior(stack, TILTS, model=str(weights), source="tv", device="cpu")
    own = data_consistency(stack, TILTS, prior, iterations=20, device="cpu")
    given = data_consistency(
        stack, TILTS, prior, iterations=20, device="cpu", noise_estimates=(scales, noises)
    )
    np.testing.assert_array_equal(own, given)
    swapped = data_consistency(
        stack, TILTS, prior, iterations=20, device="cpu", noise_estimates=(scales, noises[::-1])
    )
    assert np.abs(swapped - own).max() > 1e-3 * np.abs(own).max()
    with pytest.raises(ValueError, match="noise_estimates"):
        data_consistency(stack, TILTS, prior, iterations=2, noise_estimates=(scales[:1], noises))


def test_prior_tv_iterations_scale_with_the_slice(weights, sample):
    """The prior's TV runs the training count at the training size on noisy data, more on
    larger slices and on clean data, up to DEFAULTS.prior_tv_scale_max times (clean:
    prior_tv_clean_scale_max), never fewer; network_prior uses it."""
    from tomoinpaint.recon.joint import DEFAULTS, network_prior
    from tomoinpaint.recon.joint.prior import prior_tv_iterations

    m = load_joint_model(weights)
    n0, it = (m.tv_n or m.n), m.tv_iterations
    assert prior_tv_iterations(m, n0) == it
    assert prior_tv_iterations(m, n0 // 2) == it
    assert prior_tv_iterations(m, 3 * n0 // 2) == round(1.5 * it)
    assert prior_tv_iterations(m, 8 * n0) == round(DEFAULTS.prior_tv_scale_max * it)
    clean, noisy = DEFAULTS.input_size_noise / 2, DEFAULTS.input_size_noise * 2
    assert prior_tv_iterations(m, noise=noisy) == it
    assert prior_tv_iterations(m, noise=clean) == round(DEFAULTS.prior_tv_clean_factor * it)
    assert prior_tv_iterations(m, 2 * n0, clean) == round(
        min(2 * DEFAULTS.prior_tv_clean_factor, DEFAULTS.prior_tv_clean_scale_max) * it
    )
    assert prior_tv_iterations(m, 8 * n0, clean) == round(DEFAULTS.prior_tv_clean_scale_max * it)
    assert prior_tv_iterations(m, 8 * n0, noisy) == round(DEFAULTS.prior_tv_scale_max * it)
    assert prior_tv_iterations(m, n0, noisy, n_input=2 * n0) == 2 * it  # a wider detector
    # at twice the size: the iterations of a network trained there on twice as many
    few = dataclasses.replace(m, tv_iterations=10)
    as_trained_there = dataclasses.replace(m, tv_iterations=20, tv_n=2 * n0)
    unscaled = dataclasses.replace(m, tv_iterations=10, tv_n=2 * n0)
    sino = sample[0]

    def image(model):
        return network_prior(sino, TILTS, model=model, source="tv", size=2 * n0, device="cpu")

    np.testing.assert_array_equal(image(few).image, image(as_trained_there).image)
    assert np.abs(image(few).image - image(unscaled).image).max() > 1e-4
    # joint hands network_prior the count for its data's size and noise
    from tomoinpaint.recon.joint import joint
    from tomoinpaint.recon.tv_weights import noise_level

    noise = noise_level(sino, TILTS, device="cpu")
    assert noise < DEFAULTS.input_size_noise  # clean: the prior at the input's width
    count = prior_tv_iterations(few, sino.shape[-1], noise, sino.shape[-1])
    assert count > few.tv_iterations
    ours = joint(sino, TILTS, model=few, iterations=5, device="cpu")
    theirs = joint(sino, TILTS, model=few, iterations=5, prior_tv_iterations=count, device="cpu")
    np.testing.assert_array_equal(ours, theirs)


def test_tv_row_weights_of_one_change_nothing(sample):
    sino, _ = sample
    a = tv(sino, TILTS, iterations=30)
    b = tv(sino, TILTS, iterations=30, row_weights=np.ones(TILTS.size))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_tv_row_weights_discount_bad_projections(sample):
    sino, gt = sample
    bad = sino.copy()
    bad[::5] += 0.5 * sino.max()  # every fifth projection corrupted
    w = np.ones(TILTS.size)
    w[::5] = 1e-3
    err_plain = np.abs(tv(bad, TILTS, iterations=100) - gt).mean()
    err_weighted = np.abs(tv(bad, TILTS, iterations=100, row_weights=w) - gt).mean()
    assert err_weighted < 0.5 * err_plain
    with pytest.raises(ValueError, match="row_weights"):
        tv(sino, TILTS, row_weights=np.zeros(TILTS.size))


@pytest.mark.parametrize("source", ["paper", "tv"])
def test_network_prior_sources(weights, sample, source):
    from tomoinpaint.recon.joint import data_consistency, network_prior

    sino, gt = sample
    prior = network_prior(sino, TILTS, model=str(weights), source=source, device="cpu")
    n_missing = int((~TRAINED).sum())
    assert prior.image.shape == (1, 2 * N, 2 * N)
    assert prior.rows.shape == (1, n_missing, 2 * N) and prior.angles_deg.size == n_missing
    assert prior.model_n == N and np.isfinite(prior.rows).all()
    if source == "paper":
        assert prior.edge_error.shape == (1,) and 0 < prior.edge_error[0] < np.inf
        assert prior.measured_rows is None
    else:
        # the network image's projections at the measured angles, in the data's units
        assert prior.measured_rows.shape == (1, TILTS.size, 2 * N)
        want = forward_project(prior.image[0], TILTS, kernel="linear")
        assert np.linalg.norm(prior.measured_rows[0] - want) < 0.1 * np.linalg.norm(want)
    out = data_consistency(sino, TILTS, prior, iterations=10, device="cpu")
    assert out.shape == (1, 2 * N, 2 * N) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="source"):
        network_prior(sino, TILTS, model=str(weights), source="sirt")


def test_tv_prior_uses_the_tv_deartifact_network(weights, sample, tmp_path):
    """With deartifact_tv.safetensors in the weights, the "tv" prior runs it, not the other."""
    import shutil

    import torch

    from tomoinpaint.nn import build, load_model, save_model
    from tomoinpaint.recon.joint import TV_DEARTIFACT_FILE, network_prior

    sino, _ = sample
    d = tmp_path / "weights"
    shutil.copytree(weights, d)
    _, card = load_model(d / "deartifact.safetensors")
    torch.manual_seed(1)
    net = build("unet", "tiny")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    meta = dict(card["metadata"])
    meta["data_recipe"] = {"stage2": {"tv_iterations": 20}}
    save_model(net, d / TV_DEARTIFACT_FILE, metadata=meta)

    m = load_joint_model(d)
    assert m.deartifact_tv is not None and m.tv_iterations == 20
    got = network_prior(sino, TILTS, model=m, source="tv", device="cpu")
    # the same as a model whose only de-artifact network is the TV one ...
    swapped = dataclasses.replace(m, deartifact=m.deartifact_tv, deartifact_tv=None)
    want = network_prior(sino, TILTS, model=swapped, source="tv", device="cpu")
    np.testing.assert_allclose(got.image, want.image, rtol=1e-5, atol=1e-6)
    # ... and not what the paper's network gives on TV; the paper prior is unchanged
    plain = dataclasses.replace(m, deartifact_tv=None)
    other = network_prior(sino, TILTS, model=plain, source="tv", device="cpu")
    assert np.abs(other.image - got.image).max() > 1e-3
    np.testing.assert_array_equal(
        network_prior(sino, TILTS, model=m, device="cpu").image,
        network_prior(sino, TILTS, model=plain, device="cpu").image,
    )
    # a TV network trained at another slice size works at its own size ...
    meta["grid"] = dict(meta["grid"], n=2 * N)
    save_model(net, d / TV_DEARTIFACT_FILE, metadata=meta)
    m2 = load_joint_model(d)
    assert (m2.n, m2.tv_n) == (N, 2 * N)
    fine = network_prior(sino, TILTS, model=m2, source="tv", device="cpu")
    assert fine.model_n == 2 * N and fine.rows.shape == got.rows.shape
    assert np.isfinite(fine.rows).all() and np.abs(fine.image - got.image).max() > 1e-3
    # ... one trained on another angular grid is refused
    meta["grid"] = dict(meta["grid"], angles_deg=meta["grid"]["angles_deg"][::-1])
    save_model(net, d / TV_DEARTIFACT_FILE, metadata=meta)
    with pytest.raises(ValueError, match="different grids"):
        load_joint_model(d)


def test_symmetric_flips_are_the_flips_that_commute_with_reconstruction():
    """WBP of a flipped slice's projections is the flipped WBP exactly for the flips
    symmetric_flips allows, and far from it for a single flip of an asymmetric range."""
    from tomoinpaint.recon.joint import symmetric_flips

    img = make_sample("shapes", N, np.random.default_rng(1), supersample=1)
    asym = (GRID <= 45.0) | (GRID >= 120.0)
    assert symmetric_flips(GRID, TRAINED) == [(), (-2, -1), (-2,), (-1,)]
    assert symmetric_flips(GRID, asym) == [(), (-2, -1)]
    for covered in (TRAINED, asym):
        a = GRID[covered]
        rec = wbp(forward_project(img, a), a)
        for f in [(-2, -1), (-2,), (-1,)]:
            flipped = wbp(forward_project(np.flip(img, f).copy(), a), a)
            err = np.abs(flipped - np.flip(rec, f)).max() / np.abs(rec).max()
            if f in symmetric_flips(GRID, covered):
                assert err < 1e-4
            else:
                assert err > 0.05


def test_flip_averaged_prior_is_flip_equivariant(weights, sample):
    """Averaged over the flips, the tv prior of flipped data is the flipped prior (up to
    TV's own asymmetry, its forward differences); one network pass is not."""
    from tomoinpaint.recon.joint import network_prior

    _, gt = sample
    err = {}
    for flips in (True, False):
        e = []
        for f in [(-2,), (-1,)]:
            p, q = (
                network_prior(forward_project(x, TILTS), TILTS, model=str(weights),
                              source="tv", flips=flips, device="cpu")
                for x in (gt, np.flip(gt, f).copy())
            )  # fmt: skip
            e.append(np.abs(q.image[0] - np.flip(p.image[0], f)).mean())
        err[flips] = max(e)
    assert err[True] < 0.5 * err[False]


def test_blurred_prior_rows_are_compared_at_model_resolution(sample):
    """A prior equal to the truth seen at the model's resolution is met exactly."""
    from tomoinpaint.geometry import Geometry
    from tomoinpaint.project import Projector
    from tomoinpaint.recon.joint.consistency import BlurredRows
    from tomoinpaint.recon.joint.regrid import detector_blur

    blur = detector_blur(2 * N, N)
    # up(down(v)) keeps what the model resolves: applying it twice changes little
    v = np.random.default_rng(0).random((3, 2 * N)).astype(np.float32)
    once = v @ blur
    assert np.abs(once @ blur - once).max() < 0.2 * np.abs(once - v).max()
    rows = np.zeros(TILTS.size, bool)
    rows[::3] = True
    with Projector(Geometry(TILTS, 2 * N), kernel="linear", device="cpu") as P:
        op = BlurredRows(P, rows, blur)
        x = np.random.default_rng(1).random(P.vol_shape).astype(np.float32)
        y = np.random.default_rng(2).random(P.geometry.sino_shape).astype(np.float32)
        # the adjoint is the adjoint: <op x, y> = <x, op^T y>
        lhs, rhs = float((op.forward(x) * y).sum()), float((x * op.back(y)).sum())
        assert abs(lhs - rhs) < 1e-4 * abs(lhs)
        np.testing.assert_allclose(op.forward(x)[~rows], P.forward(x)[~rows], rtol=1e-6)


def test_copied_rows_stand_for_the_opposite_projection_and_have_their_adjoint():
    """A blurred copy of the row at θ is the blurred projection at θ + 180°, detector reversed."""
    from tomoinpaint.geometry import Geometry
    from tomoinpaint.project import Projector
    from tomoinpaint.recon.joint.consistency import BlurredRows
    from tomoinpaint.recon.joint.regrid import detector_blur

    blur = detector_blur(2 * N, N)
    rows = np.zeros(TILTS.size, bool)
    rows[-4:] = True  # the "prior" rows
    copies = np.arange(0, TILTS.size - 4, 5)
    every = Geometry(np.concatenate([TILTS, TILTS[copies] + 180.0]), 2 * N)
    rng = np.random.default_rng(3)
    x = rng.random((2, 2 * N, 2 * N)).astype(np.float32)
    with (
        Projector(Geometry(TILTS, 2 * N), kernel="linear", device="cpu") as P,
        Projector(every, kernel="linear", device="cpu") as P_all,
    ):
        op = BlurredRows(P, rows, blur, copies, every)
        y = op.forward(x)
        assert y.shape == (2, every.angles_deg.size, 2 * N) and op.geometry is every
        opposite = P_all.forward(x)[:, TILTS.size :, ::-1] @ blur
        np.testing.assert_allclose(y[:, TILTS.size :], opposite, atol=1e-4 * np.abs(y).max())
        np.testing.assert_allclose(y[:, : TILTS.size][:, ~rows], P.forward(x)[:, ~rows])
        z = rng.random(y.shape).astype(np.float32)
        lhs, rhs = float((y * z).sum()), float((x * op.back(z)).sum())
        assert abs(lhs - rhs) < 1e-4 * abs(lhs)


def test_opposite_projection_is_the_reversed_projection():
    """The identity the measured-angle prior relies on: p(θ + 180°, t) = p(θ, -t)."""
    img = make_sample("shapes", N, np.random.default_rng(4), supersample=1)
    a = np.array([-57.0, -3.0, 10.5, 44.0])
    p = forward_project(img, a, kernel="linear")
    q = forward_project(img, a + 180.0, kernel="linear")[:, ::-1]
    assert np.abs(p - q).max() < 1e-5 * np.abs(p).max()


def test_opposite_rows_skip_angles_whose_opposite_is_measured():
    from tomoinpaint.recon.joint.consistency import opposite_rows

    a = tilt_range(-90.0, 100.0, 5.0)  # 190°: -90 ... -80 are +90 ... +100 turned over
    both = (a <= -80.0) | (a >= 90.0)
    free = opposite_rows(a, a)
    assert not free[both].any() and free[~both].all()


def _truth_prior(gt, tilts, missing):
    """A NetworkPrior that knows the truth: its image and all its projections."""
    from tomoinpaint.recon.joint import NetworkPrior

    return NetworkPrior(
        image=gt[None],
        angles_deg=missing,
        rows=forward_project(gt, missing, kernel="linear")[None],
        model_n=gt.shape[-1],
        measured_rows=forward_project(gt, tilts, kernel="linear")[None],
    )


def test_measured_prior_pulls_noisy_data_towards_the_network(sample):
    """With a strong prior weight the measured-angle prior replaces noisy measurements by
    the network's projections (here the truth's); with a weak one it changes little."""
    from tomoinpaint.recon.joint import data_consistency

    _, gt = sample
    clean = forward_project(gt, TILTS, kernel="linear")
    noisy = clean + np.random.default_rng(5).normal(0, 0.3 * clean.std(), clean.shape)
    prior = _truth_prior(gt, TILTS, GRID[~TRAINED])

    def err(pw, measured):
        out = data_consistency(noisy.astype(np.float32), TILTS, prior, prior_weight=pw,
                               weight=1e-3, iterations=100, measured_prior=measured,
                               device="cpu")[0]  # fmt: skip
        return np.linalg.norm(out - gt) / np.linalg.norm(gt)

    assert err(100.0, True) < 0.3 * err(100.0, False)
    assert abs(err(0.03, True) - err(0.03, False)) < 0.1 * err(0.03, False)


def test_measured_prior_merged_rows_solve_the_same_problem(sample):
    """Merging the two estimates of a measured row, (y + w p) / (1 + w) with weight 1 + w,
    gives the same result as passing the prior's rows at θ + 180° with weight w."""
    from tomoinpaint.recon.joint import data_consistency

    sino, gt = sample
    # measured rows that disagree with the data and the missing rows: the weights matter
    prior = dataclasses.replace(
        _truth_prior(gt, TILTS, GRID[~TRAINED]),
        measured_rows=forward_project(np.roll(0.5 * gt, 3, axis=0), TILTS, kernel="linear")[None],
    )
    merged, rows = (
        data_consistency(sino, TILTS, prior, prior_weight=3.0, iterations=300,
                         measured_prior=True, blur_prior=False, device="cpu", measured_form=m)[0]
        for m in ("merged", "rows")
    )  # fmt: skip
    plain = data_consistency(sino, TILTS, prior, prior_weight=3.0, iterations=300,
                             measured_prior=False, blur_prior=False, device="cpu")[0]  # fmt: skip
    assert np.linalg.norm(merged - rows) < 0.02 * np.linalg.norm(merged)
    # ... and the prior at the measured angles did change the result
    assert np.linalg.norm(merged - plain) > 0.05 * np.linalg.norm(merged)


def test_prior_turns_an_off_centre_wedge_to_where_training_put_it(weights, sample):
    """The same data with every angle shifted (the object turned) give the same network input:
    the prior's rows are equal, its angles shifted, its image turned back."""
    from tomoinpaint.recon.joint import network_prior
    from tomoinpaint.recon.joint.regrid import rotate_slices, wedge_alignment

    sino, _ = sample
    m = load_joint_model(weights)
    assert wedge_alignment(m, TILTS) == 0.0
    shifted = TILTS - 12.0  # tilts -72 ... 48: the wedge is centred at 78 deg, not 90
    assert wedge_alignment(m, shifted) == pytest.approx(12.0)
    assert wedge_alignment(m, np.concatenate([np.arange(0, 30, 3.0), np.arange(75, 180, 3.0)]))
    ref = network_prior(sino, TILTS, model=weights, source="tv", device="cpu")
    got = network_prior(sino, shifted, model=weights, source="tv", device="cpu")
    scale = np.abs(ref.rows).max()
    np.testing.assert_allclose(got.rows, ref.rows, atol=1e-5 * scale)
    np.testing.assert_allclose(got.measured_rows, ref.measured_rows, atol=1e-5 * scale)
    np.testing.assert_allclose(got.angles_deg, ref.angles_deg - 12.0)
    turned = rotate_slices(ref.image, -12.0)
    np.testing.assert_allclose(got.image, turned, atol=1e-5 * np.abs(turned).max())
    plain = network_prior(sino, shifted, model=weights, source="tv", align=False, device="cpu")
    assert np.abs(plain.rows - ref.rows).max() > 0.01 * scale


def test_joint_prior_can_leave_an_off_centre_wedge_where_it_is(weights, sample):
    """joint_prior(prior_align=False) skips the turn (what wedge_alignment.py compares):
    the same prior where the wedge is centred already, another one where it is not."""
    from tomoinpaint.recon.joint import joint_prior

    sino, _ = sample
    for angles, same in ((TILTS, True), (TILTS - 12.0, False)):
        turned, _ = joint_prior(sino, angles, model=weights, device="cpu")
        plain, _ = joint_prior(sino, angles, model=weights, prior_align=False, device="cpu")
        gap = np.abs(plain.rows - turned.rows).max() / np.abs(turned.rows).max()
        assert (gap == 0.0) if same else (gap > 0.01)


def test_prior_at_the_input_size(weights):
    """prior_size="input": TV and the network run at the input's width, so nothing is blurred."""
    from tomoinpaint.recon.joint import joint, network_prior

    img = make_sample("shapes", 48, np.random.default_rng(5))
    sino, _ = simulate_sinogram(img, TILTS)  # 48 detector pixels; the networks know 32
    at_input = network_prior(sino, TILTS, model=str(weights), source="tv", size=48, device="cpu")
    assert at_input.model_n == 48 and at_input.rows.shape == (1, at_input.angles_deg.size, 48)
    at_network = network_prior(sino, TILTS, model=str(weights), source="tv", device="cpu")
    assert at_network.model_n == 32

    a = joint(sino, TILTS, model=str(weights), prior_size="input", iterations=20, device="cpu")
    b = joint(sino, TILTS, model=str(weights), prior_size="network", iterations=20, device="cpu")
    assert a.shape == b.shape == (48, 48) and not np.allclose(a, b)
    with pytest.raises(ValueError, match="prior_size"):
        joint(sino, TILTS, model=str(weights), prior_size="native", device="cpu")


def test_auto_prior_size_follows_the_noise(weights):
    """prior_size="auto": the input's width for clean data, the network's for noisy data."""
    import dataclasses

    from tomoinpaint.recon.joint import DEFAULTS, joint, load_joint_model
    from tomoinpaint.recon.joint.prior import prior_image_size
    from tomoinpaint.recon.tv_weights import noise_level
    from tomoinpaint.sim import poisson_dose

    m = load_joint_model(str(weights))
    assert m.tv_sizes == (m.tv_n or m.n,)  # trained at one size: that size
    clean, noisy = DEFAULTS.input_size_noise / 2, DEFAULTS.input_size_noise * 2
    assert prior_image_size(m, 48, "auto", clean) == 48
    assert prior_image_size(m, 48, "auto", noisy) is None
    assert prior_image_size(m, 48, "input") == 48 and prior_image_size(m, 48, "network") is None
    several = dataclasses.replace(m, tv_sizes=(32, 40))  # never above the sizes it saw
    assert prior_image_size(several, 48, "auto", clean) == 40
    with pytest.raises(ValueError, match="noise"):
        prior_image_size(m, 48, "auto")

    img = make_sample("shapes", 48, np.random.default_rng(5))
    sino, _ = simulate_sinogram(img, TILTS)
    low = poisson_dose(sino, 300.0, np.random.default_rng(1))
    assert noise_level(sino, TILTS, device="cpu") < DEFAULTS.input_size_noise
    assert noise_level(low, TILTS, device="cpu") > DEFAULTS.input_size_noise
    kw = dict(model=m, iterations=20, device="cpu")
    np.testing.assert_array_equal(
        joint(sino, TILTS, prior_size="auto", **kw), joint(sino, TILTS, prior_size="input", **kw)
    )
    np.testing.assert_array_equal(
        joint(low, TILTS, prior_size="auto", **kw), joint(low, TILTS, prior_size="network", **kw)
    )


def test_the_step_runs_longer_on_wider_inputs(weights, sample, monkeypatch):
    """The data-consistency step's count grows log-linearly with the input's width from
    DEFAULTS.step_width to twice that, up to DEFAULTS.step_scale_max times; joint's default
    uses it."""
    from tomoinpaint.recon.joint import DEFAULTS, JointParams, consistency, joint, step_iterations

    it, width = DEFAULTS.iterations, DEFAULTS.step_width
    assert step_iterations(width) == it
    assert step_iterations(width // 2) == it  # never fewer
    most = round(DEFAULTS.step_scale_max * it)
    halfway = round((1.0 + DEFAULTS.step_scale_max) / 2 * it)  # half a doubling
    assert step_iterations(round(2**0.5 * width)) == pytest.approx(halfway, abs=1)
    assert step_iterations(2 * width) == most
    assert step_iterations(10 * width) == most
    sino = sample[0]
    # the tiny test network's inputs are narrower than step_width: make them count as wide
    monkeypatch.setattr(consistency, "DEFAULTS", JointParams(step_width=sino.shape[-1] // 2))
    assert step_iterations(sino.shape[-1]) == most
    kw = {"model": str(weights), "prior_size": "network", "device": "cpu"}
    auto = joint(sino, TILTS, **kw)
    np.testing.assert_array_equal(auto, joint(sino, TILTS, iterations=most, **kw))
    assert not np.array_equal(auto, joint(sino, TILTS, iterations=it, **kw))
    with pytest.raises(ValueError, match="iterations"):
        joint(sino, TILTS, iterations=0, **kw)


def test_clean_data_get_the_full_step_at_any_width(weights, sample):
    """Below DEFAULTS.step_clean_noise the step runs step_clean_scale x iterations even at
    narrow widths; noisier data keep the width rule; joint passes the data's noise to it."""
    from tomoinpaint.recon.joint import DEFAULTS, joint, joint_prior, step_iterations

    it, width = DEFAULTS.iterations, DEFAULTS.step_width
    clean, noisy = 0.5 * DEFAULTS.step_clean_noise, 1.5 * DEFAULTS.step_clean_noise
    full = round(DEFAULTS.step_clean_scale * it)
    assert full > it
    assert step_iterations(width, clean) == full
    assert step_iterations(width // 2, clean) == full
    assert step_iterations(width, noisy) == it
    assert step_iterations(width, None) == it
    assert step_iterations(4 * width, clean) == max(full, round(DEFAULTS.step_scale_max * it))
    sino = sample[0]
    kw = {"model": str(weights), "prior_size": "network", "device": "cpu"}
    _, (_, noise) = joint_prior(sino, TILTS, **kw)
    assert step_iterations(sino.shape[-1], float(np.median(noise))) == full  # noise-free
    auto = joint(sino, TILTS, **kw)
    np.testing.assert_array_equal(auto, joint(sino, TILTS, iterations=full, **kw))
    assert not np.array_equal(auto, joint(sino, TILTS, iterations=it, **kw))


def test_the_step_takes_longer_dual_steps_after_a_prior_on_a_coarser_grid(weights, sample):
    """step_ratio_for: DEFAULTS.step_ratio_coarse where the prior ran on a coarser grid than
    the input, DEFAULTS.step_ratio at the input's size; joint's default uses it."""
    from tomoinpaint.recon.joint import (
        DEFAULTS,
        joint,
        joint_from_prior,
        joint_prior,
        step_ratio_for,
    )

    assert step_ratio_for(256, 128) == DEFAULTS.step_ratio_coarse
    assert step_ratio_for(128, 128) == step_ratio_for(64, 128) == DEFAULTS.step_ratio
    assert DEFAULTS.step_ratio_coarse != DEFAULTS.step_ratio
    sino = sample[0]
    kw = {"model": str(weights), "device": "cpu", "iterations": 30}
    for size in ("network", "input"):
        prior, noise = joint_prior(sino, TILTS, prior_size=size, model=str(weights), device="cpu")
        coarse = prior.model_n < sino.shape[-1]
        assert coarse == (size == "network")  # the tiny network's grid is narrower
        expected = DEFAULTS.step_ratio_coarse if coarse else DEFAULTS.step_ratio
        made = joint(sino, TILTS, prior_size=size, **kw)
        step = {k: v for k, v in kw.items() if k != "model"}
        again = joint_from_prior(sino, TILTS, prior, noise, step_ratio=expected, **step)[0]
        np.testing.assert_array_equal(made, again)


def test_the_steps_ratio_grows_with_each_slices_tv_weight_as_tvs_own(weights, sample):
    """step_ratio_for given TV weights: at least TV's own ratio for each
    (step_ratio_for_weight); joint's default step follows it slice by slice, so a noisy
    slice takes longer dual steps than a clean one in the same stack, each as alone."""
    from tomoinpaint.recon.joint import DEFAULTS, joint_from_prior, joint_prior, step_ratio_for
    from tomoinpaint.recon.tv import step_ratio_for_weight
    from tomoinpaint.recon.tv_weights import TV_WEIGHT_FLOOR, tv_weight_for_noise
    from tomoinpaint.sim import poisson_dose

    base = DEFAULTS.step_ratio_coarse
    assert step_ratio_for(256, 128, tv_weight=TV_WEIGHT_FLOOR) == base  # clean: the floor
    heavy = 100 * TV_WEIGHT_FLOOR
    assert step_ratio_for(512, 128, tv_weight=heavy) == step_ratio_for_weight(heavy, 512) > base
    np.testing.assert_array_equal(
        step_ratio_for(512, 128, tv_weight=np.array([TV_WEIGHT_FLOOR, heavy])),
        [base, step_ratio_for_weight(heavy, 512)],
    )
    clean = sample[0].astype(np.float32)
    noisy = poisson_dose(clean, 20.0, np.random.default_rng(5)).astype(np.float32)
    stack = np.stack([clean, noisy])
    kw = {"device": "cpu", "iterations": 30}
    # the prior at the input's size: base ratio 10, which a 64 px noisy slice exceeds
    prior, noise = joint_prior(stack, TILTS, model=str(weights), prior_size="input", device="cpu")
    n, prior_n = clean.shape[-1], prior.model_n
    assert prior_n == n
    ratios = [float(step_ratio_for(n, prior_n, tv_weight=tv_weight_for_noise(v))) for v in noise[1]]
    assert ratios[0] == step_ratio_for(n, prior_n) < ratios[1]  # only the noisy slice grows
    both = joint_from_prior(stack, TILTS, prior, noise, **kw)
    for k in range(2):
        alone = joint_from_prior(stack, TILTS, prior, noise, step_ratio=ratios[k], **kw)[k]
        np.testing.assert_allclose(both[k], alone, rtol=0, atol=1e-6 * float(np.abs(alone).max()))
    at_base = joint_from_prior(stack, TILTS, prior, noise, step_ratio=ratios[0], **kw)[1]
    assert not np.allclose(both[1], at_base)


def test_joint_from_a_prior_made_already_is_joint(weights, sample):
    """joint = joint_prior then joint_from_prior, bit for bit, whatever the step's settings."""
    from tomoinpaint.recon.joint import joint, joint_from_prior, joint_prior

    sino = sample[0]
    stack = np.stack([sino, 0.5 * sino]).astype(np.float32)
    made = joint_prior(stack, TILTS, model=str(weights), device="cpu")
    for options in ({}, {"prior_weight": 10.0, "iterations": 30}):
        np.testing.assert_array_equal(
            joint(stack, TILTS, model=str(weights), device="cpu", **options),
            joint_from_prior(stack, TILTS, *made, device="cpu", **options),
        )
    with pytest.raises(ValueError, match="prior_weight"):
        joint_from_prior(stack, TILTS, *made, prior_weight=-1.0)


def test_auto_candidates_share_joints_prior(weights, sample):
    """auto's joint candidates on the same input make one prior and give joint's images;
    another input, or another prior option, makes a new one; bad options are refused."""
    from tomoinpaint.recon.joint import joint
    from tomoinpaint.score.auto import SharedPriorJoint

    sino = sample[0].astype(np.float32)
    shared = SharedPriorJoint(device="cpu")
    for w in (1.0, 0.1, 10.0):
        got = shared(sino, TILTS, model=str(weights), prior_weight=w, iterations=20)
        want = joint(sino, TILTS, model=str(weights), prior_weight=w, iterations=20, device="cpu")
        np.testing.assert_array_equal(got, want)
    assert shared.priors_made == 1
    shared(0.5 * sino, TILTS, model=str(weights), iterations=20)
    assert shared.priors_made == 2
    shared(0.5 * sino, TILTS, model=str(weights), iterations=20, prior_size="input")
    assert shared.priors_made == 3
    with pytest.raises(ValueError, match="no option"):
        shared(sino, TILTS, model=str(weights), prior_wieght=1.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_joint_params_refuse_a_step_ratio_that_is_not_a_positive_number(bad):
    from tomoinpaint.recon.joint import JointParams

    with pytest.raises(ValueError, match="step_ratio"):
        JointParams(step_ratio=bad)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("edge_error_match", 0.0),
        ("edge_error_match", -0.2),
        ("weight_floor", 0.0),
        ("weight_floor", 1.0),
        ("edge_degrees", 0.0),
        ("prior_row_spacing", 0.0),
        ("prior_row_spacing", -3.0),
        ("coarse_weight", 0.0),
        ("coarse_weight", 1.5),
        ("coarse_weight_end", 2.0),
    ],
)
def test_joint_params_refuse_a_bad_edge_rule(field, bad):
    from tomoinpaint.recon.joint import JointParams

    with pytest.raises(ValueError, match=field):
        JointParams(**{field: bad})
    JointParams(edge_error_match=None)  # the rule off


def test_the_step_fits_every_kth_prior_row_weighed_for_the_rows_it_stands_for(weights, sample):
    """prior_row_subset keeps rows DEFAULTS.step_width / resolution * spacing degrees apart;
    data_consistency fits those rows, each weighed for the rows it stands for."""
    from tomoinpaint.recon.joint import data_consistency, joint_prior
    from tomoinpaint.recon.joint.consistency import prior_row_subset

    grid = np.arange(-90.0, 90.0, 1.5)
    missing = grid[np.abs(grid) > 67.5]  # a 45° wedge on a 1.5° grid: 29 rows
    assert np.array_equal(prior_row_subset(missing, 128, 3.0), np.arange(0, missing.size, 2))
    assert np.array_equal(prior_row_subset(missing, 64, 3.0), np.arange(0, missing.size, 4))
    for resolution, spacing in ((256, 3.0), (512, 3.0), (128, None), (128, 1.0)):
        assert np.array_equal(
            prior_row_subset(missing, resolution, spacing), np.arange(missing.size)
        )
    sino = sample[0]
    prior, noise = joint_prior(sino, TILTS, model=str(weights), prior_size="network", device="cpu")
    keep = prior_row_subset(prior.angles_deg, prior.model_n, 3.0)
    assert 1 < keep.size < prior.angles_deg.size  # the tiny grid: 3° rows of 32 px
    thinned = dataclasses.replace(
        prior, angles_deg=prior.angles_deg[keep], rows=prior.rows[:, keep]
    )
    share = prior.angles_deg.size / keep.size
    kw = {"iterations": 20, "measured_prior": False, "noise_estimates": noise, "device": "cpu"}
    got = data_consistency(sino, TILTS, prior, prior_weight=2.0, prior_row_spacing=3.0, **kw)
    want = data_consistency(
        sino, TILTS, thinned, prior_weight=2.0 * share, prior_row_spacing=None, **kw
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    every = data_consistency(sino, TILTS, prior, prior_weight=2.0, prior_row_spacing=None, **kw)
    assert not np.allclose(got, every, rtol=0, atol=1e-3 * np.abs(every).max())
