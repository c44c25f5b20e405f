"""Ring removal on a series given as line integrals: what it costs and what it gives.

``reconstruct --prep`` on a series already normalised and minus-logged (no
flat fields: an MRC or TIFF of line integrals) centres the rotation axis; it
removes rings (Vo's sorting-based stripe filter at its default 21-px window,
as for raw DXchange data) only with ``--rings``. This measures the basis of
that default (:func:`tomoinpaint.prep.resolve_rings`): on held-out simulated
data with the ground truth, what the filter does to a series without stripes
and to one with them.

Stripes: each detector column's line integrals offset by a constant, as a
detector pixel whose gain the flat field does not correct leaves them: 5% of
the columns by ±1% of the sinogram's maximum, and every column by a little
(0.1% rms). Geometries: a tilt series (±67.5° at 1.5°: 91 tilts, a 45°
wedge) and a micro-CT scan with a 45° block missing (0–180° at 1°, the
block around 90° removed: 135 tilts). Held-out data: three families,
noise-free and low dose, two slices each, 128² and 256². Methods: WBP and
TV at their defaults.

Run::

    python benchmarks/prep_rings.py     # ~20 min on 2 cores

Results: ``results/prep_rings.md`` / ``.json``.
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

from tomoinpaint import prep as tprep
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import psnr

FAMILIES = ("shapes", "natural", "ct")
DOSES = ("noise-free", "low")
METHODS = ("wbp", "tv")
GEOMETRIES = ("tilt series", "CT, 45° block")
DETECTORS = ("no stripes", "stripes")
#: Share of columns with a strong offset, its size and the weak offset of every column
#: (fractions of the sinogram's maximum).
STRIPE_SHARE, STRIPE_SIZE, STRIPE_FLOOR = 0.05, 0.01, 0.001


def geometry_angles(name: str) -> np.ndarray:
    """The tilt angles of a geometry, degrees."""
    if name == "tilt series":
        return wedge_angles(45.0, 1.5)
    full = np.arange(0.0, 180.0, 1.0)
    return full[np.abs(full - 90.0) > 22.5]


def with_stripes(sino: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``sino`` (n_tilts, n) with a constant offset per detector column."""
    n = sino.shape[1]
    scale = float(np.abs(sino).max())
    offset = rng.normal(0.0, STRIPE_FLOOR * scale, n)
    strong = rng.random(n) < STRIPE_SHARE
    offset[strong] += rng.choice([-1.0, 1.0], int(strong.sum())) * STRIPE_SIZE * scale
    return (sino + offset[np.newaxis, :]).astype(np.float32)


def one_case(task) -> list[dict]:
    """Rows (method x detector x rings) of one held-out slice, one size, dose and geometry."""
    family, index, dose, geometry, n = task
    angles = geometry_angles(geometry)
    sample = next(eval_set(family, 1, n=n, angles=angles, doses=(dose,), start=index))
    clean, gt = np.asarray(sample["sino"][dose], np.float32), sample["gt"]
    rng = np.random.default_rng([7, index, FAMILIES.index(family)])
    inputs = {"no stripes": clean, "stripes": with_stripes(clean, rng)}
    backend = tprep.backend("auto")
    rows = []
    for detector, sino in inputs.items():
        for rings in (False, True):
            # as --prep does for a chunk of line integrals: (n_tilts, rows, nx)
            s = tprep.line_integrals(
                sino[:, np.newaxis, :], None, None, rings="sorting" if rings else False,
                backend=backend,
            )[:, 0, :]  # fmt: skip
            for method in METHODS:
                image = reconstruct(s, angles, method, device="cpu")
                rows.append(
                    {
                        "family": family,
                        "index": index,
                        "dose": dose,
                        "geometry": geometry,
                        "n": n,
                        "detector": detector,
                        "rings": rings,
                        "method": method,
                        "psnr": float(psnr(gt, image)),
                    }
                )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2, help="held-out slices per family and dose")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--name", default="prep_rings")
    args = ap.parse_args()
    tasks = [
        (f, i, d, g, n)
        for n in args.sizes
        for g in GEOMETRIES
        for f in FAMILIES
        for d in DOSES
        for i in range(args.count)
    ]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        rows = [r for part in pool.map(one_case, tasks) for r in part]

    def worst(**match) -> float:
        """The largest loss of one slice from removing rings (dB; negative = a loss)."""
        on, off = ({(r["family"], r["index"]): r["psnr"] for r in rows_where(rows, rings=rings,
                   **match)} for rings in (True, False))  # fmt: skip
        return min(on[k] - off[k] for k in on)

    lines = [
        f"Held-out test data: {', '.join(FAMILIES)}; {args.count} slices each. "
        "Mean PSNR (dB) against the ground truth with ring removal off (`--no-rings`) and on "
        "(`--rings`: Vo's sorting-based filter, 21-px window), its mean change and the worst "
        f"slice's. Stripes: {STRIPE_SHARE:.0%} of the columns offset by "
        f"±{STRIPE_SIZE:.0%} of the sinogram's maximum, every column by "
        f"{STRIPE_FLOOR:.1%} rms.",
        "",
        "| size | geometry | tilts | detector | dose | method | rings off | rings on | on − off "
        "| worst slice |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in args.sizes:
        for g in GEOMETRIES:
            for det in DETECTORS:
                for dose in DOSES:
                    for m in METHODS:
                        key = {"n": n, "geometry": g, "detector": det, "dose": dose, "method": m}
                        off, on = (mean_of(rows, "psnr", rings=r, **key) for r in (False, True))
                        lines.append(
                            f"| {n}² | {g} | {geometry_angles(g).size} | {det} | {dose} | {m} | "
                            f"{off:.2f} | {on:.2f} | {on - off:+.2f} | {worst(**key):+.2f} |"
                        )
    write_results(args.name, {**header(), "backend": tprep.backend("auto")}, "\n".join(lines),
                  rows)  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
