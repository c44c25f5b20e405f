"""``tomoinpaint benchmark``: every method on the user's own tilt series, scored and drawn.

For a sample of slices of a measured tilt series, each method reconstructs
the slices (timed), is scored without ground truth (:mod:`.holdout`, FRC)
and, when a reference volume is given, against it. The report directory
receives ``report.md`` (tables a person reads), ``report.json`` (the same
numbers and the provenance: command, versions, machine) and PNG figures:
the same slice by every method with its Fourier transform, the even/odd FRC
curves, and a wedge-edge projection against each method's prediction.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import io as tio
from ..io.atomic import atomic_write, atomic_write_text
from ..io.binning import bin_volume_rows
from ..methods import parse_method_spec, reconstruct
from ..metrics import compare
from ..prep import check_prep, check_series_data, preprocess, series_beam_levels
from ..prep.contrast import needs_attenuation_like
from ..provenance import dumps, versions
from .frc import FRC_THRESHOLD
from .holdout import MethodScore, score_method, wedge_edge_split

__all__ = [
    "BenchmarkReport",
    "sample_rows",
    "read_sinograms",
    "reference_slices",
    "benchmark_series",
    "write_report",
]


def sample_rows(ny: int, sample: int | None = None, rows: tuple[int, int] | None = None):
    """Rows to benchmark: ``sample`` evenly spaced ones (band centres), or a range.

    Returns
    -------
    numpy.ndarray of int
    """
    if rows is not None:
        y0, y1 = (int(v) for v in rows)
        if not 0 <= y0 < y1 <= ny:
            raise ValueError(f"slices {y0}:{y1} are outside the series' {ny} rows")
        return np.arange(y0, y1)
    k = min(int(sample or 4), ny)
    if k < 1:
        raise ValueError(f"sample must be at least 1, got {sample}")
    return np.floor((np.arange(k) + 0.5) * ny / k).astype(int)  # centres of k equal bands


@dataclass
class BenchmarkReport:
    """What :func:`benchmark_series` measured.

    Attributes
    ----------
    input : str
    rows : list of int
        The benchmarked slices.
    angles_deg : list of float
    scores : dict
        Method -> :meth:`MethodScore.to_dict`.
    seconds_per_slice : dict
        Method -> reconstruction time per slice (all tilts).
    reference : dict
        Method -> ground-truth metrics (``psnr``, ``ssim``, ``rmse``), when a
        reference volume was given.
    best : str
        The method with the smallest combined hold-out residual.
    provenance : dict
    """

    input: str
    rows: list
    angles_deg: list
    scores: dict = field(default_factory=dict)
    seconds_per_slice: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    best: str = ""
    provenance: dict = field(default_factory=dict)


def read_sinograms(series, rows, prep=None) -> np.ndarray:
    """(n_rows, n_tilts, nx) float32 line integrals of some rows of a tilt series.

    Parameters
    ----------
    series : tomoinpaint.io.TiltSeries
    rows : sequence of int
    prep : None, bool or tomoinpaint.prep.Prep
        The rows go through :func:`tomoinpaint.prep.preprocess` when true:
        flat/dark correction and minus log where the series has flat fields,
        rings, rotation centre (a :class:`~tomoinpaint.prep.Prep` gives the
        ring and centre settings).
    """
    rows = [int(y) for y in rows]
    raw = np.stack([np.asarray(series.data[:, y, :], dtype=np.float32) for y in rows], axis=1)
    if prep:
        darks = None if series.darks is None else series.darks[:, rows]
        flats = None if series.flats is None else series.flats[:, rows]
        kw = (
            {}
            if prep is True
            else {
                "rings": prep.rings,
                "center": prep.center,
                "ring_window": prep.ring_window,
            }
        )
        if prep is not True and prep.intensities is not None and flats is None:
            # the levels of whole views, as every chunk of the volume gets them
            kw["intensities"] = series_beam_levels(series, prep.intensities)
        raw, _ = preprocess(raw, flats, darks, series.angles_deg, **kw)
    return np.ascontiguousarray(raw.transpose(1, 0, 2))


def reference_slices(reference, series, rows) -> np.ndarray:
    """The reference volume's slices at the benchmarked rows, as the series' volume has them.

    Parameters
    ----------
    reference : str or os.PathLike
        A volume of the series' own size ``(ny, nx, nx)``, read as it is; or,
        for a series binned by N (``--bin``), of the full-size series'
        ``(N ny', N nx', N nx')`` (the file's own pixel counts), binned alike
        (:func:`~tomoinpaint.io.binning.bin_volume_rows`) and multiplied by N,
        since a binned reconstruction's values are per binned voxel.
    series : tomoinpaint.io.TiltSeries
    rows : sequence of int
        Rows of ``series`` (binned rows for a binned series).

    Returns
    -------
    numpy.ndarray, shape (len(rows), nx, nx), float32
        Only these slices are read from the file.

    Raises
    ------
    ValueError
        If the reference has neither size.
    """
    volume, _ = tio.read_volume(reference, lazy=True)
    _, ny, nx = (int(v) for v in series.shape)
    if tuple(volume.shape) == (ny, nx, nx):
        return np.stack([np.asarray(volume[int(y)], dtype=np.float32) for y in rows])
    f = series.binning
    _, full_y, full_x = (int(v) for v in series.unbinned_shape)
    if f != 1 and tuple(volume.shape) == (full_y, full_x, full_x):
        return np.float32(f) * bin_volume_rows(volume, f, rows)
    need = f"({ny}, {nx}, {nx})"
    if f != 1:
        need += f", or ({full_y}, {full_x}, {full_x}) before binning by {f}"
    raise ValueError(
        f"reference volume {reference} has shape {tuple(volume.shape)}; the series needs {need}"
    )


def benchmark_series(
    source,
    methods=("wbp", "sart", "tv", "joint"),
    *,
    angles=None,
    reference=None,
    sample: int | None = 4,
    rows=None,
    options: dict | None = None,
    prep: bool | None = None,
    device: str = "auto",
    progress=None,
):
    """Reconstruct, time and score sample slices of a tilt series with several methods.

    Parameters
    ----------
    source : str, os.PathLike or tomoinpaint.io.TiltSeries
        Tilt series file (MRC, TIFF, DXchange HDF5), ``(n_tilts, ny, nx)``, or
        a series read from one (with its angles and any views left out:
        :meth:`~tomoinpaint.io.TiltSeries.without_views`).
    methods : sequence of str
        Method names, or ``METHOD:OPTION=VALUE[:...]`` for one method at
        other settings (:func:`~tomoinpaint.methods.parse_method_spec`); the
        report names each as given.
    angles : optional
        Angle file or values (default: stored in or beside the input; only
        with a path ``source``).
    reference : str or os.PathLike, optional
        A volume ``(ny, nx, nx)`` to compare with (ground truth, or a
        reconstruction from a complete scan).
    sample, rows
        See :func:`sample_rows`.
    options : dict, optional
        Method -> its options (a ``METHOD:OPTION=VALUE`` entry's own options
        are added to its method's, and win).
    prep : bool, optional
        Preprocess raw data (default: when the input has flat fields).
    device : {"auto", "cpu", "cuda"}
    progress : callable, optional
        Called with a one-line message before each method.

    Returns
    -------
    report : BenchmarkReport
    images : dict
        ``"reconstructions"``: method -> (n_rows, nx, nx); ``"edge"``:
        method -> (measured, predicted) wedge-edge projections of the first
        row; ``"frc"``: method -> curve.
    """
    if isinstance(source, tio.TiltSeries):
        if angles is not None:
            raise ValueError("give angles with the TiltSeries, not as a separate argument")
        series = source
    else:
        series = tio.read_tilt_series(source, angles=angles)
    options = dict(options or {})
    # each entry as given -> (method, its options); unknown names refused before any work
    runs = {}
    for entry in methods:
        method, own = parse_method_spec(entry)
        runs[entry] = (method, {**options.get(method, {}), **own})
    n_tilts, ny, nx = (int(v) for v in series.shape)
    ys = sample_rows(ny, sample, rows)
    a = np.asarray(series.angles_deg, dtype=np.float64)
    wedge_edge_split(a)  # refuses series too short to score, before any work
    truth = None if reference is None else reference_slices(reference, series, ys)
    prep_spec = check_prep(prep, series)
    # each method at its own options (nonnegative=False lifts the attenuation check)
    needing = [m for m, o in runs.values() if needs_attenuation_like(m, o)]
    check_series_data(series, prep_spec, needing)
    sino = read_sinograms(series, ys, prep_spec)
    report = BenchmarkReport(input=str(series.path), rows=ys.tolist(), angles_deg=a.tolist())
    images: dict = {"reconstructions": {}, "edge": {}, "frc": {}}
    for name, (method, opts) in runs.items():
        if progress is not None:
            progress(f"{name}: reconstructing and scoring {len(ys)} slice(s)")
        t0 = time.perf_counter()
        rec = reconstruct(sino, a, method, device=device, **opts)
        report.seconds_per_slice[name] = (time.perf_counter() - t0) / len(ys)
        images["reconstructions"][name] = rec
        score: MethodScore = score_method(sino, a, method, opts, device=device)
        report.scores[name] = score.to_dict()
        images["frc"][name] = np.asarray(score.frc)
        edge = score.edge_held
        images["edge"][name] = (sino[0, edge], score.edge_prediction[0], a[edge])
        if truth is not None:
            report.reference[name] = compare(truth, rec)
    report.best = min(report.scores, key=lambda m: report.scores[m]["wedge_edge"])
    report.provenance = {
        "versions": versions(),
        "machine": f"{platform.node()}: {os.cpu_count()} CPU cores, {platform.platform()}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "shape": [n_tilts, ny, nx],
        "views_used": series.views_used(),
        "binning": series.binning,
    }
    return report, images


def _markdown(report: BenchmarkReport, command: str) -> str:
    wbp = report.seconds_per_slice.get("wbp")
    lines = [
        "# tomoinpaint benchmark",
        "",
        f"- **input**: `{report.input}` ({' x '.join(map(str, report.provenance['shape']))}),"
        f" slices {', '.join(map(str, report.rows))}",
        f"- **tilts**: {len(report.angles_deg)}, {min(report.angles_deg):.1f} to "
        f"{max(report.angles_deg):.1f} degrees"
        + (
            f" (views {report.provenance['views_used']} of the file)"
            if report.provenance.get("views_used")
            else ""
        ),
        *(
            [f"- **binning**: {report.provenance['binning']} (IMOD's newstack -bin)"]
            if report.provenance.get("binning", 1) != 1
            else []
        ),
        f"- **command**: `{command}`",
        f"- **machine**: {report.provenance['machine']}; {report.provenance['date']}",
        "",
        "## Without ground truth",
        "",
        "Held-out residual: mean squared difference between measured projections "
        "that were left out and the projections of the reconstruction made without "
        "them (wedge edge: the outermost tilts; interleaved: every 4th tilt). "
        "Ratio: over the noise floor estimated from the data (1 = as good as the "
        "noise allows). FRC: where the correlation of the even-tilt and odd-tilt "
        f"reconstructions falls below {FRC_THRESHOLD:.3f} (fraction of Nyquist). "
        "Lower residuals are better; methods are sorted by the wedge-edge residual, "
        "which asks what `--method auto` asks (what lies beyond the measured range), "
        "and the lowest is in bold.",
        "",
        "| method | wedge edge | ratio | interleaved | ratio | FRC resolution | s/slice | × WBP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m, s in sorted(report.scores.items(), key=lambda kv: kv[1]["wedge_edge"]):
        name = f"**{m}**" if m == report.best else m
        t = report.seconds_per_slice[m]
        ratio = f"{t / wbp:.0f}×" if wbp else ""
        lines.append(
            f"| {name} | {s['wedge_edge']:.4g} | {s['wedge_edge_ratio']:.2f} | "
            f"{s['interleaved']:.4g} | {s['interleaved_ratio']:.2f} | "
            f"{s['frc_resolution']:.2f} | {t:.3f} | {ratio} |"
        )
    if report.reference:
        lines += [
            "",
            "## Against the reference volume",
            "",
            "| method | PSNR (dB) | SSIM | RMSE |",
            "|---|---|---|---|",
        ]
        for m, r in sorted(report.reference.items(), key=lambda kv: -kv[1]["psnr"]):
            lines.append(f"| {m} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['rmse']:.4g} |")
    lines += [
        "",
        "## Figures",
        "",
        "![slices](slices.png)",
        "",
        "![FRC](frc.png)",
        "",
        "![wedge edge](wedge_edge.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(report: BenchmarkReport, images: dict, out_dir, *, command: str = "") -> Path:
    """Write ``report.md``, ``report.json`` and the PNG figures into ``out_dir``.

    Returns
    -------
    pathlib.Path
        The ``report.md`` path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _figures(report, images, out)
    doc = {
        "command": command,
        "input": report.input,
        "rows": report.rows,
        "angles_deg": report.angles_deg,
        "best_without_ground_truth": report.best,
        "seconds_per_slice": report.seconds_per_slice,
        "scores": report.scores,
        "reference": report.reference,
        "provenance": report.provenance,
    }
    atomic_write_text(out / "report.json", dumps(doc, indent=1) + "\n")
    md = out / "report.md"
    atomic_write_text(md, _markdown(report, command) + "\n")
    return md


def _save(fig, path: Path) -> None:
    """A figure as PNG, atomically (no half-written image if the run stops)."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


def _figures(report: BenchmarkReport, images: dict, out: Path) -> None:
    import matplotlib  # optional heavy: loaded only when a report is drawn, Agg backend

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = images["reconstructions"]
    methods = list(recs)
    k = len(report.rows) // 2
    fig, axes = plt.subplots(2, len(methods), figsize=(2.6 * len(methods), 5.4), squeeze=False)
    for j, m in enumerate(methods):
        img = recs[m][k]
        lo, hi = np.percentile(recs[methods[0]][k], [0.5, 99.5])
        axes[0, j].imshow(img, cmap="gray", vmin=lo, vmax=hi)
        axes[0, j].set_title(f"{m}\nwedge edge {report.scores[m]['wedge_edge']:.3g}", fontsize=9)
        spec = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(img))))
        axes[1, j].imshow(spec, cmap="magma")
        axes[1, j].set_title("|FFT| (log)", fontsize=8)
        for ax in axes[:, j]:
            ax.set_axis_off()
    fig.suptitle(f"slice {report.rows[k]}", fontsize=10)
    fig.tight_layout()
    _save(fig, out / "slices.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for m, curve in images["frc"].items():
        if len(curve):
            f = (np.arange(len(curve)) + 0.5) / len(curve)
            ax.plot(f, curve, label=f"{m} ({report.scores[m]['frc_resolution']:.2f})")
    ax.axhline(FRC_THRESHOLD, color="k", lw=0.8, ls="--")
    ax.set_xlabel("spatial frequency (fraction of Nyquist)")
    ax.set_ylabel("even/odd FRC")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out / "frc.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    first = next(iter(images["edge"].values()))
    measured, _, held_angles = first
    ax.plot(measured[0], color="k", lw=1.6, label=f"measured at {held_angles[0]:.1f}°")
    for m, (_, predicted, _) in images["edge"].items():
        ax.plot(predicted[0], lw=0.9, label=m)
    ax.set_xlabel("detector pixel")
    ax.set_ylabel("line integral")
    ax.set_title(f"wedge edge, slice {report.rows[0]}: reconstructed without it", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out / "wedge_edge.png")
    plt.close(fig)
