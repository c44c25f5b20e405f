"""The real tooth scan scored against a reference whose noise the input does not share.

``realsize_quality.py`` scores the tooth (``tooth.h5``, 400 px, a 45° block
of projections dropped) against the WBP of the full scan. That reference
holds the measured projections' noise, and three quarters of its projections
are the input's own: a reconstruction that keeps the input's noise matches
the reference's noise there, and one that removes it is marked down for it.
The ranking then favours the least-regularised methods (SART's SSIM is
above TV's there), whatever their error against the object.

Here the scan is split by projection index, as for even/odd FSC:

* input: the even-indexed projections (0°, 2°, ... 180°) without those in
  a 45° block around 45°, 90° or 135°;
* reference: the WBP of the odd-indexed projections (1°, 3°, ... 179°), the
  full range, whose noise is independent of the input's.

With independent noise, ``MSE(image, reference) = MSE(image, object) +
σ²`` on average, with ``σ²`` the reference's own error, the same for every
method: the differences between methods are those against the object, but
the scores themselves are capped by the reference's noise. ``σ²`` cannot be
removed here: the natural estimate, ``var(WBP(even) − WBP(odd)) / 2``, is
too large, because the angular aliasing of two interleaved halves is
anti-correlated (TV scored above what it implies for a perfect image). The
full-scan WBP scores of the same images are given beside them, for
comparison with ``realsize_quality.md``.

Run::

    python benchmarks/tooth_heldout_reference.py [--methods wbp sart tv joint]   # ~10 min

Results: ``results/tooth_heldout_reference.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

from _common import header, mean_of, tooth_block_case, tooth_heldout_case, write_results

from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import compare
from tomoinpaint.score.auto import choose_method

BLOCKS = (45.0, 90.0, 135.0)
WIDTH_DEG = 45


def _variant(text: str) -> tuple[str, dict]:
    """ "joint:prior_weight=0.3,iterations=500" -> ("joint", {"prior_weight": 0.3, ...})."""
    method, _, opts = text.partition(":")
    options = {}
    for item in filter(None, opts.split(",")):
        key, _, value = item.partition("=")
        try:
            options[key] = int(value)
        except ValueError:
            try:
                options[key] = float(value)
            except ValueError:
                options[key] = value
    return method, options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--methods",
        nargs="+",
        default=["wbp", "sart", "tv", "joint", "auto"],
        help="methods, each optionally with options: joint:prior_weight=0.3,iterations=500",
    )
    ap.add_argument("--blocks", type=float, nargs="+", default=list(BLOCKS))
    ap.add_argument("--name", default="tooth_heldout_reference", help="results file name")
    args = ap.parse_args()
    rows = []
    for around in args.blocks:
        sino, odd_reference, angles = tooth_heldout_case(around, WIDTH_DEG)
        full_reference = tooth_block_case(around, WIDTH_DEG)[1]
        for method in args.methods:
            t0 = time.perf_counter()
            name, options = _variant(method)
            picked = None
            if name == "auto":  # the default method: choose by the wedge-edge hold-out, then run
                choice = choose_method(sino, angles, device="cpu")
                name, options = choice.method, choice.options
                picked = f"{name} {options}" if options else name
            rec = reconstruct(sino, angles, name, device="cpu", **options)
            seconds = (time.perf_counter() - t0) / len(sino)
            for k in range(len(sino)):
                odd_scores = compare(odd_reference[k], rec[k])
                full_scores = compare(full_reference[k], rec[k])
                rows.append(
                    {
                        "around": around,
                        "method": method,
                        "slice": k,
                        "tilts": int(angles.size),
                        "picked": picked,
                        "seconds": seconds,
                        "psnr_odd": odd_scores["psnr"],
                        "ssim_odd": odd_scores["ssim"],
                        "psnr_full": full_scores["psnr"],
                        "ssim_full": full_scores["ssim"],
                    }
                )
            print(around, method, f"{seconds:.1f} s/slice", flush=True)
    write_results(args.name, _meta(args), _text(rows), rows)


def _meta(args) -> dict:
    return header() | {
        "input": "tooth.h5 (400 px crop, its 2 rows): the even-indexed projections (2° steps) "
        f"without a {WIDTH_DEG}° block around {', '.join(f'{b:g}°' for b in args.blocks)}",
        "reference": "WBP of the odd-indexed projections (1° ... 179°, 2° steps)",
    }


def _text(rows: list[dict]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    mean = partial(mean_of, rows)

    lines = [
        "Per block and method, means over the two rows: PSNR (dB) / SSIM against the odd half's "
        "WBP (noise independent of the input's) and, for comparison, against the full scan's "
        "WBP, which shares the input's projections and their noise; the last columns: the "
        "difference to TV.",
        "",
        "| block around | tilts | method | vs odd half | vs full scan (shared noise) "
        "| − TV: odd half / full scan (dB) | s / slice |",
        "|---|---|---|---|---|---|---|",
    ]
    for around in dict.fromkeys(r["around"] for r in rows):
        for m in methods:
            sel = {"around": around, "method": m}
            tilts = next(r["tilts"] for r in rows if r["around"] == around)
            tv = {"around": around, "method": "tv"}
            first = next(r for r in rows if (r["around"], r["method"]) == (around, m))
            picked = first.get("picked")
            label = f"{m} (picked {picked})" if picked else m
            lines.append(
                f"| {around:g}° | {tilts} | {label} | {mean('psnr_odd', **sel):.2f} / "
                f"{mean('ssim_odd', **sel):.3f} | "
                f"{mean('psnr_full', **sel):.2f} / {mean('ssim_full', **sel):.3f} | "
                f"{mean('psnr_odd', **sel) - mean('psnr_odd', **tv):+.2f} / "
                f"{mean('psnr_full', **sel) - mean('psnr_full', **tv):+.2f} | "
                f"{mean('seconds', **sel):.1f} |"
            )
    lines += ["", "Means over the blocks:", "", "| method | vs odd half | vs full scan |",
              "|---|---|---|"]  # fmt: skip
    for m in methods:
        lines.append(
            f"| {m} | {mean('psnr_odd', method=m):.2f} / {mean('ssim_odd', method=m):.3f} | "
            f"{mean('psnr_full', method=m):.2f} / {mean('ssim_full', method=m):.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
