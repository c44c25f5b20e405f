"""WBP of a slab (``reconstruct --thickness``): time per slice against the whole slice.

A slab specimen (a section, a lamella) fills a few hundred pixels of a slice
``n`` pixels wide; ``--thickness T`` keeps those rows. WBP back-projects
pixel by pixel, so it computes only the slab's ``T x n`` pixels
(:func:`tomoinpaint.recon.wbp` with ``slab``); the other methods compute the
whole slice and the pipeline cuts the slab out. This measures WBP's time per
slice for the whole slice and for slabs, and the largest difference between
the slab and the same rows of the whole slice (relative to the slice's
maximum).

Input: the Shepp-Logan phantom (scikit-image) at ``n x n``, projected at 121
tilts (±60° at 1°) with the linear kernel; a stack of ``--slices`` copies
(timing does not depend on the content). One thread (``one_thread_worker``),
minimum over ``--repeats`` runs.

Run::

    python benchmarks/slab_speed.py     # ~3 min on 2 cores

Results: ``results/slab_speed.md`` / ``.json``.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import fastest_of, header, one_thread_worker, write_results
from skimage.data import shepp_logan_phantom
from skimage.transform import resize

from tomoinpaint.geometry import tilt_range
from tomoinpaint.metrics import psnr
from tomoinpaint.project import forward_project
from tomoinpaint.recon import wbp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--thickness", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--slices", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="slab_speed")
    args = ap.parse_args()
    one_thread_worker()
    angles = tilt_range(-60.0, 60.0, 1.0)
    rows, lines = (
        [],
        [
            f"WBP on CPU, one thread; {angles.size} tilts (±60° at 1°); seconds per slice "
            f"(fastest of {args.repeats} runs of {args.slices} slices); `slab` = WBP of T "
            "centred rows of each slice; largest difference from the same rows of the whole "
            "slice, relative to its maximum; PSNR of both against the phantom on those rows "
            "(data range: the phantom's).",
            "",
            "| n | T (slab rows) | s / slice | × faster than the whole slice | largest diff. "
            "| PSNR slab / whole slice's rows (dB) |",
            "|---|---|---|---|---|---|",
        ],
    )
    for n in args.sizes:
        phantom = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True).astype(np.float32)
        sino = forward_project(phantom, angles, kernel="linear", device="cpu")
        stack = np.repeat(sino[np.newaxis], args.slices, axis=0)
        t_full, full = fastest_of(args.repeats, wbp, stack, angles, device="cpu")
        t_full /= args.slices
        scale = float(np.abs(full).max())
        rows.append({"n": n, "thickness": n, "seconds_per_slice": t_full, "max_diff": 0.0})
        lines.append(f"| {n} | {n} (whole slice) | {t_full:.3f} | 1.0× | | |")
        for t in args.thickness:
            if t >= n:
                continue
            z0 = (n - t) // 2
            seconds, part = fastest_of(
                args.repeats, wbp, stack, angles, device="cpu", slab=(z0, z0 + t)
            )
            seconds /= args.slices
            diff = float(np.abs(part - full[:, z0 : z0 + t]).max() / scale)
            truth = phantom[z0 : z0 + t]
            span = float(phantom.max() - phantom.min())
            p_slab = psnr(truth, part[0], data_range=span)
            p_whole = psnr(truth, full[0, z0 : z0 + t], data_range=span)
            rows.append(
                {"n": n, "thickness": t, "seconds_per_slice": seconds, "max_diff": diff,
                 "psnr_slab": p_slab, "psnr_whole_rows": p_whole}
            )  # fmt: skip
            lines.append(
                f"| {n} | {t} | {seconds:.3f} | {t_full / seconds:.1f}× | {diff:.1e} | "
                f"{p_slab:.2f} / {p_whole:.2f} |"
            )
            print(lines[-1], flush=True)
    write_results(args.name, {**header(), "tilts": int(angles.size)}, "\n".join(lines), rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
