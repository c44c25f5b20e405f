"""Shared fixtures for the tomoinpaint.nn tests (tiny networks, CPU, one thread)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_seeded():
    """Tiny networks run fastest on one thread; seed every test."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(n)


def _smooth_sinograms(batch: int, n_angles: int, n_det: int, seed: int = 0) -> torch.Tensor:
    """Sinogram-like smooth targets, shape (batch, 1, n_angles, n_det).

    Sums of a few sinusoidal traces ``exp(-(t - r cos(theta - phi))^2 / w)``, like
    the sinogram of a few blobs.
    """
    g = torch.Generator().manual_seed(seed)
    theta = torch.linspace(0, torch.pi, n_angles + 1)[:-1, None]
    t = torch.linspace(-1, 1, n_det)[None, :]
    out = torch.zeros(batch, 1, n_angles, n_det)
    for b in range(batch):
        for _ in range(3):
            r, phi, w, a = torch.rand(4, generator=g)
            trace = torch.exp(
                -((t - 0.6 * r * torch.cos(theta - 3 * phi)) ** 2) / (0.02 + 0.05 * w)
            )
            out[b, 0] += (0.5 + a) * trace
    return out


@pytest.fixture
def smooth_sinograms():
    """Factory ``(batch, n_angles, n_det, seed=0) -> (batch, 1, n_angles, n_det)`` tensor."""
    return _smooth_sinograms
