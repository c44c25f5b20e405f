"""Should ``joint``'s prior weight on clean data follow how well the prior predicts the wedge edge?

On clean data ``joint``'s automatic prior weight sits at its floor (0.1).
Which floor suits a slice follows the object, not the wedge
(``results/prior_weight_wedge.md``): at a 30° wedge a floor of 0.03 gained
on sliced 3D objects and CT and lost up to 0.92 dB on shapes. This asks
whether the data can tell the two apart: the network image's projections at
the measured tilts next to the wedge (:func:`~tomoinpaint.recon.joint.
measured_edge_error`, relative to the image scale) are the closest check of
the network's guess to where it is used. Rule: where the edge error ``e``
exceeds ``m``, the floor falls to ``0.1 * (m / e)**2`` (at least 0.003),
the weight the larger of it and the noise rule's. Noisy data are unchanged
by construction: their edge error includes their noise, and the noise
rule's weight is the larger.

Variants, per slice: the shipped rule (floor 0.1), the edge rule with
m = 0.15, 0.2, 0.3, the same with m = 0.2 but raising the floor as well
where ``e < m`` ("up and down"), and TV. Data: validation seeds
(1,000,000+, "train" image split) of the three training families and sliced
3D objects as ``make demo`` simulates them (never seen in training),
symmetric wedges of 30°, 45° and 60° at 1.5° steps, noise-free, at 128 px
(``--count`` slices per family and wedge) and 256 px (``--large-count``).
The prior is made once per slice
(:func:`~tomoinpaint.recon.joint.joint_prior`); only the weight changes.

Run::

    python benchmarks/prior_weight_edge.py [--count 4] [--large-count 1]   # ~6 min on 2 cores

Results: ``results/prior_weight_edge.md`` / ``.json``.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import (
    add_sized_validation_options,
    header,
    map_sized_samples,
    mean_of,
    shipped_diff_row,
    sized_samples_meta,
    validation_slice,
    weighted_step,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import (
    DEFAULTS,
    auto_prior_weight,
    joint_prior,
    load_joint_model,
    measured_edge_error,
)

FAMILIES = ("shapes", "natural", "ct", "sliced-3d")
WEDGES = (30.0, 45.0, 60.0)
DOSE = "noise-free"
MATCHES = (0.15, 0.2, 0.3)
SHIPPED = "shipped"
#: The rule that also raises the floor where the edge error is below m.
BOTH_WAYS = 0.2


def _name(match: float | None, both_ways: bool = False) -> str:
    if match is None:
        return SHIPPED
    return f"edge m={match:g}" + (", up and down" if both_ways else "")


def _both_ways(noise: float, resolution: float, error: float, match: float) -> float:
    """The floor times (m / e)² whichever way it goes (clipped to [weight_floor, weight_max])."""
    floor = float(
        np.clip(
            DEFAULTS.weight_min * (match / max(error, 1e-12)) ** 2,
            DEFAULTS.weight_floor,
            DEFAULTS.weight_max,
        )
    )
    return auto_prior_weight(noise, minimum=floor, resolution=resolution, edge_error_match=None)


def one_sample(task) -> list[dict]:
    """Rows (the shipped rule, each edge rule, TV) of one validation slice."""
    family, wedge, index, n, model_dir = task
    model = load_joint_model(model_dir, "cpu")
    sinos, gt, angles = validation_slice(family, n, index, (DOSE,), wedge)
    b = np.asarray(sinos[DOSE], np.float32)[None]
    base = {"family": family, "wedge": wedge, "n": n, "index": index}
    prior, (scales, noises) = joint_prior(b, angles, model=model, device="cpu")
    error = float(measured_edge_error(prior, b, angles, scales)[0])
    resolution = min(prior.model_n / n, 1.0)
    rows = []
    weights = {
        _name(m): auto_prior_weight(
            float(noises[0]), resolution=resolution, edge_error=error, edge_error_match=m
        )
        for m in (None,) + MATCHES
    }
    weights[_name(BOTH_WAYS, True)] = _both_ways(float(noises[0]), resolution, error, BOTH_WAYS)
    for variant, w in weights.items():
        rec = weighted_step(b, angles, prior, w, (scales, noises))
        rows.append(
            base | {"variant": variant, "weight": w, "edge_error": error} | compare(gt, rec)
        )
    rows.append(
        base
        | {"variant": "tv", "weight": None, "edge_error": error}
        | compare(gt, tv(b[0], angles))
    )
    print(family, wedge, index, n, f"edge error {error:.3f}", flush=True)
    return rows


def _table(rows: list[dict], n: int) -> str:
    variants = [_name(m) for m in (None,) + MATCHES] + [_name(BOTH_WAYS, True), "tv"]
    at = [r for r in rows if r["n"] == n]
    lines = [
        f"### {n}²",
        "",
        "| family | wedge | edge error | weight: shipped → m=0.2 | " + " | ".join(variants) + " |",
        "|---|---|---|---|" + "---|" * len(variants),
    ]
    for wedge in WEDGES:
        for family in FAMILIES:
            match = {"n": n, "family": family, "wedge": wedge}
            w = mean_of(at, "weight", variant=SHIPPED, **match)
            if np.isnan(w):
                continue
            e = mean_of(at, "edge_error", variant=SHIPPED, **match)
            w2 = mean_of(at, "weight", variant=_name(0.2), **match)
            cells = [f"{mean_of(at, 'psnr', variant=v, **match):.2f}" for v in variants]
            lines.append(
                f"| {family} | {wedge:g}° | {e:.2f} | {w:.2g} → {w2:.2g} | "
                + " | ".join(cells)
                + " |"
            )
        in_wedge = [r for r in at if r["wedge"] == wedge]
        label = f"**{wedge:g}°: − shipped, mean (worst)**"
        lines.append(shipped_diff_row(label, in_wedge, variants, SHIPPED, 3))
    lines.append(shipped_diff_row("**all: − shipped, mean (worst)**", at, variants, SHIPPED, 3))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sized_validation_options(ap)
    args = ap.parse_args()
    rows = map_sized_samples(one_sample, args, [(f, w) for f in FAMILIES for w in WEDGES])
    text = (
        "Mean PSNR (dB) of joint, noise-free, by the floor of its automatic prior weight: "
        "shipped (0.1) and the edge rule 0.1 (m / e)² for the prior's edge error e, and "
        "TV; per case the mean edge error and weight. Rows '− shipped': the mean and worst "
        "slice difference to the shipped rule.\n\n" + "\n".join(_table(rows, n) for n in args.sizes)
    )
    write_results("prior_weight_edge", header() | sized_samples_meta(args), text, rows)


if __name__ == "__main__":
    main()
