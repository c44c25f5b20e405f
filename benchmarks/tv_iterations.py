"""Choose the default TV iteration count on validation data.

Validation samples of each family (45° wedge, 128², noise-free and two doses)
are reconstructed by TV with the default (noise-adaptive) weight for several
iteration counts; the table gives mean PSNR/SSIM and seconds per slice.

Run:  python benchmarks/tv_iterations.py [--count 2]
      python benchmarks/tv_iterations.py --n 512 --count 1 --counts 500 1000 2000 \
          --name tv_iterations_512   # does the default converge at 512 px?
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import DOSES, eval_set, header, wedge_angles, write_results

from tomoinpaint.metrics import compare
from tomoinpaint.recon import tv

COUNTS = (100, 200, 300, 500, 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2, help="validation samples per family")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    ap.add_argument("--name", default="tv_iterations", help="results file name")
    args = ap.parse_args()
    counts = tuple(args.counts)
    angles = wedge_angles(45.0)
    rows = []
    for family in ("shapes", "natural", "ct"):
        for s in eval_set(family, args.count, n=args.n, purpose="validation", angles=angles):
            for dose in DOSES:
                for it in counts:
                    t = time.perf_counter()
                    rec = tv(s["sino"][dose], angles, iterations=it)
                    sec = time.perf_counter() - t
                    m = compare(s["gt"], rec)
                    rows.append(
                        {"family": family, "dose": dose, "iterations": it, "seconds": sec} | m
                    )
                print(family, dose, [round(r["psnr"], 2) for r in rows[-len(counts) :]], flush=True)
    lines = [
        "| family | dose | " + " | ".join(f"{c} it." for c in counts) + " |",
        "|---|---|" + "---|" * len(counts),
    ]
    for family in ("shapes", "natural", "ct"):
        for dose in DOSES:
            cells = []
            for c in counts:
                sel = [
                    r
                    for r in rows
                    if (r["family"], r["dose"], r["iterations"]) == (family, dose, c)
                ]
                cells.append(
                    f"{np.mean([r['psnr'] for r in sel]):.2f} / "
                    f"{np.mean([r['ssim'] for r in sel]):.3f}"
                )
            lines.append(f"| {family} | {dose} | " + " | ".join(cells) + " |")
    secs = [np.mean([r["seconds"] for r in rows if r["iterations"] == c]) for c in counts]
    lines.append("| seconds / slice | | " + " | ".join(f"{t:.1f}" for t in secs) + " |")
    meta = header() | {
        "n": args.n,
        "wedge": "45° (±67.5°, 1.5° step)",
        "cells": "mean PSNR (dB) / SSIM, default noise-adaptive weight",
    }
    write_results(args.name, meta, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
