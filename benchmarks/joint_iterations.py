"""How many PDHG iterations joint's data-consistency step needs (validation data only).

The data-consistency step (:func:`~tomoinpaint.recon.joint.data_consistency`)
starts from the network image, which is already close to the answer, so it
may need far fewer iterations than TV started from zero (500,
``results/tv_iterations.md``). Per validation sample the network prior is
computed once, exactly as ``joint`` makes it (:func:`~tomoinpaint.recon.joint.joint_prior`:
at the input's width with more TV iterations for clean data, at the network's
for noisy data), then the step runs with its defaults at each iteration count;
the table gives mean PSNR / SSIM and the step's seconds per slice, and TV at
its defaults for reference. Samples: validation seeds (1,000,000+, "train"
image split), 45° wedge at 1.5° steps, three families, three doses, at 128²
and 256².

Run::

    python benchmarks/joint_iterations.py [--count 2] [--sizes 128 256] \
        [--counts 75 100 150] [--name joint_iterations_dc]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import (
    DOSES,
    add_validation_options,
    family_dose_rows,
    header,
    step_variant_rows,
    write_results,
)

from tomoinpaint.recon.joint import DEFAULTS, data_consistency

FAMILIES = ("shapes", "natural", "ct")
COUNTS = (50, 100, 150, 200, 300, 500)


def _step(iterations, b, angles, prior, noise):
    rec = data_consistency(
        b, angles, prior, iterations=iterations, device="cpu", noise_estimates=noise
    )
    return rec[0], {}


def one_sample(task) -> list[dict]:
    """Rows (one per dose and iteration count, and TV) of one validation sample."""
    family, index, n, model, counts = task
    return step_variant_rows(family, index, n, model, DOSES, counts, _step)


def _table(rows: list[dict], n: int, counts) -> str:
    variants = [*counts, "tv"]
    names = [f"{c} it." for c in counts] + ["TV"]
    lines = [
        f"### {n}²",
        "",
        "| family | dose | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    at = [r for r in rows if r["n"] == n]
    lines += family_dose_rows(at, FAMILIES, DOSES, variants)
    mean = [np.mean([r["psnr"] for r in at if r["variant"] == v]) for v in variants]
    lines.append("| mean PSNR | | " + " | ".join(f"{m:.2f}" for m in mean) + " |")
    secs = [np.mean([r["seconds"] for r in at if r["variant"] == v]) for v in variants]
    lines.append("| seconds / slice | | " + " | ".join(f"{t:.2f}" for t in secs) + " |")
    prior = np.mean([r["prior_seconds"] for r in at if "prior_seconds" in r])
    return "\n".join(lines) + f"\n\nThe network prior (before the step): {prior:.2f} s / slice.\n"


def main() -> None:
    from concurrent.futures import ProcessPoolExecutor

    from _common import one_thread_worker

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_options(ap)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    ap.add_argument("--name", default="joint_iterations", help="results file name")
    ap.set_defaults(count=2)
    args = ap.parse_args()
    model = str(args.model.resolve())
    tasks = [
        (f, i, n, model, tuple(args.counts))
        for n in args.sizes
        for f in FAMILIES
        for i in range(args.count)
    ]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = [r for rs in pool.map(one_sample, tasks) for r in rs]
    text = (
        "Mean PSNR (dB) / SSIM of joint (its defaults and its prior, "
        f"{DEFAULTS.iterations} iterations shipped) by data-consistency iterations, and TV "
        "at its defaults; seconds per slice of the step alone (TV: the whole solve), one "
        "thread per worker.\n\n" + "\n".join(_table(rows, n, args.counts) for n in args.sizes)
    )
    meta = header() | {
        "samples": f"{args.count} validation samples per family (seeds from 1,000,000)",
        "wedge": "45° (±67.5°, 1.5° step)",
        "weights": str(args.model),
    }
    write_results(args.name, meta, text, rows)


if __name__ == "__main__":
    main()
