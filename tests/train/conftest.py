"""Shared fixtures of the training tests: a tiny 32-px library, one torch thread."""

from __future__ import annotations

import pytest
import torch

from tomoinpaint.sim import build_library
from tomoinpaint.train import DataConfig, TrainConfig

#: The tiny grid of these tests: 60 angles (-90 ... 87 at 3 degrees), 45-degree wedge, 32 px.
ANGLES = (-90.0, 87.0, 3.0)
WEDGE = (-67.5, 67.5)
N = 32


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_data(path, **kw) -> DataConfig:
    """DataConfig of a tiny library file."""
    return DataConfig(library=(str(path),), n=N, angles=ANGLES, wedge=WEDGE, **kw)


def tiny_train(stage: str = "inpaint", **kw) -> TrainConfig:
    """A tiny, fast TrainConfig."""
    base = dict(
        stage=stage,
        generator="tiny",
        discriminator="tiny",
        epochs=2,
        batch_size=2,
        steps_per_epoch=3,
        val_size=2,
        device="cpu",
        num_threads=1,
        progress=False,
        checkpoint_every_minutes=0.0,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    """A 10-sample library: all families, the three doses, 32 px, 60 angles."""
    path = tmp_path_factory.mktemp("library") / "lib.h5"
    from tomoinpaint.geometry import tilt_range

    build_library(
        path,
        n_samples=10,
        n=N,
        full_angles=tilt_range(*ANGLES),
        tilt_min=WEDGE[0],
        tilt_max=WEDGE[1],
        doses=("noise-free", "moderate", "low"),
        seed=3,
        scheduler="synchronous",
        progress=False,
    )
    return path
