"""TV's step ratio: one ratio for every weight, or one that grows with the weight.

Validation slices of each family (45° wedge at 1.5°, noise-free and two
doses) are reconstructed by TV with the default noise-adaptive weight, the
PDHG step ratio fixed at 10 (how TV ran until this benchmark) and growing
with the weight ("auto", :func:`~tomoinpaint.recon.tv.step_ratio_for_weight`),
at several iteration counts; the table gives mean PSNR/SSIM and seconds per slice.
The samples and their noise are those of ``tv_iterations.py`` at the same
size and count, whose table has the fixed ratio at 2000 iterations.

Run:  python benchmarks/tv_step_ratio.py --n 128 --count 2
      python benchmarks/tv_step_ratio.py --n 512 --count 1 --name tv_step_ratio_512
"""

from __future__ import annotations

import argparse

from _common import (
    DOSES,
    eval_set,
    family_dose_rows,
    header,
    summary_rows,
    timed_row,
    wedge_angles,
    write_results,
)

from tomoinpaint.recon import tv
from tomoinpaint.recon.tv import STEP_RATIO

FAMILIES = ("shapes", "natural", "ct")
#: variant -> (step ratio, iterations); "tv" is how TV ran before (the reference).
VARIANTS = {
    "tv": (STEP_RATIO, 500),
    "auto, 250 it.": ("auto", 250),
    "auto, 500 it.": ("auto", 500),
    "auto, 1000 it.": ("auto", 1000),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2, help="validation samples per family")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--name", default="tv_step_ratio", help="results file name")
    args = ap.parse_args()
    angles = wedge_angles(45.0)
    rows = []
    for family in FAMILIES:
        for s in eval_set(family, args.count, n=args.n, purpose="validation", angles=angles):
            for dose in DOSES:
                base = {"family": family, "dose": dose, "index": s["index"]}
                for name, (ratio, its) in VARIANTS.items():
                    rows.append(
                        timed_row(
                            base,
                            name,
                            s["gt"],
                            tv,
                            s["sino"][dose],
                            angles,
                            iterations=its,
                            step_ratio=ratio,
                        )  # fmt: skip
                    )
                print(family, dose, [round(r["psnr"], 2) for r in rows[-len(VARIANTS) :]],
                      flush=True)  # fmt: skip
    variants = list(VARIANTS)
    lines = [
        "| family | dose | ratio 10, 500 it. (before) | " + " | ".join(variants[1:]) + " |",
        "|---|---|" + "---|" * len(variants),
        *family_dose_rows(rows, FAMILIES, DOSES, variants),
        *summary_rows(rows, FAMILIES, DOSES, variants, "tv", "before"),
    ]
    meta = header() | {
        "n": args.n,
        "samples": f"{args.count} validation slices per family (seeds from 1,000,000)",
        "wedge": "45° (±67.5°, 1.5° step)",
        "cells": "mean PSNR (dB) / SSIM, default noise-adaptive weight",
    }
    write_results(args.name, meta, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
