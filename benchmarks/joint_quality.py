"""The deep model against the classical methods, in the layout of the paper's Table 4.

For each family (nanocrystal-like shapes, natural images, CT slices), missing
wedge (30°, 45°, 60°; tilts at 1.5° steps) and dose (noise-free, moderate,
low), held-out samples are simulated at 128² from a 2× finer grid (no inverse
crime) and reconstructed by

* WBP of the complete data (−90…88.5°, same dose): the reference the wedge
  methods try to reach;
* WBP, SART (20 sweeps), TV (the project's default, noise-adaptive weight)
  and TV with its best weight (an oracle: the best PSNR of the default weight
  times 1/4, 1/2, 1, 2, 4 for each image, using the ground truth);
* the deep model with no parameter set: ``inpaint`` (inpaint + WBP),
  ``deartifact`` (de-artifact of the wedge WBP), ``paper`` (inpaint -> WBP
  -> de-artifact) and ``joint`` (the paper's output made consistent with the
  measured data).

Reports mean ± standard error of PSNR / SSIM, a PSNR–SSIM scatter (paper
Fig. 11) and an image grid with Fourier magnitudes (paper Fig. 9), and checks
the acceptance bar of the joint model at 45° (low dose: PSNR ≥ 1 dB above the
better of SART and TV, SSIM at least theirs; noise-free: no more than 0.5 dB
below). Finished samples are cached (``results/.joint_quality.cache.jsonl``)
so an interrupted run resumes: the classical methods once, the deep ones keyed
by the weights' SHA-256 and ``joint``'s defaults (``--parts classical`` fills
the classical part alone, e.g. while weights train).

Run::

    python benchmarks/joint_quality.py                         # shipped weights, full table
    python benchmarks/joint_quality.py --model DIR --count 5 --wedges 45 --name NAME

``DIR`` is another weights directory, e.g. ``runs/NAME/weights`` of a training
run. The weights of ``results/joint_quality_tv64.md`` (``runs/joint_tv``) and
``results/joint_quality_tv128d3.md`` (``runs/joint_tv128``) are removed runs:
``runs/README.md`` names the commits to restore them from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from _common import (
    DOSES,
    RESULTS,
    eval_set,
    full_angles,
    header,
    one_thread_worker,
    wedge_angles,
    write_results,
)

from tomoinpaint.metrics import compare
from tomoinpaint.recon import sart, tv, wbp
from tomoinpaint.recon.joint import (
    DEFAULTS,
    TV_DEARTIFACT_FILE,
    WEIGHT_FILES,
    WEIGHTS_DIR,
    deartifact,
    inpaint,
    joint,
    paper,
)
from tomoinpaint.recon.tv import default_weight

FAMILIES = ("shapes", "natural", "ct")
WEDGES = (30.0, 45.0, 60.0)
#: Multiples of the default TV weight tried by the oracle "TV, best weight".
TV_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
CLASSICAL = ("WBP complete", "WBP", "SART", "TV", "TV best")
DEEP = ("inpaint", "deartifact", "paper", "joint")
METHODS = CLASSICAL + DEEP
#: Each sample is run in two parts, cached separately (the classical part once for all weights).
PARTS = ("classical", "deep")
#: Methods shown in the image grid (paper Fig. 9).
GRID_METHODS = ("WBP", "SART", "TV", "paper", "joint")


def weights_id(model: Path) -> str:
    """SHA-256 (first 12 hex digits) of the generators and of ``joint``'s defaults:
    the cache key of the deep part (a changed default is recomputed, not reused)."""
    h = hashlib.sha256()
    for f in (*WEIGHT_FILES.values(), TV_DEARTIFACT_FILE):
        if f in WEIGHT_FILES.values() or (model / f).is_file():
            h.update((model / f).read_bytes())
    defaults = {k: repr(v) for k, v in DEFAULTS.to_dict().items()}
    h.update(json.dumps(defaults, sort_keys=True).encode())
    return h.hexdigest()[:12]


def _tv_best(sino, angles, gt, tv_iterations, default_rec):
    lam = default_weight(sino, angles)
    best = None
    for f in TV_FACTORS:
        # factor 1 is the default weight: that reconstruction is already there
        if f == 1.0:
            rec = default_rec
        else:
            rec = tv(sino, angles, weight=lam * f, iterations=tv_iterations)
        m = compare(gt, rec)
        if best is None or m["psnr"] > best[1]["psnr"]:
            best = (rec, m, f)
    return best


def one_sample(task):
    """One part ("classical" or "deep") of the methods on one held-out sample at one wedge.

    Returns (rows, images or None).
    """
    family, index, wedge, n, part, model, tv_iterations, keep_images, tv_best = task
    angles = wedge_angles(wedge)
    s = next(eval_set(family, 1, n=n, purpose="test", angles=angles, start=index))
    gt = s["gt"]
    rows, images = [], {"ground truth": gt} if keep_images else None
    if part == "classical":
        c = next(eval_set(family, 1, n=n, purpose="test", angles=full_angles(), start=index))
    for dose in DOSES:
        b = s["sino"][dose]
        recs, extra = {}, {}
        if part == "classical":
            recs["WBP complete"] = wbp(c["sino"][dose], full_angles())
            recs["WBP"] = wbp(b, angles)
            recs["SART"] = sart(b, angles)
            recs["TV"] = tv(b, angles, iterations=tv_iterations)
            if tv_best:
                recs["TV best"], _, extra["tv_best_factor"] = _tv_best(
                    b, angles, gt, tv_iterations, recs["TV"]
                )
        else:
            for name, fn in (
                ("inpaint", inpaint),
                ("deartifact", deartifact),
                ("paper", paper),
                ("joint", joint),
            ):
                t = time.perf_counter()
                recs[name] = fn(b, angles, model=model, device="cpu")
                extra[f"seconds_{name}"] = time.perf_counter() - t
        for name, rec in recs.items():
            row = {"family": family, "index": index, "wedge": wedge, "dose": dose}
            rows.append(row | {"method": name} | compare(gt, rec) | extra)
            if keep_images and name in GRID_METHODS:
                images[f"{name} {dose}"] = rec
    return rows, images


# --------------------------------------------------------------------------- report
def summarise(rows):
    """Mean ± s.e. per (family, wedge, dose, method)."""
    out = []
    keys = sorted({(r["family"], r["wedge"], r["dose"]) for r in rows}, key=str)
    for fam, wedge, dose in keys:
        for m in METHODS:
            sel = [
                r
                for r in rows
                if (r["family"], r["wedge"], r["dose"], r["method"]) == (fam, wedge, dose, m)
            ]
            if not sel:
                continue
            st = {"family": fam, "wedge": wedge, "dose": dose, "method": m, "count": len(sel)}
            for k in ("psnr", "ssim"):
                v = np.array([r[k] for r in sel])
                se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
                st[k] = (float(v.mean()), se)
            out.append(st)
    return out


def _get(summary, fam, wedge, dose, method):
    for s in summary:
        if (s["family"], s["wedge"], s["dose"], s["method"]) == (fam, wedge, dose, method):
            return s
    return None


def bar_check(summary, families) -> tuple[list[str], bool]:
    """The acceptance bar of the joint model at 45° (see the module docstring)."""
    lines = [
        "| family | dose | joint PSNR / SSIM | better of SART, TV: PSNR / SSIM | "
        "ΔPSNR (dB) | needed | met |",
        "|---|---|---|---|---|---|---|",
    ]
    ok_all = True
    for fam in families:
        for dose, need in (("low", 1.0), ("noise-free", -0.5)):
            j = _get(summary, fam, 45.0, dose, "joint")
            cl = [_get(summary, fam, 45.0, dose, m) for m in ("SART", "TV")]
            if j is None or None in cl:
                continue
            best = max(cl, key=lambda s: s["psnr"][0])
            best_ssim = max(s["ssim"][0] for s in cl)
            d = j["psnr"][0] - best["psnr"][0]
            ok = d >= need and (dose != "low" or j["ssim"][0] >= best_ssim)
            ok_all &= ok
            lines.append(
                f"| {fam} | {dose} | {j['psnr'][0]:.2f} / {j['ssim'][0]:.3f} | "
                f"{best['psnr'][0]:.2f} ({best['method']}) / {best_ssim:.3f} | {d:+.2f} | "
                f"{'≥ +1.0, SSIM ≥' if dose == 'low' else '≥ −0.5'} | {'yes' if ok else 'NO'} |"
            )
    return lines, ok_all


def table(summary, families, wedges) -> list[str]:
    lines = []
    for wedge in wedges:
        lines += [
            "",
            f"### {wedge:g}° missing wedge (tilts ±{(180 - wedge) / 2:g}°)",
            "",
            "| family | dose | " + " | ".join(METHODS) + " |",
            "|---|---|" + "---|" * len(METHODS),
        ]
        for fam in families:
            for dose in DOSES:
                cells = []
                for m in METHODS:
                    s = _get(summary, fam, wedge, dose, m)
                    cells.append("–" if s is None else f"{s['psnr'][0]:.2f} / {s['ssim'][0]:.3f}")
                lines.append(f"| {fam} | {dose} | " + " | ".join(cells) + " |")
    return lines


def scatter(summary, path: Path) -> None:
    """PSNR against SSIM of every method, 45° wedge (paper Fig. 11)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    markers = {"shapes": "o", "natural": "s", "ct": "^"}
    colors = plt.get_cmap("tab10")
    for k, m in enumerate(METHODS):
        for fam, mk in markers.items():
            pts = [
                s for s in summary if s["method"] == m and s["family"] == fam and s["wedge"] == 45
            ]
            if pts:
                ax.scatter(
                    [s["psnr"][0] for s in pts],
                    [s["ssim"][0] for s in pts],
                    marker=mk,
                    color=colors(k),
                    label=m if fam == "shapes" else None,
                    s=28,
                )
    ax.set_xlabel("PSNR (dB)")
    ax.set_ylabel("SSIM")
    ax.set_title("45° wedge: each point a family × dose (o shapes, □ natural, △ CT)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def image_grid(images_by_family, path: Path, dose: str = "low") -> None:
    """Images and log Fourier magnitudes of one sample per family (paper Fig. 9)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["ground truth"] + [f"{m} {dose}" for m in GRID_METHODS]
    fams = list(images_by_family)
    fig, axes = plt.subplots(
        2 * len(fams), len(cols), figsize=(1.7 * len(cols), 3.4 * len(fams)), squeeze=False
    )
    for r, fam in enumerate(fams):
        imgs = images_by_family[fam]
        vmax = float(imgs["ground truth"].max())
        for c, key in enumerate(cols):
            img = np.asarray(imgs[key])
            spec = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(img))))
            for k, (data, kw) in enumerate(
                ((img, {"vmin": 0, "vmax": vmax}), (spec, {"vmin": 0, "vmax": spec.max()}))
            ):
                ax = axes[2 * r + k, c]
                ax.imshow(data, cmap="gray", **kw)
                ax.set_xticks([])
                ax.set_yticks([])
            if r == 0:
                axes[0, c].set_title(key, fontsize=7)
        axes[2 * r, 0].set_ylabel(fam, fontsize=8)
        axes[2 * r + 1, 0].set_ylabel("log |FFT|", fontsize=7)
    fig.suptitle(f"45° wedge, {dose} dose: images and Fourier magnitudes", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=WEIGHTS_DIR, help="weights directory")
    ap.add_argument("--count", type=int, default=10, help="held-out samples per family at 45°")
    ap.add_argument(
        "--other-count", type=int, default=5, help="held-out samples per family at 30° and 60°"
    )
    ap.add_argument("--wedges", type=float, nargs="+", default=list(WEDGES))
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--tv-iterations", type=int, default=500)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--name", default="joint_quality", help="results file name")
    ap.add_argument(
        "--skip-tv-best", action="store_true", help="no oracle TV weight search (5x faster TV)"
    )
    ap.add_argument(
        "--parts",
        nargs="+",
        default=list(PARTS),
        choices=PARTS,
        help="run only these parts into the cache, no report (e.g. classical while weights train)",
    )
    args = ap.parse_args(argv)

    model = args.model.resolve()
    wid = weights_id(model)
    tasks = [
        (
            f,
            i,
            w,
            args.n,
            part,
            str(model),
            args.tv_iterations,
            i == 0 and w == 45.0,
            not args.skip_tv_best,
        )
        for part in PARTS
        for w in args.wedges
        for f in args.families
        for i in range(args.count if w == 45.0 else args.other_count)
        if part in args.parts
    ]
    cache = RESULTS / f".{args.name}.cache.jsonl"
    done = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            rec = json.loads(line)
            done[tuple(rec["key"])] = rec

    def key(t):
        # the classical methods do not depend on the weights: computed once for all models
        f, i, w, n, part, _, tv_it, _, tv_best = t
        return [f, i, w, n, part] + ([tv_it, tv_best] if part == "classical" else [wid])

    todo = [t for t in tasks if tuple(key(t)) not in done]
    print(f"{len(tasks) - len(todo)} parts cached, {len(todo)} to run", flush=True)
    with (
        ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool,
        cache.open("a") as fh,
    ):
        for k, (t, (rows, images)) in enumerate(
            zip(todo, pool.map(one_sample, todo), strict=True), 1
        ):
            rec = {
                "key": key(t),
                "rows": rows,
                "images": None if images is None else {n: v.tolist() for n, v in images.items()},
            }
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            done[tuple(rec["key"])] = rec
            print(f"{k}/{len(todo)}: {t[4]} {t[0]} #{t[1]} {t[2]:g}°", flush=True)
    if set(args.parts) != set(PARTS):
        return  # only filling the cache (e.g. the classical part while weights train)

    rows, images = [], {}
    for t in tasks:
        rec = done[tuple(key(t))]
        rows += rec["rows"]
        if rec["images"] is not None:
            images.setdefault(t[0], {}).update({n: np.array(v) for n, v in rec["images"].items()})
    summary = summarise(rows)
    bar, ok = bar_check(summary, args.families)
    secs = {
        m: float(np.mean([r[f"seconds_{m}"] for r in rows if f"seconds_{m}" in r])) for m in DEEP
    }
    factors = [r["tv_best_factor"] for r in rows if r["method"] == "TV best"]
    lines = [
        "PSNR (dB) / SSIM, mean over held-out samples; the ground truth's data range.",
        "",
        "## Acceptance bar of `--method joint` (45° wedge)",
        "",
        *bar,
        "",
        f"**All met: {'yes' if ok else 'no'}.**",
        "",
        "## Table 4 layout",
        *table(summary, args.families, args.wedges),
        "",
        "TV best = oracle weight per image (default × "
        + ", ".join(f"{f:g}" for f in TV_FACTORS)
        + "); chosen factors: "
        + ", ".join(f"{f:g}: {factors.count(f)}" for f in TV_FACTORS)
        + ".",
        "",
        "Deep-model seconds per slice (CPU, one thread, this machine): "
        + ", ".join(f"{m} {s:.2f}" for m, s in secs.items())
        + ".",
        "",
        f"![PSNR–SSIM]({args.name}_scatter.png)",
        "",
        f"![images and FFTs]({args.name}_grid.png)",
    ]
    meta = header() | {
        "weights": f"{model} (sha256 {wid})",
        "samples": f"{args.count} per family at 45°, {args.other_count} at other wedges "
        "(seeds from 2,000,000; test image split)",
        "geometry": f"{args.n}², parallel beam, 1.5° steps; complete −90…88.5°",
        "simulation": "2× supersampled phantom, ASTRA strip kernel; ground truth = 2×2 mean",
        "dose": "Beer–Lambert Poisson, moderate I0=20000, low I0=2000",
        "defaults": f"SART 20 sweeps; TV noise-adaptive weight, {args.tv_iterations} iterations; "
        "deep methods with their defaults",
    }
    scatter(summary, RESULTS / f"{args.name}_scatter.png")
    if images:
        image_grid(images, RESULTS / f"{args.name}_grid.png")
    write_results(args.name, meta, "\n".join(lines), {"summary": summary, "rows": rows})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
