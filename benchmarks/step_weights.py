"""How strongly joint's data-consistency step regularises: its TV weight and its prior weight.

The step (:func:`~tomoinpaint.recon.joint.data_consistency`) solves TV's
problem with the network prior's projections added as extra rows. Its TV
weight is plain TV's for the slice's noise
(:func:`~tomoinpaint.recon.tv_weights.tv_weight_for_noise`), applied to the
measured data's scale alone, and the prior's rows get the inverse-variance
weight of :func:`~tomoinpaint.recon.joint.auto_prior_weight`. With the prior's
rows the data term is larger than TV's, so the same TV weight regularises
less; on piecewise-constant objects at low dose at 256 px (sliced 3D objects,
CT) TV at its converging step ratio came within 0.55 dB of ``joint``
(``results/realsize_quality_auto_ratio.md``). This study scales each weight
by a factor per variant, ``TV:PRIOR`` (``1:1`` is joint's default), all from
one prior made exactly as ``joint`` makes it
(:func:`~tomoinpaint.recon.joint.joint_prior`); the step's iterations and
step ratio follow joint's rules for the scaled TV weight.

Data: validation seeds (1,000,000+, "train" image split) of the three
training families and sliced 3D objects as ``make demo`` simulates them
(never seen in training), 45° wedge at 1.5° steps. TV at its defaults for
reference.

``--tooth``: instead, ``tooth.h5`` as ``make demo`` crops it (400 px, both
rows), 45 projections dropped around 45°, 90° and 135°, scored against the
full scan's WBP (as issue 16 and ``realsize_quality_tooth*`` score it).

Run::

    python benchmarks/step_weights.py --sizes 256 --large-count 2 --doses moderate low
    python benchmarks/step_weights.py --sizes 512 --large-count 1 --doses moderate low \
        --variants 1:1 1:0.5 1:0.25 1:0.125 1:0.0625 --name step_weights_512
    python benchmarks/step_weights.py --tooth --variants 1:1 1:4 1:2 1:0.5 \
        --name step_weights_tooth

``step_weights.md`` and ``step_weights_512.md`` ran before ``joint``'s
coarse prior weight took a factor from them (their ``1:1`` is the weight
before, factor 1); ``step_weights_tooth.md`` ran with the factor at 0.25 for
every width (its ``1:4`` is the weight before). Since, the factor follows
the width (:func:`~tomoinpaint.recon.joint.coarse_weight_factor`): 0.25 at
256 px (``step_weights.md``'s ``1:0.25``), 0.5 at 512 px
(``step_weights_512.md``'s ``1:0.5``), 0.39 on the tooth (between
``step_weights_tooth.md``'s ``1:2`` and ``1:1``).

Results: ``results/step_weights.md`` / ``.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
from _common import (
    DOSES,
    add_sized_validation_options,
    header,
    map_sized_samples,
    sized_samples_meta,
    timed_row,
    tooth_block_case,
    validation_slice,
    variant_table,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import joint_from_prior, joint_prior
from tomoinpaint.recon.joint.consistency import step_weights

FAMILIES = ("shapes", "natural", "ct", "sliced-3d")
TOOTH_BLOCKS = (45.0, 90.0, 135.0)
VARIANTS = ("1:1", "1.5:1", "2:1", "1:0.5", "1:0.25", "1:2", "1.5:0.5")


def _parse(variant: str) -> tuple[float, float]:
    """(TV factor, prior factor) of ``TV:PRIOR``."""
    tv_factor, prior_factor = (float(v) for v in variant.split(":"))
    if tv_factor <= 0 or prior_factor <= 0:
        raise ValueError(f"factors must be positive: {variant}")
    return tv_factor, prior_factor


def default_weights(sino, angles, prior, noise_estimates) -> tuple[float, float]:
    """(TV weight, prior weight) that joint's step gives one slice
    (:func:`~tomoinpaint.recon.joint.consistency.step_weights`)."""
    s = np.asarray(sino, np.float32).reshape((1, *np.shape(sino)[-2:]))
    tv_weights, prior_weights = step_weights(prior, s, angles, noise_estimates)
    return float(tv_weights[0]), float(prior_weights[0])


def _cases(family: str, index: int, n: int, doses):
    """(dose, sinogram (n_angles, n_det), ground truth, angles, row label) of one task."""
    if family.startswith("tooth"):
        around = TOOTH_BLOCKS[index]
        sinos, reference, angles = tooth_block_case(around)
        for row in range(sinos.shape[0]):
            yield "measured", sinos[row], reference[row], angles, f"{around:g}/{row}"
        return
    sinos, gt, angles = validation_slice(family, n, index, doses)
    for dose in doses:
        yield dose, sinos[dose], gt, angles, index


def one_sample(variants, doses, task) -> list[dict]:
    """Rows (TV, and one per variant) of one validation sample at each dose, or of
    both rows of one tooth block."""
    family, index, n, model = task
    rows = []
    for dose, b, gt, angles, label in _cases(family, index, n, doses):
        if family.startswith("tooth"):
            family = f"tooth {TOOTH_BLOCKS[index]:g}°"
        base = {"family": family, "index": label, "dose": dose, "n": b.shape[-1]}
        rows.append(timed_row(base, "tv", gt, tv, b, angles, device="cpu"))
        t0 = time.perf_counter()
        prior, noise = joint_prior(b, angles, model=model, device="cpu")
        t_prior = time.perf_counter() - t0
        tv_weight, prior_weight = default_weights(b, angles, prior, noise)
        for v in variants:
            tv_factor, prior_factor = _parse(v)
            t0 = time.perf_counter()
            rec = joint_from_prior(
                b,
                angles,
                prior,
                noise,
                weight=tv_weight * tv_factor,
                prior_weight=prior_weight * prior_factor,
                device="cpu",
            )[0]
            rows.append(
                base
                | {
                    "variant": v,
                    "seconds": time.perf_counter() - t0 + t_prior,
                    "tv_weight": tv_weight * tv_factor,
                    "prior_weight": prior_weight * prior_factor,
                    "noise": float(noise[1][0]),
                }
                | compare(gt, rec)
            )
    print(family, index, n, flush=True)
    return rows


def _name(variant: str) -> str:
    tv_factor, prior_factor = _parse(variant)
    return f"TV ×{tv_factor:g}, prior ×{prior_factor:g}"


def _table(rows: list[dict], n: int, variants, doses, families=FAMILIES) -> str:
    return variant_table(rows, n, variants, [_name(v) for v in variants], families, doses)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sized_validation_options(ap, sizes=(256,))
    ap.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        help="TV:PRIOR factors on the step's default weights; the first is the reference",
    )
    ap.add_argument("--doses", nargs="+", default=["moderate", "low"], choices=list(DOSES))
    ap.add_argument("--name", default="step_weights", help="results file name")
    ap.add_argument("--tooth", action="store_true", help="tooth.h5's three blocks instead")
    args = ap.parse_args()
    for v in args.variants:
        _parse(v)  # a malformed variant fails here, not in a worker
    if args.tooth:
        args.sizes, args.large_count, args.doses = [400], len(TOOTH_BLOCKS), ["measured"]
    work = functools.partial(one_sample, tuple(args.variants), tuple(args.doses))
    rows = map_sized_samples(work, args, [("tooth",)] if args.tooth else [(f,) for f in FAMILIES])
    families = [f"tooth {a:g}°" for a in TOOTH_BLOCKS] if args.tooth else FAMILIES
    text = (
        "Mean PSNR (dB) / SSIM of joint by factors on its data-consistency step's TV "
        "weight and prior weight (TV:PRIOR; 1:1 is joint's default), and TV at its "
        "defaults; seconds per slice of the whole of joint (prior and step), one thread "
        f"per worker. The first column ({_name(args.variants[0])}) is the reference of "
        "the differences.\n\n"
        + "\n".join(_table(rows, n, args.variants, args.doses, families) for n in args.sizes)
    )
    samples = (
        {
            "samples": "tooth.h5, both rows, 45 projections dropped around each block",
            "weights": str(args.model),
        }
        if args.tooth
        else sized_samples_meta(args)
    )
    write_results(args.name, header() | samples, text, rows)


if __name__ == "__main__":
    main()
