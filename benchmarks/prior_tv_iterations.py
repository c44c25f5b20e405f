"""Fewer TV iterations in joint's prior, with a TV network trained on them (validation data).

``joint``'s prior runs TV for the ``tv_iterations`` of its TV network's model
card (300 for the network installed before ``joint_tv150``), then the network; at 128² that TV is
more than half of joint's time, and joint costs more than TV itself
(``results/method_speed.md``). ``joint_budget.py`` cut the prior's iterations
under the installed network, which then sees inputs it was never trained on.
This benchmark compares whole TV networks instead, each trained (recipes
``joint_tv150``, ``joint_tv100``) on TV of as many iterations as it is then
given, and the installed network given the same fewer iterations as a control
(the first run). With ``--no-controls`` (the second run), the earlier network
(``--model``, at its 300 iterations) is the baseline, against the candidate at
fixed counts and at the count ``joint`` now picks for the data's slice size and
noise (``prior_tv_iterations``).
Every variant is ``joint`` with its defaults otherwise (150 data-consistency
iterations, ``prior_size="auto"``, automatic prior weight).

Samples: validation seeds (1,000,000+, "train" image split), 45° wedge at
1.5° steps, shapes / natural images / CT at three doses; at 512 px the doses
of ``--large-doses`` (moderate). Seconds per slice of the whole method, one thread per worker, the
projection matrices and networks warmed up first.

Run::

    python benchmarks/prior_tv_iterations.py \
        --candidates runs/joint_tv150/weights runs/joint_tv100/weights
    python benchmarks/prior_tv_iterations.py --model runs/joint_tv128d4/weights \
        --candidates runs/joint_tv150/weights --no-controls --fixed 150 225 300 \
        --sizes 128 256 --name prior_tv_iterations_scaled

Results: ``results/prior_tv_iterations.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import (
    DOSES,
    eval_set,
    family_dose_rows,
    header,
    one_thread_worker,
    summary_rows,
    timed_row,
    wedge_angles,
    write_results,
)

from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import WEIGHTS_DIR, joint, load_joint_model

FAMILIES = ("shapes", "natural", "ct")


def _variants(base_dir: str, candidates: list[str], controls: bool, fixed: list[int]) -> dict:
    """Variant name -> (JointModel, prior TV iterations or None for joint's rule)."""
    base = load_joint_model(base_dir, "cpu")
    out = {}
    if controls:
        out[f"installed, {base.tv_iterations} it."] = (base, None)
    else:  # the baseline network as joint ran it before the count followed size and noise
        out[f"{Path(base_dir).parent.name}, {base.tv_iterations} it."] = (base, base.tv_iterations)
    for c in candidates:
        m = load_joint_model(c, "cpu")
        name = Path(c).parent.name
        if controls:
            out[f"installed given {m.tv_iterations} it."] = (base, m.tv_iterations)
            out[f"{name}, {m.tv_iterations} it."] = (m, None)
            continue
        out |= {f"{name}, {k} it.": (m, k) for k in fixed}
        out[f"{name}, joint's count"] = (m, None)
    return out


def one_sample(task) -> list[dict]:
    """Rows (one per dose and variant, and TV) of one validation sample."""
    family, index, n, base_dir, candidates, doses, controls, fixed = task
    variants = _variants(base_dir, candidates, controls, fixed)
    angles = wedge_angles(45.0)
    s = next(eval_set(family, 1, n=n, purpose="validation", angles=angles, start=index))
    # warm-up: projection matrices, operator norms and the networks are cached per process
    b = s["sino"][doses[0]]
    tv(b, angles, iterations=2, device="cpu")
    for m, _ in variants.values():
        joint(b, angles, model=m, iterations=2, prior_tv_iterations=2, device="cpu")
    rows = []
    for dose in doses:
        b = s["sino"][dose]
        base = {"family": family, "index": index, "dose": dose, "n": n}
        rows.append(timed_row(base, "tv", s["gt"], tv, b, angles, device="cpu"))
        for name, (m, its) in variants.items():
            options = {"model": m, "prior_tv_iterations": its, "device": "cpu"}
            rows.append(timed_row(base, name, s["gt"], joint, b, angles, **options))
    print(family, index, n, flush=True)
    return rows


def _table(rows: list[dict], n: int, variants: list[str]) -> str:
    at = [r for r in rows if r["n"] == n]
    doses = [d for d in DOSES if any(r["dose"] == d for r in at)]
    lines = [
        f"### {n}²",
        "",
        "| family | dose | " + " | ".join(variants) + " |",
        "|---|---|" + "---|" * len(variants),
    ]
    lines += family_dose_rows(at, FAMILIES, doses, variants)
    # variants[1]: the baseline network at its own count
    lines += summary_rows(at, FAMILIES, doses, variants, variants[1], "baseline")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=WEIGHTS_DIR, help="baseline weights")
    ap.add_argument("--candidates", nargs="+", required=True, help="weights directories")
    ap.add_argument("--count", type=int, default=3, help="samples per family at 128 px")
    ap.add_argument("--large-count", type=int, default=1, help="samples per family from 256 px")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument(
        "--large-doses", nargs="+", default=["moderate"], choices=DOSES, help="doses at 512 px"
    )
    ap.add_argument(
        "--controls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the installed network given each candidate's count (else: the baseline network "
        "given its own count at every size, as joint ran it before the count followed the "
        "slice size and noise, against each candidate at --fixed counts and at joint's)",
    )
    ap.add_argument("--fixed", type=int, nargs="*", default=[], help="with --no-controls")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--name", default="prior_tv_iterations", help="results file name")
    args = ap.parse_args()
    base_dir = str(args.model.resolve())
    candidates = [str(Path(c).resolve()) for c in args.candidates]
    tasks = []
    for n in sorted(args.sizes, reverse=True):  # longest first
        count = args.count if n < 256 else args.large_count
        doses = tuple(args.large_doses) if n >= 512 else DOSES
        tasks += [
            (f, i, n, base_dir, candidates, doses, args.controls, args.fixed)
            for f in FAMILIES
            for i in range(count)
        ]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = [r for rs in pool.map(one_sample, tasks) for r in rs]
    variants = ["tv", *_variants(base_dir, candidates, args.controls, args.fixed)]
    text = (
        "Mean PSNR (dB) / SSIM of joint with each TV network and prior TV iteration count "
        "(its other settings the defaults); `tv`: TV at its defaults. Seconds per slice of "
        "the whole method, one thread per worker.\n\n"
        + "\n".join(_table(rows, n, variants) for n in args.sizes)
    )
    meta = header() | {
        "samples": f"{args.count} validation samples per family and dose at 128 px (seeds from "
        f"1,000,000), {args.large_count} from 256 px on; at 512 px {', '.join(args.large_doses)}",
        "wedge": "45° (±67.5°, 1.5° step)",
        "baseline weights": str(args.model),
        "candidates": " ".join(args.candidates),
    }
    write_results(args.name, meta, text, rows)


if __name__ == "__main__":
    main()
