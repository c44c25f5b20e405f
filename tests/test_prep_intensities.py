"""Intensities without flat fields (``--intensities``): -log(I / I0) with each view's I0."""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from click.testing import CliRunner

import tomoinpaint.cli as cli
from tomoinpaint.prep import Prep, beam_levels, intensities_to_line_integrals, preprocess
from tomoinpaint.prep import intensities as tint


def run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def one_error_line(result, *words):
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])


@pytest.fixture(scope="module")
def line_integrals(tmp_path_factory) -> Path:
    """A noise-free simulated series (41 tilts, 4 rows, 80 px): line integrals.

    Simulated at 64 px and given 8 columns of empty space on each side, as
    the open beam beside a specimen (which a 64 px slice fills almost to the edge).
    """
    d = tmp_path_factory.mktemp("li")
    r = run("simulate", d / "li.mrc", "--n", 64, "--ny", 4, "--step", 3)
    assert r.exit_code == 0, r.output
    li = np.pad(mrcfile.read(d / "li.mrc"), ((0, 0), (0, 0), (8, 8)))
    mrcfile.write(d / "li.mrc", li, overwrite=True)
    return d / "li.mrc"


def _write(path: Path, data: np.ndarray, like: Path) -> Path:
    mrcfile.write(path, np.asarray(data, np.float32), overwrite=True)
    path.with_suffix(".tlt").write_text(like.with_suffix(".tlt").read_text())
    return path


def _exposures(n: int) -> np.ndarray:
    """Each view's open-beam level, changing from view to view as a dose scheme's do."""
    return 1000.0 * (1.0 + 0.4 * np.sin(np.arange(n)))


def test_noise_free_intensities_give_back_their_line_integrals():
    rng = np.random.default_rng(0)
    p = np.zeros((9, 40, 96))
    p[:, :, 20:76] = rng.uniform(0.0, 2.0, (9, 40, 56))  # matter in the middle, open beam outside
    i0 = _exposures(9)
    intensities = i0[:, None, None] * np.exp(-p)
    levels = beam_levels(intensities)
    np.testing.assert_allclose(levels, i0, rtol=1e-12)
    np.testing.assert_allclose(intensities_to_line_integrals(intensities, levels), p, atol=2e-6)
    # the whole preprocessing does the same, its levels estimated or given
    for given in ("auto", i0):
        sino, _ = preprocess(
            intensities, None, None, np.linspace(-60, 60, 9), center=None, intensities=given
        )
        np.testing.assert_allclose(sino, p, atol=2e-6)
    # one level for the whole series would have moved each view by log of its ratio to it
    one = intensities_to_line_integrals(intensities, np.full(9, i0.mean()))
    assert np.abs(one - p).max() > 0.3


def test_beam_levels_are_not_pushed_up_by_the_noise():
    rng = np.random.default_rng(1)
    p = np.zeros((12, 64, 128))
    p[:, :, 16:112] = rng.uniform(0.0, 1.0, (12, 64, 96))
    i0 = _exposures(12)
    counts = rng.poisson(i0[:, None, None] * np.exp(-p)).astype(np.float64)  # ~1000 counts
    error = np.abs(beam_levels(counts) / i0 - 1)
    assert error.max() < 0.005  # and both ways: no pull up
    assert (beam_levels(counts) < i0).any()
    # the brightest single pixels sit well above the beam (2.3 sigma ~ 7 % at 1000 counts)
    plain = np.percentile(counts.reshape(12, -1), tint.PERCENTILE, axis=1)
    assert np.abs(plain / i0 - 1).min() > 5 * error.max()


def test_beam_levels_read_a_bounded_number_of_rows_per_view():
    bands = tint._bands(2048)
    assert sum(b - a for a, b in bands) <= tint.SAMPLE_ROWS
    assert bands[0][0] == 0 and bands[-1][1] == 2048  # spread over the whole view
    assert tint._bands(5) == [(0, 5)]


def test_reconstruct_intensities_equals_the_line_integrals_it_came_from(tmp_path, line_integrals):
    li = np.asarray(mrcfile.read(line_integrals), np.float64)
    scale = 1.0 / li.max()  # the most attenuating ray keeps exp(-1) of the beam
    i0 = _exposures(li.shape[0])
    bright = _write(
        tmp_path / "bright.mrc", i0[:, None, None] * np.exp(-scale * li), line_integrals
    )
    common = ("--method", "sart", "--sweeps", 3, "--exclude", "2,40", "--chunk", 2)
    r = run("reconstruct", line_integrals, "-o", tmp_path / "li.mrc", *common)
    assert r.exit_code == 0, r.output
    r = run(
        "reconstruct",
        bright,
        "-o",
        tmp_path / "bright_rec.mrc",
        *common,
        "--intensities",
        "auto",
        "--workers",
        2,
    )
    assert r.exit_code == 0, r.output
    want = mrcfile.read(tmp_path / "li.mrc") * scale
    got = mrcfile.read(tmp_path / "bright_rec.mrc")
    assert np.abs(got - want).max() < 1e-4 * np.abs(want).max()
    # the sidecar says how they were converted: the views used, each with its own level
    prep = json.loads((tmp_path / "bright_rec.mrc.json").read_text())["prep"]
    assert prep["intensities"] == "auto" and prep["center_used"] == 39.5
    np.testing.assert_allclose(prep["beam"], np.delete(i0, [1, 39]), rtol=1e-5)
    # without --intensities, SART takes the bright beam for dense matter
    r = run("reconstruct", bright, "-o", tmp_path / "as_given.mrc", *common)
    assert r.exit_code == 0, r.output
    wrong = mrcfile.read(tmp_path / "as_given.mrc")
    assert np.abs(wrong - want).max() > 10 * np.abs(want).max()


