"""Choose the default TV weight rule and iteration count on validation data.

For validation samples of each family (45° wedge, 128², noise-free and two
doses), sweeps the dimensionless TV weight and records the best one next to
the sinogram's relative noise estimate; the rule in
:mod:`tomoinpaint.recon.tv` (``lam = max(floor, k * sigma_rel)``) is fitted
to these pairs.

Run:  python benchmarks/tv_weight_calibration.py [--count 4] [--iterations 300]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import DOSES, eval_set, header, wedge_angles, write_results

from tomoinpaint.geometry import Geometry
from tomoinpaint.metrics import psnr
from tomoinpaint.project import Projector
from tomoinpaint.recon.tv import _image_scale, estimate_noise, tv

WEIGHTS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=4, help="validation samples per family")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--n", type=int, default=128)
    args = ap.parse_args()
    angles = wedge_angles(45.0)
    rows = []
    with Projector(Geometry(angles, args.n)) as P:
        for family in ("shapes", "natural", "ct"):
            for s in eval_set(family, args.count, n=args.n, purpose="validation", angles=angles):
                for dose in DOSES:
                    b = s["sino"][dose]
                    sigma_rel = estimate_noise(b) / _image_scale(P, b)
                    scores = [
                        psnr(s["gt"], tv(b, angles, weight=w, iterations=args.iterations))
                        for w in WEIGHTS
                    ]
                    best = int(np.argmax(scores))
                    rows.append(
                        {
                            "family": family,
                            "dose": dose,
                            "index": s["index"],
                            "sigma_rel": sigma_rel,
                            "best_weight": WEIGHTS[best],
                            "psnr": dict(zip(map(str, WEIGHTS), scores, strict=True)),
                        }
                    )
                    print(
                        family,
                        dose,
                        f"sigma_rel={sigma_rel:.4g}",
                        "best",
                        WEIGHTS[best],
                        np.round(scores, 2),
                        flush=True,
                    )
    lines = [
        "| family | dose | sigma_rel | best weight | "
        + " | ".join(f"w={w:g}" for w in WEIGHTS)
        + " |",
        "|---|---|---|---|" + "---|" * len(WEIGHTS),
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['dose']} | {r['sigma_rel']:.4g} | {r['best_weight']:g} | "
            + " | ".join(f"{v:.2f}" for v in r["psnr"].values())
            + " |"
        )
    meta = header() | {
        "iterations": args.iterations,
        "n": args.n,
        "wedge": "45° (±67.5°, 1.5° step)",
    }
    write_results("tv_weight_calibration", meta, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
