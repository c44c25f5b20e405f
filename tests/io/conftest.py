"""Shared fixtures for the tomoinpaint.io tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def tilt_data():
    """A small tilt series (n_tilts=7, ny=5, nx=6) with distinct values."""
    rng = np.random.default_rng(1)
    return rng.standard_normal((7, 5, 6)).astype(np.float32)


@pytest.fixture
def tilt_angles():
    """Seven irregular tilt angles in degrees (not exactly representable in short decimals)."""
    return np.array([-60.0, -41.3, -20.0 / 3.0, 0.0, 1.0 / 7.0, 33.25, 58.9])


@pytest.fixture
def volume():
    """A small volume (ny=4, nx=6, nx=6)."""
    rng = np.random.default_rng(2)
    return rng.random((4, 6, 6)).astype(np.float32)
