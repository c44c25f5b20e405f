"""The two CPU kernels that set TV's and joint's time, in the layouts they can take.

1. The sparse projection matrix (:class:`~tomoinpaint.project.MatrixProjector`):
   one forward and one back product of an 8-slice stack, per row block of
   the matrix, with the block stored row-major (CSR, scipy's gather loop)
   and column-major (CSC, its scatter loop). The back product always runs on
   the transpose of the CSR block, which is column-major.
2. The installed de-artifact U-Net (``deartifact_tv``, the network of
   ``joint``'s prior): milliseconds per image by pass size (images per
   forward call) and memory layout (contiguous or channels-last, weights
   and input).

Both are what ``open_projector`` and ``nn.inference`` choose between; the
table shows why they choose as they do (``forward_blocks``,
``CPU_PIXELS_PER_PASS``, ``for_cpu_inference``). Each time is the median of
``--repeats`` calls after one warm-up, on all cores (2 here).

Run::

    python benchmarks/cpu_kernels.py          # ~3 min

Results: ``results/cpu_kernels.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import copy
import time
from operator import matmul

import numpy as np
import torch
from _common import header, wedge_angles, write_results

from tomoinpaint.nn.inference import for_cpu_inference
from tomoinpaint.project import MATRIX_BLOCKS, projection_blocks
from tomoinpaint.recon.joint import load_joint_model


def _median_ms(repeats: int, fn, *args) -> float:
    """Median milliseconds of ``fn(*args)`` over ``repeats`` calls after a warm-up."""
    fn(*args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def matrix_rows(sizes, repeats: int) -> list[dict]:
    """ms per product of one row block, 8 slices, by storage order."""
    angles = wedge_angles(45.0)
    key = tuple(float(a) for a in angles)
    rows = []
    for n in sizes:
        block = projection_blocks(key, n, "linear", MATRIX_BLOCKS)[0]
        rng = np.random.default_rng(0)
        x = rng.random((n * n, 8), dtype=np.float32)
        y = rng.random((block.shape[0], 8), dtype=np.float32)
        csc = block.tocsc()
        same = np.array_equal(block @ x, csc @ x)
        rows.append(
            {
                "n": n,
                "nnz": int(block.nnz),
                "forward_csr_ms": _median_ms(repeats, matmul, block, x),
                "forward_csc_ms": _median_ms(repeats, matmul, csc, x),
                "back_csr_transposed_ms": _median_ms(repeats, matmul, block.T, y),
                "back_csc_transposed_ms": _median_ms(repeats, matmul, csc.T, y),
                "forward_identical": bool(same),
            }
        )
        print(rows[-1], flush=True)
    return rows


def network_rows(plan, repeats: int) -> list[dict]:
    """ms per image of the installed TV de-artifact U-Net, by pass size and layout."""
    net = load_joint_model(None, "cpu").deartifact_tv.eval()
    last = for_cpu_inference(copy.deepcopy(net))  # as get_model lays it out
    rows = []
    for n, passes in plan:
        for per_pass in passes:
            x = torch.randn(per_pass, 1, n, n)
            xl = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                plain = _median_ms(repeats, net, x) / per_pass
                chl = _median_ms(repeats, last, xl) / per_pass
            rows.append({"n": n, "per_pass": per_pass, "plain_ms": plain, "channels_last_ms": chl})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    mat = matrix_rows((128, 256, 512), args.repeats)
    plan = ((128, (2, 8, 32)), (256, (1, 2, 8)), (512, (1, 2, 8)))
    nets = network_rows(plan, args.repeats)
    lines = [
        "### Sparse projection matrix: ms per product of one of its "
        f"{MATRIX_BLOCKS} row blocks, 8 slices (45° wedge, 1.5° steps)",
        "",
        "| n | entries | forward, row-major | forward, column-major | ×"
        " | back (transpose of row-major) | back (transpose of column-major)"
        " | forward results identical |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in mat:
        lines.append(
            f"| {r['n']}² | {r['nnz']:,} | {r['forward_csr_ms']:.2f} | {r['forward_csc_ms']:.2f}"
            f" | {r['forward_csr_ms'] / r['forward_csc_ms']:.2f} | "
            f"{r['back_csr_transposed_ms']:.2f} | {r['back_csc_transposed_ms']:.2f} | "
            f"{'yes' if r['forward_identical'] else 'no'} |"
        )
    lines += [
        "",
        "### De-artifact U-Net (installed `deartifact_tv`): ms per image",
        "",
        "| n | images per pass | contiguous | channels-last | × |",
        "|---|---|---|---|---|",
    ]
    for r in nets:
        lines.append(
            f"| {r['n']}² | {r['per_pass']} | {r['plain_ms']:.1f} | {r['channels_last_ms']:.1f}"
            f" | {r['plain_ms'] / r['channels_last_ms']:.2f} |"
        )
    meta = header() | {"threads": f"torch {torch.get_num_threads()}, scipy 1 per product"}
    write_results("cpu_kernels", meta, "\n".join(lines), {"matrix": mat, "network": nets})


if __name__ == "__main__":
    main()
