"""``joint`` at real sizes on data the networks never saw, against SART and TV.

Issue 16's quality bar: at 256 and 512 px, on object families the networks
never saw, ``joint`` beats the better of SART and TV (noise-free ≥ 0 dB,
low dose ≥ +1 dB); and on the real tooth scan with a 45° block removed at
any position it beats TV by 0.5 dB with a higher SSIM.

Per case, ``--slices`` held-out slices (test seeds from 2,000,000; test
image split) are reconstructed by SART (20 sweeps), TV (its defaults),
``joint`` with the baseline weights (``--model``, its default prior size)
and, with ``--candidate DIR``, ``joint`` with those weights (prior size
``--candidate-prior-size``, default "auto": the input's width within the
sizes the TV network was trained on). Cases:

* ``sliced-3d``: 3D objects cut by the slice plane, as ``make demo``
  simulates them (``sim.phantom_volume``, 2× supersampled,
  area-integrating projector), a family the networks never saw;
* ``shepp-logan``: the Shepp–Logan head phantom, never seen either;
* ``natural``, ``ct``: the training families' held-out test images, at
  sizes the shipped network never saw;
* ``cell``: a cryo-ET-like cell (``sim.cells``: membranes, vesicles,
  particles, filaments, gold beads three times denser than the membranes),
  sliced as ``sliced-3d`` is (``--families cell`` runs only these);

at 256 and 512 px (:data:`CASES`; three more at 1024 px with ``--sizes
1024``), wedges 45° and 60° (1.5° steps),
noise-free, low dose (I0 = 2,000) and doses below it (I0 = 500 and 250 at 256
px; binned to the network's 128 px, about 1,000 and 500: the first is the
recipe's "very-low" dose since ``joint_tv150_wide``, the second below every
training dose). The real
``tooth.h5`` (400 px, 45 projections around 45°, 90° and 135° dropped) is
scored against the full scan's WBP (``--tooth``).

Run::

    python benchmarks/realsize_quality.py --candidate runs/NAME/weights --tooth
    python benchmarks/realsize_quality.py --candidate-iterations 150 --tooth \
        --reuse realsize_quality --rerun-joint --name realsize_quality_step
    python benchmarks/realsize_quality.py --sizes 1024 --slices 1 --name realsize_quality_n1024
    python benchmarks/realsize_quality.py --tooth-only --name realsize_quality_tooth
    python benchmarks/realsize_quality.py --sizes 512 --tv-iterations 2000 \
        --name realsize_quality_512_tv2000   # against a TV that has converged
    python benchmarks/realsize_quality.py --sizes 512 --tv-step-ratio auto \
        --reuse realsize_quality_512_tv2000 --rerun-tv --name realsize_quality_512_tv_auto
    python benchmarks/realsize_quality.py --tooth-only --tv-step-ratio auto \
        --reuse realsize_quality_tooth --rerun-tv --name realsize_quality_tooth_tv_auto
    python benchmarks/realsize_quality.py --candidate tomoinpaint/weights --tooth \
        --reuse realsize_quality_clean450 realsize_quality_weight --reuse-candidate-as-joint \
        --name realsize_quality_stepratio

Results: ``results/realsize_quality.md`` / ``.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import (
    RESULTS,
    TEST_SEED,
    VOLUME_FAMILY,
    eval_set,
    header,
    mean_of,
    one_thread_worker,
    score_variants,
    tooth_block_case,
    wedge_angles,
    write_results,
)

from tomoinpaint.recon.joint import WEIGHTS_DIR
from tomoinpaint.sim import poisson_dose, resolve_dose
from tomoinpaint.sim.phantoms import phantom_volume
from tomoinpaint.sim.tiltseries import simulate_tilt_series

#: (family, n, wedge degrees, dose): the simulated cases (fewer at 512 px, where one
#: slice takes about 1.5 min of the four methods on one core).
CASES = (
    *[
        ("sliced-3d", 256, w, d)
        for w in (45.0, 60.0)
        for d in ("noise-free", "low", "I0=500", "I0=250")
    ],
    *[("sliced-3d", 512, 45.0, d) for d in ("noise-free", "low")],
    *[("shepp-logan", n, 45.0, d) for n in (256, 512) for d in ("noise-free", "low")],
    *[(f, 256, 45.0, d) for f in ("natural", "ct") for d in ("noise-free", "low")],
    *[(f, 512, 45.0, "low") for f in ("natural", "ct")],
    # electron tomography's own subject (sim.cells), after the others (its seeds are theirs)
    *[("cell", 256, w, d) for w in (45.0, 60.0) for d in ("noise-free", "low")],
    *[("cell", 512, 45.0, d) for d in ("noise-free", "low")],
    # only with --sizes 1024 (not in the default run: several minutes per slice)
    *[("sliced-3d", 1024, 45.0, d) for d in ("noise-free", "low")],
    ("shepp-logan", 1024, 45.0, "low"),
)
#: (I0 = 250 came after the others: a case's seed holds its index in this order.)
DOSES = {"noise-free": None, "low": resolve_dose("low"), "I0=500": 500.0, "I0=250": 250.0}
TOOTH_BLOCKS = (45.0, 90.0, 135.0)


def case_data(family: str, n: int, wedge: float, dose: str, count: int, index: int):
    """(sinograms (count, n_tilts, n), ground truth (count, n, n), angles): held-out data."""
    angles = wedge_angles(wedge)
    rng = np.random.default_rng([TEST_SEED, 16, n, int(wedge), list(DOSES).index(dose), index])
    i0 = DOSES[dose]
    if family in VOLUME_FAMILY:
        fine = phantom_volume(count, 2 * n, rng, VOLUME_FAMILY[family])
        ts, gt = simulate_tilt_series(fine, angles, supersample=2)
        sino = np.ascontiguousarray(ts.transpose(1, 0, 2))
    else:
        samples = list(eval_set(family, count, n=n, angles=angles, doses=("noise-free",)))
        sino = np.stack([s["sino"]["noise-free"] for s in samples])
        gt = np.stack([s["gt"] for s in samples])
    if i0 is not None:
        sino = np.stack([poisson_dose(s, i0, rng) for s in sino])
    return sino.astype(np.float32), gt, angles


def methods(args) -> dict[str, tuple[str, dict]]:
    """Variant name -> (method, options)."""
    tv_options = {"iterations": args.tv_iterations, "step_ratio": args.tv_step_ratio}
    tv_options = {k: v for k, v in tv_options.items() if v is not None}
    out = {
        "SART": ("sart", {}),
        "TV": ("tv", tv_options),
        "joint": ("joint", {"model": str(args.model)}),
    }
    if tv_options:  # TV's defaults beside it, for comparison
        out["TV, default iterations" if args.tv_step_ratio is None else "TV, default"] = ("tv", {})
    if args.candidate is not None or args.candidate_iterations is not None:
        options = {"model": str(args.candidate or args.model)}
        options["prior_size"] = args.candidate_prior_size
        if args.candidate_iterations is not None:
            options["iterations"] = args.candidate_iterations
        out["joint, candidate"] = ("joint", options)
    return out


def run_one(task) -> list[dict]:
    """Rows (one per slice and variant) of one case."""
    (family, n, wedge, dose), variants, count = task
    if not variants:
        return []
    if family == "tooth":
        sino, gt, angles = tooth_block_case(wedge)
    else:
        sino, gt, angles = case_data(family, n, wedge, dose, count, 0)
    base = {"family": family, "n": int(gt.shape[-1]), "wedge": wedge, "dose": dose}
    rows = score_variants(sino, gt, angles, variants, base)
    print(family, n, wedge, dose, flush=True)
    return rows


def tables(rows: list[dict], variants: list[str]) -> str:
    """The per-case table, the bar's summary and the tooth table."""
    deep = [v for v in variants if v.startswith("joint")]
    head = (
        "| family | n | wedge | dose | "
        + " | ".join(variants)
        + " | "
        + " | ".join(f"{v} − better of SART, TV" for v in deep)
        + " |"
    )
    lines = [head, "|" + "---|" * (4 + len(variants) + len(deep))]
    cases = sorted(
        {(r["family"], r["n"], r["wedge"], r["dose"]) for r in rows if r["family"] != "tooth"},
        key=lambda c: (c[1], c[0], c[2], list(DOSES).index(c[3])),
    )
    deltas = []
    for family, n, wedge, dose in cases:
        m = dict(family=family, n=n, wedge=wedge, dose=dose)
        p = {v: mean_of(rows, "psnr", variant=v, **m) for v in variants}
        s = {v: mean_of(rows, "ssim", variant=v, **m) for v in variants}
        best = max(p["SART"], p["TV"])
        d = {v: p[v] - best for v in deep}
        deltas.append((n, dose, d))
        lines.append(
            f"| {family} | {n} | {wedge:g}° | {dose} | "
            + " | ".join(f"{p[v]:.2f} / {s[v]:.3f}" for v in variants)
            + " | "
            + " | ".join(f"{d[v]:+.2f}" for v in deep)
            + " |"
        )
    text = ""
    if cases:
        text += (
            "PSNR (dB) / SSIM against the ground truth, mean over the slices of each case; "
            "the last columns: PSNR minus the better of SART and TV.\n\n" + "\n".join(lines) + "\n"
        )
    summary = ["| n | dose | cases | " + " | ".join(f"{v}: mean Δ / worst Δ" for v in deep) + " |"]
    summary.append("|" + "---|" * (3 + len(deep)))
    for n in sorted({c[0] for c in deltas}):
        for dose in DOSES:
            ds = [d for nn, dd, d in deltas if nn == n and dd == dose]
            if ds:
                summary.append(
                    f"| {n} | {dose} | {len(ds)} | "
                    + " | ".join(
                        f"{np.mean([d[v] for d in ds]):+.2f} / {min(d[v] for d in ds):+.2f}"
                        for v in deep
                    )
                    + " |"
                )
    secs = ["| n | " + " | ".join(variants) + " |", "|" + "---|" * (1 + len(variants))]
    for n in sorted({r["n"] for r in rows}):
        secs.append(
            f"| {n} | "
            + " | ".join(f"{mean_of(rows, 'seconds', variant=v, n=n):.1f}" for v in variants)
            + " |"
        )
    if cases:
        text += (
            "\nΔ PSNR against the better of SART and TV, by size and dose (bar: noise-free ≥ 0, "
            "low dose ≥ +1 dB):\n\n" + "\n".join(summary) + "\n"
        )
    tooth = [r for r in rows if r["family"] == "tooth"]
    if tooth:
        t = ["| block around | " + " | ".join(variants) + " |", "|" + "---|" * (1 + len(variants))]
        for around in sorted({r["wedge"] for r in tooth}):
            t.append(
                f"| {around:g}° | "
                + " | ".join(
                    f"{mean_of(tooth, 'psnr', variant=v, wedge=around):.2f} / "
                    f"{mean_of(tooth, 'ssim', variant=v, wedge=around):.3f}"
                    for v in variants
                )
                + " |"
            )
        text += (
            "\nThe real tooth.h5 (400 px crop, 45 projections dropped around the angle given), "
            "PSNR (dB) / SSIM against the full scan's WBP, its two rows:\n\n" + "\n".join(t) + "\n"
        )
    text += "\nSeconds per slice (one thread per process):\n\n" + "\n".join(secs) + "\n"
    return text


