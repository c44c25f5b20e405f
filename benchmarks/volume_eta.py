"""A real-size volume through ``tomoinpaint reconstruct --workers 2``: time, quality, and the ETA.

What a user runs on a 512² tilt series: ``tomoinpaint simulate`` makes a
64-slice 512 px phantom volume (3D shapes, 45° wedge at 1.5° steps, moderate
dose), and ``tomoinpaint reconstruct`` reconstructs it with the default
method (or ``--method``) in 8-slice chunks on 2 worker processes, the
progress bar on. The progress bar's output is read as it is written: at every
update, the ETA it shows is compared with the time the run really took from
then on.

Run::

    python benchmarks/volume_eta.py [--method joint] [--n 512] [--ny 64] [--tmp DIR]

Results: ``results/volume_eta.md`` / ``.json`` (``volume_eta_<method>`` for
another method than the default).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import header, write_results

from tomoinpaint import io as tio
from tomoinpaint.metrics import compare

#: The bar's "done/total [elapsed, ETA remaining" ("?" before the first chunk).
TQDM = re.compile(r"(\d+)/(\d+) \[([\d:]+), ETA ([\d:?]+)")


def _seconds(clock: str) -> float | None:
    """'MM:SS' or 'H:MM:SS' -> seconds ('?' -> None)."""
    if "?" in clock:
        return None
    value = 0.0
    for part in clock.split(":"):
        value = 60.0 * value + float(part)
    return value


def run_with_progress(cmd: list[str]) -> tuple[list[dict], float, str]:
    """Run ``cmd``; every progress-bar update it printed, its wall time and its stderr.

    Returns
    -------
    updates : list of dict
        ``{"t": seconds since start, "done": chunks, "total": chunks, "eta": seconds}``
        for each update that showed an ETA.
    seconds : float
        Wall time of the whole command.
    stderr : str
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    updates, text, seen = [], [], set()
    # tqdm rewrites its line with "\r": read character by character to time each update.
    # It writes "\r" and then the line, so a line is timed by the "\r" (or "\n") before
    # it, when it began; the one after it comes only with the next redraw, a chunk later.
    buf, began = "", 0.0
    while True:
        ch = proc.stderr.read(1)
        if not ch:
            break
        text.append(ch)
        if ch not in "\r\n":
            buf += ch
            continue
        now, began = began, time.perf_counter() - t0
        m = TQDM.search(buf)
        buf = ""
        if not m:
            continue
        done, total, eta = int(m[1]), int(m[2]), _seconds(m[4])
        if eta is None or done in (0, total):
            continue
        # the bar's first drawing at this count (a later one only redraws the clock)
        if done not in seen:
            seen.add(done)
            updates.append({"t": now, "done": done, "total": total, "eta": eta})
    rc = proc.wait()
    seconds = time.perf_counter() - t0
    stderr = "".join(text)
    if rc != 0:
        sys.exit(f"command failed ({rc}): {' '.join(cmd)}\n{stderr[-2000:]}")
    return updates, seconds, stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="joint")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--ny", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--tmp", type=Path, default=None, help="scratch directory (default: a new one)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="volume_eta_", dir=args.tmp))
    exe = str(Path(sys.executable).with_name("tomoinpaint"))
    series, out = tmp / "sim.mrc", tmp / "rec.mrc"
    simulate = [exe, "simulate", str(series), "--n", str(args.n), "--ny", str(args.ny)]
    simulate += ["--wedge", "45", "--step", "1.5", "--dose", "moderate", "--seed", "7"]
    t0 = time.perf_counter()
    subprocess.run(simulate, check=True, stdout=subprocess.DEVNULL)
    t_sim = time.perf_counter() - t0
    recon = [exe, "reconstruct", str(series), "-o", str(out), "--method", args.method]
    recon += ["--workers", str(args.workers), "--chunk", str(args.chunk), "--progress"]
    print("$", " ".join(recon), flush=True)
    updates, seconds, _ = run_with_progress(recon)
    gt, _ = tio.read_volume(tmp / "sim_gt.mrc")
    vol, _ = tio.read_volume(out)
    quality = compare(gt, vol)
    rows = []
    for u in updates:
        real = seconds - u["t"]
        rows.append(u | {"real_remaining": real, "error": (u["eta"] - real) / real})
    lines = [
        "| chunks done | elapsed (s) | ETA shown (s) | real remaining (s) | ETA error |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['done']}/{r['total']} | {r['t']:.0f} | {r['eta']:.0f} | "
        f"{r['real_remaining']:.0f} | {100 * r['error']:+.0f} % |"
        for r in rows
    ]
    errors = np.abs([r["error"] for r in rows]) if rows else np.array([np.nan])
    text = (
        f"{args.ny} slices of {args.n}², `--method {args.method}` (defaults), "
        f"{args.workers} workers, chunks of {args.chunk}: **{seconds:.0f} s** in all, "
        f"{seconds / args.ny:.1f} s per slice of wall time "
        f"({seconds * args.workers / args.ny:.1f} s per slice and worker); simulating the "
        f"series took {t_sim:.0f} s. PSNR {quality['psnr']:.2f} dB, SSIM {quality['ssim']:.3f} "
        "against the ground truth.\n\n"
        "The progress bar's ETA at each update against the time the run still took "
        f"(largest error {100 * np.max(errors):.0f} %, median {100 * np.median(errors):.0f} %):"
        "\n\n" + "\n".join(lines) + "\n"
    )
    meta = header() | {
        "data": f"`tomoinpaint simulate --n {args.n} --ny {args.ny} --wedge 45 --step 1.5 "
        "--dose moderate --seed 7` (3D shapes)",
    }
    name = "volume_eta" if args.method == "joint" else f"volume_eta_{args.method}"
    write_results(name, meta, text, {"seconds": seconds, "quality": quality, "updates": rows})
    print(text)


if __name__ == "__main__":
    main()
