"""Per-slice time of every method at 128², 256² and 512², old and new TV solver side by side.

TV (and the data-consistency step of ``joint``) runs either through ASTRA's
CPU projector one slice at a time (``backend="astra"``: the solver as it was
before the sparse-matrix projector) or through the same operator stored as a
sparse matrix, a chunk of slices per product (``backend="matrix"``, the new
default on the CPU). Both run the same PDHG iteration, so the PSNR columns
must agree: the table shows PSNR beside every time, on the same slices, and
the largest difference between the two solvers' images.

Data: held-out shapes phantoms (``_common.eval_set``, test seeds), 45° wedge
at 1.5° steps (91 tilts), moderate dose (I0 = 20,000), simulated without the
inverse crime. Each size reconstructs one chunk of ``--slices`` slices (the
volume pipeline's default chunk is 8) with the new solver; the old solver,
which works slice by slice, is timed on the first ``--old-slices`` of them.
Times are wall-clock per slice after a warm-up call on the same geometry
(which builds the cached matrix, operator norm and networks; the matrix build
time is reported separately, since a volume pays it once per process), the
fastest of ``--repeat`` runs for the new solver, WBP and SART. The
old solver runs ASTRA on one core; the new one splits each sparse product
into row blocks over all cores (2 here) — as a user's run gets them with the
default ``--workers 1``; with several worker processes the cores are shared
out between them instead.

Run::

    python benchmarks/method_speed.py               # ~15 min on 2 cores
    python benchmarks/method_speed.py --quick       # smoke test (~2 min), not committed

Results: ``results/method_speed.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import eval_stack, fastest_of, header, wedge_angles, write_results

import tomoinpaint.project as project
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import psnr
from tomoinpaint.recon.joint import weights_available

DOSE = "moderate"


def _data(n: int, count: int):
    angles = wedge_angles(45.0, 1.5)
    sinos, gts = eval_stack("shapes", count, n, DOSE, angles)
    return angles, gts, sinos


def _timed(method: str, sinos, angles, backend: str, repeat: int = 1, **options):
    """(seconds per slice, images) of ``method`` with the projector backend forced.

    The time is the fastest of ``repeat`` runs (:func:`_common.fastest_of`).
    """
    saved = project.MATRIX_MAX_BYTES
    if backend == "astra":
        project.MATRIX_MAX_BYTES = 0  # open_projector("auto") then picks ASTRA everywhere
    try:
        # warm-up on the same geometry: matrix, operator norm, preconditioners, networks
        warm = {**options, "iterations": 1} if method in ("tv", "joint") else options
        reconstruct(sinos[:1], angles, method, **warm)
        best, out = fastest_of(repeat, reconstruct, sinos, angles, method, **options)
        return best / len(sinos), out
    finally:
        project.MATRIX_MAX_BYTES = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--slices", type=int, default=8, help="slices per size (one chunk)")
    ap.add_argument("--old-slices", type=int, default=1, help="of which the old solver runs")
    ap.add_argument("--quick", action="store_true", help="64² and 128², 2 slices, 50 iterations")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per new-solver time, the fastest kept"
    )
    args = ap.parse_args()
    tv_opts, joint_opts = {}, {}
    if args.quick:
        args.sizes, args.slices, args.old_slices = [64, 128], 2, 1
        tv_opts, joint_opts = {"iterations": 50}, {"iterations": 50}
    deep = weights_available()
    rows, data = [], []
    for n in args.sizes:
        angles, gts, sinos = _data(n, args.slices)
        k_old = min(args.old_slices, args.slices)
        key = tuple(np.asarray(angles, float).tolist())
        project.projection_blocks.cache_clear()
        t0 = time.perf_counter()
        project.projection_blocks(key, n, "linear", project.MATRIX_BLOCKS)
        build = time.perf_counter() - t0
        entry = {"n": n, "tilts": len(angles), "matrix_build_s": build, "methods": {}}
        t_wbp, rec = _timed("wbp", sinos, angles, "astra", args.repeat)
        entry["methods"]["wbp"] = {"s_per_slice": t_wbp, "psnr": _psnr(gts, rec)}
        t, rec = _timed("sart", sinos, angles, "astra", args.repeat)
        entry["methods"]["sart"] = {"s_per_slice": t, "psnr": _psnr(gts, rec)}
        todo = [("tv", tv_opts)] + ([("joint", joint_opts)] if deep else [])
        for method, opts in todo:
            t_old, rec_old = _timed(method, sinos[:k_old], angles, "astra", **opts)
            t_new, rec_new = _timed(method, sinos, angles, "matrix", args.repeat, **opts)
            entry["methods"][method] = {
                "old_s_per_slice": t_old,
                "new_s_per_slice": t_new,
                "speedup": t_old / t_new,
                "old_psnr_common": _psnr(gts[:k_old], rec_old),
                "new_psnr_common": _psnr(gts[:k_old], rec_new[:k_old]),
                "new_psnr_all": _psnr(gts, rec_new),
                "max_rel_diff": float(
                    np.abs(rec_old - rec_new[:k_old]).max() / max(np.abs(rec_old).max(), 1e-30)
                ),
            }
        entry["wbp_s_per_slice"] = t_wbp
        data.append(entry)
        print(f"n={n} done: {entry}", flush=True)
        rows.extend(_rows(entry, k_old, args.slices))
    meta = {
        **header(),
        "data": f"held-out shapes, 45° wedge at 1.5° (91 tilts), {DOSE} dose, "
        f"{args.slices} slices per size (old solver: first {args.old_slices})",
        "timing": f"new solver, WBP and SART: the fastest of {args.repeat} runs; old solver: one",
        "options": f"tv {tv_opts or 'defaults'}, joint {joint_opts or 'defaults'}",
    }
    table = (
        "| size | method | old s/slice | new s/slice | speed-up | new / WBP | PSNR old | PSNR new "
        "(same slices) | PSNR new (all) | max rel. diff |\n" + "|---" * 10 + "|\n" + "\n".join(rows)
    )
    builds = "\n".join(
        f"- {e['n']}²: matrix built in {e['matrix_build_s']:.1f} s (once per process and geometry)"
        for e in data
    )
    name = "method_speed_quick" if args.quick else "method_speed"
    write_results(name, meta, table + "\n\n" + builds, data)


def _psnr(gts, recs) -> float:
    return float(np.mean([psnr(g, r) for g, r in zip(gts, recs, strict=True)]))


def _rows(e: dict, k_old: int, k_new: int) -> list[str]:
    out = []
    wbp = e["wbp_s_per_slice"]
    for name, m in e["methods"].items():
        if "old_s_per_slice" not in m:
            out.append(
                f"| {e['n']}² | {name} | | {m['s_per_slice']:.3f} | | "
                f"{m['s_per_slice'] / wbp:.0f}× | | | {m['psnr']:.2f} | |"
            )
            continue
        out.append(
            f"| {e['n']}² | {name} | {m['old_s_per_slice']:.2f} ({k_old}) | "
            f"{m['new_s_per_slice']:.2f} ({k_new}) | **{m['speedup']:.1f}×** | "
            f"{m['new_s_per_slice'] / wbp:.0f}× | {m['old_psnr_common']:.2f} | "
            f"{m['new_psnr_common']:.2f} | {m['new_psnr_all']:.2f} | {m['max_rel_diff']:.1e} |"
        )
    return out


if __name__ == "__main__":
    main()
