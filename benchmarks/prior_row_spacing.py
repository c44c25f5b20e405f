"""How many of the prior's missing-angle rows does ``joint``'s data-consistency step need?

The step fits the measured projections and the network prior's projections
at the missing angles of the networks' angular grid (1.5°). Each fitted row
costs as much per PDHG iteration as a measured one: at 128 px with a 45°
wedge the step fitted 121 rows where TV fits 91, so the step cost 1.33x a TV
iteration. The prior's rows vary slowly with the angle at the detail they
hold (128 px on the networks' grid), so fitting every other row, each
weighed for two, should cost little. Variants: every row (as before) and
rows 3° apart at 128 px of detail
(:func:`~tomoinpaint.recon.joint.consistency.prior_row_subset`: finer
detail, closer rows; at 256 px clean data, whose prior runs at the input's
size, every row still), all from one prior per slice, with the step's
seconds (one thread per worker).

Data: validation seeds (1,000,000+, "train" image split) of the three
training families and sliced 3D objects as ``make demo`` simulates them
(never seen in training), symmetric wedges of 30°, 45° and 60° at 1.5°,
noise-free, moderate and low dose, at 128 px (``--count`` slices per family
and wedge) and 256 px (``--large-count``; moderate and low dose, without TV).

Run::

    python benchmarks/prior_row_spacing.py [--count 2] [--large-count 1]   # ~15 min on 2 cores

Results: ``results/prior_row_spacing.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import (
    add_sized_validation_options,
    header,
    map_sized_samples,
    mean_of,
    shipped_diff_row,
    sized_samples_meta,
    validation_slice,
    weighted_step,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import DEFAULTS, joint_prior, load_joint_model

FAMILIES = ("shapes", "natural", "ct", "sliced-3d")
WEDGES = (30.0, 45.0, 60.0)
DOSES = ("noise-free", "moderate", "low")
SPACINGS = (None, 3.0)
#: From 256 px on, only noisy doses: clean data have their prior at the input's size
#: there, whose rows the step fits every one of (the same image, tested).
LARGE_DOSES = ("moderate", "low")
BEFORE = "every row"


def _name(spacing: float | None) -> str:
    name = BEFORE if spacing is None else f"{spacing:g}° apart"
    return name + (" (shipped)" if spacing == DEFAULTS.prior_row_spacing else "")


def one_sample(task) -> list[dict]:
    """Rows (each spacing, TV) of one validation slice at every dose."""
    family, wedge, index, n, model_dir = task
    model = load_joint_model(model_dir, "cpu")
    doses = DOSES if n < 256 else LARGE_DOSES
    sinos, gt, angles = validation_slice(family, n, index, doses, wedge)
    rows = []
    for dose in doses:
        b = np.asarray(sinos[dose], np.float32)[None]
        base = {"family": family, "wedge": wedge, "dose": dose, "n": n, "index": index}
        prior, noise = joint_prior(b, angles, model=model, device="cpu")
        for spacing in SPACINGS:
            t0 = time.perf_counter()
            rec = weighted_step(b, angles, prior, "auto", noise, prior_row_spacing=spacing)
            seconds = time.perf_counter() - t0
            rows.append(base | {"variant": _name(spacing), "seconds": seconds} | compare(gt, rec))
        if n < 256:  # TV for scale, where it is quick
            t0 = time.perf_counter()
            rec = tv(b[0], angles)
            rows.append(
                base | {"variant": "tv", "seconds": time.perf_counter() - t0} | compare(gt, rec)
            )
    print(family, wedge, index, n, flush=True)
    return rows


def _cell(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:.2f}"


def _table(rows: list[dict], n: int) -> str:
    variants = [_name(s) for s in SPACINGS]
    before = _name(None)
    at = [r for r in rows if r["n"] == n]
    lines = [
        f"### {n}²",
        "",
        "| dose | wedge | " + " | ".join(variants) + " | tv |",
        "|---|---|" + "---|" * (len(variants) + 1),
    ]
    for dose in DOSES if n < 256 else LARGE_DOSES:
        for wedge in WEDGES:
            match = {"n": n, "dose": dose, "wedge": wedge}
            cells = [_cell(mean_of(at, "psnr", variant=v, **match)) for v in variants + ["tv"]]
            lines.append(f"| {dose} | {wedge:g}° | " + " | ".join(cells) + " |")
        label = f"**{dose}: − every row, mean (worst)**"
        lines.append(
            shipped_diff_row(label, [r for r in at if r["dose"] == dose], variants, before, 1)
            + " |"
        )
    lines.append(
        shipped_diff_row("**all: − every row, mean (worst)**", at, variants, before, 1) + " |"
    )
    secs = [mean_of(at, "seconds", variant=v) for v in variants]
    lines.append(
        "| **step seconds / slice (÷ every row)** | | "
        + " | ".join(f"{s:.2f} ({s / secs[0]:.2f})" for s in secs)
        + f" | {_cell(mean_of(at, 'seconds', variant='tv'))} |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sized_validation_options(ap)
    ap.set_defaults(count=2)
    args = ap.parse_args()
    rows = map_sized_samples(one_sample, args, [(f, w) for f in FAMILIES for w in WEDGES])
    text = (
        "Mean PSNR (dB) of joint by the spacing of the prior's rows its step fits, and TV "
        "at its defaults, over the four families; rows '− every row': the mean and worst "
        "slice difference to fitting every row. Seconds: the step alone (TV: the whole "
        "method), one thread per worker.\n\n" + "\n".join(_table(rows, n) for n in args.sizes)
    )
    write_results("prior_row_spacing", header() | sized_samples_meta(args), text, rows)


if __name__ == "__main__":
    main()
