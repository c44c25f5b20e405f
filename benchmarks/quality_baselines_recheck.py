"""Compare rerun samples of quality_baselines (its resumable cache) with the committed rows.

Run some samples of ``quality_baselines.py`` (its cache keeps each finished
sample; stop it when enough are done), then::

    cd benchmarks && python quality_baselines_recheck.py

Every PSNR, SSIM and RMSE of the cached samples is compared with the
per-sample rows of ``results/quality_baselines.json``.
"""

from __future__ import annotations

import json

from _common import RESULTS, header, write_results

KEYS = ("family", "index", "data", "dose", "method")
METRICS = ("psnr", "ssim", "rmse")


def main() -> None:
    ref = json.loads((RESULTS / "quality_baselines.json").read_text())["results"]["rows"]
    by_key = {tuple(r[k] for k in KEYS): r for r in ref}
    table: dict[str, dict] = {}
    for line in (RESULTS / ".quality_baselines.cache.jsonl").read_text().splitlines():
        rec = json.loads(line)
        t = table.setdefault(rec["family"], {"samples": 0, "n": 0, "identical": 0, "max_rel": 0.0})
        t["samples"] += 1
        for r in rec["rows"]:
            old = by_key[tuple(r[k] for k in KEYS)]
            for m in METRICS:
                t["n"] += 1
                t["identical"] += old[m] == r[m]
                t["max_rel"] = max(t["max_rel"], abs(old[m] - r[m]) / max(abs(old[m]), 1e-30))
    lines = [
        "| family | samples rerun | metrics compared | identical to the last digit | "
        "largest relative difference |",
        "|---|---|---|---|---|",
    ]
    for fam, t in table.items():
        lines.append(
            f"| {fam} | {t['samples']} | {t['n']} | {t['identical']} | {t['max_rel']:.1e} |"
        )
    md = "\n".join(lines)
    print(md)
    meta = header() | {
        "reruns": "python quality_baselines.py --count 50 --image-count 10 --workers 2 "
        "(stopped after 25 shapes samples), then --families natural ct --count 2",
        "reference": "results/quality_baselines.json (per-sample rows)",
    }
    write_results("quality_baselines_recheck", meta, md, table)


if __name__ == "__main__":
    main()
