"""Is ``joint``'s automatic prior weight what holds it below TV on the real tooth scan?

The automatic weight follows the data's relative noise: the tooth (0.83-0.88,
``results/noise_levels.md``) gets the weight of a moderate-dose simulated
slice (about 8), i.e. its network prior counts like eight measurements.
That assumes the network is as right on the tooth as on simulated data. This
reconstructs ``tooth.h5`` with a block of 45 projections dropped around 45°,
90° and 135° (``_common.tooth_block_case``) by TV and by ``joint`` at its
automatic weight and at fixed weights, and scores each against the full
scan's WBP.

Run::

    python benchmarks/tooth_prior_weight.py

Results: ``results/tooth_prior_weight.md`` / ``.json``.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import header, one_thread_worker, score_variants, tooth_block_case, write_results

from tomoinpaint.recon.joint import auto_prior_weight
from tomoinpaint.recon.tv_weights import noise_level

BLOCKS = (45.0, 90.0, 135.0)
#: variant -> (method, options)
VARIANTS = {
    "TV": ("tv", {}),
    "joint (auto weight)": ("joint", {}),
    "joint, weight 3": ("joint", {"prior_weight": 3.0}),
    "joint, weight 1": ("joint", {"prior_weight": 1.0}),
    "joint, weight 0.3": ("joint", {"prior_weight": 0.3}),
    "joint, weight 0.1": ("joint", {"prior_weight": 0.1}),
}


def run_block(around: float) -> list[dict]:
    sino, ref, angles = tooth_block_case(around)
    weights = [auto_prior_weight(noise_level(s, angles, device="cpu")) for s in sino]
    rows = score_variants(sino, ref, angles, VARIANTS, {"block": around})
    for r in rows:
        r["auto_weight"] = weights[r["slice"]]
    print(around, flush=True)
    return rows


def main() -> None:
    with ProcessPoolExecutor(2, initializer=one_thread_worker) as pool:
        rows = [r for rs in pool.map(run_block, BLOCKS) for r in rs]
    names = list(VARIANTS)
    lines = ["| block around | auto weight | " + " | ".join(names) + " |"]
    lines.append("|" + "---|" * (2 + len(names)))
    for b in BLOCKS:
        sel = [r for r in rows if r["block"] == b]
        w = np.mean([r["auto_weight"] for r in sel])
        cells = []
        for v in names:
            vs = [r for r in sel if r["variant"] == v]
            cells.append(
                f"{np.mean([r['psnr'] for r in vs]):.2f} / {np.mean([r['ssim'] for r in vs]):.3f}"
            )
        lines.append(f"| {b:g}° | {w:.1f} | " + " | ".join(cells) + " |")
    text = (
        "tooth.h5 (400 px crop, 45 projections dropped around the angle given), PSNR (dB) / "
        "SSIM against the full scan's WBP, mean of its two rows; joint with its default "
        "settings except the prior weight.\n\n" + "\n".join(lines) + "\n"
    )
    write_results("tooth_prior_weight", header(), text, rows)


if __name__ == "__main__":
    main()
