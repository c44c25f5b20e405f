"""How much should ``joint`` trust the network on (nearly) noise-free data? (validation data)

``joint``'s automatic prior weight is ``(sigma_rel / noise_match)**2``
clipped to [``weight_min``, ``weight_max``], with ``sigma_rel`` read off TV's
noise-adaptive weight. That weight has a floor (``TV_WEIGHT_FLOOR``), so on
noise-free data ``sigma_rel`` never falls below 0.18 and the prior weight
never below 0.36, whatever ``weight_min`` says. This benchmark compares
that with the rule on the noise estimate itself (no floor), so that clean
data lean on their measurements, with the smallest weight ``weight_min`` at
0.2, 0.1 and 0.05.

Data: validation seeds (1,000,000+, "train" image split) of the three
training families and slices of 3D volumes as ``make demo`` simulates them
(never seen in training), 45° and 60° wedges at 1.5° steps, noise-free and
moderate dose (I0 = 20,000: the rule must leave noisy data as they are),
128² and 256². Each variant runs ``data_consistency`` on the same network
prior with its weight per slice, all other settings as shipped.

"shipped" is the rule of the run in ``results/`` (commit 6a045b7); since
then ``joint`` uses the unfloored rule with minimum 0.1 (``DEFAULTS``).

Run::

    python benchmarks/prior_weight_floor.py [--count 3] [--large-count 1]

Results: ``results/prior_weight_floor.md`` / ``.json``.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import (
    add_sized_validation_options,
    header,
    map_sized_samples,
    sized_samples_meta,
    validation_slice,
    write_results,
)

from tomoinpaint.geometry import Geometry
from tomoinpaint.metrics import compare
from tomoinpaint.project import Projector
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import DEFAULTS, data_consistency, load_joint_model, network_prior
from tomoinpaint.recon.tv_weights import TV_WEIGHT_PER_NOISE, relative_noise, scale_and_weight

FAMILIES = ("shapes", "natural", "ct", "sliced-3d")
DOSES = ("noise-free", "moderate")
WEDGES = (45.0, 60.0)
#: Smallest prior weight of the rule on the unfloored noise estimate.
MINIMA = (0.2, 0.1, 0.05)


def one_sample(task) -> list[dict]:
    """Rows (one per dose and variant, and TV) of one validation slice."""
    family, wedge, index, n, model_dir = task
    model = load_joint_model(model_dir, "cpu")
    sinos, gt, angles = validation_slice(family, n, index, DOSES, wedge)
    rows = []
    for dose in DOSES:
        b = np.asarray(sinos[dose], np.float32)
        base = {"family": family, "wedge": wedge, "dose": dose, "n": n, "index": index}
        with Projector(Geometry(angles, n), kernel="linear", device="cpu") as P:
            scale, tv_weight = scale_and_weight(P, b)
            raw = relative_noise(b, scale, P.geometry.angles_deg)
        prior = network_prior(b, angles, model=model, source=DEFAULTS.prior_source, device="cpu")
        # the rule shipped when this was run: the noise read off TV's (floored) weight
        floored = (tv_weight / TV_WEIGHT_PER_NOISE / DEFAULTS.noise_match) ** 2
        weights = {"shipped": float(np.clip(floored, 0.03, DEFAULTS.weight_max))}
        for m in MINIMA:
            weights[f"min {m:g}"] = float(
                np.clip((raw / DEFAULTS.noise_match) ** 2, m, DEFAULTS.weight_max)
            )
        for name, w in weights.items():
            rec = data_consistency(b, angles, prior, prior_weight=w, device="cpu")[0]
            rows.append(base | {"variant": name, "weight": w, "sigma_rel": raw} | compare(gt, rec))
        rows.append(base | {"variant": "tv", "weight": None} | compare(gt, tv(b, angles)))
    print(family, wedge, index, n, flush=True)
    return rows


def _table(rows: list[dict], n: int) -> str:
    variants = ["shipped"] + [f"min {m:g}" for m in MINIMA] + ["tv"]
    at = [r for r in rows if r["n"] == n]
    lines = [
        f"### {n}²",
        "",
        "| family | wedge | dose | prior weight shipped → min 0.1 | " + " | ".join(variants) + " |",
        "|---|---|---|---|" + "---|" * len(variants),
    ]
    for family in FAMILIES:
        for wedge in WEDGES:
            for dose in DOSES:
                sel = [
                    r for r in at if (r["family"], r["wedge"], r["dose"]) == (family, wedge, dose)
                ]
                if not sel:
                    continue
                w0 = np.mean([r["weight"] for r in sel if r["variant"] == "shipped"])
                w1 = np.mean([r["weight"] for r in sel if r["variant"] == "min 0.1"])
                cells = [
                    f"{np.mean([r['psnr'] for r in sel if r['variant'] == v]):.2f}"
                    for v in variants
                ]
                lines.append(
                    f"| {family} | {wedge:g}° | {dose} | {w0:.2g} → {w1:.2g} | "
                    + " | ".join(cells)
                    + " |"
                )
    for dose in DOSES:
        ship = [r["psnr"] for r in at if r["dose"] == dose and r["variant"] == "shipped"]
        diffs = []
        for v in variants[1:]:
            other = [r["psnr"] for r in at if r["dose"] == dose and r["variant"] == v]
            d = np.array(other) - np.array(ship)
            diffs.append(f"{d.mean():+.2f} (worst {d.min():+.2f})")
        lines.append(f"| **− shipped, {dose}** | | | | | " + " | ".join(diffs) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sized_validation_options(ap)
    ap.set_defaults(count=3)
    args = ap.parse_args()
    rows = map_sized_samples(one_sample, args, [(f, w) for f in FAMILIES for w in WEDGES])
    text = (
        "Mean PSNR (dB) of joint by its prior weight rule, and TV; per case the mean prior "
        "weight of the shipped rule and of the unfloored rule with minimum 0.1. Rows "
        "'− shipped': mean and worst slice difference to the shipped rule.\n\n"
        + "\n".join(_table(rows, n) for n in args.sizes)
    )
    write_results("prior_weight_floor", header() | sized_samples_meta(args), text, rows)


if __name__ == "__main__":
    main()
