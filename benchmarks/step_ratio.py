"""The step length ratio and iteration count of joint's data-consistency step (validation data).

The data-consistency step (:func:`~tomoinpaint.recon.joint.data_consistency`)
is a preconditioned PDHG started from the network image. Its ratio of dual to
primal step length (``step_ratio``) was TV's, 10, which converges fastest
from a zero start; a start close to the answer may move faster with longer
dual steps, and then need fewer iterations. Per validation sample and dose,
the network prior is made once exactly as ``joint`` makes it
(:func:`~tomoinpaint.recon.joint.joint_prior`), then the step runs at each
``RATIO:FRACTION`` variant: the step ratio, and the fraction of the step's
default iteration count at the time of the run
(:func:`~tomoinpaint.recon.joint.consistency.step_iterations`; the results'
commit says which), or ``previous``: the step as it was before this study
(ratio 10, 150 iterations times the input's width over the prior's, at most
2×; ``step_ratio.md`` and ``step_ratio_512.md`` ran when that was the
default, so their ``10:1`` is it). Seconds are those of
the whole of ``joint`` (prior and step), one thread per worker; TV at its
defaults for reference. Samples: validation seeds (1,000,000+, "train" image
split), 45° wedge at 1.5° steps, three families, three doses.

Run::

    python benchmarks/step_ratio.py --sizes 128 256 --count 2 --large-count 2
    python benchmarks/step_ratio.py --sizes 512 --large-count 1 --name step_ratio_512 \
        --variants 10:1 20:0.67 20:1 20:1.33
    python benchmarks/step_ratio.py --sizes 512 --large-count 1 --doses noise-free \
        --variants previous 20:1 --name step_ratio_512_clean
    python benchmarks/step_ratio.py --sizes 512 --large-count 1 --doses moderate low \
        --variants 20:1 60:1 200:1 --name step_ratio_512_noisy   # as TV's "auto" grows it
    python benchmarks/step_ratio.py --sizes 256 512 --count 1 --large-count 2 \
        --doses moderate low --variants 20:1 noise:1 --name step_ratio_noise
    python benchmarks/step_ratio.py --sizes 256 --count 1 --large-count 2 --doses moderate low \
        --variants noise:1 noise:1.67 noise:2.5 --name step_iterations_256_noisy

``noise:1``: at least TV's own ratio for the slice's TV weight
(:func:`~tomoinpaint.recon.joint.consistency.step_ratio_for` given the weight).

Results: ``results/step_ratio.md`` / ``.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import functools

from _common import (
    DOSES,
    add_sized_validation_options,
    header,
    map_sized_samples,
    sized_samples_meta,
    step_variant_rows,
    variant_table,
    write_results,
)

from tomoinpaint.recon.joint import joint_from_prior
from tomoinpaint.recon.joint.consistency import step_iterations, step_ratio_for
from tomoinpaint.recon.tv_weights import tv_weight_for_noise

FAMILIES = ("shapes", "natural", "ct")
VARIANTS = ("10:1", "10:0.67", "20:0.67", "20:1", "30:0.5", "30:0.67", "30:1")


def _parse(variant: str) -> tuple[float | str, float] | None:
    """(ratio, fraction) of ``RATIO:FRACTION``; None for ``previous``. RATIO
    ``noise``: :func:`step_ratio_for` with the slice's TV weight."""
    if variant == "previous":
        return None
    ratio, fraction = variant.split(":")
    return (ratio if ratio == "noise" else float(ratio)), float(fraction)


def _iterations(variant: str, n: int, prior_n: int, noise: float) -> tuple[float, int]:
    """(step ratio, iterations) of a variant for an input ``n`` px wide, prior at
    ``prior_n``, of relative noise ``noise``."""
    parsed = _parse(variant)
    if parsed is None:  # the rule before this study
        return 10.0, round(150 * min(max(n / prior_n, 1.0), 2.0))
    ratio, fraction = parsed
    if ratio == "noise":
        ratio = float(step_ratio_for(n, prior_n, tv_weight=tv_weight_for_noise(noise)))
    return ratio, max(1, round(step_iterations(n) * fraction))


def _step(variant, b, angles, prior, noise):
    ratio, its = _iterations(variant, b.shape[-1], prior.model_n, float(noise[1][0]))
    rec = joint_from_prior(b, angles, prior, noise, iterations=its, step_ratio=ratio, device="cpu")
    return rec[0], {"iterations": its, "step_ratio": ratio}


def one_sample(variants, doses, task) -> list[dict]:
    """Rows (TV, and one per variant) of one validation sample at each dose; a variant's
    seconds are those of the whole of joint (prior and step)."""
    family, index, n, model = task
    rows = step_variant_rows(family, index, n, model, doses, variants, _step)
    return [r | {"seconds": r["seconds"] + r.get("prior_seconds", 0.0)} for r in rows]


def _name(variant: str) -> str:
    parsed = _parse(variant)
    if parsed is None:
        return "previous"
    ratio = "by noise" if parsed[0] == "noise" else f"{parsed[0]:g}"
    return f"ratio {ratio}, ×{parsed[1]:g}"


def _table(rows: list[dict], n: int, variants, doses) -> str:
    return variant_table(rows, n, variants, [_name(v) for v in variants], FAMILIES, doses)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_sized_validation_options(ap, sizes=(128, 256))
    ap.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        help="RATIO:FRACTION of the default step iterations, or previous; "
        "the first is the reference",
    )
    ap.add_argument("--doses", nargs="+", default=list(DOSES), choices=list(DOSES))
    ap.add_argument("--name", default="step_ratio", help="results file name")
    ap.set_defaults(count=2)
    args = ap.parse_args()
    for v in args.variants:
        _parse(v)  # a malformed variant fails here, not in a worker
    work = functools.partial(one_sample, tuple(args.variants), tuple(args.doses))
    rows = map_sized_samples(work, args, [(f,) for f in FAMILIES])
    text = (
        "Mean PSNR (dB) / SSIM of joint by the data-consistency step's ratio of dual to "
        "primal step length and the fraction of its default iterations "
        f"({', '.join(f'{step_iterations(n)} at {n} px' for n in args.sizes)}), or the "
        "previous rule, and TV at its defaults; seconds per slice of the whole of joint "
        "(prior and step), one thread per worker. The first column "
        f"({_name(args.variants[0])}) is the reference of the differences.\n\n"
        + "\n".join(_table(rows, n, args.variants, args.doses) for n in args.sizes)
    )
    write_results(args.name, header() | sized_samples_meta(args), text, rows)


if __name__ == "__main__":
    main()
