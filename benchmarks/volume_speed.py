"""Whole-volume pipeline: throughput against workers, Dask overhead, and peak memory.

Three measurements, each run in a fresh child process (timed inside it, from
reading the input to the committed output file; interpreter start-up is not
counted):

1. **Throughput** (slices/s) of wbp, sart, sirt and tv (default options) for
   ``tomoinpaint.volume.reconstruct_volume`` with 1 worker (the default
   synchronous executor) and 2 workers (local processes), on an MRC tilt
   series written to an MRC volume. The speed-up is t(1 worker) / t(2 workers).
2. **Dask overhead** against a plain per-chunk loop (read rows -> reconstruct
   -> write, no Dask, no work directory; the loop the CLI used before), at one
   worker: t(dask) / t(plain) - 1. The volumes must be identical.
3. **Peak RSS** of the whole process tree (client + worker processes,
   sampled every 0.05 s with psutil; plus the exact per-process maxima from
   ``getrusage``) for WBP on two HDF5 inputs 4x apart, with 1 and 2 workers.
   HDF5 in and out, because h5py reads and writes through buffers: a memory
   map would add the file's cached pages to RSS (they are reclaimable page
   cache, not memory the run needs).

Run::

    python benchmarks/volume_speed.py            # the full benchmark (~20 min on 2 cores)
    python benchmarks/volume_speed.py --quick    # smoke test, tiny sizes (~1 min)

Results: ``results/volume_speed.md``/``.json`` (throughput, overhead) and
``results/volume_rss.md``/``.json`` (peak memory), one pair per part so either
part can be re-run alone (``*_quick.*`` with ``--quick``, not meant to be
committed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

METHODS = ("wbp", "sart", "sirt", "tv")

#: Full run: (slices, chunk) per method, n = 256 px, 61 tilts (+-60 deg, 2 deg steps),
#: sized for about a minute per method at one worker on a 2-core machine; peak RSS on
#: two inputs of 241 tilts (0.75 deg steps over 180 deg), 4x apart: 241 and 964 MiB.
FULL = {
    "n": 256,
    "tilts": 61,
    "speed": {"wbp": (2048, 16), "sart": (48, 2), "sirt": (16, 1), "tv": (4, 1)},
    "repeats": {"wbp": 3, "sart": 2},
    "options": {},
    "rss": {"n": 256, "tilts": 241, "ny": (1024, 4096), "chunk": 8},
    # client + workers: an interpreter with numpy/ASTRA/Dask each, one chunk each,
    # and the client's 64 MiB NaN check of the input; nothing that grows with the volume
    "bound_mib": {1: 384, 2: 768},
}
QUICK = {
    "n": 32,
    "tilts": 31,
    "speed": {"wbp": (64, 8), "sart": (8, 2), "sirt": (8, 2), "tv": (4, 1)},
    "options": {"sart": {"sweeps": 5}, "sirt": {"iterations": 30}, "tv": {"iterations": 50}},
    "rss": {"n": 32, "tilts": 31, "ny": (64, 256), "chunk": 8},
    "bound_mib": {1: 384, 2: 768},
}

MIB = 2**20


# --------------------------------------------------------------------------- child side


def _maxrss_mib(who) -> float:
    kib = resource.getrusage(who).ru_maxrss  # KiB on Linux
    return kib / 1024.0


def child(spec: dict) -> dict:
    """One measured run (in its own process); returns seconds and peak RSS."""
    import tomoinpaint.io as tio
    from tomoinpaint.methods import reconstruct
    from tomoinpaint.volume import reconstruct_volume

    t0 = time.perf_counter()
    if spec["kind"] == "plain":
        s = tio.read_tilt_series(spec["input"])
        n_tilts, ny, nx = s.shape
        chunk = spec["chunk"]
        with tio.open_volume_writer(spec["output"], (ny, nx, nx), overwrite=True) as w:
            for y0 in range(0, ny, chunk):
                y1 = min(y0 + chunk, ny)
                w[y0:y1] = reconstruct(
                    s.sinograms(y0, y1), s.angles_deg, spec["method"], device="cpu",
                    **spec["options"],
                )  # fmt: skip
    else:
        reconstruct_volume(
            spec["input"],
            spec["output"],
            method=spec["method"],
            options=spec["options"],
            chunk=spec["chunk"],
            workers=spec["workers"],
            executor=spec.get("executor", "auto"),
            device="cpu",
            overwrite=True,
            work_dir=spec["work_dir"],
            progress=False,
            sidecar=False,
        )
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "client_peak_mib": _maxrss_mib(resource.RUSAGE_SELF),
        "worker_peak_mib": _maxrss_mib(resource.RUSAGE_CHILDREN),
    }


# --------------------------------------------------------------------------- parent side


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(spec: dict, *, label: str) -> dict:
    """Run one child process; its own timings plus the sampled peak RSS of its tree."""
    import psutil

    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", json.dumps(spec)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        proc = psutil.Process(p.pid)
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc))
            stop.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = p.communicate()
    stop.set()
    th.join()
    if p.returncode != 0:
        raise RuntimeError(f"{label} failed ({p.returncode}):\n{err[-3000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res["tree_peak_mib"] = peak / MIB
    res["wall_s"] = time.perf_counter() - t0
    print(
        f"  {label}: {res['seconds']:.2f} s, tree peak {res['tree_peak_mib']:.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    return res


def _angles(n_tilts: int) -> np.ndarray:
    if n_tilts >= 180:  # a CT-like half turn
        return np.linspace(0.0, 180.0, n_tilts, endpoint=False)
    return np.linspace(-60.0, 60.0, n_tilts)


def _sample_rows(n: int, angles: np.ndarray, k: int = 8) -> np.ndarray:
    """``k`` distinct phantom sinograms ``(k, n_tilts, n)`` to tile along y."""
    from tomoinpaint.sim import make_sample, simulate_sinogram

    rng = np.random.default_rng(1234)
    sinos = [simulate_sinogram(make_sample("shapes", n, rng), angles, device="cpu")[0]
             for _ in range(k)]  # fmt: skip
    return np.stack(sinos).astype(np.float32)


def make_mrc_input(path: Path, n: int, n_tilts: int, ny: int) -> None:
    import tomoinpaint.io as tio

    angles = _angles(n_tilts)
    rows = _sample_rows(n, angles)
    data = np.empty((n_tilts, ny, n), np.float32)
    for y in range(ny):
        data[:, y, :] = rows[y % len(rows)]
    tio.write_tilt_series(path, data, angles, overwrite=True)


def make_h5_input(path: Path, n: int, n_tilts: int, ny: int, slab: int = 64) -> None:
    """A DXchange file written slab by slab (never the whole series in memory)."""
    import h5py

    angles = _angles(n_tilts)
    rows = _sample_rows(n, angles)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(
            "/exchange/data", shape=(n_tilts, ny, n), dtype=np.float32, chunks=(8, 8, n)
        )
        for y0 in range(0, ny, slab):
            y1 = min(y0 + slab, ny)
            block = np.stack([rows[y % len(rows)] for y in range(y0, y1)], axis=1)
            ds[:, y0:y1, :] = block
        t = f.create_dataset("/exchange/theta", data=angles)
        t.attrs["units"] = "degrees"


def _volume(path: Path) -> np.ndarray:
    import tomoinpaint.io as tio

    return tio.read_volume(path)[0]


def run_speed(cfg: dict, methods, worker_counts, tmp: Path) -> list[dict]:
    n, n_tilts = cfg["n"], cfg["tilts"]
    rows = []
    inputs: dict[int, Path] = {}
    for method in methods:
        ny, chunk = cfg["speed"][method]
        if ny not in inputs:
            inputs[ny] = tmp / f"series_{ny}.mrc"
            make_mrc_input(inputs[ny], n, n_tilts, ny)
        src = inputs[ny]
        opts = cfg["options"].get(method, {})
        base = {"input": str(src), "method": method, "options": opts, "chunk": chunk}
        print(f"{method}: {ny} slices of {n} px, {n_tilts} tilts, chunk {chunk}", file=sys.stderr)
        # Fast methods are timed several times, interleaved (plain, 1 worker, 2 workers,
        # plain, ...), and the minimum kept: single runs of ~30 s vary by several percent.
        repeats = cfg.get("repeats", {}).get(method, 1)
        specs = {"plain": {**base, "kind": "plain", "output": str(tmp / "plain.mrc")}}
        for w in worker_counts:
            specs[w] = {
                **base,
                "kind": "dask",
                "workers": w,
                "output": str(tmp / f"dask{w}.mrc"),
                "work_dir": str(tmp / "work"),
            }
        best: dict = {}
        for _ in range(repeats):
            for k, spec in specs.items():
                label = "plain" if k == "plain" else f"dask, {k} worker(s)"
                sec = measure(spec, label=label)["seconds"]
                best[k] = min(best.get(k, sec), sec)
        ref = _volume(tmp / "plain.mrc")
        row = {
            "method": method,
            "slices": ny,
            "chunk": chunk,
            "n": n,
            "tilts": n_tilts,
            "options": opts,
            "repeats": repeats,
            "plain_s": best["plain"],
        }
        identical = True
        for w in worker_counts:
            row[f"dask{w}_s"] = best[w]
            identical &= bool(np.array_equal(_volume(tmp / f"dask{w}.mrc"), ref))
        row["identical"] = identical
        row["overhead"] = row["dask1_s"] / row["plain_s"] - 1.0 if 1 in worker_counts else None
        if 1 in worker_counts and 2 in worker_counts:
            row["speedup_2_vs_1"] = row["dask1_s"] / row["dask2_s"]
        rows.append(row)
        for f in tmp.glob("*.mrc"):
            if f not in inputs.values():
                f.unlink()
    for f in inputs.values():
        f.unlink()
    return rows


def run_rss(cfg: dict, worker_counts, tmp: Path) -> list[dict]:
    r = cfg["rss"]
    rows = []
    for ny in r["ny"]:
        src = tmp / f"rss_{ny}.h5"
        make_h5_input(src, r["n"], r["tilts"], ny)
        in_bytes = r["tilts"] * ny * r["n"] * 4
        out_bytes = ny * r["n"] * r["n"] * 4
        print(
            f"rss: wbp, {ny} slices, input {in_bytes / MIB:.0f} MiB, output "
            f"{out_bytes / MIB:.0f} MiB",
            file=sys.stderr,
        )
        for w in worker_counts:
            spec = {
                "kind": "dask",
                "input": str(src),
                "output": str(tmp / "rss_out.h5"),
                "method": "wbp",
                "options": {},
                "chunk": r["chunk"],
                "workers": w,
                "work_dir": str(tmp / "work"),
            }
            res = measure(spec, label=f"dask, {w} worker(s)")
            bound = cfg["bound_mib"][w]
            rows.append(
                {
                    "workers": w,
                    "slices": ny,
                    "n": r["n"],
                    "tilts": r["tilts"],
                    "chunk": r["chunk"],
                    "input_mib": in_bytes / MIB,
                    "output_mib": out_bytes / MIB,
                    "seconds": res["seconds"],
                    "tree_peak_mib": res["tree_peak_mib"],
                    "client_peak_mib": res["client_peak_mib"],
                    "worker_peak_mib": res["worker_peak_mib"] if w > 1 else None,
                    "bound_mib": bound,
                    "under_bound": res["tree_peak_mib"] <= bound,
                }
            )
            (tmp / "rss_out.h5").unlink()
        src.unlink()
    return rows


def _fmt(v, spec=".2f") -> str:
    return "–" if v is None else format(v, spec)


def report(speed: list[dict], rss: list[dict], cfg: dict) -> str:
    lines = []
    if speed:
        lines += [
            "## Throughput (slices/s) and Dask overhead",
            "",
            "| method | slices | chunk | plain loop | Dask, 1 worker | Dask, 2 workers "
            "| speed-up 2/1 | overhead vs plain | identical |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in speed:
            ny = r["slices"]
            lines.append(
                f"| {r['method']} | {ny} | {r['chunk']} | {ny / r['plain_s']:.2f} "
                f"| {_fmt(ny / r['dask1_s'] if 'dask1_s' in r else None)} "
                f"| {_fmt(ny / r['dask2_s'] if 'dask2_s' in r else None)} "
                f"| {_fmt(r.get('speedup_2_vs_1'))}x "
                f"| {_fmt(None if r['overhead'] is None else 100 * r['overhead'], '+.1f')} % "
                f"| {'yes' if r['identical'] else 'NO'} |"
            )
        n, tilts = speed[0]["n"], speed[0]["tilts"]
        lines += [
            "",
            f"{n} x {n} slices from {tilts} tilts; default method options"
            + (f" except {cfg['options']}" if cfg["options"] else "")
            + ". 1 worker = the default synchronous executor (in the calling process), "
            "2 workers = 2 local processes. The plain loop reads, reconstructs and writes the "
            "same chunks without Dask and without the work directory. Times are the minimum "
            "over interleaved repeats (wbp 3, sart 2, others 1).",
        ]
        if all("speedup_2_vs_1" in r for r in speed):
            slowest = min(speed, key=lambda r: r["slices"] / r["dask1_s"])
            wbp = next((r for r in speed if r["method"] == "wbp"), None)
            worst = max(speed, key=lambda r: r["overhead"])
            lines += [""]
            if wbp is not None:
                lines.append(
                    f"- WBP speed-up with 2 workers: {wbp['speedup_2_vs_1']:.2f}x (target >= 1.6)"
                )
            lines.append(
                f"- slowest method ({slowest['method']}) speed-up: "
                f"{slowest['speedup_2_vs_1']:.2f}x (target >= 1.6)"
            )
            lines.append(
                f"- largest Dask overhead vs the plain loop: {100 * worst['overhead']:+.1f} % "
                f"({worst['method']}; target <= 10 %)"
            )
    if rss:
        lines += [
            "",
            "## Peak memory (RSS) against volume size",
            "",
            "| workers | slices | input (MiB) | output (MiB) | seconds | peak RSS, all "
            "processes (MiB) | client peak | worker peak | bound (MiB) | under bound |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rss:
            lines.append(
                f"| {r['workers']} | {r['slices']} | {r['input_mib']:.0f} | {r['output_mib']:.0f} "
                f"| {r['seconds']:.1f} | {r['tree_peak_mib']:.0f} | {r['client_peak_mib']:.0f} "
                f"| {_fmt(r['worker_peak_mib'], '.0f')} | {r['bound_mib']} "
                f"| {'yes' if r['under_bound'] else 'NO'} |"
            )
        r0 = rss[0]
        lines += [
            "",
            f"WBP, {r0['n']} px, {r0['tilts']} tilts, chunk {r0['chunk']}, HDF5 in and out. "
            "Peak RSS = the largest sampled sum over the client and its worker processes; "
            "client/worker peak = getrusage maxima per process. The bound is fixed per worker "
            "count (client + workers, each an interpreter with numpy/ASTRA/Dask plus one "
            "chunk) and does not depend on the volume.",
        ]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--tmp", default=None, help="scratch directory (needs ~3 GB for the full run)")
    args = ap.parse_args(argv)

    from _common import header, write_results

    cfg = QUICK if args.quick else FULL
    methods = [m for m in args.methods.split(",") if m]
    worker_counts = [int(w) for w in args.workers.split(",") if w]
    tmp = Path(tempfile.mkdtemp(prefix="volume_speed-", dir=args.tmp))
    try:
        speed = [] if args.skip_speed else run_speed(cfg, methods, worker_counts, tmp)
        rss = [] if args.skip_rss else run_rss(cfg, worker_counts, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta = header() | {"cpus": os.cpu_count(), "config": json.dumps(cfg)}
    suffix = "_quick" if args.quick else ""
    # One results file per part, so a part re-run on its own (e.g. the speed part on a
    # quiet machine) keeps the other part's file and its command.
    for name, part, md in (
        ("volume_speed", speed, report(speed, [], cfg)),
        ("volume_rss", rss, report([], rss, cfg)),
    ):
        if part:
            write_results(name + suffix, meta, md, {name.split("_")[1]: part})
            print(md)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "_child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        main()
