"""Quality and speed of the classical baselines on held-out data.

For each family (random nanocrystal-like shapes, natural images, CT slices),
held-out samples are simulated at 128² from a 2× finer grid (no inverse
crime), noise-free and at two Beer–Lambert doses, and reconstructed by WBP,
SART and TV with the project's defaults, from complete data (−90…88.5°) and
with a 45° missing wedge (−67.5…67.5°), both at 1.5° steps. Reports mean ±
standard error of PSNR / SSIM / RMSE, an image grid, and per-slice times (a
separate serial run, as ratios to WBP).

Run:  python benchmarks/quality_baselines.py [--count 50] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from _common import DOSES, RESULTS, eval_set, full_angles, header, wedge_angles, write_results

from tomoinpaint.metrics import compare
from tomoinpaint.recon import sart, sirt, tv, wbp

METHODS = {"WBP": wbp, "SART": sart, "TV": tv}
FAMILIES = ("shapes", "natural", "ct")


def _one_sample(args):
    family, index, n = args
    full, wedge = full_angles(), wedge_angles(45.0)
    rows = []
    sample_c = _nth(family, index, n, full)
    sample_w = _nth(family, index, n, wedge)
    images = {}
    for data, angles, sample in (("complete", full, sample_c), ("45° wedge", wedge, sample_w)):
        gt = sample["gt"]
        images["ground truth"] = gt
        for dose in DOSES:
            for name, fn in METHODS.items():
                rec = fn(sample["sino"][dose], angles)
                m = compare(gt, rec)
                rows.append(
                    {"family": family, "index": index, "data": data, "dose": dose, "method": name}
                    | m
                )
                if index == 0 and dose in ("noise-free", "low"):
                    images[f"{name} {data} {dose}"] = rec
    return rows, images if index == 0 else None


def _nth(family, index, n, angles):
    """The index-th held-out sample (same image for every angle set)."""
    return next(eval_set(family, 1, n=n, purpose="test", angles=angles, start=index))


def time_methods(n: int, repeats: int) -> dict:
    """Serial per-slice seconds of each method (and SIRT) on one wedge sinogram."""
    angles = wedge_angles(45.0)
    s = next(eval_set("shapes", 1, n=n, purpose="test", angles=angles))["sino"]["low"]
    out = {}
    for name, fn in (METHODS | {"SIRT": sirt}).items():
        fn(s, angles)  # warm-up (operator norm / filter caches)
        t = time.perf_counter()
        for _ in range(repeats):
            fn(s, angles)
        out[name] = (time.perf_counter() - t) / repeats
    return out


def _figure(images_by_family, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["ground truth"] + [
        f"{m} {d} {q}"
        for q in ("noise-free", "low")
        for d in ("complete", "45° wedge")
        for m in METHODS
    ]
    fams = list(images_by_family)
    fig, axes = plt.subplots(
        len(fams), len(cols), figsize=(1.6 * len(cols), 1.8 * len(fams)), squeeze=False
    )
    for r, fam in enumerate(fams):
        imgs = images_by_family[fam]
        vmax = imgs["ground truth"].max()
        for c, key in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(imgs[key], cmap="gray", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(key.replace(" ", "\n", 2), fontsize=6)
        axes[r, 0].set_ylabel(fam, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=50, help="held-out samples per family")
    ap.add_argument(
        "--image-count",
        type=int,
        default=None,
        help="held-out samples for natural/ct (default: --count)",
    )
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--time-repeats", type=int, default=5)
    args = ap.parse_args()

    counts = {
        f: args.count if f == "shapes" or args.image_count is None else args.image_count
        for f in args.families
    }
    tasks = [(f, i, args.n) for f in args.families for i in range(counts[f])]
    # Finished samples are appended to a cache so an interrupted run resumes.
    cache = RESULTS / ".quality_baselines.cache.jsonl"
    done = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            rec = json.loads(line)
            done[(rec["family"], rec["index"], rec["n"])] = rec
    todo = [t for t in tasks if t not in done]
    print(f"{len(tasks) - len(todo)} samples cached, {len(todo)} to run", flush=True)
    with ProcessPoolExecutor(args.workers) as pool, cache.open("a") as fh:
        for k, (r, im) in enumerate(pool.map(_one_sample, todo), 1):
            rec = {
                "family": r[0]["family"],
                "index": r[0]["index"],
                "n": args.n,
                "rows": r,
                "images": None if im is None else {key: v.tolist() for key, v in im.items()},
            }
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            done[(rec["family"], rec["index"], args.n)] = rec
            if k % 5 == 0:
                print(f"{k}/{len(todo)} samples", flush=True)
    rows, images = [], {}
    for t in tasks:
        rec = done[t]
        rows += rec["rows"]
        if rec["images"] is not None:
            images[rec["family"]] = {key: np.array(v) for key, v in rec["images"].items()}
    times = time_methods(args.n, args.time_repeats)

    summary = []
    lines = [
        "| family | dose | data | method | PSNR (dB) | SSIM | RMSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for fam in args.families:
        for dose in DOSES:
            for data in ("complete", "45° wedge"):
                for m in METHODS:
                    sel = [
                        r
                        for r in rows
                        if (r["family"], r["dose"], r["data"], r["method"]) == (fam, dose, data, m)
                    ]
                    stats = {}
                    for key in ("psnr", "ssim", "rmse"):
                        v = np.array([r[key] for r in sel])
                        stats[key] = (float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)))
                    summary.append(
                        {"family": fam, "dose": dose, "data": data, "method": m, "count": len(sel)}
                        | stats
                    )
                    lines.append(
                        f"| {fam} | {dose} | {data} | {m} | {stats['psnr'][0]:.2f} ± "
                        f"{stats['psnr'][1]:.2f} | {stats['ssim'][0]:.3f} ± {stats['ssim'][1]:.3f} "
                        f"| {stats['rmse'][0]:.4f} |"
                    )
    lines += [
        "",
        f"Per-slice time, {args.n}², 45° wedge (91 tilts), serial, one process:",
        "",
        "| method | seconds / slice | ratio to WBP |",
        "|---|---|---|",
    ]
    for m, t in times.items():
        lines.append(f"| {m} | {t:.4f} | {t / times['WBP']:.0f}× |")
    lines += ["", "![examples](quality_baselines.png)"]
    meta = header() | {
        "samples": f"held-out per family {counts} (seeds from 2,000,000; test image split)",
        "geometry": f"{args.n}², parallel beam, 1.5° steps; complete −90…88.5°, wedge −67.5…67.5°",
        "simulation": "2× supersampled phantom, ASTRA strip kernel; ground truth = 2×2 mean",
        "dose": "Beer–Lambert Poisson, moderate I0=20000, low I0=2000, 35 % min transmission",
        "defaults": "WBP ram-lak; SART 20 sweeps, relaxation 1, non-negative; "
        "TV noise-adaptive weight, 500 iterations, non-negative",
    }
    _figure(images, RESULTS / "quality_baselines.png")
    write_results(
        "quality_baselines",
        meta,
        "\n".join(lines),
        {"summary": summary, "times_s": times, "rows": rows},
    )


if __name__ == "__main__":
    main()
