"""The shared white-noise estimate (tomoinpaint.stats)."""

from __future__ import annotations

import numpy as np

from tomoinpaint.stats import white_noise_std


def test_white_noise_std_finds_the_noise_under_smooth_structure():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.3, (200, 300))
    ramp = np.linspace(0.0, 50.0, 300)[np.newaxis, :] + np.linspace(0, 9, 200)[:, np.newaxis] ** 2
    for axis in (0, 1, -1):
        assert abs(white_noise_std(noise, axis) - 0.3) < 0.01
        assert abs(white_noise_std(ramp + noise, axis) - 0.3) < 0.01  # structure hardly moves it
    assert white_noise_std(ramp, 1) < 1e-9
    assert white_noise_std(np.ones((5, 2)), 1) is None  # no second difference along 2 samples
