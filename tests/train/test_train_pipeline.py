"""The weights recipe end to end on the tiny config: stop, resume, skip, cards, install."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from tomoinpaint.nn import load_model
from tomoinpaint.recon.joint import load_joint_model
from tomoinpaint.train import (
    STAGE2_KINDS,
    load_config,
    stage2_cache_complete,
    stage2_counts,
    to_dict,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tomoinpaint" / "train" / "recipes" / "tiny.yaml"


def _module():
    spec = importlib.util.spec_from_file_location(
        "train_weights", ROOT / "pipelines" / "train_weights.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_tiny_recipe_end_to_end(tmp_path, tiny_run, restore_logging):
    tw = _module()
    out = tiny_run.out  # the session's tiny run (tests/conftest.py), read-only until below
    args = ["--config", str(TINY), "--out", str(out), "--no-progress"]

    # a zero time budget stopped its fresh run cleanly after the first step (the library)
    assert tiny_run.stopped == tw.EXIT_STOPPED
    assert "library/stage1.h5" in tiny_run.files["stopped"]
    assert "weights" not in tiny_run.files["stopped"]

    # started again (`tomoinpaint train inpaint`, then `train joint`: the same
    # recipe.execute as this script): resumes and finishes
    assert tiny_run.inpaint.exit_code == 0 and tiny_run.joint.exit_code == 0
    resolved = json.loads((out / "resolved_config.json").read_text())
    assert resolved["pipeline"] == "train_weights"
    cfg = tw.resolve_config(load_config(TINY), out.resolve(), None)
    assert resolved["config"] == to_dict(cfg)
    assert len(cfg.stage2_data.checkpoints) == 2  # the two stage-1 snapshots

    # the stage-2 cache has the configured proportions, from both stage-1 snapshots
    cache = out / "stage2_cache.h5"
    assert stage2_cache_complete(cache)
    with h5py.File(cache, "r") as f:
        kinds, ckpt = f["kind"][()], f["checkpoint"][()]
    want = stage2_counts(16, cfg.stage2_data.proportions)  # 3, 3, 3, 7 of 16 (Table 3)
    assert np.bincount(kinds, minlength=len(STAGE2_KINDS)).tolist() == [
        want[k] for k in STAGE2_KINDS
    ]
    assert set(ckpt[kinds == STAGE2_KINDS.index("wbp_inpainted")]) == {0, 1}

    # the second de-artifact network's cache: TV inputs only, from its own library
    with h5py.File(out / "stage2_tv_cache.h5", "r") as f:
        assert set(f["kind"][()]) == {STAGE2_KINDS.index("tv_wedge")}
        assert f["input"].shape[0] == 8
    # ... and its second size (extra_sizes), from a library of its own
    with h5py.File(out / "stage2_tv_cache_n64.h5", "r") as f:
        assert set(f["kind"][()]) == {STAGE2_KINDS.index("tv_wedge")}
        assert f["input"].shape == (4, 64, 64)
    assert (out / "library" / "stage2_tv_n64.h5").is_file()

    # weights with model cards, loadable without pickle
    wdir = out / "weights"
    nets = (("inpainter", "inpainter"), ("deartifact", "unet"), ("deartifact_tv", "unet"))
    for name, arch in nets:
        model, card = load_model(wdir / f"{name}.safetensors")
        assert card["architecture"] == arch
        meta = card["metadata"]
        assert meta["steps"] == 6 and meta["epochs_completed"] == 2
        assert len(meta["grid"]["angles_deg"]) == 60 and meta["grid"]["angles_deg"][0] == 0.0
        assert meta["grid"]["n"] == (48 if name == "deartifact_tv" else 32)  # its own size
        assert sum(meta["grid"]["measured"]) == 45
        assert meta["data_recipe"]["stage1_library"]["n_samples"] == 24
        # each de-artifact network's card records its own training set
        s2 = meta["data_recipe"]["stage2"]
        assert (s2["source"]["n_samples"], s2.get("tv_iterations")) == (
            (8, 50) if name == "deartifact_tv" else (16, None)
        )
        assert "psnr" in meta["validation"]
        joint = meta["joint_validation"]
        assert joint["n_samples"] == 4
        assert {"joint", "wbp_wedge", "sart_wedge", "inpaint_wbp"} <= set(joint)
        assert meta["recipe_config"] == to_dict(cfg)
        if name == "deartifact_tv":  # trained on whole 48- and 64-px slices
            assert (meta["trained_sizes"], meta["crop"]) == ([48, 64], 0)
        else:
            assert "trained_sizes" not in meta
    assert json.loads((wdir / "recipe.json").read_text())["config"] == to_dict(cfg)
    model = load_joint_model(wdir)
    assert (model.n, model.tv_n, model.tv_sizes) == (32, 48, (48, 64))
    with h5py.File(out / "stage2_tv_cache.h5", "r") as f:
        assert f["input"].shape == (8, 48, 48)

    # the rest reruns the recipe in the session's run directory and deletes parts of
    # it: there, not in a copy, since the cards record the directory's absolute paths
    # (weights rewritten elsewhere would differ); the directory is put back afterwards
    saved = tmp_path / "saved_run"
    shutil.copytree(out, saved)
    try:
        # a third run finds everything done and changes nothing
        before = {p.name: _sha(p) for p in wdir.iterdir()}
        assert tw.main(args) == 0
        assert {p.name: _sha(p) for p in wdir.iterdir()} == before

        # finished networks need no training data: with the libraries, caches and
        # weights gone, a run rebuilds only what the joint validation reads (the
        # stage-2 library) and writes the same weights
        for p in [*(out / "library").iterdir(), *out.glob("*_cache*.h5"), *wdir.iterdir()]:
            p.unlink()
        assert tw.main(args) == 0
        assert sorted(p.name for p in (out / "library").iterdir()) == ["stage2.h5"]
        assert not list(out.glob("*_cache*.h5"))
        assert {p.name: _sha(p) for p in wdir.iterdir() if p.suffix == ".safetensors"} == {
            k: v for k, v in before.items() if k.endswith(".safetensors")
        }

        # install copies weights + cards
        dest = tmp_path / "pkg_weights"
        tw.install(out, dest)
        assert {p.name for p in dest.iterdir()} == set(before)
        load_model(dest / "deartifact.safetensors")
        # installing weights without a TV network removes the old one: never a mixed model
        plain = tmp_path / "plain"
        (plain / "weights").mkdir(parents=True)
        for p in wdir.iterdir():
            if not p.name.startswith("deartifact_tv"):
                (plain / "weights" / p.name).write_bytes(p.read_bytes())
        tw.install(plain, dest)
        assert not any(p.name.startswith("deartifact_tv") for p in dest.iterdir())

        # the same output directory with another config is refused
        other = tmp_path / "other.yaml"
        other.write_text(TINY.read_text().replace("seed: 1", "seed: 2"))
        assert tw.main(["--config", str(other), "--out", str(out), "--no-progress"]) == 1
        # an unknown key is one clear error
        bad = tmp_path / "bad.yaml"
        bad.write_text(TINY.read_text() + "epochs: 3\n")
        assert tw.main(["--config", str(bad), "--out", str(tmp_path / "b")]) == 1
    finally:
        shutil.rmtree(out)
        shutil.move(saved, out)
