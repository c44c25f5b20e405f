"""``--bin`` (IMOD's ``newstack -bin``): time and quality of binned reconstructions.

A facility reconstructs a 2k or 4k series binned first. The question a user
asks: what does binning by N cost against reconstructing at full size and
binning the volume afterwards, and what does it save? Per binning (1, 2, 4)
and method, a sliced-3D volume (3D objects cut by the slice plane, as ``make
demo`` simulates them: ``sim.phantom_volume``, 2× supersampled,
area-integrating projector; test seeds), ``--n`` px, ``--ny`` rows, ±60° at 2°
steps (a 60° wedge), noise-free and at low dose (I0 = 2,000), is:

* binned as ``--bin N`` bins it (:func:`tomoinpaint.io.binning.bin_images`
  on the line integrals) and reconstructed: ``binned first`` (divided by N:
  its values are per binned voxel, N times the full-size volume's);
* reconstructed at full size and its volume binned afterwards (each N x N x N
  block averaged): ``full size, binned after`` (the same reference, so the
  two compare directly; computed once per method at binning 1);

and scored against the ground truth binned the same way (N x N x N block
means). Seconds: the whole volume's reconstruction, one thread per worker.

Run::

    python benchmarks/binning.py               # 512 px, 4 rows: ~15 min on 2 cores

Results: ``results/binning.md`` / ``.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import functools
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import TEST_SEED, header, one_thread_worker, write_results

from tomoinpaint.io.binning import bin_images
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import compare
from tomoinpaint.sim import poisson_dose, resolve_dose
from tomoinpaint.sim.phantoms import phantom_volume
from tomoinpaint.sim.tiltseries import simulate_tilt_series

BINS = (1, 2, 4)
METHODS = ("sart", "tv", "joint")
DOSES = {"noise-free": None, "low": resolve_dose("low")}
ANGLES = np.arange(-60.0, 60.0 + 1e-9, 2.0)


def bin_volume(volume: np.ndarray, factor: int) -> np.ndarray:
    """Average each ``factor``³ block of a volume ``(ny, n, n)`` (sizes multiples of it)."""
    if factor == 1:
        return volume.astype(np.float32)
    ny, n, _ = volume.shape
    f = factor
    blocks = volume.astype(np.float64).reshape(ny // f, f, n // f, f, n // f, f)
    return blocks.mean(axis=(1, 3, 5)).astype(np.float32)


@functools.lru_cache(maxsize=2)
def case(n: int, ny: int, dose: str):
    """(line-integral series (n_tilts, ny, n), ground truth (ny, n, n)) of one dose."""
    rng = np.random.default_rng([TEST_SEED, 61, n, ny])  # one object for both doses
    fine = phantom_volume(ny, 2 * n, rng, "shapes")
    ts, gt = simulate_tilt_series(fine, ANGLES, supersample=2)
    i0 = DOSES[dose]
    if i0 is not None:
        noise = np.random.default_rng([TEST_SEED, 62, n, ny])
        ts = np.stack([poisson_dose(s, i0, noise) for s in ts.transpose(1, 0, 2)], axis=1)
    return ts.astype(np.float32), gt.astype(np.float32)


def run_one(job: tuple) -> dict:
    """Reconstruct one (dose, binning, method) volume; the full-size volume kept at binning 1."""
    n, ny, dose, factor, method = job
    ts, gt = case(n, ny, dose)
    series = bin_images(ts, factor)
    sino = np.ascontiguousarray(series.transpose(1, 0, 2))
    t0 = time.perf_counter()
    # values per binned voxel, as ASTRA and tomopy give them: ``factor`` times the
    # full-size volume's, whose units the ground truth has
    rec = reconstruct(sino, ANGLES, method, device="cpu") / np.float32(factor)
    seconds = time.perf_counter() - t0
    row = {"dose": dose, "bin": factor, "method": method, "seconds": seconds}
    row["scores"] = {f: compare(bin_volume(gt, f), bin_volume(rec, f // factor)) for f in BINS
                     if f % factor == 0}  # fmt: skip
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=512, help="detector pixels (a multiple of 4)")
    ap.add_argument("--ny", type=int, default=4, help="rows (a multiple of 4)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--name", default="binning")
    args = ap.parse_args()
    jobs = [(args.n, args.ny, d, f, m) for d in DOSES for f in BINS for m in METHODS]
    # the longest first, so that the two workers end together
    jobs.sort(key=lambda j: j[3])
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = list(pool.map(run_one, jobs))

    lines = [
        f"A sliced-3D volume of {args.ny} rows x {args.n}² px, ±60° at 2° steps; per dose, "
        "binning and method: PSNR (dB) / SSIM against the ground truth binned alike, and the "
        "seconds for the whole volume (one thread). `full size, binned after`: the binning-1 "
        "reconstruction's volume binned afterwards, against the same reference.",
        "",
        "| dose | binning | slices | method | binned first | s | full size, binned after | s "
        "| binned first − after (dB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in DOSES:
        for f in BINS:
            for m in METHODS:
                r = next(x for x in rows if (x["dose"], x["bin"], x["method"]) == (d, f, m))
                full = next(x for x in rows if (x["dose"], x["bin"], x["method"]) == (d, 1, m))
                first, after = r["scores"][f], full["scores"][f]
                lines.append(
                    f"| {d} | {f} | {args.ny // f} x {args.n // f}² | {m} "
                    f"| {first['psnr']:.2f} / {first['ssim']:.3f} | {r['seconds']:.0f} "
                    f"| {after['psnr']:.2f} / {after['ssim']:.3f} | {full['seconds']:.0f} "
                    f"| {first['psnr'] - after['psnr']:+.2f} |"
                )
    meta = header() | {
        "case": f"sliced-3d, {args.ny} x {args.n}², ±60° at 2°, doses {', '.join(DOSES)}",
        "bins": BINS,
    }
    write_results(args.name, meta, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
