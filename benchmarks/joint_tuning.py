"""How the joint model's data-consistency step was chosen (validation data only).

The networks run once per sample (:func:`tomoinpaint.recon.joint.network_prior`,
the "tv" prior: the TV de-artifact network applied to TV of the measured data,
reprojected at the missing angles), once as a single pass and once averaged
over the flips that keep the measured angles
(:func:`~tomoinpaint.recon.joint.symmetric_flips`). The TV data-consistency
step (:func:`~tomoinpaint.recon.joint.data_consistency`, 500 PDHG iterations
unless said otherwise, started from the network image) is then run for fixed
prior weights and for the automatic, noise-following one
(:func:`~tomoinpaint.recon.joint.auto_prior_weight`) clipped at several
maxima, and with the network's projections at the measured angles as a
second, equally weighted estimate of them (``measured_prior``, also with more
iterations). Each row records TV's noise-adaptive weight, which sets the
automatic one. The last two columns are the worst family's gain at each end
of the dose range, as the acceptance bar of issue 4 reads them. Samples:
validation seeds (1,000,000+; "train" image split, never the held-out test
set), 45° wedge at 1.5° steps, 128², three doses, three families. The
defaults ``prior_flips``, ``prior_weight``, ``weight_max``, ``measured_prior``
and ``iterations`` of ``JointParams`` in
``tomoinpaint/recon/joint/params.py`` come from this table; earlier runs (the paper
prior, half-resolution comparison, other networks) are in
``results/joint_tuning_default_weights.md`` and ``results/joint_tuning_tv64.md``.

Run::

    python benchmarks/joint_tuning.py [--count 4]   # its results: runs/joint_tv128d4's weights
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
from tomoinpaint.recon.joint import (
    DEFAULTS,
    auto_prior_weight,
    data_consistency,
    network_prior,
)
from tomoinpaint.recon.tv import default_weight
from tomoinpaint.recon.tv_weights import noise_level

FAMILIES = ("shapes", "natural", "ct")
PRIOR_WEIGHTS = (0.1, 1.0, 10.0, 100.0)
#: Upper clips of the automatic prior weight tried, the shipped ``DEFAULTS.weight_max`` among them.
AUTO_MAXIMA = tuple(sorted({10.0, 30.0, 100.0, 1000.0, DEFAULTS.weight_max}))
#: Multiples of TV's own weight tried in the data-consistency step.
TV_WEIGHT_FACTORS = (0.5, 2.0)
#: PDHG iterations tried with the measured-angle prior (``measured_prior=True``).
MEASURED_PRIOR_ITERATIONS = (500, 1000)


def one_sample(task):
    family, index, n, model = task
    angles = wedge_angles(45.0)
    s = next(eval_set(family, 1, n=n, purpose="validation", angles=angles, start=index))
    rows = []
    for dose in DOSES:
        b = s["sino"][dose]
        # TV's noise-adaptive weight, and the noise level the automatic prior weight follows
        lam = default_weight(b, angles, device="cpu")
        noise = noise_level(b, angles, device="cpu")
        recs = {"SART": sart(b, angles), "TV": tv(b, angles)}

        def dc(pw, prior, tv_weight="auto", b=b, **options):
            return data_consistency(
                b, angles, prior, prior_weight=pw, weight=tv_weight, device="cpu", **options
            )[0]

        one_pass = network_prior(b, angles, model=model, source="tv", flips=False, device="cpu")
        recs["network image, 1 pass"] = one_pass.image[0]
        recs["w auto (max 10), 1 pass"] = dc(auto_prior_weight(noise, 10.0), one_pass)
        prior = network_prior(b, angles, model=model, source="tv", flips=True, device="cpu")
        recs["network image, flips"] = prior.image[0]
        for pw in PRIOR_WEIGHTS:
            recs[f"w {pw:g}, flips"] = dc(pw, prior)
        for top in AUTO_MAXIMA:
            recs[f"w auto (max {top:g}), flips"] = dc(auto_prior_weight(noise, top), prior)
        # joint's default (one of the rows above), the base of the variants below
        shipped = f"w auto (max {DEFAULTS.weight_max:g}), flips"
        # TV's own weight may not be the best one next to the prior
        for c in TV_WEIGHT_FACTORS:
            recs[f"{shipped}, TV weight x{c:g}"] = dc(auto_prior_weight(noise), prior, lam * c)
        # the network's projections at the measured angles as a second estimate of them
        for it in MEASURED_PRIOR_ITERATIONS:
            recs[f"{shipped}, measured prior, {it} iterations"] = dc(
                auto_prior_weight(noise), prior, measured_prior=True, iterations=it
            )
        # the network image and its consistent version disagree where each is better
        recs[f"mean of network image and {shipped}"] = 0.5 * (prior.image[0] + recs[shipped])
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
        "Mean PSNR (dB) / SSIM on validation samples, 45° wedge, the tv prior; "
        "500 PDHG iterations unless a row says otherwise.",
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
