"""Ground-truth-free scores (issue 14): hold-out residuals, the noise floor, FRC."""

from __future__ import annotations

import numpy as np
import pytest

from tomoinpaint.geometry import tilt_range
from tomoinpaint.project import forward_project
from tomoinpaint.score import (
    even_odd_split,
    fourier_ring_correlation,
    frc_resolution,
    interleaved_folds,
    score_method,
    wedge_edge_split,
)
from tomoinpaint.sim import make_sample

N = 48
ANGLES = tilt_range(-60, 60, 2.0)


@pytest.fixture(scope="module")
def objects():
    rng = np.random.default_rng(5)
    # make_sample(n) draws at 2n: N x N objects
    gt = np.stack([make_sample("shapes", N // 2, rng) for _ in range(2)]).astype(np.float32)
    clean = forward_project(gt, ANGLES, kernel="linear")
    sigma = 0.02 * float(clean.max())
    noisy = clean + rng.normal(0.0, sigma, clean.shape).astype(np.float32)
    return gt, noisy, sigma


def test_the_true_object_scores_at_the_noise_floor(objects):
    """Predicting held-out projections exactly leaves only their noise: ratio ~ 1."""
    gt, noisy, sigma = objects

    def truth(sino, angles):
        return gt

    score = score_method(noisy, ANGLES, truth, frc=False)
    assert score.noise_floor == pytest.approx(sigma**2, rel=0.25)
    assert 0.75 < score.wedge_edge_ratio < 1.3
    assert 0.75 < score.interleaved_ratio < 1.3


def test_a_method_that_ignores_the_data_scores_worse_than_wbp(objects):
    _, noisy, _ = objects

    def nothing(sino, angles):
        return np.zeros((sino.shape[0], N, N), np.float32)

    blind = score_method(noisy, ANGLES, nothing, frc=False)
    wbp = score_method(noisy, ANGLES, "wbp", frc=False)
    sirt = score_method(noisy, ANGLES, "sirt", {"iterations": 100}, frc=False)
    assert wbp.wedge_edge < blind.wedge_edge and wbp.interleaved < blind.interleaved
    assert sirt.wedge_edge < blind.wedge_edge and sirt.interleaved < blind.interleaved
    assert wbp.method == "wbp" and blind.method == "nothing"


def test_frc_of_identical_halves_is_one_and_of_independent_noise_is_low():
    rng = np.random.default_rng(0)
    img = rng.random((2, 64, 64))
    freq, frc = fourier_ring_correlation(img, img)
    np.testing.assert_allclose(frc, 1.0, atol=1e-12)
    assert freq.shape == (32,) and 0 < freq[0] < freq[-1] < 1
    assert frc_resolution(freq, frc) == 1.0
    _, noise = fourier_ring_correlation(rng.random((64, 64)), rng.random((64, 64)))
    assert np.all(np.abs(noise[4:]) < 0.5)  # about 3 standard errors from ring 4 on
    assert frc_resolution(freq, noise) < 0.2


def test_frc_resolution_interpolates_the_crossing():
    freq = np.array([0.25, 0.5, 0.75, 1.0])
    assert frc_resolution(freq, np.array([1.0, 0.5, 0.1, 0.0])) == pytest.approx(
        0.5 + 0.25 * (0.5 - 1 / 7) / 0.4
    )
    assert frc_resolution(freq, np.array([0.1, 0.5, 0.5, 0.5])) == 0.0


def test_splits():
    angles = np.concatenate([ANGLES[::2], ANGLES[1::2]])  # unsorted on purpose
    edge = wedge_edge_split(angles)  # 2 degree steps: max(4, 6) -> 3 tilts per side
    assert edge.sum() == 6
    held = np.sort(angles[edge])
    np.testing.assert_allclose(held, [-60, -58, -56, 56, 58, 60])
    folds = interleaved_folds(angles, 4)
    assert len(folds) == 4 and not np.any(np.sum(folds, axis=0) > 1)
    assert not any(f[np.argmin(angles)] or f[np.argmax(angles)] for f in folds)
    even, odd = even_odd_split(angles)
    assert even.sum() == 31 and odd.sum() == 30 and not np.any(even & odd)


def test_the_wedge_edge_is_found_where_the_gap_is():
    """A 0..179 degree scan with 60..119 dropped: the edge is 58/56/54 and 120/122/124 degrees."""
    full = np.arange(0.0, 180.0, 2.0)
    angles = full[(full < 60) | (full >= 120)]
    held = np.sort(angles[wedge_edge_split(angles)])
    np.testing.assert_allclose(held, [54, 56, 58, 120, 122, 124])
    # the folds never hold out the tilts at the gap; 0 and 178 (neighbours) may be held
    folds = interleaved_folds(angles, 4)
    assert not any(f[angles == 58.0][0] or f[angles == 120.0][0] for f in folds)
    # even/odd alternate along the arc across 178 -> 0
    even, _ = even_odd_split(angles)
    assert even[angles == 178.0][0] != even[angles == 0.0][0]


@pytest.mark.parametrize(
    ("angles", "hold", "words"),
    [
        (tilt_range(-60, 60, 12.0), None, "at least 12 tilts, got 11"),
        (tilt_range(-60, 60, 2.0), 20.0, "at most a quarter"),
        (tilt_range(-60, 60, 2.0), float("nan"), "positive number of degrees"),
    ],
)
def test_too_few_tilts_to_hold_out_is_refused(angles, hold, words):
    with pytest.raises(ValueError, match=words):
        wedge_edge_split(angles, hold)


# --------------------------------------------------------------------------- CLI
def _cli(*args):
    from click.testing import CliRunner

    import tomoinpaint.cli as cli

    return CliRunner().invoke(cli.main, [str(a) for a in args])


@pytest.fixture(scope="module")
def small_series(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    r = _cli("simulate", d / "s.mrc", "--n", 32, "--ny", 3, "--step", 3, "--dose", "moderate")
    assert r.exit_code == 0, r.output
    return d / "s.mrc"


def test_benchmark_writes_a_report_with_reference_metrics(small_series, tmp_path):
    import json

    out = tmp_path / "report"
    gt = small_series.with_name("s_gt.mrc")
    r = _cli("benchmark", small_series, "-o", out, "--methods", "wbp,sirt",
             "--reference", gt, "--sample", 2)  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "report.json").read_text())
    assert set(doc["scores"]) == {"wbp", "sirt"} and doc["rows"] == [0, 2]
    assert doc["best_without_ground_truth"] in ("wbp", "sirt")
    for m in ("wbp", "sirt"):
        s = doc["scores"][m]
        assert s["wedge_edge"] > 0 and s["interleaved"] > 0 and 0 <= s["frc_resolution"] <= 1
        assert doc["reference"][m]["psnr"] > 10
    md = (out / "report.md").read_text()
    assert "| method | PSNR (dB) |" in md and "![FRC](frc.png)" in md
    for png in ("slices.png", "frc.png", "wedge_edge.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = _cli("benchmark", small_series, "-o", out, "--methods", "wbp")
    assert again.exit_code == 1 and "exists" in again.output


def test_benchmark_refuses_too_few_tilts_and_unknown_methods(tmp_path):
    r = _cli("simulate", tmp_path / "few.mrc", "--n", 32, "--ny", 2, "--step", 15)
    assert r.exit_code == 0, r.output
    r = _cli("benchmark", tmp_path / "few.mrc", "-o", tmp_path / "rep", "--methods", "wbp")
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert lines == ["Error: scoring holds tilts out and needs at least 12 tilts, got 9"], lines
    assert not (tmp_path / "rep").exists()
    r = _cli("benchmark", tmp_path / "few.mrc", "-o", tmp_path / "rep", "--methods", "wbp,magic")
    assert r.exit_code == 2 and "magic" in r.output


def test_benchmark_compares_settings_of_one_method_side_by_side(small_series, tmp_path):
    """``--methods sirt,sirt:iterations=3``: each entry is scored as the method at those
    options would be alone (the library's reconstruction), under the name given; a bad
    option or value is refused in one line, before anything is written."""
    import json

    from tomoinpaint.io import read_tilt_series
    from tomoinpaint.methods import parse_method_spec, reconstruct
    from tomoinpaint.metrics import compare
    from tomoinpaint.prep import check_prep
    from tomoinpaint.score.report import read_sinograms, reference_slices, sample_rows

    assert parse_method_spec("tv:step-ratio=10:iterations=300") == (
        "tv",
        {"step_ratio": 10, "iterations": 300},
    )
    assert parse_method_spec(" wbp : filter = hann ") == ("wbp", {"filter": "hann"})
    assert parse_method_spec("sart:nonnegative=false") == ("sart", {"nonnegative": False})
    for bad, words in [
        ("tv:fast", "is not OPTION=VALUE"),
        ("tv:iterations=3:iterations=4", "given twice"),
        ("tv:sweeps=3", "has no option sweeps"),
        ("magic:x=1", "unknown method 'magic'"),
        ("sart:x0=1", "x0 takes an array"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_method_spec(bad)

    out = tmp_path / "report"
    gt = small_series.with_name("s_gt.mrc")
    r = _cli("benchmark", small_series, "-o", out, "--methods", "sirt,sirt:iterations=3",
             "--reference", gt, "--sample", 1)  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "report.json").read_text())
    assert set(doc["scores"]) == {"sirt", "sirt:iterations=3"}
    series = read_tilt_series(small_series)
    ys = sample_rows(series.shape[1], 1, None)
    sino = read_sinograms(series, ys, check_prep(None, series))
    truth = reference_slices(gt, series, ys)
    for name, options in (("sirt", {}), ("sirt:iterations=3", {"iterations": 3})):
        rec = reconstruct(sino, series.angles_deg, "sirt", device="cpu", **options)
        assert doc["reference"][name]["psnr"] == pytest.approx(compare(truth, rec)["psnr"])
    assert doc["reference"]["sirt"]["psnr"] != pytest.approx(
        doc["reference"]["sirt:iterations=3"]["psnr"]
    )
    bad = _cli("benchmark", small_series, "-o", tmp_path / "rep", "--methods", "sirt:sweeps=3")
    assert bad.exit_code == 2 and "has no option sweeps" in bad.output
    assert not (tmp_path / "rep").exists()


def test_method_auto_records_its_choice(small_series, tmp_path):
    import json

    out = tmp_path / "v.mrc"
    r = _cli("reconstruct", small_series, "-o", out, "--method", "auto")
    assert r.exit_code == 0, r.output
    side = json.loads(out.with_name("v.mrc.json").read_text())
    auto = side["metadata"]["auto"] if "metadata" in side else side["auto"]
    tried = [(s["method"], s["options"].get("prior_weight")) for s in auto["scores"]]
    assert tried[0] == ("joint", None) and len(tried) == 4
    rule = auto["rule"]
    lowest = min(range(4), key=lambda i: auto["scores"][i]["wedge_edge"])
    assert rule["lowest"] == lowest
    clear = rule["margin"] > rule["switch_se"] * rule["standard_error"]
    chosen = lowest if clear and rule["gain"] >= rule["min_gain"] else 0
    assert (auto["method"], auto["options"]) == (
        auto["scores"][chosen]["method"],
        auto["scores"][chosen]["options"],
    )
    assert side["method"] == auto["method"]


def test_reconstruct_without_a_method_runs_auto(small_series, tmp_path):
    """With weights installed the default is auto; a joint-only option then names the fix."""
    import json

    from tomoinpaint.recon.joint import weights_available

    if not weights_available():
        pytest.skip("the default is wbp without installed weights")
    out = tmp_path / "v.mrc"
    r = _cli("reconstruct", small_series, "-o", out, "--slices", "0:2")
    assert r.exit_code == 0, r.output
    side = json.loads(out.with_name("v.mrc.json").read_text())
    auto = side["metadata"]["auto"] if "metadata" in side else side["auto"]
    assert side["method"] == auto["method"] in ("joint", "tv") and len(auto["scores"]) == 4
    r = _cli("reconstruct", small_series, "-o", tmp_path / "w.mrc", "--prior-weight", 2)
    assert r.exit_code == 2 and not (tmp_path / "w.mrc").exists()
    assert "does not apply to --method auto, the default" in r.output
    assert "--method joint" in r.output


def test_resumed_auto_run_takes_the_interrupted_runs_choice(small_series, tmp_path, monkeypatch):
    """A stored choice under the right key is reused (not scored again), then removed;
    under another key (other data) it is ignored."""
    import json

    from tomoinpaint import io as tio
    from tomoinpaint.resume import work_dir_for
    from tomoinpaint.score.auto import AutoChoice, auto_candidates
    from tomoinpaint.score.auto_resume import choice_file, choice_key, remember_choice
    from tomoinpaint.score.report import read_sinograms, sample_rows

    monkeypatch.setenv("TOMOINPAINT_WORK_DIR", str(tmp_path / "work"))
    out = tmp_path / "v.mrc"
    series = tio.read_tilt_series(small_series)
    rows = sample_rows(series.shape[1], 2)
    key = choice_key(read_sinograms(series, rows), series.angles_deg, auto_candidates())
    stored = choice_file(work_dir_for(out, tmp_path / "work"))
    # a choice scoring would not make here (SIRT is no candidate): proof it was not re-scored
    remember_choice(stored, key, AutoChoice("sirt", {"iterations": 5}, rows=list(rows)))
    r = _cli("reconstruct", small_series, "-o", out, "--method", "auto")
    assert r.exit_code == 0, r.output
    assert "not scored again" in r.stderr
    side = json.loads(out.with_name("v.mrc.json").read_text())
    assert side["method"] == "sirt" and side["auto"]["reused"] is True
    assert not stored.exists()  # the volume is complete

    remember_choice(stored, "another key", AutoChoice("sirt", {"iterations": 5}))
    r = _cli("reconstruct", small_series, "-o", out, "--method", "auto", "--overwrite")
    assert r.exit_code == 0, r.output
    side = json.loads(out.with_name("v.mrc.json").read_text())
    assert side["method"] in ("joint", "tv") and side["auto"]["reused"] is False
    assert not stored.exists()


def test_pick_candidate_keeps_the_preferred_one_within_the_noise():
    """The t-test rule: a lower mean alone does not switch, a clear margin does."""
    from tomoinpaint.score.auto import pick_candidate

    rng = np.random.default_rng(0)
    base = rng.uniform(1.0, 2.0, (2, 8))
    noisy_tie = base + rng.normal(0.0, 0.5, base.shape)
    noisy_tie -= noisy_tie.mean() - base.mean() + 0.01  # lower mean, far inside the scatter
    clearly_better = base - 0.3 + rng.normal(0.0, 0.05, base.shape)
    assert pick_candidate([base, noisy_tie], min_gain=0.0)[0] == 0
    index, why = pick_candidate([base, noisy_tie, clearly_better], min_gain=0.0)
    assert index == 2 and why["lowest"] == 2 and why["margin"] > why["standard_error"] > 0
    assert pick_candidate([base, clearly_better], preferred=1, min_gain=0.0)[0] == 1
    with pytest.raises(ValueError, match="same slices and tilts"):
        pick_candidate([base, base[:, :4]])


def _paired_blocks(margin_in_se: float, n_slices: int) -> tuple[np.ndarray, np.ndarray]:
    """Residuals (n_slices, 2) of two candidates, one side per column, whose paired
    difference has the given mean in standard errors."""
    rng = np.random.default_rng(1)
    d = rng.normal(0.0, 1.0, 2 * n_slices)
    d = (d - d.mean()) / (d.std(ddof=1) / np.sqrt(d.size))  # mean 0, standard error 1
    d += margin_in_se
    base = np.full((n_slices, 2), 100.0)
    return base, base - d.reshape(2, n_slices).T


def test_pick_candidate_threshold_follows_the_sample_size():
    """2.5 standard errors: not enough from 2 slices (3 degrees of freedom), enough from 8."""
    from scipy.stats import t as student_t

    from tomoinpaint.score.auto import SWITCH_CONFIDENCE, pick_candidate

    for n_slices, switches in ((2, False), (8, True)):
        base, better = _paired_blocks(2.5, n_slices)
        index, why = pick_candidate([base, better], min_gain=0.0)  # the t-test alone
        assert why["margin"] == pytest.approx(2.5 * why["standard_error"])
        assert why["switch_se"] == pytest.approx(student_t.ppf(SWITCH_CONFIDENCE, 2 * n_slices - 1))
        assert index == (1 if switches else 0), (n_slices, why)
    # an explicit threshold overrides the t quantile
    base, better = _paired_blocks(2.5, 2)
    assert pick_candidate([base, better], switch_se=2.0, min_gain=0.0)[0] == 1
    # one slice with a single column: one sample, no test possible, the preferred one stays
    assert pick_candidate([np.ones((1, 1)), np.zeros((1, 1))])[0] == 0


def test_pick_candidate_needs_a_material_gain_too():
    """A clear but small improvement (10 % lower residual) keeps the preferred candidate."""
    from tomoinpaint.score.auto import SWITCH_MIN_GAIN, pick_candidate

    rng = np.random.default_rng(2)
    base = 1.0 + rng.normal(0.0, 0.001, (2, 8))
    for gain, switches in ((0.1, False), (0.3, True)):
        other = base * (1.0 - gain)  # the same shape: many standard errors better
        index, why = pick_candidate([base, other])
        assert why["margin"] > 10 * why["switch_se"] * why["standard_error"]
        assert why["gain"] == pytest.approx(gain, rel=1e-3)
        assert why["min_gain"] == SWITCH_MIN_GAIN
        assert index == (1 if switches else 0), why
    assert pick_candidate([base, base * 0.9], min_gain=0.05)[0] == 1


def test_pick_candidate_counts_a_side_of_the_wedge_as_one_sample():
    """Better on one side, worse on the other, consistently over tilts: no clear win."""
    from tomoinpaint.score.auto import pick_candidate

    base = np.full((2, 8), 1.0)
    lopsided = base.copy()
    lopsided[:, :4] -= 0.3  # one side of the wedge predicted better ...
    lopsided[:, 4:] += 0.1  # ... the other worse: the mean is lower by 0.1
    index, why = pick_candidate([base, lopsided])
    assert why["lowest"] == 1 and index == 0
    # four samples (2 slices x 2 sides): 0.3, 0.3, -0.1, -0.1
    assert why["margin"] == pytest.approx(0.1)
    assert why["standard_error"] == pytest.approx(np.sqrt(0.16 / 3) / 2)


def test_auto_takes_the_preferred_candidate_unscored_when_it_cannot_score():
    """Too few tilts to hold any out, or one candidate: no reconstruction, the reason recorded."""
    from tomoinpaint.score.auto import AUTO_CANDIDATES, choose_method

    few = tilt_range(-60, 60, 12.0)  # 11 tilts
    sino = np.zeros((2, few.size, 16), np.float32)
    choice = choose_method(sino, few, AUTO_CANDIDATES)
    assert (choice.method, choice.options) == AUTO_CANDIDATES[0]
    assert "11 tilts" in choice.rule["skipped"] and choice.scores == []

    # 13 tilts at 10°: enough to count, but the wedge edge (3 steps a side) takes 6 of them
    coarse = tilt_range(-60, 60, 10.0)
    choice = choose_method(np.zeros((2, coarse.size, 16), np.float32), coarse, AUTO_CANDIDATES)
    assert (choice.method, choice.options) == AUTO_CANDIDATES[0] and choice.scores == []
    assert "at most a quarter" in choice.rule["skipped"]

    only_tv = choose_method(np.zeros((2, ANGLES.size, 16), np.float32), ANGLES, [("tv", {})])
    assert only_tv.method == "tv" and "one candidate" in only_tv.rule["skipped"]
