"""The relative noise ``joint``'s ``prior_size="auto"`` reads, and the size it picks, per case.

``auto`` runs the prior at the input's width when the data's relative noise
(:func:`tomoinpaint.recon.tv_weights.noise_level`, median over the slices)
is below ``input_size_noise`` (0.5), else at the network's 128 px. This
lists that noise for every case of ``realsize_quality.py`` (held-out), for
moderate-dose validation slices at 256 px (``_common.eval_set``), and for
the tooth with a block removed, with the size ``auto`` picks; so the
``auto`` column of ``realsize_quality.md`` can be read off its ``joint``
(128 px) and candidate (input size) columns.

``--step``: instead, the noise ``joint``'s data-consistency step reads at
128 px (``slice_noise``) and the iterations it gives, for every noise-free
case of ``gt_free_agreement``'s four seed sets and ``method_speed``'s
moderate-dose data (``results/noise_levels_step``).

Run::

    python benchmarks/noise_levels.py
    python benchmarks/noise_levels.py --step   # ~2 min

Results: ``results/noise_levels.md`` / ``.json`` (``--step``: ``noise_levels_step``).
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import (
    eval_set,
    eval_stack,
    header,
    tooth_block_case,
    wedge_angles,
    write_results,
)
from realsize_quality import CASES, TOOTH_BLOCKS, case_data

from tomoinpaint.recon.joint import DEFAULTS, load_joint_model, slice_noise, step_iterations
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


def _step_rows() -> list[dict]:
    """The noise ``joint``'s step reads at 128 px and the iterations it gives: every
    noise-free case of ``gt_free_agreement``'s four seed sets, and ``method_speed``'s data."""
    import gt_free_agreement as agreement

    rows = []
    for start in (0, 50, 100, 150):
        for family in agreement.FAMILIES:
            for name, wedge in agreement.WEDGES.items():
                sino, _, a = agreement._case_data(family, wedge, "noise-free", 128, 2, start)
                rows.append(_step_row(f"{family}, seeds from {start}", name, "noise-free", sino, a))
    angles = wedge_angles(45.0)
    for family in ("shapes", "natural", "ct"):
        sino, _ = eval_stack(family, 8, 128, "moderate", angles)
        rows.append(
            _step_row(f"{family} (method_speed's 8 slices)", "45°", "moderate", sino, angles)
        )
    return rows


def _step_row(name, wedge, dose, sino, angles) -> dict:
    _, levels = slice_noise(sino, angles, device="cpu")
    noise = float(np.median(levels))
    return {
        "case": name,
        "wedge": wedge,
        "dose": dose,
        "noise": [float(v) for v in levels],
        "step_iterations": step_iterations(sino.shape[-1], noise),
    }


def _noise_table(columns: list[str], rows: list[dict], before: list[str], after: str) -> str:
    """Markdown rows: the ``before`` fields, each slice's noise, then the ``after`` field."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = [str(r[k]) for k in before] + [", ".join(f"{v:.2f}" for v in r["noise"])]
        lines.append("| " + " | ".join(cells + [str(r[after])]) + " |")
    return "\n".join(lines) + "\n"


def step_main() -> None:
    rows = _step_rows()
    table = _noise_table(
        ["case", "wedge", "dose", "relative noise (per slice)", "step iterations"],
        rows,
        ["case", "wedge", "dose"],
        "step_iterations",
    )
    clean = DEFAULTS.step_clean_noise
    text = (
        f"128 px. The step's {step_iterations(128, 0.0)} iterations below relative noise "
        f"{clean} (median over a call's slices, as joint reads it: "
        f"``recon.joint.slice_noise``), else {step_iterations(128, clean)}.\n\n" + table
    )
    write_results("noise_levels_step", header(), text, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--step", action="store_true", help="the noise joint's step reads at 128 px, instead"
    )
    if ap.parse_args().step:
        step_main()
        return
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
    table = _noise_table(
        ["case", "n", "wedge", "dose", "relative noise (per slice)", "auto's prior size"],
        rows,
        ["case", "n", "wedge", "dose"],
        "auto_size",
    )
    text = (
        f'`prior_size="auto"` threshold: relative noise {DEFAULTS.input_size_noise} '
        "(median over a call's slices).\n\n" + table
    )
    write_results("noise_levels", header(), text, rows)


if __name__ == "__main__":
    main()
