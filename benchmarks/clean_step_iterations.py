"""How many iterations does ``joint``'s data-consistency step need on clean data at 128 px?

The step starts from the network image and runs 150 PDHG iterations up to
128 px (300 from 256 px on). Noise-free data keep gaining from TV iterations
up to 1000 (``results/tv_iterations.md``), and on ``gt_free_agreement``'s
fresh seeds ``joint`` fell 0.35-0.37 dB below TV on noise-free 30° wedges of
sharp-edged objects, where the measurements carry most of the image and the
step has furthest to go from the network's guess. Variants: the step's
iteration count on noise-free data (150, 225, 300, and the shipped rule:
300 where the slice's relative noise is below ``DEFAULTS.step_clean_noise``,
else 150), all from one prior per slice made as ``joint`` makes it, with
the prior's and the step's seconds (so that ``joint``'s whole time per
slice can be set against TV's).

Data: validation seeds (1,000,000+, "train" image split) of the three
training families and sliced 3D objects as ``make demo`` simulates them
(never seen in training), symmetric wedges of 30°, 45° and 60° at 1.5°,
noise-free, 128 px (``--count`` slices per family and wedge). From 256 px on
clean data already get 300 iterations.

Run::

    python benchmarks/clean_step_iterations.py [--count 3]   # ~5 min on 2 cores

Results: ``results/clean_step_iterations.md`` / ``.json``.
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
    rows_where,
    shipped_diff_row,
    sized_samples_meta,
    validation_slice,
    weighted_step,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import joint_prior, load_joint_model, step_iterations

FAMILIES = ("shapes", "natural", "ct", "sliced-3d")
WEDGES = (30.0, 45.0, 60.0)
COUNTS = (150, 225, 300)
BEFORE = "150 it."
SHIPPED = "shipped rule"


def _name(count: int) -> str:
    return f"{count} it."


def one_sample(task) -> list[dict]:
    """Rows (each iteration count, TV) of one noise-free validation slice."""
    family, wedge, index, n, model_dir = task
    model = load_joint_model(model_dir, "cpu")
    sinos, gt, angles = validation_slice(family, n, index, ("noise-free",), wedge)
    b = np.asarray(sinos["noise-free"], np.float32)[None]
    base = {"family": family, "wedge": wedge, "n": n, "index": index}
    t0 = time.perf_counter()
    prior, noise = joint_prior(b, angles, model=model, device="cpu")
    prior_seconds = time.perf_counter() - t0
    base["noise"] = float(noise[1][0])
    rows = []
    for count in COUNTS:
        t0 = time.perf_counter()
        rec = weighted_step(b, angles, prior, "auto", noise, iterations=count)
        seconds = time.perf_counter() - t0
        fields = {"variant": _name(count), "seconds": seconds, "prior_seconds": prior_seconds}
        rows.append(base | fields | compare(gt, rec))
    # the shipped rule's count for this slice's noise: a copy of that count's row
    ruled = next(r for r in rows if r["variant"] == _name(step_iterations(n, base["noise"])))
    rows.append(ruled | {"variant": SHIPPED})
    t0 = time.perf_counter()
    rec = tv(b[0], angles)
    rows.append(base | {"variant": "tv", "seconds": time.perf_counter() - t0} | compare(gt, rec))
    print(family, wedge, index, n, flush=True)
    return rows


def _table(rows: list[dict], n: int) -> str:
    variants = [_name(c) for c in COUNTS] + [SHIPPED]
    at = [r for r in rows if r["n"] == n]
    lines = [
        f"### {n}² (the step's iterations before this benchmark: {step_iterations(n)})",
        "",
        "| family | wedge | relative noise (per slice) | " + " | ".join(variants) + " | tv |",
        "|---|---|---|" + "---|" * (len(variants) + 1),
    ]
    for family in FAMILIES:
        for wedge in WEDGES:
            match = {"n": n, "family": family, "wedge": wedge}
            noises = ", ".join(f"{r['noise']:.2f}" for r in rows_where(at, variant=BEFORE, **match))
            cells = [f"{mean_of(at, 'psnr', variant=v, **match):.2f}" for v in variants + ["tv"]]
            lines.append(f"| {family} | {wedge:g}° | {noises} | " + " | ".join(cells) + " |")
    for wedge in WEDGES:
        label = f"**{wedge:g}°: − {BEFORE}, mean (worst)**"
        sel = [r for r in at if r["wedge"] == wedge]
        lines.append(shipped_diff_row(label, sel, variants, BEFORE, 2) + " |")
    lines.append(shipped_diff_row(f"**all: − {BEFORE}, mean (worst)**", at, variants, BEFORE, 2))
    lines[-1] += " |"
    tv_s = mean_of(at, "seconds", variant="tv")
    prior_s = mean_of(at, "prior_seconds", variant=BEFORE)
    whole = [prior_s + mean_of(at, "seconds", variant=v) for v in variants]
    lines.append(
        "| **joint seconds / slice, prior + step (÷ TV)** | | | "
        + " | ".join(f"{s:.2f} ({s / tv_s:.2f})" for s in whole)
        + f" | {tv_s:.2f} |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sized_validation_options(ap, sizes=(128,))
    ap.set_defaults(count=3)
    args = ap.parse_args()
    rows = map_sized_samples(one_sample, args, [(f, w) for f in FAMILIES for w in WEDGES])
    text = (
        "Mean PSNR (dB) of joint on noise-free data by its data-consistency step's "
        "iterations, and TV at its defaults; rows '−': the mean and worst slice "
        f"difference to {BEFORE}. Seconds: one thread per worker (the prior once per "
        "slice, as joint makes it; TV the whole method).\n\n"
        + "\n".join(_table(rows, n) for n in args.sizes)
    )
    write_results("clean_step_iterations", header() | sized_samples_meta(args), text, rows)


if __name__ == "__main__":
    main()
