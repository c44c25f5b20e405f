"""The example scripts run as a new user would run them."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_simulated_wedge_example(tmp_path):
    out = tmp_path / "wedge.png"
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "simulated_wedge.py"), "--out", str(out), "--n", "64"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 1000
    psnr = {
        line.split()[0]: float(line.split()[2])
        for line in res.stdout.splitlines()
        if "PSNR" in line
    }
    assert psnr["TV"] > psnr["WBP"] and psnr["SART"] > psnr["WBP"]


@pytest.mark.slow
def test_tooth_example(tmp_path):
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "tooth_limited_angle.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    centre = float(res.stdout.split("rotation centre ")[1].split()[0])
    assert 293 < centre < 298


@pytest.mark.slow
def test_deep_model_example(tmp_path):
    # trains from scratch, as a new user would (not the session's tiny_run fixture:
    # the tiny training is about 5 s of this test)
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "deep_model.py"), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "run" / "weights" / "deartifact.json").is_file()
    psnr = {
        line.split()[0]: float(line.split()[2])
        for line in res.stdout.splitlines()
        if "PSNR" in line
    }
    assert set(psnr) == {"TV", "paper", "joint"}
    # the data-consistency step improves on the networks' own output
    assert psnr["joint"] > psnr["paper"]
