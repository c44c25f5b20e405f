"""Does ``tomoinpaint adapt`` help ``joint`` on data unlike the training set?

Per case a volume is simulated as ``make demo`` does (``sim.phantom_volume``:
3D objects cut by the slice plane, a family the networks never saw as
such, for ``shepp-*`` the Shepp–Logan phantom, another, for ``cell-*`` a
cryo-ET-like cell, ``sim.cells``; 2× supersampled,
area-integrating projector, Poisson noise), the installed weights are
adapted to its tilt series for a fixed time budget
(:func:`tomoinpaint.adapt.adapt`, ``--sample`` evenly spaced slices), and
``joint`` with the installed and with the adapted weights is compared with
SART and TV against the ground truth on evaluation slices that the
adaptation did not learn from (the rows between the sampled ones). The
adaptation is self-supervised, so learning from the evaluated slices would
be legitimate too; leaving them out shows it generalises across the volume.

Run::

    python benchmarks/adaptation.py [--minutes 10] [--cases demo demo-low ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict

import numpy as np
from _common import (
    demo_phantom_case,
    header,
    tooth_block_case,
    tooth_heldout_case,
    write_results,
)

from tomoinpaint.adapt import AdaptSettings, adapt
from tomoinpaint.adapt.pairs import TARGETS
from tomoinpaint.demo import SIM
from tomoinpaint.geometry import tilt_range
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import compare
from tomoinpaint.score.report import sample_rows
from tomoinpaint.sim import resolve_dose
from tomoinpaint.sim.phantoms import phantom_volume
from tomoinpaint.sim.tiltseries import simulate_tilt_series

#: name -> (family, slice size, tilt range (deg), step (deg), dose)
CASES = {
    "demo": ("shapes", 128, (-60.0, 60.0), 2.0, "noise-free"),
    "demo-low": ("shapes", 128, (-60.0, 60.0), 2.0, "low"),
    "demo-45": ("shapes", 128, (-67.5, 67.5), 1.5, "noise-free"),
    "demo-asym": ("shapes", 128, (-50.0, 70.0), 2.0, "noise-free"),
    "demo-256": ("shapes", 256, (-60.0, 60.0), 2.0, "noise-free"),
    "demo-256-low": ("shapes", 256, (-60.0, 60.0), 2.0, "low"),
    "demo-256-45-low": ("shapes", 256, (-67.5, 67.5), 1.5, "low"),
    "demo-512-low": ("shapes", 512, (-67.5, 67.5), 1.5, "low"),
    "shepp-256": ("shepp-logan", 256, (-60.0, 60.0), 2.0, "noise-free"),
    "shepp-256-low": ("shepp-logan", 256, (-60.0, 60.0), 2.0, "low"),
    # a cryo-ET-like cell (sim.cells): membranes, particles, gold beads; no two slices alike
    "cell-256": ("cell", 256, (-60.0, 60.0), 2.0, "noise-free"),
    "cell-256-low": ("cell", 256, (-60.0, 60.0), 2.0, "low"),
    "cell-256-45-low": ("cell", 256, (-67.5, 67.5), 1.5, "low"),
    "cell-512-low": ("cell", 512, (-67.5, 67.5), 1.5, "low"),
}
#: The real scan: tooth.h5 with 45 projections (~1° each) dropped around these angles,
#: against the full scan's WBP ("tooth-*") or, from its even-indexed projections, against
#: the WBP of the odd-indexed ones, whose noise the input does not share ("tooth-even-*").
TOOTH_CASES = {"tooth-90": 90.0, "tooth-45": 45.0, "tooth-135": 135.0}
TOOTH_HELDOUT_CASES = {"tooth-even-90": 90.0, "tooth-even-45": 45.0, "tooth-even-135": 135.0}
#: make demo's own phantom (tomoinpaint.demo.SIM): adapt learns from its 4 slices and all are scored
MAKE_DEMO = "make-demo"
SEED = 2_000_123  # held-out range (BENCHMARKS.md)
#: The row of the adapted weights with their prior at the input's width (--prior-input).
PRIOR_INPUT = "joint adapted, prior at the input's width"
METHODS = ("sart", "tv")


def _tooth_case(name: str):
    """(sinograms (2, n_tilts, 400) without a block, the reference, angles)."""
    if name in TOOTH_HELDOUT_CASES:
        return tooth_heldout_case(TOOTH_HELDOUT_CASES[name])
    return tooth_block_case(TOOTH_CASES[name])


def run_case(
    name: str,
    ny: int,
    sample: int,
    evaluate: int,
    minutes: float,
    settings: AdaptSettings,
    keep: str | None = None,
    prior_input: bool = False,
) -> dict:
    if name in TOOTH_CASES or name in TOOTH_HELDOUT_CASES:
        # two rows only: adapt learns from both and both are scored (self-supervised)
        sino, gt, angles = _tooth_case(name)
        rows = np.arange(sino.shape[0])
        out = {"case": name, "n": sino.shape[-1], "tilts": f"{angles.size} of 181", "dose": "real"}
        return _compare(out, sino, gt, angles, rows, rows, minutes, settings, keep, prior_input)
    if name == MAKE_DEMO:
        return _make_demo_case(minutes, settings, keep, prior_input)
    family, n, (lo, hi), step, dose = CASES[name]
    rng = np.random.default_rng([SEED, list(CASES).index(name)])
    angles = tilt_range(lo, hi, step)
    fine = phantom_volume(ny, 2 * n, rng, family)
    ts, gt = simulate_tilt_series(fine, angles, supersample=2, dose=resolve_dose(dose), rng=rng)
    sino = np.ascontiguousarray(ts.transpose(1, 0, 2), dtype=np.float32)
    train_rows = sample_rows(ny, sample)
    rest = np.setdiff1d(np.arange(ny), train_rows)
    eval_rows = rest[np.linspace(0, rest.size - 1, evaluate).round().astype(int)]
    out = {"case": name, "n": n, "tilts": f"{lo:g}..{hi:g} step {step:g}", "dose": dose}
    return _compare(
        out, sino, gt, angles, train_rows, eval_rows, minutes, settings, keep, prior_input
    )


def _make_demo_case(
    minutes: float, settings: AdaptSettings, keep: str | None, prior_input: bool
) -> dict:
    """``make demo``'s phantom, simulated as ``tomoinpaint simulate`` does with its settings."""
    sino, gt, angles = demo_phantom_case(SIM["seed"])
    rows = np.arange(sino.shape[0])
    out = {"case": MAKE_DEMO, "n": SIM["n"], "tilts": f"{angles.min():g}..{angles.max():g} step "
           f"{SIM['step']:g}", "dose": "noise-free"}  # fmt: skip
    return _compare(out, sino, gt, angles, rows, rows, minutes, settings, keep, prior_input)


