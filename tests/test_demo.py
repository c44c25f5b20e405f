"""The demo runs end to end on the built-in data (slow: a few minutes)."""

from __future__ import annotations

import pytest

from tomoinpaint.demo import run_demo


@pytest.mark.slow
def test_demo(tmp_path):
    paths = run_demo(tmp_path / "demo")
    d = tmp_path / "demo"
    for name in ("tooth_comparison.png", "sim_comparison.png"):
        assert (d / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("tooth_metrics.md", "sim_metrics.md", "results.md"):
        text = (d / name).read_text()
        assert "| method | PSNR (dB) | SSIM | RMSE |" in text
    results = paths["results"].read_text()
    for method in ("wbp", "sart", "tv"):
        assert f"| {method} |" in results
    # the installed weights are there, so the real scan is reconstructed with joint too
    tooth = (d / "tooth_metrics.md").read_text()
    assert "| joint |" in tooth
    # and with the default method, whose pick is named
    assert "| auto |" in tooth and "the default method: picked " in tooth
    assert "tomoinpaint reconstruct" in results and "tomoinpaint simulate" in results
    assert "tomoinpaint benchmark" in results and "benchmark/report.md" in results
    report = paths["benchmark"].read_text()
    assert "## Without ground truth" in report and "## Against the reference volume" in report
