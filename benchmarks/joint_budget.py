"""Can joint cost no more than TV per slice? Its iteration budget, prior and step (validation data).

``joint`` is the network prior (TV on the networks' 128-px grid,
``tv_iterations`` of the weights' card, then the de-artifact network, flip
averaged) followed by the data-consistency step (PDHG, ``iterations``).
``joint_iterations.py`` found that the step needs far fewer than its 500
iterations at 128²; this benchmark varies both budgets together and reports
quality and the time of the whole method against TV at its defaults, per
slice, one thread per worker.

Configurations: (prior TV iterations, step iterations). Samples: validation
seeds (1,000,000+, "train" image split), 45° wedge at 1.5° steps, three
families, three doses, at the sizes given.

Run::

    python benchmarks/joint_budget.py [--count 2] [--sizes 128 256 512]

Results: ``results/joint_budget.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from _common import (
    DOSES,
    add_validation_options,
    eval_set,
    family_dose_rows,
    header,
    summary_rows,
    timed_row,
    wedge_angles,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import DEFAULTS, data_consistency, load_joint_model, network_prior

FAMILIES = ("shapes", "natural", "ct")
#: (prior TV iterations, data-consistency iterations); the first is what ships.
CONFIGS = ((300, 500), (300, 150), (200, 150), (200, 100), (150, 100), (100, 100))


def one_sample(task) -> list[dict]:
    """Rows (one per dose and configuration, and TV) of one validation sample."""
    family, index, n, model_dir, doses = task
    base_model = load_joint_model(model_dir, "cpu")
    angles = wedge_angles(45.0)
    s = next(eval_set(family, 1, n=n, purpose="validation", angles=angles, start=index))
    # warm-up: projection matrices, operator norms and the networks are cached per process
    b = s["sino"][doses[0]]
    tv(b, angles, iterations=2, device="cpu")
    warm = network_prior(b, angles, model=base_model, source=DEFAULTS.prior_source, device="cpu")
    data_consistency(b, angles, warm, iterations=2, device="cpu")
    rows = []
    for dose in doses:
        b = s["sino"][dose]
        base = {"family": family, "index": index, "dose": dose, "n": n}
        rows.append(timed_row(base, "tv", s["gt"], tv, b, angles, device="cpu"))
        priors = {}
        for prior_its, dc_its in CONFIGS:
            if prior_its not in priors:
                m = dataclasses.replace(base_model, tv_iterations=prior_its)
                t0 = time.perf_counter()
                p = network_prior(b, angles, model=m, source=DEFAULTS.prior_source, device="cpu")
                priors[prior_its] = (p, time.perf_counter() - t0)
            prior, t_prior = priors[prior_its]
            t0 = time.perf_counter()
            rec = data_consistency(b, angles, prior, iterations=dc_its, device="cpu")[0]
            t_dc = time.perf_counter() - t0
            rows.append(
                base
                | {
                    "variant": f"{prior_its}+{dc_its}",
                    "seconds": t_prior + t_dc,
                    "prior_seconds": t_prior,
                    "step_seconds": t_dc,
                }
                | compare(s["gt"], rec)
            )
    print(family, index, n, flush=True)
    return rows


def _table(rows: list[dict], n: int) -> str:
    variants = [f"{p}+{d}" for p, d in CONFIGS] + ["tv"]
    at = [r for r in rows if r["n"] == n]
    doses = [d for d in DOSES if any(r["dose"] == d for r in at)]
    lines = [
        f"### {n}²",
        "",
        "| family | dose | " + " | ".join(v if v == "tv" else f"{v} it." for v in variants) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    lines += family_dose_rows(at, FAMILIES, doses, variants)
    lines += summary_rows(at, FAMILIES, doses, variants, variants[0], "shipped")
    return "\n".join(lines) + "\n"


def main() -> None:
    from concurrent.futures import ProcessPoolExecutor

    from _common import one_thread_worker

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_options(ap)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--large-count", type=int, default=1, help="samples per family from 512 px on")
    ap.set_defaults(count=2)
    args = ap.parse_args()
    model = str(args.model.resolve())
    tasks = []
    for n in sorted(args.sizes, reverse=True):  # longest first
        count = args.count if n < 256 else args.large_count
        doses = ("moderate",) if n >= 512 else DOSES
        tasks += [(f, i, n, model, doses) for f in FAMILIES for i in range(count)]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = [r for rs in pool.map(one_sample, tasks) for r in rs]
    text = (
        "Mean PSNR (dB) / SSIM of joint by (prior TV iterations + data-consistency "
        f"iterations); shipped: {CONFIGS[0][0]}+{CONFIGS[0][1]}. Seconds per slice of the whole "
        "method (prior + step; TV: its solve), one thread per worker.\n\n"
        + "\n".join(_table(rows, n) for n in args.sizes)
    )
    meta = header() | {
        "samples": f"{args.count} validation samples per family and dose (seeds from "
        f"1,000,000); from 256 px on {args.large_count} per family; at 512 px moderate dose only",
        "wedge": "45° (±67.5°, 1.5° step)",
        "weights": str(args.model),
    }
    write_results("joint_budget", meta, text, rows)


if __name__ == "__main__":
    main()
