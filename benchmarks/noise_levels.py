"""The relative noise ``joint``'s ``prior_size="auto"`` reads, and the size it picks, per case.

``auto`` runs the prior at the input's width when the data's relative noise
(:func:`tomoinpaint.recon.tv_weights.noise_level`, median over the slices)
is below ``input_size_noise`` (0.5), else at the network's 128 px. This
lists that noise for every case of ``realsize_quality.py`` (held-out), for
moderate-dose validation slices at 256 px (``_common.eval_set``), and for
the tooth with a block removed, with the size ``auto`` picks; so the
``auto`` column of ``realsize_quality.md`` can be read off its ``joint``
(128 px) and candidate (input size) columns.

Run::

    python benchmarks/noise_levels.py

Results: ``results/noise_levels.md`` / ``.json``.
"""

from __future__ import annotations

import numpy as np
from _common import eval_set, header, tooth_block_case, wedge_angles, write_results
from realsize_quality import CASES, TOOTH_BLOCKS, case_data

from tomoinpaint.recon.joint import DEFAULTS, load_joint_model
from tomoinpaint.recon.joint.prior import prior_image_size
from tomoinpaint.recon.tv_weights import noise_level


def _row(name, n, wedge, dose, sino, angles, model) -> dict:
    levels = [noise_level(s, angles, device="cpu") for s in sino]
    noise = float(np.median(levels))
    size = prior_image_size(model, n, "auto", noise)
    return {
        "case": name,
        "n": n,
        "wedge": wedge,
        "dose": dose,
        "noise": levels,
        "auto_size": "input" if size is not None and size != model.tv_n else "network",
    }


def main() -> None:
    model = load_joint_model()
    rows = []
    for family, n, wedge, dose in CASES:
        sino, _, angles = case_data(family, n, wedge, dose, 2, 0)
        rows.append(_row(family, n, f"{wedge:g}°", dose, sino, angles, model))
    angles = wedge_angles(45.0)
    for family in ("shapes", "natural", "ct"):
        s = list(
            eval_set(family, 2, n=256, purpose="validation", angles=angles, doses=("moderate",))
        )
        sino = np.stack([x["sino"]["moderate"] for x in s])
        rows.append(_row(f"{family} (validation)", 256, "45°", "moderate", sino, angles, model))
    for around in TOOTH_BLOCKS:
        sino, _, a = tooth_block_case(around)
        rows.append(_row("tooth", sino.shape[-1], f"block at {around:g}°", "real", sino, a, model))
    lines = ["| case | n | wedge | dose | relative noise (per slice) | auto's prior size |"]
    lines.append("|---|---|---|---|---|---|")
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['n']} | {r['wedge']} | {r['dose']} | "
            + ", ".join(f"{v:.2f}" for v in r["noise"])
            + f" | {r['auto_size']} |"
        )
    text = (
        f'`prior_size="auto"` threshold: relative noise {DEFAULTS.input_size_noise} '
        "(median over a call's slices).\n\n" + "\n".join(lines) + "\n"
    )
    write_results("noise_levels", header(), text, rows)


if __name__ == "__main__":
    main()