def _compare(
    out, sino, gt, angles, train_rows, eval_rows, minutes, settings, keep, prior_input=False
) -> dict:
    """SART, TV, joint installed and adapted on ``eval_rows``; adapt on ``train_rows``.

    ``keep``: a folder to keep the adapted weights in (``KEEP/<case>``), else a temporary one.
    ``prior_input``: also the adapted weights with ``prior_size="input"``.
    """
    rows = {}
    for method in METHODS:
        t0 = time.perf_counter()
        rec = reconstruct(sino[eval_rows], angles, method)
        rows[method] = _metrics(gt[eval_rows], rec, time.perf_counter() - t0, len(eval_rows))
    t0 = time.perf_counter()
    rec = reconstruct(sino[eval_rows], angles, "joint")
    rows["joint"] = _metrics(gt[eval_rows], rec, time.perf_counter() - t0, len(eval_rows))
    with tempfile.TemporaryDirectory() as tmp:
        model = f"{keep}/{out['case']}" if keep else f"{tmp}/m"
        res = adapt(sino[train_rows], angles, model, minutes=minutes, settings=settings)
        t0 = time.perf_counter()
        rec = reconstruct(sino[eval_rows], angles, "joint", model=model)
        rows["joint adapted"] = _metrics(
            gt[eval_rows], rec, time.perf_counter() - t0, len(eval_rows)
        )
        if prior_input:  # the adapted network run at the input's width instead of its own
            t0 = time.perf_counter()
            rec = reconstruct(sino[eval_rows], angles, "joint", model=model, prior_size="input")
            rows[PRIOR_INPUT] = _metrics(
                gt[eval_rows], rec, time.perf_counter() - t0, len(eval_rows)
            )
    out.update(
        methods=rows,
        adapt_seconds=res.seconds,
        adapt_rounds=res.rounds,
        pair_tv_iterations=res.tv_iterations,
        clean_prior_size=res.clean_prior_size,
        losses=res.losses,
        train_rows=[int(y) for y in train_rows],
        eval_rows=[int(y) for y in eval_rows],
    )
    print(out["case"], {k: round(v["psnr"], 2) for k, v in rows.items()}, flush=True)
    return out


