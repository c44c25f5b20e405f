"""Is the 128-px prior what holds ``joint`` back at 256²? The TV network at the input's size, as is.

Issue 16, item 1 asks for a network prior at the input's pixel size. Before
training across scales, this measures what the installed TV de-artifact
network (trained on 128² TV images) does when run, fully convolutionally, on
TV of a 256² slice at its own size, against the shipped prior (TV on the
networks' 128-px grid, the network, the image resampled up), each without
the flip average, and against TV itself. Images are compared with the ground
truth directly (no data-consistency step): how good a start and prior each is.

Data: validation seeds (1,000,000+, "train" image split), shapes, natural
images and CT slices, 45° wedge at 1.5° steps (the networks' angular grid),
noise-free and moderate dose, 256².

And the real ``tooth.h5`` as ``make demo`` uses it (400 px, a block of 45
projections around 90° dropped), against the full scan's WBP, for TV, joint
and joint with its prior at the input's size (``--tooth``).

Run::

    python benchmarks/prior_resolution.py [--count 2] [--n 256] [--tooth]
    python benchmarks/prior_resolution.py --model runs/NAME/weights --name prior_resolution_NAME

Results: ``results/prior_resolution.md`` / ``.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import (
    VALIDATION_SEED,
    add_validation_options,
    eval_set,
    family_dose_rows,
    header,
    map_validation_samples,
    wedge_angles,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.nn.grid import sinogram_scale
from tomoinpaint.nn.inference import run_deartifact
from tomoinpaint.recon import tv
from tomoinpaint.recon.joint import joint, load_joint_model, network_prior

FAMILIES = ("shapes", "natural", "ct")
DOSES = ("noise-free", "moderate")
VARIANTS = (
    "TV",
    "prior at 128 px",
    "network at the input's size",
    "joint",
    "joint, prior at the input's size",
)


def one_sample(task) -> list[dict]:
    """Rows (one per dose and variant) of one validation slice."""
    family, index, n, model_dir = task
    model = load_joint_model(model_dir, "cpu")
    angles = wedge_angles(45.0)
    s = next(
        eval_set(family, 1, n=n, purpose="validation", angles=angles, doses=DOSES, start=index)
    )
    net = model.deartifact_tv if model.deartifact_tv is not None else model.deartifact
    rows = []
    for dose in DOSES:
        b = np.asarray(s["sino"][dose], np.float32)
        base = {"family": family, "index": index, "dose": dose, "n": n}
        recs = {"TV": tv(b, angles, device="cpu")}
        shipped = network_prior(b, angles, model=model, source="tv", flips=False, device="cpu")
        recs["prior at 128 px"] = shipped.image[0]
        # the prior's own TV budget, at the input's size; the network on it, unchanged
        rec_n = tv(b, angles, iterations=model.tv_iterations, device="cpu")
        scale = np.atleast_1d(sinogram_scale(b, np.ones(angles.size, bool)))
        recs["network at the input's size"] = run_deartifact(net, rec_n[None], scale)[0]
        recs["joint"] = joint(b, angles, model=model, device="cpu")
        # warm-up at the input's size too: projection matrices are built once per geometry
        joint(b, angles, model=model, prior_size="input", iterations=1, device="cpu")
        t0 = time.perf_counter()
        recs["joint, prior at the input's size"] = joint(
            b, angles, model=model, prior_size="input", device="cpu"
        )
        t_input = time.perf_counter() - t0
        t0 = time.perf_counter()
        joint(b, angles, model=model, device="cpu")
        t_network = time.perf_counter() - t0
        seconds = {"joint": t_network, "joint, prior at the input's size": t_input}
        for name, rec in recs.items():
            rows.append(
                base | {"variant": name, "seconds": seconds.get(name)} | compare(s["gt"], rec)
            )
    print(family, index, n, flush=True)
    return rows


def tooth_rows(model_dir: str) -> list[dict]:
    """TV, joint and joint with the prior at the input's size on the tooth (block at 90°)."""
    from _common import tooth_block_case

    model = load_joint_model(model_dir, "cpu")
    sino, ref, angles = tooth_block_case(90.0)
    rows = []
    for name, fn in (
        ("TV", lambda: tv(sino, angles, device="cpu")),
        ("joint", lambda: joint(sino, angles, model=model, device="cpu")),
        (
            "joint, prior at the input's size",
            lambda: joint(sino, angles, model=model, prior_size="input", device="cpu"),
        ),
    ):
        t0 = time.perf_counter()
        rec = fn()
        seconds = (time.perf_counter() - t0) / len(sino)
        rows.append({"variant": name, "seconds": seconds} | compare(ref, rec))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_validation_options(ap)
    ap.add_argument("--tooth", action="store_true", help="also the real tooth scan")
    ap.add_argument("--name", default="prior_resolution", help="results file name")
    ap.set_defaults(count=2, n=256)
    args = ap.parse_args()
    rows = map_validation_samples(one_sample, args, FAMILIES)
    lines = [
        "| family | dose | " + " | ".join(VARIANTS) + " |",
        "|---|---|" + "---|" * len(VARIANTS),
    ]
    lines += family_dose_rows(rows, FAMILIES, DOSES, VARIANTS)
    mean = {v: np.mean([r["psnr"] for r in rows if r["variant"] == v]) for v in VARIANTS}
    lines.append("| mean PSNR | | " + " | ".join(f"{mean[v]:.2f}" for v in VARIANTS) + " |")
    secs = {
        v: np.mean([r["seconds"] for r in rows if r["variant"] == v])
        for v in VARIANTS
        if v.startswith("joint")
    }
    lines.append(
        "| seconds / slice (one thread) | | | | | "
        + " | ".join(f"{secs[v]:.1f}" for v in VARIANTS if v in secs)
        + " |"
    )
    text = (
        f"Mean PSNR (dB) / SSIM against the ground truth at {args.n}²: TV (500 iterations), "
        "the shipped prior image (TV on the 128-px grid, the TV network, resampled; no "
        "flips), the same network on TV at the input's size (its training TV budget), and "
        "joint as shipped (flips, data consistency), and joint with its prior at the "
        'input\'s size (`prior_size="input"`).\n\n' + "\n".join(lines) + "\n"
    )
    tooth = []
    if args.tooth:
        tooth = tooth_rows(str(args.model.resolve()))
        text += (
            "\nThe real tooth.h5 (400 px crop, 45 projections around 90° dropped) against the "
            "full scan's WBP, both rows; seconds per slice:\n\n"
            "| method | PSNR (dB) | SSIM | s / slice |\n|---|---|---|---|\n"
            + "\n".join(
                f"| {r['variant']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['seconds']:.1f} |"
                for r in tooth
            )
            + "\n"
        )
    meta = header() | {
        "samples": f"{args.count} validation slices per family (seeds from {VALIDATION_SEED:,})",
        "wedge": "45° (±67.5°, 1.5° step)",
        "weights": str(args.model),
    }
    write_results(args.name, meta, text, rows + [r | {"family": "tooth"} for r in tooth])


if __name__ == "__main__":
    main()