def _reused_rows(names, variants, sizes, doses, tooth, candidate_as_joint) -> list[dict]:
    """The rows of ``variants`` in this run's cases from earlier results, one per case and slice.

    With ``candidate_as_joint``, a result's "joint, candidate" rows stand for "joint"
    and its "joint" rows are left out. Where several results hold the same case, slice
    and variant, the first name's row is kept.
    """
    kept, seen = [], set()
    for name in names:
        for r in json.loads((RESULTS / f"{name}.json").read_text())["results"]:
            variant = r["variant"]
            if candidate_as_joint:
                if variant == "joint":
                    continue
                variant = "joint" if variant == "joint, candidate" else variant
            if r["family"] == "tooth":
                wanted = tooth
            else:
                wanted = r["n"] in sizes and r["dose"] in doses
            if variant not in variants or not wanted:
                continue
            key = (r["family"], r["n"], r["wedge"], r["dose"], r["slice"], variant)
            if key not in seen:
                seen.add(key)
                kept.append(r | {"variant": variant})
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=WEIGHTS_DIR, help="baseline weights directory")
    ap.add_argument("--candidate", default=None, help="weights directory to compare")
    ap.add_argument("--candidate-prior-size", default="auto")
    ap.add_argument(
        "--candidate-iterations",
        type=int,
        default=None,
        help="the candidate's data-consistency iterations (default: joint's own); "
        "without --candidate, the baseline weights with this count",
    )
    ap.add_argument(
        "--tv-iterations",
        type=int,
        default=None,
        help="TV's iterations (the baseline the deep model is measured against); TV at its "
        "default runs beside it (default: TV's default alone)",
    )
    ap.add_argument(
        "--tv-step-ratio",
        default=None,
        help="TV's PDHG step ratio: a number or 'auto' (recon.tv.step_ratio_for_weight); TV "
        "at its defaults runs beside it",
    )
    ap.add_argument("--slices", type=int, default=2, help="slices per simulated case")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--tooth", action="store_true", help="also the real tooth scan")
    ap.add_argument(
        "--tooth-only", action="store_true", help="only the real tooth scan, no simulated case"
    )
    ap.add_argument(
        "--doses",
        nargs="+",
        default=list(DOSES),
        choices=list(DOSES),
        help="the simulated cases' doses (the tooth is given by --tooth)",
    )
    ap.add_argument(
        "--families",
        nargs="+",
        default=None,
        choices=sorted({c[0] for c in CASES}),
        help="only the simulated cases of these families (default: all)",
    )
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--name", default="realsize_quality", help="results file name")
    ap.add_argument(
        "--reuse",
        nargs="+",
        default=None,
        help="results names whose SART, TV and joint rows to take (same cases and seeds; "
        "the first name holding a row wins): only the candidate is run",
    )
    ap.add_argument(
        "--reuse-candidate-as-joint",
        action="store_true",
        help="with --reuse: take their candidate's rows as joint's (the candidate there "
        "became the default since), not their joint's",
    )
    ap.add_argument(
        "--rerun-joint",
        action="store_true",
        help="with --reuse: take only SART and TV from it, run joint again",
    )
    ap.add_argument(
        "--rerun-tv",
        action="store_true",
        help="with --reuse: take only SART and joint from it, run TV again",
    )
    args = ap.parse_args()
    if args.tooth_only and args.reuse and not (args.rerun_joint or args.rerun_tv):
        ap.error("--tooth-only with --reuse needs --rerun-joint or --rerun-tv (what to run)")
    args.tooth = args.tooth or args.tooth_only
    variants = methods(args)
    kept = []
    if args.rerun_joint and args.rerun_tv:
        ap.error("--rerun-joint and --rerun-tv: run without --reuse instead")
    reused = ("SART", "TV", "joint")
    if args.rerun_joint or args.rerun_tv:
        reused = ("SART", "TV") if args.rerun_joint else ("SART", "joint")
    if args.reuse:
        kept = _reused_rows(
            args.reuse, reused, args.sizes, args.doses, args.tooth, args.reuse_candidate_as_joint
        )
    cases = [c for c in CASES if c[1] in args.sizes and c[3] in args.doses]
    if args.families:
        cases = [c for c in cases if c[0] in args.families]
    if args.tooth_only:
        cases = []
    if args.tooth:
        cases += [("tooth", 400, around, "real") for around in TOOTH_BLOCKS]
    # the largest cases first, so that the two workers finish together
    cases.sort(key=lambda c: -c[1])
    run = {k: v for k, v in variants.items() if not (kept and k in reused)}
    tasks = [(c, run, args.slices) for c in cases]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = kept + [r for rs in pool.map(run_one, tasks) for r in rs]
    meta = header() | {
        "baseline weights": str(args.model),
        f"{', '.join(reused)} rows": (
            ", ".join(f"results/{name}.json" for name in args.reuse)
            + (" (joint: their candidate)" if args.reuse_candidate_as_joint else "")
            if args.reuse
            else "this run"
        ),
    }
    meta["TV iterations"] = args.tv_iterations or "default"
    meta["TV step ratio"] = args.tv_step_ratio or "default"
    if "joint, candidate" in variants:
        meta["candidate weights"] = (
            f"{args.candidate or args.model} (prior size {args.candidate_prior_size}, "
            f"data-consistency iterations {args.candidate_iterations or 'joint default'})"
        )
    if not args.tooth_only:
        meta["samples"] = (
            f"{args.slices} slices per case (seeds from {TEST_SEED:,}; test image split)"
        )
        meta["geometry"] = "parallel beam, 1.5° steps, wedge centred on 90°"
    write_results(args.name, meta, tables(rows, list(variants)), rows)


if __name__ == "__main__":
    main()
