"""Demo on the built-in example data: ``python -m tomoinpaint.demo --out demo-output``.

Three parts, no downloads, a few minutes on two CPU cores:

(a) **Real micro-CT scan** (``tomoinpaint/data/tooth.h5``, tomopy's tooth:
    DXchange, 181 projections over 0–179°, 2 detector rows of 640 px).
    Preprocess (flat/dark normalisation, minus-log, ring removal, rotation
    centre) with :func:`tomoinpaint.prep.preprocess`, crop the detector to the
    central 400 px around the rotation axis (the tooth lies inside that field
    of view, so nothing is truncated; it keeps TV fast), reconstruct the
    full-angle WBP as the reference, then drop a contiguous 45° block of
    projections (around 90°) and reconstruct that with WBP, SART, TV,
    ``joint`` and ``auto``, the default method, which scores TV and
    ``joint`` on the data and runs the one it picks (default settings; the
    last two where weights are installed) through ``tomoinpaint reconstruct``.
(b) **Simulated phantom**: ``tomoinpaint simulate`` (128 px, 4 slices,
    ±60° in 2° steps, i.e. a 60° missing wedge), reconstructed with every
    method and ``auto`` through ``tomoinpaint reconstruct`` and compared with
    the ground truth.
(c) **Benchmark without ground truth**: ``tomoinpaint benchmark`` on the
    same phantom (its report in ``benchmark/report.md``), which scores each
    method by the projections it predicts for held-out tilts, and also
    against the ground truth, so the two rankings can be compared.

Each part writes a PNG figure and a markdown table (PSNR / SSIM / RMSE, see
:mod:`tomoinpaint.metrics`); ``results.md`` collects both tables and the
commands that were run. Existing files in the output directory are replaced.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from . import io as tio
from . import prep
from .cli import main as cli_main
from .geometry import missing_wedge
from .methods import DEEP_METHODS, METHODS
from .metrics import compare
from .recon.joint import weights_available
from .recon.tv import TV_ITERATIONS
from .volume import sidecar_path

__all__ = ["drop_block", "main", "run_demo", "tooth_sinograms"]

#: Detector crop (pixels, centred on the rotation axis) for the tooth scan.
TOOTH_CROP = 400
#: Width of the block of projections dropped from the tooth scan, in projections (~1° each).
TOOTH_WEDGE = 45
#: SART sweeps on the tooth.
TOOTH_SART_SWEEPS = 10
#: The simulated phantom.
SIM = {"n": 128, "ny": 4, "tilt_min": -60.0, "tilt_max": 60.0, "step": 2.0, "seed": 0}


def _cli(args: list[str], log: list[str]) -> float:
    """Run ``tomoinpaint ARGS`` in this process; return the seconds it took."""
    line = "tomoinpaint " + shlex.join(args)
    print(f"$ {line}", flush=True)
    log.append(line)
    t0 = time.perf_counter()
    cli_main.main(args=args, prog_name="tomoinpaint", standalone_mode=False)
    return time.perf_counter() - t0


def _table(rows: list[dict], reference: str) -> str:
    lines = [
        "| method | PSNR (dB) | SSIM | RMSE | time (s) | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['rmse']:.3g} | "
            f"{r['time']:.1f} | {r['notes']} |"
        )
    return f"Against: {reference}.\n\n" + "\n".join(lines) + "\n"


def _figure(path: Path, panels: list[tuple[str, np.ndarray]], title: str, vrange) -> None:
    import matplotlib  # optional heavy: loaded only when a figure is drawn, with the Agg backend

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), constrained_layout=True)
    for ax, (label, img) in zip(np.atleast_1d(axes), panels, strict=True):
        ax.imshow(img, cmap="gray", vmin=vrange[0], vmax=vrange[1], interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _metrics_row(method, ref, vol, seconds, notes="") -> dict:
    m = compare(ref, vol)
    return {"method": method, **m, "time": seconds, "notes": notes}


def tooth_sinograms(crop: int = TOOTH_CROP) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The built-in tooth scan, preprocessed and cropped around the rotation axis.

    Parameters
    ----------
    crop : int
        Detector pixels kept, centred on the detector.

    Returns
    -------
    sino : numpy.ndarray, shape (181, 2, crop)
        Line integrals (n_tilts, ny, nx).
    angles : numpy.ndarray, shape (181,)
        Degrees, 0 ... 179.
    center : float
        The rotation centre preprocessing found (full detector).
    seconds : float
        Time the preprocessing took.
    """
    ref_files = importlib.resources.files("tomoinpaint").joinpath("data", "tooth.h5")
    with importlib.resources.as_file(ref_files) as h5:
        series = tio.read_tilt_series(h5)
        t0 = time.perf_counter()
        sino, center = prep.preprocess(series.load(), series.flats, series.darks, series.angles_deg)
    seconds = time.perf_counter() - t0
    lo = (sino.shape[2] - crop) // 2
    return sino[:, :, lo : lo + crop], np.asarray(series.angles_deg), center, seconds


