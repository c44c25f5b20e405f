"""Should ``joint``'s prior weight follow the ratio of the prior's resolution to the input's?

``joint`` weighs the network's projections against the measured ones by
inverse variance: ``(sigma_rel / noise_match)**2`` (clipped), with
``sigma_rel`` the measured projections' relative noise per detector pixel.
That rule was tuned at 128 px, where the prior has the input's resolution.
On noisy data wider than the network (256 px and more) the prior runs on the
network's coarser grid and is compared with the image at that resolution,
while ``sigma_rel`` per detector pixel keeps growing with the width (about
2x per doubling at the same dose): the rule then reaches its maximum (100)
on every low-dose slice from 256 px on. ``results/gt_free_agreement_n256.md``
found a fixed weight of 10 above the rule by 0.1-0.9 dB in all six low-dose
cases at 256 px.

Variants, per slice (``m``: the prior's width, ``n``: the input's; the two
agree wherever the prior runs at the input's size, clean data included):

* ``auto``: the rule as it was when this was run (the noise per detector
  pixel: ``auto_prior_weight(noise)``);
* ``auto × (m/n)^p`` for p = 1/2, 1, 2: the rule scaled down by the
  resolution ratio (the same clip to [weight_min, weight_max]), i.e.
  ``auto_prior_weight(noise, resolution=(m/n)**(p/2))``; p = 2 is the rule
  ``joint`` took from it (the noise at the prior's resolution);
* ``10``: the fixed weight of the finding above.

Data: validation seeds (1,000,000+, "train" image split) of the three
training families and sliced 3D objects as ``make demo`` simulates them
(never seen in training), 45° wedge at 1.5° steps, at 256 px (noise-free,
moderate, low dose) and 512 px (moderate and low dose). Per slice and dose
the prior is made once, exactly as ``joint`` makes it
(:func:`~tomoinpaint.recon.joint.joint_prior`), then the data-consistency
step runs with ``joint``'s other defaults for each weight.

Run::

    python benchmarks/prior_weight_size.py [--count 2] [--large-count 1]   # ~30 min

Results: ``results/prior_weight_size.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import (
    add_validation_options,
    header,
    mean_of,
    one_thread_worker,
    validation_slice,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import (
    auto_prior_weight,
    data_consistency,
    joint_prior,
    load_joint_model,
)
from tomoinpaint.recon.joint.consistency import step_iterations, step_ratio_for

FAMILIES = ("shapes", "natural", "ct", "sliced-3d")
DOSES_AT = {256: ("noise-free", "moderate", "low"), 512: ("moderate", "low")}
POWERS = (0.5, 1.0, 2.0)
FIXED = 10.0


def _weights(noise: float, m: int, n: int) -> dict[str, float]:
    """The prior weight of each variant for a slice of relative noise ``noise``.

    The weight is quadratic in the noise, so scaling it by ``(m/n)**p`` is
    scaling the noise by ``(m/n)**(p/2)``.
    """
    out = {"auto": auto_prior_weight(noise)}
    for p in POWERS:
        out[f"auto × (m/n)^{p:g}"] = auto_prior_weight(noise, resolution=(m / n) ** (p / 2))
    out[f"{FIXED:g}"] = FIXED
    return out


def one_sample(task) -> list[dict]:
    """Rows (one per dose and variant, and TV) of one validation slice."""
    family, index, n, model_dir = task
    model = load_joint_model(model_dir, "cpu")
    doses = DOSES_AT[n]
    sinos, gt, angles = validation_slice(family, n, index, doses)
    rows = []
    for dose in doses:
        b = np.asarray(sinos[dose], np.float32)
        base = {"family": family, "dose": dose, "n": n, "index": index}
        prior, noise = joint_prior(b, angles, model=model, device="cpu")
        sigma = float(noise[1][0])
        its = step_iterations(n, sigma)
        for name, w in _weights(sigma, prior.model_n, n).items():
            rec = data_consistency(
                b, angles, prior, prior_weight=w, iterations=its, device="cpu",
                noise_estimates=noise, step_ratio=step_ratio_for(n, prior.model_n),
            )[0]  # fmt: skip
            rows.append(
                base
                | {"variant": name, "weight": w, "sigma_rel": sigma, "prior_n": prior.model_n}
                | compare(gt, rec)
            )
        rows.append(base | {"variant": "tv", "weight": None} | compare(gt, tv(b, angles)))
    print(family, index, n, flush=True)
    return rows


def _table(rows: list[dict], n: int) -> str:
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    at = [r for r in rows if r["n"] == n]
    lines = [
        f"### {n}²",
        "",
        "| family | dose | prior px | weight: auto → auto × m/n | " + " | ".join(variants) + " |",
        "|---|---|---|---|" + "---|" * len(variants),
    ]
    for family in FAMILIES:
        for dose in DOSES_AT[n]:
            sel = [r for r in at if (r["family"], r["dose"]) == (family, dose)]
            if not sel:
                continue
            cells = [f"{mean_of(sel, 'psnr', variant=v):.2f}" for v in variants]
            before, after = (mean_of(sel, "weight", variant=v) for v in ("auto", "auto × (m/n)^1"))
            weights = f"{before:.3g} → {after:.3g}"
            m = int(np.median([r["prior_n"] for r in sel if "prior_n" in r]))
            lines.append(f"| {family} | {dose} | {m} | {weights} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| − auto, mean / worst slice | " + " | ".join(variants) + " |")
    lines.append("|---|" + "---|" * len(variants))
    for dose in DOSES_AT[n]:
        ref = {(r["family"], r["index"]): r["psnr"] for r in at
               if r["dose"] == dose and r["variant"] == "auto"}  # fmt: skip
        cells = []
        for v in variants:
            d = [r["psnr"] - ref[(r["family"], r["index"])] for r in at
                 if r["dose"] == dose and r["variant"] == v]  # fmt: skip
            cells.append(f"{np.mean(d):+.2f} / {min(d):+.2f}")
        lines.append(f"| {dose} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_options(ap)
    ap.add_argument("--large-count", type=int, default=1, help="samples per family at 512 px")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512], choices=sorted(DOSES_AT))
    ap.set_defaults(count=2)
    args = ap.parse_args()
    model = str(args.model.resolve())
    counts = {256: args.count, 512: args.large_count}
    # the slow 512-px slices first, so that the two workers finish together
    tasks = [(f, i, n, model) for n in sorted(args.sizes, reverse=True)
             for f in FAMILIES for i in range(counts[n])]  # fmt: skip
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = [r for rs in pool.map(one_sample, tasks) for r in rs]
    text = (
        "Mean PSNR (dB) of joint by its prior weight, and TV at its defaults; 'prior px' is the "
        "width the prior ran at (m), the input's is n; then each variant's difference to the "
        "shipped rule, mean and worst slice.\n\n"
        + "\n".join(_table(rows, n) for n in sorted(args.sizes))
    )
    meta = header() | {
        "samples": f"{args.count} validation slices per family at 256 px, {args.large_count} "
        "at 512 px (seeds from 1,000,000)",
        "wedge": "45° (±67.5°, 1.5° step)",
        "weights": str(args.model),
    }
    write_results("prior_weight_size", meta, text, rows)


if __name__ == "__main__":
    main()
