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
from _common import DOSES, RESULTS, eval_set, header, wedge_angles, write_results

from tomoinpaint.geometry import Geometry
from tomoinpaint.metrics import psnr
from tomoinpaint.project import Projector
from tomoinpaint.recon.tv import estimate_noise, image_scale, tv

WEIGHTS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


def fit_rule(rows) -> tuple[float, float, list[str]]:
    """Pick ``floor`` and ``k`` of ``lam = max(floor, k * sigma_rel)`` maximising mean PSNR.

    Each row's PSNR at the rule's weight is interpolated linearly in log-weight
    between the swept weights. Returns (floor, k, markdown lines).
    """
    logw = np.log10(WEIGHTS)

    def score(floor, k):
        vals = []
        for r in rows:
            lam = np.clip(max(floor, k * r["sigma_rel"]), WEIGHTS[0], WEIGHTS[-1])
            vals.append(np.interp(np.log10(lam), logw, list(r["psnr"].values())))
        return float(np.mean(vals))

    floors = 10.0 ** np.arange(-5, -2.49, 0.25)
    ks = 10.0 ** np.arange(-5, -1.49, 0.25)
    grid = [(score(f, k), f, k) for f in floors for k in ks]
    best = max(grid)
    oracle = float(np.mean([max(r["psnr"].values()) for r in rows]))
    fixed = max((score(w, 0.0), w) for w in WEIGHTS)
    lines = [
        "",
        "Rule fit (mean PSNR over all rows above):",
        "",
        f"- oracle (best weight per row): {oracle:.2f} dB",
        f"- best single fixed weight ({fixed[1]:g}): {fixed[0]:.2f} dB",
        f"- rule lam = max({best[1]:.3g}, {best[2]:.3g} * sigma_rel): {best[0]:.2f} dB",
    ]
    return float(best[1]), float(best[2]), lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=4, help="validation samples per family")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--fit-only", action="store_true", help="refit the rule on the last results")
    args = ap.parse_args()
    if args.fit_only:
        import json

        saved = json.loads((RESULTS / "tv_weight_calibration.json").read_text())
        report(saved["results"], saved["meta"])
        return
    angles = wedge_angles(45.0)
    rows = []
    with Projector(Geometry(angles, args.n)) as P:
        for family in ("shapes", "natural", "ct"):
            for s in eval_set(family, args.count, n=args.n, purpose="validation", angles=angles):
                for dose in DOSES:
                    b = s["sino"][dose]
                    sigma_rel = estimate_noise(b) / image_scale(P, b)
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
    meta = header() | {
        "iterations": args.iterations,
        "n": args.n,
        "wedge": "45° (±67.5°, 1.5° step)",
    }
    report(rows, meta)


def report(rows, meta) -> None:
    """Write the table of swept weights and the fitted rule to results/."""
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
    lines += fit_rule(rows)[2]
    print("\n".join(lines[-4:]))
    write_results("tv_weight_calibration", meta, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
