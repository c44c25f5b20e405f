"""How the way a tilt series is stored changes the reconstruction.

Two things a facility's series often has that simulated ones do not:

* **Tilts stored in acquisition order.** A dose-symmetric scheme acquires
  0°, +1.5°, −1.5°, +3°, … and many stacks keep that order. Every method
  should give the same image as for the series sorted by angle
  (``dose-symmetric order`` against ``sorted``: the PSNR and the largest
  difference between the two images, relative to the sorted image's maximum).
* **One blank view.** A failed exposure, or a view that alignment software
  padded out, filled with zeros. ``reconstruct``, ``benchmark`` and
  ``adapt`` refuse such a series and name the view
  (:mod:`tomoinpaint.prep.views`); this measures what it would have cost
  (``one blank view``) and what removing it, as the message says, gives
  (``blank view removed``).

Cases: held-out test data (three families, noise-free and low dose, two
slices each, 128², 45° wedge at 1.5°: 61 tilts); the blank view is the one
at +30°. Methods: WBP, SART, TV and ``joint`` (installed weights), each at
its defaults, called as the library calls them.

Run::

    python benchmarks/input_conventions.py     # ~5 min on 2 cores

Results: ``results/input_conventions.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import (
    eval_set,
    header,
    mean_of,
    one_thread_worker,
    rows_where,
    wedge_angles,
    write_results,
)

from tomoinpaint.geometry import dose_symmetric_order
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import psnr

FAMILIES = ("shapes", "natural", "ct")
DOSES = ("noise-free", "low")
METHODS = ("wbp", "sart", "tv", "joint")
VARIANTS = ("sorted", "dose-symmetric order", "one blank view", "blank view removed")
BLANK_AT = 30.0


def one_case(task) -> list[dict]:
    """Rows (one per method and variant) of one held-out slice at one dose."""
    family, index, dose = task
    angles = wedge_angles()
    sample = next(eval_set(family, 1, angles=angles, doses=(dose,), start=index))
    sino, gt = np.asarray(sample["sino"][dose], np.float32), sample["gt"]
    order = dose_symmetric_order(angles)
    blank = int(np.argmin(np.abs(angles - BLANK_AT)))
    with_blank = sino.copy()
    with_blank[blank] = 0.0
    keep = np.arange(angles.size) != blank
    inputs = {
        "sorted": (sino, angles),
        "dose-symmetric order": (sino[order], angles[order]),
        "one blank view": (with_blank, angles),
        "blank view removed": (sino[keep], angles[keep]),
    }
    rows = []
    for method in METHODS:
        images = {v: reconstruct(s, a, method, device="cpu") for v, (s, a) in inputs.items()}
        scale = float(np.abs(images["sorted"]).max())
        for v, image in images.items():
            rows.append(
                {
                    "family": family,
                    "index": index,
                    "dose": dose,
                    "method": method,
                    "variant": v,
                    "psnr": float(psnr(gt, image)),
                    "max_diff_vs_sorted": float(np.abs(image - images["sorted"]).max() / scale),
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2, help="held-out slices per family and dose")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--name", default="input_conventions")
    args = ap.parse_args()
    tasks = [(f, i, d) for f in FAMILIES for d in DOSES for i in range(args.count)]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = [r for part in pool.map(one_case, tasks) for r in part]

    lines = [
        f"Held-out test data: {', '.join(FAMILIES)}; {', '.join(DOSES)}; {args.count} slices "
        f"each; 128², 45° wedge at 1.5° (61 tilts); the blank view at +{BLANK_AT:g}°. "
        "Mean PSNR (dB) against the ground truth.",
        "",
        "| method | dose | " + " | ".join(VARIANTS) + " | largest difference, acquisition order "
        "against sorted (of the image's max) |",
        "|---|---|" + "---|" * (len(VARIANTS) + 1),
    ]
    for method in METHODS:
        for dose in DOSES:
            key = {"method": method, "dose": dose}
            cells = [f"{mean_of(rows, 'psnr', variant=v, **key):.2f}" for v in VARIANTS]
            worst = max(
                r["max_diff_vs_sorted"]
                for r in rows_where(rows, variant="dose-symmetric order", **key)
            )
            lines.append(f"| {method} | {dose} | " + " | ".join(cells) + f" | {worst:.1e} |")
    lines += [
        "",
        "One blank view against the series without it (dB, mean over all cases):",
        "",
        "| method | one blank view − blank view removed |",
        "|---|---|",
    ]
    for method in METHODS:
        cost = mean_of(rows, "psnr", method=method, variant="one blank view") - mean_of(
            rows, "psnr", method=method, variant="blank view removed"
        )
        lines.append(f"| {method} | {cost:+.2f} |")
    write_results(args.name, header(), "\n".join(lines), rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
