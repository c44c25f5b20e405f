"""The data-consistency step's ratio on clean sharp-edged objects the networks never saw (128 px).

``step_ratio.md`` (validation data of the training families, 45° wedge) found
a step ratio of 20 as good as 10 at 128 px. The ground-truth-free agreement
sets (``gt_free_agreement*.md``) then showed ``joint`` losing on noise-free
sliced 3D objects and shapes at other wedges once the step ran at ratio 20.
This reruns five of those cases (their data exactly: ``gt_free_agreement``'s
case builder, test seeds, two slices each, noise-free, 128 px) with the
prior made once and the step at several ``RATIO:ITERATIONS``.

Run::

    python benchmarks/step_ratio_sharp.py

Results: ``results/step_ratio_sharp.md`` / ``.json``.
"""

from __future__ import annotations

import numpy as np
from _common import header, write_results
from gt_free_agreement import WEDGES, _case_data

from tomoinpaint.metrics import psnr
from tomoinpaint.recon.joint import joint_from_prior, joint_prior

#: (family, wedge name, sample index of the gt_free_agreement set)
CASES = (
    ("sliced-3d", "30°", 50),
    ("sliced-3d", "30°", 0),
    ("sliced-3d", "45°", 50),
    ("shapes", "asym −50…70°", 0),
    ("shapes", "asym −50…70°", 50),
)
VARIANTS = ((10.0, 150), (15.0, 150), (20.0, 150), (20.0, 200), (10.0, 100), (20.0, 100))


def main() -> None:
    rows, lines = [], []
    names = [f"ratio {r:g}, {it} it." for r, it in VARIANTS]
    lines += ["| case | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for family, wedge, start in CASES:
        sino, gt, angles = _case_data(family, WEDGES.get(wedge), "noise-free", 128, 2, start)
        prior, noise = joint_prior(sino, angles, device="cpu")
        cells = []
        for ratio, its in VARIANTS:
            rec = joint_from_prior(
                sino, angles, prior, noise, iterations=its, step_ratio=ratio, device="cpu"
            )
            value = float(np.mean([psnr(g, r) for g, r in zip(gt, rec, strict=True)]))
            rows.append(
                {"family": family, "wedge": wedge, "start": start, "ratio": ratio}
                | {"iterations": its, "psnr": value}
            )
            cells.append(f"{value:.2f}")
        lines.append(f"| {family}, {wedge}, set {start} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    text = (
        "Mean PSNR (dB) of `joint` over the two noise-free 128-px slices of each case, by the "
        "data-consistency step's ratio and iterations (the prior made once per case).\n\n"
        + "\n".join(lines)
    )
    meta = header() | {"cases": "gt_free_agreement's data (test seeds), noise-free, 128 px"}
    write_results("step_ratio_sharp", meta, text, rows)


if __name__ == "__main__":
    main()
