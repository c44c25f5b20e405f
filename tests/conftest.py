"""Session-wide test settings and shared fixtures."""

import numpy as np
import pytest

#: The grid of the test weights: 32 px, a half turn at 3° steps centred on a wedge at
#: 90° (tilts -60 ... 60 measured), as pipelines/train_weights.py records it.
TINY_N = 32
TINY_GRID = np.arange(0.0, 180.0, 3.0)
TINY_TRAINED = (TINY_GRID <= 60.0) | (TINY_GRID >= 120.0)


@pytest.fixture(autouse=True)
def _private_work_dir(tmp_path_factory, monkeypatch):
    """Keep resumable-run work directories out of the user's ~/.cache."""
    monkeypatch.setenv("TOMOINPAINT_WORK_DIR", str(tmp_path_factory.mktemp("work")))


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A weights directory with two untrained tiny generators on the test grid.

    Freshly built generators output zeros in their last layer (zero-initialised
    residual), so every parameter is perturbed to give a non-trivial network.
    """
    import torch

    from tomoinpaint.nn import build, save_model

    card = {
        "grid": {
            "n": TINY_N,
            "angles_deg": TINY_GRID.tolist(),
            "measured": TINY_TRAINED.tolist(),
        },
        "data_recipe": {"stage2": {"wbp_filter": "ram-lak"}},
    }
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("weights")
    for arch, name in (("inpainter", "inpainter"), ("unet", "deartifact")):
        net = build(arch, "tiny")
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.02 * torch.randn_like(p))
        save_model(net, d / f"{name}.safetensors", metadata=card)
    return d