def _metrics(truth, rec, seconds: float, count: int) -> dict:
    per = [compare(g, r) for g, r in zip(truth, rec, strict=True)]
    return {
        "psnr": float(np.mean([p["psnr"] for p in per])),
        "ssim": float(np.mean([p["ssim"] for p in per])),
        "seconds_per_slice": seconds / count,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    every_case = [*CASES, MAKE_DEMO, *TOOTH_CASES, *TOOTH_HELDOUT_CASES]
    ap.add_argument("--cases", nargs="+", default=["demo", "demo-low"], choices=every_case)
    ap.add_argument("--minutes", type=float, default=10.0, help="adaptation budget per case")
    ap.add_argument("--ny", type=int, default=24, help="slices per simulated volume")
    ap.add_argument("--sample", type=int, default=8, help="slices adapt learns from")
    ap.add_argument("--evaluate", type=int, default=4, help="other slices scored")
    ap.add_argument("--target", default="projections", choices=TARGETS, help="AdaptSettings.target")
    ap.add_argument(
        "--tv-iterations",
        type=int,
        default=None,
        help="AdaptSettings.tv_iterations (default: the network's training inputs')",
    )
    ap.add_argument(
        "--size", type=int, default=None, help="AdaptSettings.size (default: the network's)"
    )
    ap.add_argument(
        "--learning-rate", type=float, default=AdaptSettings.learning_rate, help="Adam's step size"
    )
    ap.add_argument("--keep", help="keep the adapted weights in KEEP/<case>")
    ap.add_argument(
        "--prior-input",
        action="store_true",
        help="also score the adapted weights with joint's prior at the input's width "
        "(prior_size='input') instead of the size adapted at",
    )
    ap.add_argument("--name", default="adaptation")
    args = ap.parse_args()
    settings = AdaptSettings(
        target=args.target,
        tv_iterations=args.tv_iterations,
        size=args.size,
        learning_rate=args.learning_rate,
    )
    results = [
        run_case(
            c,
            args.ny,
            args.sample,
            args.evaluate,
            args.minutes,
            settings,
            args.keep,
            args.prior_input,
        )  # fmt: skip
        for c in args.cases
    ]
    names = list(results[0]["methods"])
    lines = [
        "| case | n | tilts | dose | " + " | ".join(names) + " | adapted − installed | "
        "adapted − better of SART, TV | adapt time (rounds) | pairs' TV iterations | "
        "clean-data prior size |",
        "|---|---|---|---|" + "---|" * (len(names) + 5),
    ]
    for r in results:
        m = r["methods"]
        best_classic = max(m[k]["psnr"] for k in METHODS)
        lines.append(
            f"| {r['case']} | {r['n']} | {r['tilts']} | {r['dose']} | "
            + " | ".join(f"{m[k]['psnr']:.2f} / {m[k]['ssim']:.3f}" for k in names)
            + f" | {m['joint adapted']['psnr'] - m['joint']['psnr']:+.2f} | "
            f"{m['joint adapted']['psnr'] - best_classic:+.2f} | "
            f"{r['adapt_seconds'] / 60:.1f} min ({r['adapt_rounds']}) | "
            f"{r['pair_tv_iterations']} | {r.get('clean_prior_size') or 'not chosen'} |"
        )
    text = (
        "PSNR (dB) / SSIM against the ground truth on slices the adaptation did not learn "
        "from (the tooth: its two rows, both learned from and scored, against the full "
        "scan's WBP; tooth-even-*: from the even-indexed projections, against the odd-indexed "
        f"ones' WBP); adaptation budget {args.minutes:g} min on {args.sample} slices, "
        f"target {args.target!r}.\n\n" + "\n".join(lines)
    )
    meta = header() | {
        "adapt settings": str(asdict(settings)),
        "volumes": f"{args.ny} slices each, sim.phantom_volume (3D objects cut by the slice "
        "plane; shepp-*: the Shepp-Logan phantom in every slice), 2x supersampled, "
        "area-integrating projector; seeds from 2,000,123",
    }
    write_results(args.name, meta, text, results)


if __name__ == "__main__":
    main()
