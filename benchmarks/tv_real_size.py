"""TV at real sizes: the sparse-matrix projector at 1024² and for a slab of a 2048² slice.

TV runs through ASTRA's CPU projector stored as a sparse matrix when that fits
(``project.open_projector``), else through ASTRA one slice at a time, about
ten times slower at 512² (``results/method_speed.md``). This measures, for
121 tilts (±60° at 1°):

* building the matrix: seconds, its size, and the peak memory of a process
  that builds it, the whole matrix cut into row blocks afterwards (as
  before) against each block built from its own projections (now); each
  build runs in a fresh process so that its peak is its own;
* TV's seconds per iteration and slice, matrix (a chunk of 8 slices, as the
  volume pipeline hands it) against ASTRA (slice by slice), after a warm-up
  call that builds the cached matrix, operator norm and steps; and the time
  per slice this gives at TV's default 500 iterations (projected: the
  iterations all cost the same). The two backends run the same iteration:
  the largest difference between their images is shown.

Sizes: 512², 1024² and 2048² whole slices, and a 256-row slab of a 2048²
slice (``--thickness 256 --slab-only``), whose whole-slice ASTRA time is
shown too. The 2048² matrix (6-8 GiB) is used only where a quarter of the
memory holds it, not on a 24 GiB machine; it is measured here to show what
a larger one gains, and not built whole-then-cut (that would need 24 GiB).
The sinograms are uniform random numbers: the cost of an iteration does not
depend on the data.

Run::

    python benchmarks/tv_real_size.py     # ~15 min on 2 cores (the first run: all but 2048²)
    python benchmarks/tv_real_size.py --cases 2048² --name tv_real_size_2048

Results: ``results/tv_real_size.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np
from _common import header, write_results

import tomoinpaint.project as project
from tomoinpaint.geometry import tilt_range
from tomoinpaint.recon.tv import tv

ANGLES = tilt_range(-60.0, 60.0, 1.0)
#: (label, n, slab rows or None)
CASES = (
    ("512²", 512, None),
    ("1024²", 1024, None),
    ("2048², 256-row slab", 2048, (896, 1152)),
    ("2048²", 2048, None),
)
#: Cases whose matrix is too large to build whole and then cut on a 24 GiB machine.
NO_OLD_BUILD = ("2048²",)


def _build(n: int, rows, way: str) -> dict:
    """Build one geometry's matrix blocks in this (fresh) process; seconds, bytes, peak RSS."""
    key = tuple(ANGLES.tolist())
    t0 = time.perf_counter()
    if way == "whole, then cut":
        a = project.projection_matrix(key, n, "linear", rows)
        parts = project.MATRIX_BLOCKS
        cuts = [round(k * len(key) / parts) * n for k in range(parts + 1)]
        blocks = [a[cuts[k] : cuts[k + 1]] for k in range(parts)]
        del a
    else:
        blocks = project.projection_blocks(key, n, "linear", project.MATRIX_BLOCKS, rows)
    seconds = time.perf_counter() - t0
    nbytes = project._blocks_bytes(blocks)  # what the matrix cache counts
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "bytes": nbytes, "peak_rss": peak}


def build_in_fresh_process(n: int, rows, way: str) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_build, (n, rows, way))


def tv_per_iteration(sino, backend: str, iterations: int, rows) -> tuple[float, np.ndarray]:
    """Seconds per iteration and slice of TV on ``sino`` (warm), and the images."""
    tv(sino[:1], ANGLES, device="cpu", backend=backend, iterations=1, slab=rows)  # warm-up
    t0 = time.perf_counter()
    out = tv(sino, ANGLES, device="cpu", backend=backend, iterations=iterations, slab=rows)
    return (time.perf_counter() - t0) / (iterations * sino.shape[0]), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=30, help="TV iterations timed")
    ap.add_argument("--slices", type=int, default=8, help="slices of the matrix run")
    ap.add_argument("--cases", nargs="+", default=[c[0] for c in CASES], help="slice labels")
    ap.add_argument("--name", default="tv_real_size")
    args = ap.parse_args()
    project.MATRIX_MAX_BYTES = 1 << 40  # every case on the matrix, whatever the cap
    rng = np.random.default_rng(0)
    rows_out, lines = [], []
    for label, n, rows in CASES:
        if label not in args.cases:
            continue
        ways = ("by block",) if label in NO_OLD_BUILD else ("whole, then cut", "by block")
        builds = {way: build_in_fresh_process(n, rows, way) for way in ways}
        sino = rng.random((args.slices, ANGLES.size, n), dtype=np.float32)
        t_matrix, img_m = tv_per_iteration(sino, "matrix", args.iterations, rows)
        t_astra, img_a = tv_per_iteration(sino[:1], "astra", args.iterations, rows)
        diff = float(np.abs(img_m[0] - img_a[0]).max() / np.abs(img_a[0]).max())
        t_whole = None
        if rows is not None:  # without --slab-only: the whole slice, through ASTRA
            t_whole, _ = tv_per_iteration(sino[:1], "astra", max(1, args.iterations // 3), None)
        project.projection_blocks.cache_clear()  # one cache for both layouts
        row = {
            "case": label,
            "n": n,
            "rows": rows,
            "builds": builds,
            "tv_s_per_iteration": {"matrix": t_matrix, "astra": t_astra, "astra_whole": t_whole},
            "max_rel_diff": diff,
            "iterations_timed": args.iterations,
        }
        rows_out.append(row)
        old, new = builds.get("whole, then cut"), builds["by block"]
        old_peak = "—" if old is None else f"{old['peak_rss'] / 2**30:.2f}"
        lines.append(
            f"| {label} | {new['bytes'] / 2**30:.2f} | {new['seconds']:.0f} | "
            f"{old_peak} / {new['peak_rss'] / 2**30:.2f} | "
            f"{t_matrix:.3f} / {t_astra:.3f} | **{t_astra / t_matrix:.1f}×** | "
            f"{500 * t_matrix:.0f} / {500 * t_astra:.0f}"
            + ("" if t_whole is None else f" (whole slice {500 * t_whole:.0f})")
            + f" | {diff:.1e} |"
        )
        print(lines[-1], flush=True)
    table = [
        f"121 tilts (±60° at 1°). Matrix: its size (GiB) and build time (s, by block); the peak "
        f"memory (GiB) of a process that builds it whole and cuts it into "
        f"{project.MATRIX_BLOCKS} row blocks / builds each block from its own projections. "
        f"TV: seconds per iteration and slice, matrix ({args.slices} slices at once) / ASTRA "
        f"(slice by slice), timed over {args.iterations} iterations after a warm-up; seconds "
        "per slice at the default 500 iterations (projected from the timed ones); largest "
        "difference between the two backends' images (relative to the maximum).",
        "",
        "| slice | matrix GiB | build s | build peak GiB, whole / by block | "
        "TV s / iteration, matrix / ASTRA | speed-up | s / slice at 500 it., matrix / ASTRA "
        "| max diff |",
        "|---|---|---|---|---|---|---|---|",
        *lines,
    ]
    write_results(args.name, header(), "\n".join(table), rows_out)
    print("\n".join(table))


if __name__ == "__main__":
    main()
