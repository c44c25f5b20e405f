"""Ring removal on a series given as line integrals: what it costs and what it gives.

``reconstruct --prep`` on a series already normalised and minus-logged (no
flat fields: an MRC or TIFF of line integrals) centres the rotation axis; it
removes rings (Vo's sorting-based stripe filter, as for raw DXchange data)
only with ``--rings``. This measures the basis of that default
(:func:`tomoinpaint.prep.resolve_rings`) and of the filter's window
(:func:`tomoinpaint.prep.ring_window`, about 1 % of the detector width;
``--windows`` compares others, e.g. algotom's fixed 21 px): on held-out
simulated data with the ground truth, what the filter does to a series
without stripes and to one with them.

Stripes: each detector column's line integrals offset by a constant, as a
detector pixel whose gain the flat field does not correct leaves them: 5% of
the columns by ±1% of the sinogram's maximum, and every column by a little
(0.1% rms). Geometries: a tilt series (±67.5° at 1.5°: 91 tilts, a 45°
wedge) and a micro-CT scan with a 45° block missing (0–180° at 1°, the
block around 90° removed: 135 tilts). Held-out data: three families,
noise-free and low dose, two slices each, 128² and 256². Methods: WBP and
TV at their defaults.

With ``--tooth``, also the real ``tooth.h5`` (raw counts with flat fields,
de-ringed by default), where there is no ground truth: how much of its
narrow stripes each window leaves (the rms of the column means of its
line integrals less their 9-px running median) and how much it changes the
data besides (the rms of the change less its column means), at its 640 px
and binned 2x. And, with a ground truth, its stripes on a simulated slice
of its size: the column offsets that the 21-px filter takes out of the
tooth's middle row (in proportion to the sinogram's maximum), added to a
640-px slice of 3D objects (as ``make demo``'s phantom) over the tooth's
181 angles at moderate dose, reconstructed by WBP and TV without the filter
and with each window.

Run::

    python benchmarks/prep_rings.py     # ~20 min on 2 cores
    python benchmarks/prep_rings.py --windows auto 21 --tooth --name prep_rings_window

Results: ``results/prep_rings.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import (
    eval_set,
    header,
    mean_of,
    one_thread_worker,
    rows_where,
    wedge_angles,
    write_results,
)
from scipy.ndimage import median_filter

from tomoinpaint import io as tio
from tomoinpaint import prep as tprep
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import psnr
from tomoinpaint.sim import poisson_dose, resolve_dose
from tomoinpaint.sim.phantoms import phantom_volume
from tomoinpaint.sim.tiltseries import simulate_tilt_series

FAMILIES = ("shapes", "natural", "ct")
DOSES = ("noise-free", "low")
METHODS = ("wbp", "tv")
GEOMETRIES = ("tilt series", "CT, 45° block")
DETECTORS = ("no stripes", "stripes")
#: Share of columns with a strong offset, its size and the weak offset of every column
#: (fractions of the sinogram's maximum).
STRIPE_SHARE, STRIPE_SIZE, STRIPE_FLOOR = 0.05, 0.01, 0.001
#: The windows the tooth table shows, besides the default of its width.
TOOTH_WINDOWS = (3, 5, 7, 11, 21)
#: The running median (columns) that the tooth's column means are compared with.
STRIPE_MEDIAN = 9


def geometry_angles(name: str) -> np.ndarray:
    """The tilt angles of a geometry, degrees."""
    if name == "tilt series":
        return wedge_angles(45.0, 1.5)
    full = np.arange(0.0, 180.0, 1.0)
    return full[np.abs(full - 90.0) > 22.5]


def with_stripes(sino: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``sino`` (n_tilts, n) with a constant offset per detector column."""
    n = sino.shape[1]
    scale = float(np.abs(sino).max())
    offset = rng.normal(0.0, STRIPE_FLOOR * scale, n)
    strong = rng.random(n) < STRIPE_SHARE
    offset[strong] += rng.choice([-1.0, 1.0], int(strong.sum())) * STRIPE_SIZE * scale
    return (sino + offset[np.newaxis, :]).astype(np.float32)


def window_px(window: str, n: int) -> int:
    """A ``--windows`` entry as pixels at detector width ``n`` ("auto": the default)."""
    return tprep.ring_window(n) if window == "auto" else int(window)


