"""``tomoinpaint train``: the recipe from the command line, stage by stage, then used."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import tomoinpaint.cli as cli
import tomoinpaint.io as tio
from tomoinpaint.nn import read_card


def run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def test_train_stage_by_stage_then_reconstruct(tmp_path, tiny_run):
    # stage 2 alone cannot start in a fresh run directory: it mixes in data from
    # stage-1 snapshots
    fresh = ["--config", "tiny", "--out", tmp_path / "fresh", "--no-progress"]
    r = run("train", "deartifact", *fresh)
    assert r.exit_code == 1 and r.stderr.strip().startswith("Error:")
    assert "snapshot" in r.stderr and "Traceback" not in r.output

    # the session's tiny run (tests/conftest.py) ran `train inpaint`, then `train joint`
    out = tiny_run.out
    r = tiny_run.inpaint
    assert r.exit_code == 0, r.output
    assert "stage1/inpainter.safetensors" in tiny_run.files["inpaint"]
    assert "stage2" not in tiny_run.files["inpaint"]

    r = tiny_run.joint  # stage 1 is reused, stage 2 trained, weights written
    assert r.exit_code == 0, r.output
    weights = out / "weights"
    card = read_card(weights / "deartifact.safetensors")
    assert card["metadata"]["joint_validation"]["n_samples"] > 0
    assert "epoch" in (out / "train.log").read_text()

    # the trained weights reconstruct a simulated tilt series at another size and step
    ts = tmp_path / "ts.mrc"
    assert run("simulate", ts, "--n", 48, "--ny", 2, "--step", 2.5, "--wedge", 45).exit_code == 0
    rec = tmp_path / "rec.mrc"
    r = run(
        "reconstruct",
        ts,
        "-o",
        rec,
        "--method",
        "joint",
        "--model",
        weights,
        "--iterations",
        20,
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    vol, _ = tio.read_volume(rec)
    assert vol.shape == (2, 48, 48) and np.isfinite(vol).all()
    meta = json.loads((tmp_path / "rec.mrc.json").read_text())
    assert meta["method"] == "joint" and meta["options"]["model"] == str(weights.resolve())


def test_finished_stage2_needs_no_stage1_snapshots(tmp_path, tiny_run):
    # a run whose stage-2 networks were copied in from another run (or whose
    # snapshots were cleaned up) has nothing left to build from the snapshots:
    # resuming it must not ask for them
    out = tmp_path / "copied"
    for stage, name in [
        ("stage1", "inpainter"),
        ("stage2", "deartifact"),
        ("stage2_tv", "deartifact_tv"),
    ]:
        (out / stage).mkdir(parents=True)
        for suffix in (".safetensors", ".json"):
            src = tiny_run.out / stage / f"{name}{suffix}"
            (out / stage / src.name).write_bytes(src.read_bytes())
    assert not (out / "stage1" / "snapshots").exists()
    r = run("train", "deartifact", "--config", "tiny", "--out", out, "--no-progress")
    assert r.exit_code == 0, r.output
    assert "snapshot" not in r.output


@pytest.mark.parametrize(
    "args, words",
    [
        (["--config", "no-such-recipe"], ["no-such-recipe", "tiny"]),
        (["inpaint", "--config", "tiny", "--install"], ["install", "joint"]),
    ],
)
def test_train_refusals(tmp_path, args, words):
    r = run("train", *args, "--out", tmp_path / "run")
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert line.startswith("Error:") and len(line.splitlines()) == 1
    for w in words:
        assert w in line
