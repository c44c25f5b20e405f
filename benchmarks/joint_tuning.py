"""How the joint model's data-consistency step was chosen (validation data only).

The networks run once per sample (:func:`tomoinpaint.recon.joint.network_prior`);
the TV data-consistency step (:func:`~tomoinpaint.recon.joint.data_consistency`)
is then run for fixed prior weights and for the automatic, noise-following one
(:func:`~tomoinpaint.recon.joint.auto_prior_weight`), started from the network
image, with the prior's projections compared at the networks' resolution and
at half of it. The prior is the "tv" one (the
de-artifact network applied to TV, reprojected at the missing angles); the
"paper" prior (inpainted projections) is kept at its best setting of the first
tuning run (``results/joint_tuning_default_weights.md``: worse than TV at every
setting) for reference. Each row records TV's noise-adaptive weight, the
candidate to set the prior weight by. The last two columns are the worst
family's gain at each end of the dose range, as the acceptance bar of issue 4
reads them. Samples: validation seeds (1,000,000+;
"train" image split, never the held-out test set), 45° wedge at 1.5° steps,
128², three doses, three families. The defaults ``JOINT_PRIOR_SOURCE``,
``JOINT_PRIOR_WEIGHT`` and ``JOINT_ITERATIONS`` in
``tomoinpaint/recon/joint.py`` come from this table.

Run::

    python benchmarks/joint_tuning.py --model runs/joint_tv128/weights [--count 4]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import (
    DOSES,
    add_validation_options,
    eval_set,
    header,
    map_validation_samples,
    wedge_angles,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.recon import sart, tv
from tomoinpaint.recon.joint import data_consistency, network_prior
from tomoinpaint.recon.tv import default_weight

FAMILIES = ("shapes", "natural", "ct")
PRIOR_WEIGHTS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: PDHG iterations of the data-consistency step (TV alone runs 500); the paper
#: prior's reference row runs the first
ITERATIONS = (200, 500)


def one_sample(task):
    family, index, n, model = task
    angles = wedge_angles(45.0)
    s = next(eval_set(family, 1, n=n, purpose="validation", angles=angles, start=index))
    rows = []
    for dose in DOSES:
        b = s["sino"][dose]
        # recorded: TV's noise-adaptive weight, a candidate to set the prior weight by
        lam = default_weight(b, angles, device="cpu")
        recs = {"SART": sart(b, angles), "TV": tv(b, angles)}

        def dc(pw, it, prior, div=None, start="prior", b=b):
            res = None if div is None else prior.model_n // div
            return data_consistency(
                b, angles, prior, prior_weight=pw, iterations=it, start=start,
                prior_resolution=res, device="cpu",
            )[0]  # fmt: skip

        # the paper prior (inpainted projections + the paper pipeline's image): its best
        # setting of the first tuning run, for reference
        prior = network_prior(b, angles, model=model, device="cpu")
        recs["paper prior: network image"] = prior.image[0]
        recs["paper prior: w 0.03, 1/2 res"] = dc(0.03, ITERATIONS[0], prior, div=2)
        # the tv prior: the de-artifact network on TV, reprojected at the missing angles
        prior = network_prior(b, angles, model=model, source="tv", device="cpu")
        recs["tv prior: network image"] = prior.image[0]
        for pw in PRIOR_WEIGHTS:
            recs[f"tv prior: w {pw:g}, {ITERATIONS[-1]} it"] = dc(pw, ITERATIONS[-1], prior)
        # the shipped rule: the weight follows the noise (joint's default)
        recs[f"tv prior: w auto, {ITERATIONS[-1]} it"] = dc("auto", ITERATIONS[-1], prior)
        # the prior's projections trusted only at half its resolution
        recs[f"tv prior: w auto, {ITERATIONS[-1]} it, 1/2 res"] = dc(
            "auto", ITERATIONS[-1], prior, div=2
        )
        for name, rec in recs.items():
            rows.append({"family": family, "index": index, "dose": dose, "variant": name,
                         "tv_weight": lam}
                        | compare(s["gt"], rec))  # fmt: skip
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_options(ap)
    ap.add_argument("--name", default="joint_tuning", help="results/NAME.md and .json")
    args = ap.parse_args(argv)
    rows = map_validation_samples(one_sample, args, FAMILIES)

    variants = list(dict.fromkeys(r["variant"] for r in rows))
    cols = [(f, d) for f in FAMILIES for d in DOSES]
    lines = [
        "Mean PSNR (dB) / SSIM on validation samples, 45° wedge.",
        "",
        "| variant | "
        + " | ".join(f"{f} {d}" for f, d in cols)
        + " | mean ΔPSNR vs best of SART/TV | worst Δ noise-free | worst Δ low dose |",
        "|---|" + "---|" * (len(cols) + 3),
    ]

    def mean(variant, f, d, key):
        return float(
            np.mean(
                [r[key] for r in rows if (r["variant"], r["family"], r["dose"]) == (variant, f, d)]
            )
        )

    summary = {}
    for v in variants:
        cells, gains = [], []
        for f, d in cols:
            p, q = mean(v, f, d, "psnr"), mean(v, f, d, "ssim")
            cells.append(f"{p:.2f} / {q:.3f}")
            gains.append(p - max(mean("SART", f, d, "psnr"), mean("TV", f, d, "psnr")))
        summary[v] = float(np.mean(gains))
        # the acceptance bar is per family: its worst case at each end of the dose range
        worst = [
            min(g for g, (_, d) in zip(gains, cols, strict=True) if d == dd)
            for dd in ("noise-free", "low")
        ]
        lines.append(
            f"| {v} | " + " | ".join(cells) + f" | {summary[v]:+.2f} | "
            + " | ".join(f"{w:+.2f}" for w in worst) + " |"
        )  # fmt: skip
    meta = header() | {"weights": str(args.model.resolve()), "samples": f"{args.count} per family"}
    write_results(args.name, meta, "\n".join(lines), {"rows": rows, "mean_gain": summary})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
