"""Rerun held-out samples of ``results/joint_quality.json`` and compare every metric.

A refactor must not change any number: this reruns chosen samples (both
parts, classical and deep, all doses) with the current code and installed
weights, and compares PSNR, SSIM and RMSE of every method with the committed
per-sample rows, to the last stored digit and as the largest difference.

Run::

    cd benchmarks && python joint_quality_recheck.py --index 1 --wedge 45 --workers 2
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor

import joint_quality as jq
from _common import RESULTS, header, one_thread_worker, write_results

from tomoinpaint.recon.joint import WEIGHTS_DIR

KEYS = ("family", "index", "wedge", "dose", "method")
METRICS = ("psnr", "ssim", "rmse")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=int, nargs="+", default=[1], help="sample indices")
    ap.add_argument("--wedge", type=float, default=45.0)
    ap.add_argument("--families", nargs="+", default=list(jq.FAMILIES), choices=jq.FAMILIES)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    ref = json.loads((RESULTS / "joint_quality.json").read_text())["results"]["rows"]
    tasks = [
        (f, i, args.wedge, 128, part, str(WEIGHTS_DIR), 500, False, True)
        for f in args.families
        for i in args.index
        for part in jq.PARTS
    ]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        results = list(pool.map(jq.one_sample, tasks))
    table = {}
    for rows, _ in results:
        for r in rows:
            (old,) = [x for x in ref if all(x[k] == r[k] for k in KEYS)]
            t = table.setdefault(r["method"], {"n": 0, "identical": 0, "max_rel": 0.0})
            for m in METRICS:
                t["n"] += 1
                t["identical"] += old[m] == r[m]
                rel = abs(old[m] - r[m]) / max(abs(old[m]), 1e-30)
                t["max_rel"] = max(t["max_rel"], rel)
    lines = [
        "| method | metrics compared | identical to the last digit | largest relative difference |",
        "|---|---|---|---|",
    ]
    for method, t in table.items():
        lines.append(f"| {method} | {t['n']} | {t['identical']} | {t['max_rel']:.1e} |")
    meta = header() | {
        "samples": f"indices {args.index} of {', '.join(args.families)} at {args.wedge:g}°, "
        "all doses, classical and deep parts",
        "reference": "results/joint_quality.json (per-sample rows)",
    }
    md = "\n".join(lines)
    print(md)
    write_results("joint_quality_recheck", meta, md, table)


if __name__ == "__main__":
    main()
