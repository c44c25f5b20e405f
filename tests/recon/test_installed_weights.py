"""The installed weights (``tomoinpaint/weights/``): they load and ``joint`` does its job.

One sample, slow-ish (about 20 s): a check that the shipped model is the
trained one and still wired up right, not a benchmark
(``benchmarks/joint_quality.py`` is that).
"""

import numpy as np
import pytest

from tomoinpaint.geometry import tilt_range
from tomoinpaint.metrics import psnr
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import joint, load_joint_model, weights_available
from tomoinpaint.sim import make_sample, poisson_dose, resolve_dose, simulate_sinogram

pytestmark = pytest.mark.skipif(not weights_available(), reason="no weights installed")


def test_installed_weights_load_with_their_cards():
    m = load_joint_model(device="cpu")
    assert m.deartifact_tv is not None and m.n > 0
    assert m.angles_deg.size > 0 and np.all(np.diff(m.angles_deg) > 0)
    for card in m.cards.values():
        assert card["metadata"]["grid"]["angles_deg"] == m.angles_deg.tolist()


@pytest.mark.slow  # about 30 s on 2 CPU cores
def test_installed_joint_beats_tv_at_low_dose():
    """A 45° wedge, low dose, a shapes slice never used in training (its own seed)."""
    rng = np.random.default_rng([7, 2026, 12])
    angles = tilt_range(-67.5, 67.5, 1.5)
    clean, gt = simulate_sinogram(make_sample("shapes", 128, rng), angles)
    sino = poisson_dose(clean, resolve_dose("low"), rng)
    got = joint(sino, angles, device="cpu")
    assert got.shape == gt.shape
    assert psnr(gt, got) > psnr(gt, tv(sino, angles)) + 0.3


def test_the_priors_tv_takes_the_measured_angles_when_they_are_sparser_than_the_grid():
    from tomoinpaint.recon.joint.prior import tv_on_measured_angles

    grid = load_joint_model(device="cpu").angles_deg  # 1.5° steps
    assert not tv_on_measured_angles(tilt_range(-60.0, 60.0, 1.5), grid)
    assert not tv_on_measured_angles(np.arange(0.0, 181.0, 1.0), grid)  # a 1° CT scan
    assert tv_on_measured_angles(tilt_range(-60.0, 60.0, 2.0), grid)
    # a dose-symmetric scheme's acquisition order, and a 0-180° scan less a block
    order = np.argsort(np.abs(tilt_range(-60.0, 60.0, 3.0)), kind="stable")
    assert tv_on_measured_angles(tilt_range(-60.0, 60.0, 3.0)[order], grid)
    block = np.r_[0.0:60.0:3.0, 105.0:180.0:3.0]
    assert tv_on_measured_angles(block, grid)


@pytest.mark.slow  # about 20 s on 2 CPU cores
def test_installed_joint_keeps_up_with_tv_at_3_degree_steps():
    """±60° at 3° (41 tilts, twice the networks' step), low dose, a held-out natural image.

    With the prior's TV on rows interpolated onto the networks' 1.5° grid,
    joint was 4.6 dB below TV on this slice.
    """
    rng = np.random.default_rng([7, 2026, 3])
    angles = tilt_range(-60.0, 60.0, 3.0)
    clean, gt = simulate_sinogram(make_sample("natural", 128, rng, split="test"), angles)
    sino = poisson_dose(clean, resolve_dose("low"), rng)
    assert psnr(gt, joint(sino, angles, device="cpu")) > psnr(gt, tv(sino, angles)) - 0.2
