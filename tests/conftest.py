"""Session-wide test settings and shared fixtures."""

import importlib.util
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

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


@dataclass(frozen=True)
class TinyRun:
    """The session's run of the ``tiny`` recipe (:func:`tiny_run`).

    ``out`` is the run directory; ``files`` maps each step (``"stopped"``,
    ``"inpaint"``, ``"joint"``) to the paths relative to ``out``, directories
    included, that existed right after it; ``stopped`` is the first step's exit
    status, ``inpaint`` and ``joint`` the click results of the other two.
    """

    out: Path
    stopped: int
    inpaint: object
    joint: object
    files: dict


@contextmanager
def _root_logging_restored():
    """pipelines/train_weights.py replaces the root logger's handlers (stderr + train.log)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                h.close()
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The ``tiny`` recipe trained once per session, the way a user gets there in steps.

    1. ``pipelines/train_weights.py --time-budget 0`` on a fresh directory: stops
       after the first step (the library);
    2. ``tomoinpaint train inpaint``: resumes it, stage 1 only;
    3. ``tomoinpaint train joint``: stage 1 reused; stage 2, the TV network, the
       joint validation and ``weights/``.

    Tests read the run and leave it as it is; one that reruns the recipe there
    (test_tiny_recipe_end_to_end) puts the directory back when done. The cards
    record ``out``'s absolute paths, so weights rewritten in a copy elsewhere
    would not be byte-identical to these.
    """
    import torch
    from click.testing import CliRunner

    import tomoinpaint.cli as cli

    spec = importlib.util.spec_from_file_location(
        "train_weights", ROOT / "pipelines" / "train_weights.py"
    )
    tw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tw)

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    common = ["--config", "tiny", "--out", str(out), "--no-progress"]

    def listing():
        return frozenset(p.relative_to(out).as_posix() for p in out.rglob("*"))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the training tests run (tests/train/conftest.py)
    try:
        with _root_logging_restored():
            stopped = tw.main([*common, "--time-budget", "0"])
        files = {"stopped": listing()}
        inpaint = CliRunner().invoke(cli.main, ["train", "inpaint", *common])
        files["inpaint"] = listing()
        joint = CliRunner().invoke(cli.main, ["train", "joint", *common])
        files["joint"] = listing()
    finally:
        torch.set_num_threads(threads)
    return TinyRun(out=out, stopped=stopped, inpaint=inpaint, joint=joint, files=files)
