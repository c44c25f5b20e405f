"""``joint``'s data-consistency step at larger step ratios, on issue 16's held-out 512 px cases.

``step_ratio.py`` measures the step's ratio on validation data of the
training families; this runs it on the held-out low-dose cases of
``realsize_quality.py`` at 512 px (sliced 3D objects, Shepp–Logan, natural
and CT test images; the same slices, :func:`realsize_quality.case_data`),
where plain TV with ``--step-ratio auto`` closed most of ``joint``'s lead on
sliced 3D objects (``results/realsize_quality_512_tv_auto.md``). Per case the
network prior is made once as ``joint`` makes it, then the step runs at each
ratio with its default iteration count. TV with "auto" is taken from that
result (the same slices), not run again.

Run:  python benchmarks/joint_step_ratio_heldout.py
Results: ``results/joint_step_ratio_heldout.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import RESULTS, header, mean_of, write_results
from realsize_quality import case_data

from tomoinpaint.metrics import compare
from tomoinpaint.recon.joint import joint_prior
from tomoinpaint.recon.joint.methods import joint_from_prior

CASES = ("sliced-3d", "shepp-logan", "natural", "ct")
RATIOS = (20.0, 60.0, 200.0)
TV_RESULT = "realsize_quality_512_tv_auto"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=2, help="slices per case (as realsize_quality)")
    ap.add_argument("--name", default="joint_step_ratio_heldout", help="results file name")
    args = ap.parse_args()
    rows = []
    for family in CASES:
        sino, gt, angles = case_data(family, 512, 45.0, "low", args.slices, 0)
        t0 = time.perf_counter()
        prior, noise = joint_prior(sino, angles, device="cpu")
        prior_seconds = (time.perf_counter() - t0) / len(sino)
        for ratio in RATIOS:
            t0 = time.perf_counter()
            rec = joint_from_prior(sino, angles, prior, noise, step_ratio=ratio, device="cpu")
            seconds = (time.perf_counter() - t0) / len(sino) + prior_seconds
            for k, (g, r) in enumerate(zip(gt, rec, strict=True)):
                rows.append(
                    {"family": family, "slice": k, "variant": f"ratio {ratio:g}",
                     "seconds": seconds} | compare(g, r)
                )  # fmt: skip
        print(family, [round(r["psnr"], 2) for r in rows[-len(RATIOS) * len(sino) :]], flush=True)
    tv_rows = json.loads((RESULTS / f"{TV_RESULT}.json").read_text())["results"]
    variants = [f"ratio {r:g}" for r in RATIOS]
    lines = [
        "| case (512 px, low dose) | "
        + " | ".join(f"joint, {v}" for v in variants)
        + " | TV, auto | TV, default | joint, ratio 200 − TV auto |",
        "|---|" + "---|" * (len(variants) + 3),
    ]
    for family in CASES:
        p = {v: mean_of(rows, "psnr", variant=v, family=family) for v in variants}
        s = {v: mean_of(rows, "ssim", variant=v, family=family) for v in variants}
        tv = {"family": family, "dose": "low"}
        tv_p = {k: mean_of(tv_rows, "psnr", variant=k, **tv) for k in ("TV", "TV, default")}
        tv_s = {k: mean_of(tv_rows, "ssim", variant=k, **tv) for k in ("TV", "TV, default")}
        lines.append(
            f"| {family} | "
            + " | ".join(f"{p[v]:.2f} / {s[v]:.3f}" for v in variants)
            + f" | {tv_p['TV']:.2f} / {tv_s['TV']:.3f}"
            + f" | {tv_p['TV, default']:.2f} / {tv_s['TV, default']:.3f}"
            + f" | {p[variants[-1]] - tv_p['TV']:+.2f} |"
        )
    means = {v: mean_of(rows, "psnr", variant=v) for v in variants}
    lines.append(
        "| mean PSNR − ratio 20 | "
        + " | ".join(f"{means[v] - means[variants[0]]:+.2f}" for v in variants)
        + " | | | |"
    )
    secs = {v: mean_of(rows, "seconds", variant=v) for v in variants}
    lines.append(
        "| seconds / slice (prior and step) | "
        + " | ".join(f"{secs[v]:.1f}" for v in variants)
        + " | | | |"
    )
    meta = header() | {
        "samples": f"{args.slices} held-out slices per case (realsize_quality's, test seeds)",
        "geometry": "512 px, 45° wedge at 1.5° steps, low dose (I0 = 2,000)",
        "TV rows": f"results/{TV_RESULT}.json",
        "cells": "mean PSNR (dB) / SSIM against the ground truth",
    }
    write_results(args.name, meta, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
