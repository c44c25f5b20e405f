"""The ``tomoinpaint`` command line: round trips, prep, and bad inputs rejected cleanly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from click.testing import CliRunner

import tomoinpaint
import tomoinpaint.cli as cli
import tomoinpaint.io as tio
from tomoinpaint.io.hdf5 import write_dxchange
from tomoinpaint.methods import DEEP_METHODS, METHODS, method_options
from tomoinpaint.metrics import psnr
from tomoinpaint.project import cuda_available
from tomoinpaint.recon import tv

N, NY, VOXEL = 32, 2, 2.5
TOOTH = Path(tomoinpaint.__file__).parent / "data" / "tooth.h5"
# Fast options for the tiny test data (the defaults take longer).
#: Named where a test is about the CLI, not the method: the default becomes joint
#: once weights are installed.
WBP = ("--method", "wbp")
FAST = {"sweeps": ["--sweeps", "5"], "iterations": ["--iterations", "30"]}


def run(*args: str):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def assert_error(result, *words: str, code: int | None = None) -> str:
    """Non-zero exit, exactly one line on stderr, ``Error: ...`` naming ``words``."""
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error: "), line
    for w in words:
        assert w.lower() in line.lower(), (w, line)
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return line


def files_in(d: Path) -> list[str]:
    """Every entry of a directory, hidden (temporary) files included."""
    return sorted(p.name for p in d.iterdir())


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    """A simulated tilt series sim.mrc (31, 2, 32) + sim.tlt + sim_gt.mrc (2, 32, 32)."""
    d = tmp_path_factory.mktemp("sim")
    r = run("simulate", d / "sim.mrc", "--n", N, "--ny", NY, "--step", 4, "--voxel-size", VOXEL)
    assert r.exit_code == 0, r.output
    return d / "sim.mrc"


@pytest.fixture
def out(tmp_path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


def test_simulate_outputs(sim):
    d = sim.parent
    assert files_in(d) == ["sim.mrc", "sim.tlt", "sim_gt.mrc"]
    ts = tio.read_tilt_series(sim)
    assert ts.shape == (31, NY, N)
    assert ts.voxel_size == pytest.approx(VOXEL)
    np.testing.assert_allclose(ts.angles_deg, np.arange(-60, 61, 4))
    gt, vs = tio.read_volume(d / "sim_gt.mrc")
    assert gt.shape == (NY, N, N) and vs == pytest.approx(VOXEL)
    assert gt.max() > 0 and np.asarray(ts.data).max() > 0


def test_simulate_wedge_and_refusals(tmp_path):
    r = run("simulate", tmp_path / "w.mrc", "--n", 16, "--ny", 1, "--wedge", 45, "--step", 1.5)
    assert r.exit_code == 0, r.output
    a = tio.read_angle_file(tmp_path / "w.tlt")
    assert a[0] == pytest.approx(-67.5) and a[-1] == pytest.approx(67.5) and a.size == 91
    before = (tmp_path / "w.mrc").read_bytes()
    # existing outputs: refused, untouched
    assert_error(run("simulate", tmp_path / "w.mrc", "--n", 16, "--ny", 1), "exists")
    assert (tmp_path / "w.mrc").read_bytes() == before
    # contradictory or bad options: nothing written
    d = tmp_path / "x"
    d.mkdir()
    assert_error(
        run("simulate", d / "a.mrc", "--wedge", 45, "--tilt-min", -50), "--wedge", "--tilt-min"
    )
    assert_error(run("simulate", d / "a.mrc", "--dose", "plenty"), "dose", "plenty")
    assert_error(run("simulate", d / "a.txt"), "unsupported file type")
    assert files_in(d) == []


@pytest.mark.parametrize("method", list(METHODS))
def test_round_trip_every_method(sim, out, method, tiny_weights):
    gt, _ = tio.read_volume(sim.parent / "sim_gt.mrc")
    extra = [arg for name, args in FAST.items() if name in method_options(method) for arg in args]
    if method in DEEP_METHODS:
        extra += ["--model", tiny_weights]
    dst = out / f"rec_{method}.mrc"
    r = run("reconstruct", sim, "-o", dst, "--method", method, "--device", "cpu", *extra)
    assert r.exit_code == 0, r.output
    assert files_in(out) == [dst.name, dst.name + ".json"]
    vol, vs = tio.read_volume(dst)
    assert vol.shape == (NY, N, N)
    assert vs == pytest.approx(VOXEL)
    zero = psnr(gt, np.zeros_like(gt))
    if method not in ("paper", "deartifact"):  # untrained test networks: no quality
        assert psnr(gt, vol) > zero + 4.0
    meta = json.loads((out / (dst.name + ".json")).read_text())
    assert meta["method"] == method and meta["device"] == "cpu"
    assert meta["shape"] == [NY, N, N] and len(meta["angles_deg"]) == 31
    assert meta["input"] == str(sim.resolve())
    assert set(meta["options"]) <= set(method_options(method))
    for name in FAST:
        if name in method_options(method):
            assert meta["options"][name] == int(FAST[name][1])
    assert meta["versions"]["tomoinpaint"] and meta["prep"] is None


def test_chunks_slices_and_formats(sim, out):
    """Chunk size does not change the result; --slices picks rows; .h5/.tif outputs work."""
    r = run("reconstruct", *WBP, sim, "-o", out / "a.mrc")
    assert r.exit_code == 0, r.output
    r = run("reconstruct", *WBP, sim, "-o", out / "b.h5", "--chunk", 1)
    assert r.exit_code == 0, r.output
    r = run("reconstruct", *WBP, sim, "-o", out / "c.tif", "--slices", "1:2", "--filter", "hann")
    assert r.exit_code == 0, r.output
    a, va = tio.read_volume(out / "a.mrc")
    b, vb = tio.read_volume(out / "b.h5")
    c, _ = tio.read_volume(out / "c.tif")
    np.testing.assert_array_equal(a, b)
    assert va == pytest.approx(VOXEL) and vb == pytest.approx(VOXEL)
    assert c.shape == (1, N, N)
    assert not np.allclose(c[0], a[1])  # another filter
    r = run("reconstruct", *WBP, sim, "-o", out / "d.mrc", "--slices", "1:2")
    np.testing.assert_array_equal(tio.read_volume(out / "d.mrc")[0][0], a[1])
    assert json.loads((out / "c.tif.json").read_text())["options"]["filter"] == "hann"


def test_overwrite(sim, out):
    dst = out / "v.mrc"
    assert run("reconstruct", *WBP, sim, "-o", dst).exit_code == 0
    before = dst.read_bytes()
    assert_error(run("reconstruct", *WBP, sim, "-o", dst, "--filter", "hann"), "exists", str(dst))
    assert dst.read_bytes() == before
    r = run("reconstruct", *WBP, sim, "-o", dst, "--filter", "hann", "--overwrite")
    assert r.exit_code == 0, r.output
    assert dst.read_bytes() != before
    assert files_in(out) == ["v.mrc", "v.mrc.json"]
    # an existing sidecar alone also blocks the output (they are written together)
    (out / "w.mrc.json").write_text("{}")
    assert_error(run("reconstruct", *WBP, sim, "-o", out / "w.mrc"), "exists", "w.mrc.json")
    assert files_in(out) == ["v.mrc", "v.mrc.json", "w.mrc.json"]
    assert (out / "w.mrc.json").read_text() == "{}"


# --------------------------------------------------------------------------- bad inputs


def _mrc(path: Path, data) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN/Inf on purpose
        with mrcfile.new(path) as m:
            m.set_data(np.asarray(data, dtype=np.float32))
    return path


@pytest.fixture(scope="module")
def bad(tmp_path_factory, sim):
    """A directory with one bad input per case (inputs only; outputs go elsewhere)."""
    d = tmp_path_factory.mktemp("in")
    data = np.asarray(tio.read_tilt_series(sim).data)
    angles = tio.read_angle_file(sim.with_suffix(".tlt"))
    (d / "garbage.mrc").write_bytes(b"this is not an MRC file" * 100)
    (d / "notes.txt").write_text("hello")
    _mrc(d / "flat.mrc", data[0])
    for name, a in {
        "short": angles[:-1],
        "dup": np.r_[angles[:-1], angles[0]],
    }.items():
        _mrc(d / f"{name}.mrc", data)
        (d / f"{name}.tlt").write_text("\n".join(f"{v:.2f}" for v in a))
    _mrc(d / "nonfinite.mrc", data)
    (d / "nonfinite.tlt").write_text("\n".join([*(f"{v:.2f}" for v in angles[:-1]), "nan"]))
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        x = data.copy()
        x[3, 1, 7] = value
        _mrc(d / f"{name}.mrc", x)
        shutil.copy(sim.with_suffix(".tlt"), d / f"{name}.tlt")
    shutil.copy(sim, d / "noangles.mrc")
    return d


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("missing.mrc", ["not found", "missing.mrc"]),
        ("garbage.mrc", ["cannot read", "garbage.mrc"]),
        ("notes.txt", ["unsupported file type", ".txt"]),
        ("flat.mrc", ["3-D", "flat.mrc"]),
        ("short.mrc", ["31 tilt images but 30 angles"]),
        ("dup.mrc", ["duplicate"]),
        ("nonfinite.mrc", ["non-finite"]),
        ("nan.mrc", ["NaN or Inf", "image 3"]),
        ("inf.mrc", ["NaN or Inf", "image 3"]),
        ("noangles.mrc", ["tilt angles are needed", "--angles"]),
    ],
)
def test_bad_input_is_one_line_error_and_no_output(bad, out, name, words):
    r = run("reconstruct", *WBP, bad / name, "-o", out / "v.mrc")
    assert_error(r, *words, code=1)
    assert files_in(out) == []


def test_angle_file_option(sim, bad, out):
    # --angles overrides (and rescues) a file without angles beside it ...
    r = run(
        "reconstruct",
        *WBP,
        bad / "noangles.mrc",
        "-o",
        out / "v.mrc",
        "--angles",
        sim.with_suffix(".tlt"),
    )
    assert r.exit_code == 0, r.output
    # ... and is checked like any other angle source
    r = run("reconstruct", *WBP, sim, "-o", out / "w.mrc", "--angles", bad / "short.tlt")
    assert_error(r, "31 tilt images but 30 angles")
    r = run("reconstruct", *WBP, sim, "-o", out / "w.mrc", "--angles", bad / "absent.tlt")
    assert_error(r, "angle file not found", "absent.tlt")
    assert files_in(out) == ["v.mrc", "v.mrc.json"]


@pytest.mark.parametrize(
    ("args", "words", "code"),
    [
        (["--method", "foo"], ["--method", "foo", "wbp"], 2),
        (["--method", "wbp", "--sweeps", "3"], ["--sweeps", "wbp"], 2),
        (["--method", "sart", "--tv-weight", "0.1"], ["--tv-weight", "sart"], 2),
        (["--method", "tv", "--filter", "hann"], ["--filter", "tv"], 2),
        (["--filter", "triangle"], ["triangle"], 2),
        (["--method", "tv", "--tv-weight", "-1"], ["--tv-weight"], 2),
        (["--method", "tv", "--step-ratio", "0"], ["--step-ratio", "positive"], 2),
        (["--method", "tv", "--step-ratio", "fast"], ["--step-ratio", "neither"], 2),
        (["--method", "sart", "--step-ratio", "auto"], ["--step-ratio", "sart"], 2),
        (["--method", "sirt", "--relaxation", "3"], ["--relaxation"], 2),
        (["--chunk", "0"], ["--chunk"], 2),
        (["--slices", "1:9"], ["--slices", "1:9"], 1),
        (["--slices", "a:b"], ["--slices"], 1),
        (["--center", "12"], ["--center", "--prep"], 2),
        (["--prep", "--center", "1000"], ["center", "detector"], 1),  # line integrals: centre
        (["-o", "/nonexistent-dir/v.mrc"], ["directory does not exist"], 1),
        (["-o", "v.xyz"], ["unsupported file type"], 1),
    ],
)
def test_bad_options_refused(sim, out, monkeypatch, args, words, code):
    monkeypatch.chdir(out)
    argv = ["reconstruct", sim, "-o", out / "v.mrc", *args]
    assert_error(run(*argv), *words, code=code)
    assert files_in(out) == []


def test_tv_step_ratio_reaches_the_library_and_the_sidecar(sim, out):
    """``--step-ratio`` runs TV as ``tv(step_ratio=...)`` does (a ratio that changes the
    30-iteration image), and the sidecar records it, "auto" included."""
    series = tio.read_tilt_series(sim)
    sino = series.load().transpose(1, 0, 2)
    argv = ["reconstruct", sim, "--method", "tv", "--iterations", "30", "--device", "cpu"]
    for name, ratio in (("a", 50.0), ("b", "auto")):
        r = run(*argv, "-o", out / f"{name}.mrc", "--step-ratio", ratio)
        assert r.exit_code == 0, r.output
        meta = json.loads((out / f"{name}.mrc.json").read_text())
        assert meta["options"]["step_ratio"] == ratio
    vol = tio.read_volume(out / "a.mrc")[0]
    expected = tv(sino, series.angles_deg, iterations=30, step_ratio=50.0, device="cpu")
    np.testing.assert_allclose(vol, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    default = tv(sino, series.angles_deg, iterations=30, device="cpu")
    assert np.abs(vol - default).max() > 1e-3 * np.abs(default).max()


@pytest.mark.parametrize("method", DEEP_METHODS)
def test_deep_method_without_weights(sim, out, tmp_path, method):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    r = run("reconstruct", sim, "-o", out / "v.mrc", "--method", method, "--model", empty)
    assert_error(r, method, "weights", "--model")
    assert files_in(out) == []


def test_deep_options_refused_for_classical_methods(sim, out, tiny_weights):
    r = run("reconstruct", sim, "-o", out / "v.mrc", "--method", "tv", "--model", tiny_weights)
    assert_error(r, "--model", "tv")
    r = run("reconstruct", sim, "-o", out / "v.mrc", "--method", "paper", "--prior-weight", "0.5")
    assert_error(r, "--prior-weight", "paper")


@pytest.mark.skipif(cuda_available(), reason="this machine has a usable CUDA GPU")
def test_cuda_without_gpu(sim, out):
    assert_error(run("reconstruct", *WBP, sim, "-o", out / "v.mrc", "--device", "cuda"), "cuda")
    assert files_in(out) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, ValueError, OSError])
def test_failure_midway_leaves_nothing(sim, out, monkeypatch, exc):
    """An error or Ctrl-C after the first chunk was written leaves no file at all."""
    calls = []
    real = cli.reconstruct

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise exc("boom in chunk 2")
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "reconstruct", flaky)
    r = run("reconstruct", *WBP, sim, "-o", out / "v.mrc", "--chunk", 1)
    assert len(calls) == 2
    if exc is KeyboardInterrupt:
        assert r.exit_code == 130
        assert "Aborted" in r.stderr
    else:
        assert_error(r, "boom in chunk 2", code=1)
    assert files_in(out) == []


# --------------------------------------------------------------------------- prep


@pytest.fixture(scope="module")
def dxchange(tmp_path_factory, sim):
    """Raw counts of the simulated series, axis 2 px off centre, with flats and darks."""
    d = tmp_path_factory.mktemp("dx")
    p = np.asarray(tio.read_tilt_series(sim).data, dtype=np.float64)  # (31, 2, 32)
    angles = tio.read_angle_file(sim.with_suffix(".tlt"))
    mu = 1.0 / p.max()
    i0, dark = 5000.0, 100.0
    counts = i0 * np.exp(-mu * p)
    shifted = np.full_like(counts, i0)
    shifted[..., 2:] = counts[..., :-2]  # rotation axis now at column 15.5 + 2
    flats = np.full((3, NY, N), i0 + dark)
    darks = np.full((2, NY, N), dark)
    path = d / "raw.h5"
    write_dxchange(path, shifted + dark, angles, flats=flats, darks=darks, voxel_size=VOXEL)
    return path, mu


def test_dxchange_prep(dxchange, sim, out):
    path, mu = dxchange
    gt, _ = tio.read_volume(sim.parent / "sim_gt.mrc")

    def quality(*args):
        dst = out / f"v{len(list(out.iterdir()))}.h5"
        r = run("reconstruct", *WBP, path, "-o", dst, "--no-rings", *args)
        assert r.exit_code == 0, r.output
        meta = json.loads(Path(str(dst) + ".json").read_text())
        vol, vs = tio.read_volume(dst)
        assert vol.shape == (NY, N, N) and vs == pytest.approx(VOXEL)
        return psnr(gt, vol / mu), meta

    good, meta = quality("--center", "17.5")  # prep is on by default: the file has flats
    assert meta["prep"]["center_used"] == pytest.approx(17.5)
    assert meta["prep"]["rings"] is False and meta["prep"]["backend"]
    off_centre, _ = quality("--center", "15.5")
    assert good > psnr(gt, np.zeros_like(gt)) + 4.0
    assert good > off_centre + 2.0  # the centre correction matters
    # without prep the raw counts are reconstructed, which is useless
    dst = out / "raw.mrc"
    r = run("reconstruct", *WBP, path, "-o", dst, "--no-prep")
    assert r.exit_code == 0, r.output
    assert psnr(gt, tio.read_volume(dst)[0] / mu) < good - 10.0


def test_ring_window_option(dxchange, sim, out):
    path, _ = dxchange
    dst = out / "w.h5"
    r = run("reconstruct", *WBP, path, "-o", dst, "--center", "17.5", "--ring-window", "5")
    assert r.exit_code == 0, r.output
    meta = json.loads(Path(str(dst) + ".json").read_text())
    assert meta["prep"]["rings"] is True and meta["prep"]["ring_window"] == 5
    default = out / "d.h5"
    r = run("reconstruct", *WBP, path, "-o", default, "--center", "17.5")
    assert r.exit_code == 0, r.output
    assert json.loads(Path(str(default) + ".json").read_text())["prep"]["ring_window"] == 3
    assert not np.array_equal(tio.read_volume(dst)[0], tio.read_volume(default)[0])
    before = files_in(out)
    for args, words in (
        (("--ring-window", "4"), ("--ring-window", "even")),
        (("--ring-window", "1"), ("--ring-window",)),
        (("--no-rings", "--ring-window", "5"), ("--ring-window", "rings are removed")),
        (("--no-prep", "--ring-window", "5"), ("--ring-window", "only applies with --prep")),
    ):
        assert_error(run("reconstruct", *WBP, path, "-o", out / "x.h5", *args), *words)
    # a series of line integrals is de-ringed only when asked
    assert_error(
        run("reconstruct", *WBP, sim, "-o", out / "x.mrc", "--prep", "--ring-window", "5"),
        "--ring-window",
        "rings are removed",
    )
    assert files_in(out) == before


def test_tooth_prep_auto_centre(out):
    if not TOOTH.is_file():  # pragma: no cover
        pytest.skip("tooth.h5 not shipped")
    dst = out / "tooth.mrc"
    r = run("reconstruct", *WBP, TOOTH, "-o", dst, "--slices", "1:2")
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "tooth.mrc.json").read_text())
    assert meta["prep"]["center_used"] == pytest.approx(295.0, abs=2.0)
    assert meta["prep"]["rings"] is True
    assert meta["prep"]["ring_window"] == 7  # about 1 % of the 640-px detector
    vol, _ = tio.read_volume(dst)
    assert vol.shape == (1, 640, 640)
    # the tooth is attenuating in the middle of the field of view, air is ~0 outside it
    assert vol[0, 250:350, 250:350].mean() > 10 * abs(vol[0, :60, :60].mean())


# --------------------------------------------------------------------------- info, entry points


def test_info(monkeypatch):
    import tomoinpaint.project as project

    # 4x the 1000-px matrix free: a quarter of it holds exactly that matrix
    monkeypatch.setattr(project, "available_memory", lambda: 4 * 16 * 121 * 1000**2)
    monkeypatch.delenv("TOMOINPAINT_WORKERS", raising=False)
    r = run("info")
    assert r.exit_code == 0, r.output
    for word in ("tomoinpaint", "astra-toolbox", "torch", "numpy", "ASTRA CUDA", "torch CUDA"):
        assert word in r.stdout
    assert "prep backend" in r.stdout and ", ".join(METHODS) in r.stdout
    assert "sparse matrix up to 1000 px slices from 121 tilts" in r.stdout


def test_console_script_and_module():
    script = Path(sys.executable).parent / "tomoinpaint"
    exe = str(script) if script.exists() else shutil.which("tomoinpaint")
    assert exe, "the tomoinpaint console script is not installed"
    r = subprocess.run([exe, "info"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "astra-toolbox" in r.stdout and "methods" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "tomoinpaint", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "0." in r.stdout
    r = subprocess.run(
        [exe, "reconstruct", "/nonexistent/in.mrc", "-o", "/nonexistent/out.mrc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == ["Error: input file not found: /nonexistent/in.mrc"]