def one_case(task) -> list[dict]:
    """Rows (method x detector x window) of one held-out slice, one size, dose and geometry."""
    family, index, dose, geometry, n, windows = task
    angles = geometry_angles(geometry)
    sample = next(eval_set(family, 1, n=n, angles=angles, doses=(dose,), start=index))
    clean, gt = np.asarray(sample["sino"][dose], np.float32), sample["gt"]
    rng = np.random.default_rng([7, index, FAMILIES.index(family)])
    inputs = {"no stripes": clean, "stripes": with_stripes(clean, rng)}
    backend = tprep.backend("auto")
    rows = []
    for detector, sino in inputs.items():
        for window in (None, *windows):
            # as --prep does for a chunk of line integrals: (n_tilts, rows, nx)
            s = tprep.line_integrals(
                sino[:, np.newaxis, :], None, None, rings="sorting" if window else False,
                backend=backend, ring_window=window and window_px(window, n),
            )[:, 0, :]  # fmt: skip
            for method in METHODS:
                image = reconstruct(s, angles, method, device="cpu")
                rows.append(
                    {
                        "family": family,
                        "index": index,
                        "dose": dose,
                        "geometry": geometry,
                        "n": n,
                        "detector": detector,
                        "rings": window is not None,
                        "window": window,
                        "window_px": window and window_px(window, n),
                        "method": method,
                        "psnr": float(psnr(gt, image)),
                    }
                )
    return rows


def stripe_index(sino: np.ndarray) -> float:
    """The rms of ``sino``'s (n_tilts, n) column means less their running median: narrow stripes."""
    m = sino.mean(axis=0)
    return float(np.sqrt(np.mean((m - median_filter(m, STRIPE_MEDIAN)) ** 2)))


