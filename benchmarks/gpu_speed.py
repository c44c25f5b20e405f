"""Slices per second of wbp, sart, tv and joint at 512² on the GPU, and the speed-up over the CPU.

For a machine with a CUDA GPU (run it whenever one is at hand; ~5 min). Each
method reconstructs one chunk of ``--slices`` slices (held-out shapes
phantoms, 45° wedge at 1.5° steps, moderate dose, as in
``method_speed.py``) with ``device="cuda"``, after a warm-up call on the
same geometry, and the first ``--cpu-slices`` of them with ``device="cpu"``
(the CPU default: the sparse-matrix projector on every core). PSNR is
reported beside every time, and the largest difference between the GPU's
and the CPU's images, so that no speed is bought with quality.

The GPU runs TV and joint's data-consistency step through ASTRA's 3D CUDA
projector a stack of slices per call (``StackProjector3D``) when it
reproduces the 2D projector on that GPU; the table says which projector
was used.

Run::

    python benchmarks/gpu_speed.py                 # needs a CUDA GPU
    python benchmarks/gpu_speed.py --n 128 --slices 4 --cpu-slices 1   # a smoke test

Results: ``results/gpu_speed.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import eval_set, header, wedge_angles, write_results

from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import psnr
from tomoinpaint.project import cuda_available, stack_projector_orientation
from tomoinpaint.recon.joint import weights_available

DOSE = "moderate"


def _timed(method, sinos, angles, device):
    """(seconds per slice, images); a warm-up call first (caches, networks, CUDA context)."""
    reconstruct(sinos[:1], angles, method, device=device)
    t0 = time.perf_counter()
    rec = reconstruct(sinos, angles, method, device=device)
    return (time.perf_counter() - t0) / sinos.shape[0], rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--slices", type=int, default=16, help="slices reconstructed on the GPU")
    ap.add_argument("--cpu-slices", type=int, default=1, help="of them, on the CPU")
    ap.add_argument("--methods", nargs="+", default=["wbp", "sart", "tv", "joint"])
    args = ap.parse_args()
    if not cuda_available():
        print("gpu_speed: ASTRA finds no usable CUDA GPU on this machine", file=sys.stderr)
        return 1
    methods = [m for m in args.methods if m != "joint" or weights_available()]
    angles = wedge_angles(45.0, 1.5)
    samples = list(eval_set("shapes", args.slices, n=args.n, angles=angles, doses=(DOSE,)))
    gts = np.stack([s["gt"] for s in samples])
    sinos = np.stack([s["sino"][DOSE] for s in samples]).astype(np.float32)
    k = max(1, min(args.cpu_slices, args.slices))
    rows = []
    for method in methods:
        t_gpu, rec_gpu = _timed(method, sinos, angles, "cuda")
        t_cpu, rec_cpu = _timed(method, sinos[:k], angles, "cpu")
        entry = {
            "method": method,
            "gpu_s_per_slice": t_gpu,
            "cpu_s_per_slice": t_cpu,
            "speedup": t_cpu / t_gpu,
            "psnr_gpu": float(np.mean([psnr(g, r) for g, r in zip(gts, rec_gpu, strict=True)])),
            "psnr_gpu_same": float(
                np.mean([psnr(g, r) for g, r in zip(gts[:k], rec_gpu[:k], strict=True)])
            ),
            "psnr_cpu": float(np.mean([psnr(g, r) for g, r in zip(gts[:k], rec_cpu, strict=True)])),
            "max_rel_diff": float(np.abs(rec_gpu[:k] - rec_cpu).max() / np.abs(rec_cpu).max()),
        }
        rows.append(entry)
        print(
            f"{method:6s} gpu {t_gpu:8.3f} s/slice  cpu {t_cpu:8.2f} s/slice  "
            f"x{entry['speedup']:.1f}  PSNR {entry['psnr_gpu_same']:.2f} "
            f"vs {entry['psnr_cpu']:.2f}",
            flush=True,
        )
    orientation = stack_projector_orientation()
    projector = (
        "ASTRA 3D CUDA, a stack per call " + str(orientation)
        if orientation is not None
        else "ASTRA 2D CUDA, slice by slice (the 3D projector did not reproduce the 2D one)"
    )
    table = [
        "| method | GPU s/slice | GPU slices/s | CPU s/slice | speed-up | PSNR GPU (all) | "
        "PSNR GPU / CPU (same slices) | max rel. diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in rows:
        table.append(
            f"| {e['method']} | {e['gpu_s_per_slice']:.3f} | {1 / e['gpu_s_per_slice']:.2f} | "
            f"{e['cpu_s_per_slice']:.2f} | **{e['speedup']:.1f}×** | {e['psnr_gpu']:.2f} | "
            f"{e['psnr_gpu_same']:.2f} / {e['psnr_cpu']:.2f} | {e['max_rel_diff']:.1e} |"
        )
    meta = {
        **header(),
        "data": f"held-out shapes, {args.n}², 45° wedge at 1.5° ({angles.size} tilts), {DOSE} "
        f"dose; {args.slices} slices on the GPU, the first {k} on the CPU",
        "tv/joint projector on the GPU": projector,
    }
    name = "gpu_speed" if args.n == 512 else f"gpu_speed_{args.n}"
    write_results(name, meta, "\n".join(table), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