def test_transmission_with_its_level_given_and_benchmark_and_adapt_take_it(
    tmp_path, line_integrals
):
    li = np.asarray(mrcfile.read(line_integrals), np.float64)
    scale = 2.0 / li.max()  # the most attenuating ray keeps exp(-2) of the beam
    transmission = _write(tmp_path / "t.mrc", np.exp(-scale * li), line_integrals)
    r = run(
        "reconstruct",
        transmission,
        "-o",
        tmp_path / "t_rec.mrc",
        "--method",
        "wbp",
        "--intensities",
        1,
    )
    assert r.exit_code == 0, r.output
    r = run("reconstruct", line_integrals, "-o", tmp_path / "li_rec.mrc", "--method", "wbp")
    assert r.exit_code == 0, r.output
    want = mrcfile.read(tmp_path / "li_rec.mrc") * scale
    np.testing.assert_allclose(
        mrcfile.read(tmp_path / "t_rec.mrc"), want, atol=1e-5 * np.abs(want).max()
    )
    # benchmark scores the converted series as the line integrals themselves
    scaled = _write(tmp_path / "li.mrc", scale * li, line_integrals)
    scores = {}
    for name, src, extra in (("li", scaled, ()), ("t", transmission, ("--intensities", 1))):
        r = run(
            "benchmark",
            src,
            "-o",
            tmp_path / f"b_{name}",
            "--methods",
            "wbp,sart",
            "--sample",
            2,
            *extra,
        )
        assert r.exit_code == 0, r.output
        report = json.loads((tmp_path / f"b_{name}" / "report.json").read_text())
        scores[name] = report["scores"]
    for method in ("wbp", "sart"):
        for key, value in scores["li"][method].items():
            if isinstance(value, float) and "second" not in key:  # all but the timings
                assert scores["t"][method][key] == pytest.approx(value, rel=1e-3, abs=1e-6), key
    # adapt would refuse line integrals as intensities, and takes the transmission
    r = run("adapt", line_integrals, "-o", tmp_path / "a", "--intensities", "auto", "--rounds", 1)
    one_error_line(r, "zero or negative", "without --intensities")
    r = run(
        "adapt",
        transmission,
        "-o",
        tmp_path / "a",
        "--intensities",
        1,
        "--rounds",
        1,
        "--sample",
        2,
        "--pairs",
        2,
    )
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    "extra, words",
    [
        (("--intensities", "0"), ["beam level", "> 0"]),
        (("--intensities", "-3"), ["beam level", "> 0"]),
        (("--intensities", "nan"), ["not a finite number"]),
    ],
    ids=["zero", "negative", "nan"],
)
def test_bad_beam_levels_are_refused(tmp_path, line_integrals, extra, words):
    r = run("reconstruct", line_integrals, "-o", tmp_path / "o.mrc", "--method", "wbp", *extra)
    one_error_line(r, *words)
    assert not (tmp_path / "o.mrc").exists()


def test_intensities_are_refused_for_what_cannot_be_intensities(tmp_path, line_integrals):
    tooth = Path(cli.__file__).parent / "data" / "tooth.h5"

    # line integrals with noise: about half of the empty space is below zero
    li = np.asarray(mrcfile.read(line_integrals), np.float64)
    noisy = _write(
        tmp_path / "noisy.mrc",
        li + np.random.default_rng(0).normal(0, 1.0, li.shape),
        line_integrals,
    )
    r = run(
        "reconstruct", noisy, "-o", tmp_path / "o.mrc", "--method", "tv", "--intensities", "auto"
    )
    one_error_line(r, "zero or negative", "without --intensities")
    # a view without any beam (a blank one is refused before, by the view check)
    bright = np.exp(-li / li.max())
    bright[5] = -bright[5]
    with pytest.raises(ValueError, match=r"s\.mrc: view\(s\) 6 have no positive beam level"):
        tint.resolve_beam("auto", bright, name="s.mrc")
    # raw counts with flat fields are normalised with them
    r = run(
        "reconstruct",
        tooth,
        "-o",
        tmp_path / "o.mrc",
        "--method",
        "wbp",
        "--intensities",
        "auto",
        "--slices",
        "0:1",
    )
    one_error_line(r, "has flat fields", "--intensities is for")
    assert not (tmp_path / "o.mrc").exists()


def test_prep_refuses_a_bad_intensities_setting():
    for bad in ("yes", 0.0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match="beam level"):
            Prep(intensities=bad)
    assert Prep(intensities=2).intensities == 2