def tooth_middle_row(binning: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The real tooth's middle row, binned: raw, flats, darks (each (k, 1, nx)), angles."""
    tooth = importlib.resources.files("tomoinpaint").joinpath("data", "tooth.h5")
    with importlib.resources.as_file(tooth) as path:
        s = tio.read_tilt_series(path).binned(binning)
        y = s.shape[1] // 2
        fields = (s.data, s.flats, s.darks)
        raw, flats, darks = (np.asarray(a[:, y : y + 1], np.float32) for a in fields)
        return raw, flats, darks, np.asarray(s.angles_deg)


def tooth_rows(backend: str) -> list[dict]:
    """The real tooth's middle row, at 640 px and binned 2x, without and with each window."""
    rows = []
    for binning in (1, 2):
        raw, flats, darks, _ = tooth_middle_row(binning)
        n = raw.shape[2]
        base = tprep.line_integrals(raw, flats, darks, rings=False, backend=backend)[:, 0, :]
        rows.append({"n": n, "window": None, "stripes": stripe_index(base), "change": 0.0})
        for w in sorted({*TOOTH_WINDOWS, tprep.ring_window(n)}):
            out = tprep.line_integrals(
                raw, flats, darks, rings="sorting", backend=backend, ring_window=w
            )[:, 0, :]
            change = out - base
            rest = change - change.mean(axis=0)  # what is not a column offset
            rows.append(
                {
                    "n": n,
                    "window": w,
                    "default": w == tprep.ring_window(n),
                    "stripes": stripe_index(out),
                    "change": float(np.sqrt(np.mean(rest**2))),
                }
            )
    return rows


def tooth_stripe_rows(backend: str) -> list[dict]:
    """The tooth's stripes on a simulated 640-px slice: WBP and TV by window, against the truth."""
    raw, flats, darks, angles = tooth_middle_row(1)
    base = tprep.line_integrals(raw, flats, darks, rings=False, backend=backend)[:, 0, :]
    wide = tprep.line_integrals(
        raw, flats, darks, rings="sorting", backend=backend, ring_window=21
    )[:, 0, :]
    offsets = (base - wide).mean(axis=0) / np.abs(base).max()  # (640,)
    n = base.shape[1]
    rng = np.random.default_rng([7, n])
    volume, gt = simulate_tilt_series(phantom_volume(1, 2 * n, rng, "shapes"), angles)
    clean = volume[:, 0, :]
    sino = poisson_dose(clean, resolve_dose("moderate"), rng)
    sino = (sino + offsets * np.abs(clean).max()).astype(np.float32)
    rows = []
    for window in (None, *TOOTH_WINDOWS):
        s_w = tprep.line_integrals(
            sino[:, np.newaxis, :], None, None, rings="sorting" if window else False,
            backend=backend, ring_window=window,
        )[:, 0, :]  # fmt: skip
        for method in METHODS:
            image = reconstruct(s_w, angles, method, device="cpu")
            rows.append(
                {"n": n, "window": window, "method": method, "psnr": float(psnr(gt[0], image))}
            )
    return rows


def tooth_table(rows: list[dict]) -> list[str]:
    """The tooth's GT-free table."""
    lines = [
        "",
        f"The real `tooth.h5` (raw counts with flat fields; no ground truth), middle row: "
        f"the narrow stripes left (rms of the line integrals' column means less their "
        f"{STRIPE_MEDIAN}-px running median) and the change besides column offsets (rms "
        "of the change less its column means), ×10⁻³; *: the default window.",
        "",
        "| detector | window | stripes left | change besides offsets |",
        "|---|---|---|---|",
    ]
    for r in rows:
        w = "off" if r["window"] is None else f"{r['window']} px" + ("*" if r["default"] else "")
        lines.append(f"| {r['n']} px | {w} | {1e3 * r['stripes']:.2f} | {1e3 * r['change']:.2f} |")
    return lines


def tooth_stripe_table(rows: list[dict]) -> list[str]:
    """The tooth's stripes on a simulated slice: PSNR by window."""
    n = rows[0]["n"]
    windows = [None, *TOOTH_WINDOWS]
    names = ["off"] + [
        f"{w} px" + ("*" if w == tprep.ring_window(n) else "") for w in TOOTH_WINDOWS
    ]
    lines = [
        "",
        f"The tooth's stripes on a simulated {n}-px slice of 3D objects (moderate dose, the "
        "tooth's angles): PSNR (dB) against the ground truth by window; *: the default.",
        "",
        "| method | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for m in METHODS:
        cells = [mean_of(rows, "psnr", method=m, window=w) for w in windows]
        lines.append(f"| {m} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2, help="held-out slices per family and dose")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--name", default="prep_rings")
    ap.add_argument(
        "--windows",
        nargs="+",
        default=["21"],
        help="the filter's windows: 'auto' (prep.ring_window of the width) or pixels",
    )
    ap.add_argument("--tooth", action="store_true", help="also the real tooth's GT-free table")
    args = ap.parse_args()
    windows = tuple(args.windows)
    tasks = [
        (f, i, d, g, n, windows)
        for n in args.sizes
        for g in GEOMETRIES
        for f in FAMILIES
        for d in DOSES
        for i in range(args.count)
    ]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = [r for part in pool.map(one_case, tasks) for r in part]

    def worst(window, **match) -> float:
        """The largest loss of one slice from removing rings (dB; negative = a loss)."""
        on, off = ({(r["family"], r["index"]): r["psnr"] for r in rows_where(rows, window=w,
                   **match)} for w in (window, None))  # fmt: skip
        return min(on[k] - off[k] for k in on)

    def label(window: str, n: int) -> str:
        return f"{window_px(window, n)} px" + (" (default)" if window == "auto" else "")

    lines = [
        f"Held-out test data: {', '.join(FAMILIES)}; {args.count} slices each. "
        "Mean PSNR (dB) against the ground truth with ring removal off (`--no-rings`) and on "
        "(`--rings`: Vo's sorting-based filter) at each window, its mean change and the worst "
        f"slice's. Stripes: {STRIPE_SHARE:.0%} of the columns offset by "
        f"±{STRIPE_SIZE:.0%} of the sinogram's maximum, every column by "
        f"{STRIPE_FLOOR:.1%} rms.",
        "",
        "| size | geometry | tilts | detector | dose | method | rings off | window | rings on "
        "| on − off | worst slice |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in args.sizes:
        for g in GEOMETRIES:
            for det in DETECTORS:
                for dose in DOSES:
                    for m in METHODS:
                        key = {"n": n, "geometry": g, "detector": det, "dose": dose, "method": m}
                        off = mean_of(rows, "psnr", window=None, **key)
                        for w in windows:
                            on = mean_of(rows, "psnr", window=w, **key)
                            lines.append(
                                f"| {n}² | {g} | {geometry_angles(g).size} | {det} | {dose} "
                                f"| {m} | {off:.2f} | {label(w, n)} | {on:.2f} | {on - off:+.2f} "
                                f"| {worst(w, **key):+.2f} |"
                            )
    data = {"simulated": rows}
    if args.tooth:
        data["tooth"] = tooth_rows(tprep.backend("auto"))
        data["tooth_stripes"] = tooth_stripe_rows(tprep.backend("auto"))
        lines += tooth_table(data["tooth"]) + tooth_stripe_table(data["tooth_stripes"])
    write_results(args.name, {**header(), "backend": tprep.backend("auto")}, "\n".join(lines),
                  data)  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
