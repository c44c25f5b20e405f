"""The installed networks' subnormal weights: how many, their cost on the CPU, and zeroed.

Weight decay drives unused weights towards zero; float32 values below
1.2e-38 are subnormal, and x86 CPUs compute with them through a slow path.
``nn.inference.for_cpu_inference`` (what ``joint`` and ``auto`` load the
networks through) now sets them to zero. This benchmark shows, for each
installed network, how many there are, and for the de-artifact U-Net of
``joint``'s prior (``deartifact_tv``) the milliseconds per image laid out as
inference runs it (channels-last, ``CPU_PIXELS_PER_PASS`` images per pass)
with the weights as stored and zeroed, and the largest difference between
the two outputs. Then ``joint`` per slice at 128² (held-out shapes, 45°
wedge at 1.5°, moderate dose, one chunk of 8 slices; ``method_speed``'s
data) with either model, and ``tv`` beside it.

Run::

    python benchmarks/subnormal_weights.py          # ~3 min

Results: ``results/subnormal_weights.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
from _common import eval_stack, fastest_of, header, wedge_angles, write_results

from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import psnr
from tomoinpaint.nn.inference import CPU_PIXELS_PER_PASS, flush_subnormal_weights, run_deartifact
from tomoinpaint.recon.joint import load_joint_model
from tomoinpaint.recon.joint.model import load_inference_model

NETWORKS = ("inpainter", "deartifact", "deartifact_tv")


def count_rows(model) -> list[dict]:
    """Subnormal parameters of each installed network."""
    rows = []
    for name in NETWORKS:
        net = copy.deepcopy(getattr(model, name))
        total = sum(p.numel() for p in net.parameters())
        rows.append(
            {"network": name, "parameters": total, "subnormal": flush_subnormal_weights(net)}
        )
    return rows


def stored_layout(model):
    """``model`` laid out channels-last as inference runs it, weights as stored."""
    for name in NETWORKS:
        getattr(model, name).to(memory_format=torch.channels_last)
    return model


def network_rows(stored, flushed, sizes, repeat: int) -> list[dict]:
    """ms per image of ``deartifact_tv`` at each size, weights as stored and zeroed."""
    rows = []
    for n in sizes:
        count = max(1, CPU_PIXELS_PER_PASS["deartifact"] // (n * n))
        images = np.random.default_rng(0).random((count, n, n), dtype=np.float32)
        scales = np.ones(count, np.float32)
        times, outs = {}, {}
        for label, net in (("stored", stored.deartifact_tv), ("zeroed", flushed.deartifact_tv)):
            run_deartifact(net, images, scales)  # warm-up: oneDNN builds its kernels
            seconds, outs[label] = fastest_of(repeat, run_deartifact, net, images, scales)
            times[label] = 1e3 * seconds / count
        rows.append(
            {
                "n": n,
                "per_pass": count,
                "stored_ms": times["stored"],
                "zeroed_ms": times["zeroed"],
                "max_abs_diff": float(np.abs(outs["stored"] - outs["zeroed"]).max()),
            }
        )
        print(rows[-1], flush=True)
    return rows


def joint_rows(stored, flushed, repeat: int) -> list[dict]:
    """Seconds per slice of ``tv`` and ``joint`` (either model) at 128², with PSNR."""
    angles = wedge_angles(45.0, 1.5)
    sinos, gts = eval_stack("shapes", 8, 128, "moderate", angles)
    rows, images = [], {}
    for label, method, model in (
        ("tv", "tv", None),
        ("joint, weights as stored", "joint", stored),
        ("joint, subnormals zeroed", "joint", flushed),
    ):
        options = {} if model is None else {"model": model}
        reconstruct(sinos[:1], angles, method, iterations=1, **options)  # warm-up
        seconds, images[label] = fastest_of(repeat, reconstruct, sinos, angles, method, **options)
        psnrs = [psnr(g, x) for g, x in zip(gts, images[label], strict=True)]
        rows.append(
            {"method": label, "s_per_slice": seconds / len(sinos), "psnr": float(np.mean(psnrs))}
        )
        print(rows[-1], flush=True)
    diff = images["joint, weights as stored"] - images["joint, subnormals zeroed"]
    rows[2]["max_abs_diff_to_stored"] = float(np.abs(diff).max())
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--repeat", type=int, default=3, help="runs per time, the fastest kept")
    args = ap.parse_args()
    stored = stored_layout(load_joint_model(None, "cpu"))
    flushed = load_inference_model(None, "cpu")  # as joint loads it: subnormals zeroed
    counts = count_rows(stored)
    nets = network_rows(stored, flushed, args.sizes, args.repeat)
    joints = joint_rows(stored, flushed, args.repeat)
    lines = [
        "### Subnormal weights of the installed networks",
        "",
        "| network | parameters | subnormal | share |",
        "|---|---|---|---|",
    ]
    for r in counts:
        share = r["subnormal"] / r["parameters"]
        lines.append(f"| {r['network']} | {r['parameters']:,} | {r['subnormal']:,} | {share:.0%} |")
    lines += [
        "",
        "### `deartifact_tv`, channels-last: ms per image",
        "",
        "| n | images per pass | weights as stored | subnormals zeroed | × | max abs. difference |",
        "|---|---|---|---|---|---|",
    ]
    for r in nets:
        lines.append(
            f"| {r['n']}² | {r['per_pass']} | {r['stored_ms']:.1f} | {r['zeroed_ms']:.1f} | "
            f"{r['stored_ms'] / r['zeroed_ms']:.2f} | {r['max_abs_diff']:.1e} |"
        )
    tv_time = joints[0]["s_per_slice"]
    lines += [
        "",
        "### Per slice at 128² (8 held-out shapes slices, moderate dose, 45° wedge)",
        "",
        "| method | s/slice | / tv | PSNR (dB) |",
        "|---|---|---|---|",
    ]
    for r in joints:
        lines.append(
            f"| {r['method']} | {r['s_per_slice']:.3f} | {r['s_per_slice'] / tv_time:.2f}× | "
            f"{r['psnr']:.2f} |"
        )
    lines += [
        "",
        f"- `joint`'s images, zeroed against stored: largest difference "
        f"{joints[2]['max_abs_diff_to_stored']:.1e}",
    ]
    meta = header() | {
        "data": "random images (network); held-out shapes, moderate dose (joint)",
        "timing": f"the fastest of {args.repeat} runs after a warm-up",
        "threads": f"torch {torch.get_num_threads()}",
    }
    write_results(
        "subnormal_weights",
        meta,
        "\n".join(lines),
        {"counts": counts, "network": nets, "joint": joints},
    )


if __name__ == "__main__":
    main()