def drop_block(angles_deg, width: int = TOOTH_WEDGE, around: float = 90.0) -> np.ndarray:
    """Which projections remain after dropping ``width`` consecutive ones centred near ``around``.

    Returns
    -------
    numpy.ndarray of bool, shape (n_tilts,)
        True for the projections kept.
    """
    angles = np.asarray(angles_deg)
    mid = int(np.argmin(np.abs(angles - around)))
    keep = np.ones(angles.size, dtype=bool)
    keep[mid - width // 2 : mid - width // 2 + width] = False
    return keep


def _tooth(out: Path, log: list[str]) -> tuple[str, Path]:
    """Part (a): the real tooth scan with a 45° block of projections dropped."""
    sino, angles, center, t_prep = tooth_sinograms()
    print(f"\n== (a) real micro-CT scan tooth.h5: {sino.shape} (n_tilts, ny, nx) after the crop")
    keep = drop_block(angles)
    wedge = missing_wedge(angles[keep])
    print(
        f"preprocessed in {t_prep:.1f} s (rotation centre {center:.2f}); detector cropped to "
        f"{TOOTH_CROP} px; dropped projections {angles[~keep].min():.1f}..{angles[~keep].max():.1f}"
        f" deg ({(~keep).sum()} of {angles.size})"
    )
    full_ts, wedge_ts = out / "tooth_full.mrc", out / "tooth_wedge.mrc"
    tio.write_tilt_series(full_ts, sino, angles, overwrite=True)
    tio.write_tilt_series(wedge_ts, sino[keep], angles[keep], overwrite=True)

    ref_path = out / "tooth_full_wbp.mrc"
    t_ref = _cli(
        ["reconstruct", str(full_ts), "-o", str(ref_path), "--method", "wbp", "--overwrite"], log
    )
    ref, _ = tio.read_volume(ref_path)
    runs = [
        ("wbp", [], ""),
        ("sart", ["--sweeps", str(TOOTH_SART_SWEEPS)], f"{TOOTH_SART_SWEEPS} sweeps"),
        ("tv", [], f"default: {TV_ITERATIONS} iterations, noise-adaptive weight"),
    ]
    if weights_available():
        runs.append(("joint", [], "default: installed weights"))
        runs.append(("auto", [], "the default method"))
    rows = [_metrics_row("wbp, full 180° (reference)", ref, ref, t_ref, "the reference")]
    panels = [("full-angle WBP (reference)", ref[0])]
    for method, extra, notes in runs:
        path = out / f"tooth_wedge_{method}.mrc"
        args = ["reconstruct", str(wedge_ts), "-o", str(path), "--method", method]
        seconds = _cli([*args, *extra, "--overwrite"], log)
        vol, _ = tio.read_volume(path)
        if method == "auto":
            notes = f"{notes}: picked {_auto_pick(path)}"
        row = _metrics_row(method, ref, vol, seconds, notes)
        rows.append(row)
        panels.append(
            (f"{method}, 45° wedge\n{row['psnr']:.1f} dB / SSIM {row['ssim']:.3f}", vol[0])
        )
    lo_v, hi_v = np.percentile(ref[0], [0.5, 99.8])
    fig = out / "tooth_comparison.png"
    _figure(
        fig,
        panels,
        f"tooth.h5, row 0, {TOOTH_CROP}² crop: {(~keep).sum()} projections "
        f"({wedge[2]:.0f}° missing wedge) dropped",
        (lo_v, hi_v),
    )
    text = (
        f"### (a) Real micro-CT scan (tooth.h5), {(~keep).sum()} of {angles.size} projections "
        f"dropped ({angles[~keep].min():.0f}–{angles[~keep].max():.0f}°)\n\n"
        + _table(rows, "the full-angle WBP of the same preprocessed, cropped data (both rows)")
    )
    (out / "tooth_metrics.md").write_text(text, encoding="utf-8")
    return text, fig


def _auto_pick(path: Path) -> str:
    """What ``--method auto`` chose for the volume at ``path``, from its JSON sidecar."""
    auto = json.loads(sidecar_path(path).read_text(encoding="utf-8"))["auto"]
    weight = auto["options"].get("prior_weight")
    return auto["method"] + ("" if weight is None else f" (prior weight {weight:g})")


def _unique_methods() -> list[str]:
    """Keys of METHODS, without aliases (fbp is wbp), and the deep ones only with weights."""
    seen, out = set(), []
    deep = weights_available()
    if not deep:
        print(f"(no trained weights installed: skipping {', '.join(DEEP_METHODS)})")
    for name, fn in METHODS.items():
        if name in DEEP_METHODS and not deep:
            continue
        if id(fn) not in seen:
            seen.add(id(fn))
            out.append(name)
    return out


def _simulated(out: Path, log: list[str]) -> tuple[str, Path]:
    """Part (b): a simulated phantom, every method against the ground truth."""
    print(f"\n== (b) simulated phantom {SIM}")
    ts = out / "sim.mrc"
    _cli(
        [
            "simulate",
            str(ts),
            "--n",
            str(SIM["n"]),
            "--ny",
            str(SIM["ny"]),
            "--tilt-min",
            str(SIM["tilt_min"]),
            "--tilt-max",
            str(SIM["tilt_max"]),
            "--step",
            str(SIM["step"]),
            "--seed",
            str(SIM["seed"]),
            "--overwrite",
        ],
        log,
    )
    gt, _ = tio.read_volume(out / "sim_gt.mrc")
    k = gt.shape[0] // 2
    rows, panels = [], [("ground truth", gt[k])]
    methods = _unique_methods() + (["auto"] if weights_available() else [])
    for method in methods:
        path = out / f"sim_{method}.mrc"
        seconds = _cli(
            ["reconstruct", str(ts), "-o", str(path), "--method", method, "--overwrite"], log
        )
        vol, _ = tio.read_volume(path)
        notes = f"the default method: picked {_auto_pick(path)}" if method == "auto" else ""
        row = _metrics_row(method, gt, vol, seconds, notes or "default options")
        rows.append(row)
        panels.append((f"{method}\n{row['psnr']:.1f} dB / SSIM {row['ssim']:.3f}", vol[k]))
    zero = _metrics_row("(zero image)", gt, np.zeros_like(gt), 0.0, "baseline")
    rows.append(zero)
    fig = out / "sim_comparison.png"
    _figure(
        fig,
        panels,
        f"simulated shapes phantom, slice {k}: tilts {SIM['tilt_min']:g}..{SIM['tilt_max']:g}°"
        f" step {SIM['step']:g}°",
        (float(gt.min()), float(gt.max())),
    )
    text = (
        f"### (b) Simulated phantom ({SIM['n']} px, {SIM['ny']} slices, tilts "
        f"{SIM['tilt_min']:g}..{SIM['tilt_max']:g}° step {SIM['step']:g}°, noise-free)\n\n"
        + _table(rows, "the ground truth (sim_gt.mrc), mean over slices")
    )
    (out / "sim_metrics.md").write_text(text, encoding="utf-8")
    return text, fig


def _benchmark(out: Path, log: list[str]) -> Path:
    """Part (c): ``tomoinpaint benchmark`` on the simulated phantom, with its ground truth."""
    print("\n== (c) benchmark without ground truth (sim.mrc)")
    report = out / "benchmark"
    methods = ["wbp", "sart", "tv"] + (["joint"] if weights_available() else [])
    args = ["benchmark", str(out / "sim.mrc"), "-o", str(report), "--methods", ",".join(methods)]
    args += ["--reference", str(out / "sim_gt.mrc"), "--sample", "2", "--overwrite"]
    _cli(args, log)
    return report / "report.md"


def run_demo(out: str | Path) -> dict[str, Path]:
    """Run the three parts of the demo into directory ``out``.

    Parameters
    ----------
    out : str or os.PathLike
        Output directory (created; files in it are replaced).

    Returns
    -------
    dict
        ``{"results": results.md, "tooth_figure": ..., "sim_figure": ...,
        "benchmark": benchmark/report.md}``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    t0 = time.perf_counter()
    tooth_text, tooth_fig = _tooth(out, log)
    sim_text, sim_fig = _simulated(out, log)
    bench = _benchmark(out, log)
    total = time.perf_counter() - t0
    commands = "\n".join(log)
    results = out / "results.md"
    results.write_text(
        "# tomoinpaint demo\n\n"
        f"`python -m tomoinpaint.demo --out {out}` — {total:.0f} s in total.\n\n"
        f"{tooth_text}\n![tooth]({tooth_fig.name})\n\n{sim_text}\n![simulated]({sim_fig.name})\n\n"
        f"### (c) Benchmark without ground truth\n\n[{bench.relative_to(out)}]"
        f"({bench.relative_to(out)}): every method scored by the projections it predicts "
        "for held-out tilts, beside its PSNR against the ground truth.\n\n"
        f"## Commands run\n\n```\n{commands}\n```\n",
        encoding="utf-8",
    )
    print(f"\n{tooth_text}\n{sim_text}")
    print(f"demo finished in {total:.0f} s; outputs in {out.resolve()}:")
    shown = (results, tooth_fig, sim_fig, out / "tooth_metrics.md", out / "sim_metrics.md", bench)
    for p in shown:
        print(f"  {p}")
    return {
        "results": results,
        "tooth_figure": tooth_fig,
        "sim_figure": sim_fig,
        "benchmark": bench,
    }


def main(argv=None) -> int:
    """Command-line entry: ``python -m tomoinpaint.demo [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tomoinpaint.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", default="demo-output", help="output directory")
    args = parser.parse_args(argv)
    run_demo(args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
