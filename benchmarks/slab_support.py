"""SART, SIRT and TV inside a slab (``reconstruct --thickness T --slab-only``): gain and risk.

A section or a lamella fills a slab of a slice. ``--slab-only`` makes SART,
SIRT and TV reconstruct inside the ``--thickness`` slab only, as IMOD's SIRT does
within THICKNESS: everything the projections hold is put inside the slab (a
support constraint). Without it they reconstruct the whole slice and the
slab is cut out. This measures both against the ground truth on the slab's
rows, for a slab that holds the specimen exactly, one 10 % of the slice
wider, and one 10 % of the slice thinner than the specimen (rows of it cut
off), and the time per slice.

Specimens: held-out test images of the three families (``make_sample``,
test split, seeds as ``_common.eval_set``) kept inside a centred band of
``--band`` of the slice's rows; simulated from the 2× finer grid (no
inverse crime), noise-free and at low dose; ±60° at 2° (61 tilts).
Methods at their defaults (SART 20 sweeps, SIRT 100 iterations, TV 500
iterations with its noise-adapted weight). TV's projection matrix of each
slab is built before it is timed (once per geometry and process in use).

Run::

    python benchmarks/slab_support.py                                   # ~6 min on 2 cores
    python benchmarks/slab_support.py --methods tv --name slab_support_tv  # ~15 min

Results: ``results/slab_support.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import TEST_SEED, header, mean_of, one_thread_worker, rows_where, write_results

from tomoinpaint.geometry import tilt_range
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import psnr
from tomoinpaint.sim import FAMILIES, make_sample, poisson_dose, resolve_dose, simulate_sinogram

DOSES = ("noise-free", "low")
METHODS = ("sart", "sirt", "tv")
#: Options that run a method's set-up (TV's matrix and steps) cheaply, before timing it.
WARM_UP = {"tv": {"iterations": 1}}
#: Slab widths tried, as (label, rows added on each side, as a fraction of the slice).
SLABS = (("exact", 0.0), ("10 % wider", 0.05), ("10 % thinner", -0.05))


def one_case(task) -> list[dict]:
    """Rows (method x dose x slab) of one held-out specimen at one size."""
    family, index, n, band, methods = task
    rng = np.random.default_rng([TEST_SEED, FAMILIES.index(family), index])
    fine = make_sample(family, n, rng, split="test")
    s = fine.shape[0] // n
    t = int(round(band * n))
    z0 = (n - t) // 2
    mask = np.zeros_like(fine)
    mask[s * z0 : s * (z0 + t)] = 1.0
    angles = tilt_range(-60.0, 60.0, 2.0)
    clean, gt = simulate_sinogram(fine * mask, angles)
    span = float(gt.max() - gt.min())
    rows = []
    for dose in DOSES:
        i0 = resolve_dose(dose)
        sino = clean if i0 is None else poisson_dose(clean, i0, rng)
        sino = np.asarray(sino, np.float32)
        for method in methods:
            warm = WARM_UP.get(method)
            if warm is not None:
                for _, extra in SLABS:
                    pad = int(round(extra * n))
                    slab = (z0 - pad, z0 + t + pad)
                    reconstruct(sino, angles, method, device="cpu", slab=slab, **warm)
                reconstruct(sino, angles, method, device="cpu", **warm)
            t0 = time.perf_counter()
            whole = reconstruct(sino, angles, method, device="cpu")
            t_whole = time.perf_counter() - t0
            for label, extra in SLABS:
                pad = int(round(extra * n))
                a, b = z0 - pad, z0 + t + pad
                t0 = time.perf_counter()
                inside = reconstruct(sino, angles, method, device="cpu", slab=(a, b))
                seconds = time.perf_counter() - t0
                # scored on the slab's rows that hold the specimen's band, both ways
                lo, hi = max(a, z0), min(b, z0 + t)
                rows.append(
                    {
                        "family": family,
                        "index": index,
                        "n": n,
                        "dose": dose,
                        "method": method,
                        "slab": label,
                        "psnr_slab_only": float(
                            psnr(gt[lo:hi], inside[lo - a : hi - a], data_range=span)
                        ),
                        "psnr_whole_cut": float(psnr(gt[lo:hi], whole[lo:hi], data_range=span)),
                        # what is lost when the slab cuts the specimen: its rows outside
                        "specimen_rows_outside": int(max(0, a - z0) + max(0, z0 + t - b)),
                        "seconds_slab_only": seconds,
                        "seconds_whole": t_whole,
                    }
                )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=3, help="held-out specimens per family")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--band", type=float, default=0.3, help="specimen's share of the rows")
    ap.add_argument("--methods", nargs="+", default=["sart", "sirt"], choices=METHODS)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--name", default="slab_support")
    args = ap.parse_args()
    tasks = [
        (f, i, n, args.band, tuple(args.methods))
        for n in args.sizes
        for f in FAMILIES
        for i in range(args.count)
    ]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = [r for part in pool.map(one_case, tasks) for r in part]

    def worst(**match) -> float:
        return min(r["psnr_slab_only"] - r["psnr_whole_cut"] for r in rows_where(rows, **match))

    lines = [
        f"Held-out specimens ({', '.join(FAMILIES)}; {args.count} each) inside a centred band "
        f"of {args.band:.0%} of the rows; ±60° at 2° (61 tilts). Mean PSNR (dB) against the "
        "ground truth on the slab's rows that hold the specimen: `--slab-only` (inside the "
        "slab) and the whole slice's rows (the default: the slab cut out); the change, and "
        "the worst specimen's. Seconds per slice on one core.",
        "",
        "| n | dose | method | slab | slab-only | whole, cut | change | worst | "
        "s slab-only / whole |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in args.sizes:
        for dose in DOSES:
            for method in args.methods:
                for label, _ in SLABS:
                    key = {"n": n, "dose": dose, "method": method, "slab": label}
                    a = mean_of(rows, "psnr_slab_only", **key)
                    b = mean_of(rows, "psnr_whole_cut", **key)
                    lines.append(
                        f"| {n}² | {dose} | {method} | {label} | {a:.2f} | {b:.2f} | "
                        f"{a - b:+.2f} | {worst(**key):+.2f} | "
                        f"{mean_of(rows, 'seconds_slab_only', **key):.2f} / "
                        f"{mean_of(rows, 'seconds_whole', **key):.2f} |"
                    )
    write_results(args.name, {**header(), "band": args.band}, "\n".join(lines), rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
