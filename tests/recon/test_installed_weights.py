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
