"""Shared pieces of the benchmarks: evaluation sets and result-file headers.

Seed ranges (see ../shared BENCHMARKS.md "Held-out data"):

* training libraries use seeds below 1_000_000 and the "train" image split;
* validation (weight calibration, model selection) uses seeds
  1_000_000 ... 1_999_999 and the "train" image split (other crops/rotations);
* held-out test sets use seeds from 2_000_000 and the "test" image split,
  whose source files never appear in training.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from tomoinpaint.geometry import tilt_range
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import compare
from tomoinpaint.project import cuda_available
from tomoinpaint.sim import FAMILIES, make_sample, poisson_dose, resolve_dose, simulate_sinogram
from tomoinpaint.sim.phantoms import phantom_volume
from tomoinpaint.sim.tiltseries import simulate_tilt_series

RESULTS = Path(__file__).resolve().parent / "results"
VALIDATION_SEED = 1_000_000
TEST_SEED = 2_000_000
DOSES = ("noise-free", "moderate", "low")
#: Benchmark families drawn as volumes sliced along the tilt axis: their phantom_volume family.
VOLUME_FAMILY = {"sliced-3d": "shapes", "shepp-logan": "shepp-logan", "cell": "cell"}


def wedge_angles(wedge_deg: float = 45.0, step: float = 1.5) -> np.ndarray:
    """Symmetric tilt range leaving a ``wedge_deg`` missing wedge."""
    half = (180.0 - wedge_deg) / 2.0
    return tilt_range(-half, half, step)


def full_angles(step: float = 1.5) -> np.ndarray:
    """Complete half-circle sampling, −90 … 90−step."""
    return tilt_range(-90.0, 90.0 - step, step)


def eval_set(
    family: str,
    count: int,
    *,
    n: int = 128,
    purpose: str = "test",
    angles=None,
    doses=DOSES,
    start=0,
):
    """Yield held-out (or validation) samples with their noisy sinograms.

    Yields
    ------
    dict
        ``gt`` (n, n); ``sino`` {dose: (n_angles, n)}; ``index`` (from ``start``).
    """
    base = TEST_SEED if purpose == "test" else VALIDATION_SEED
    split = "test" if purpose == "test" else "train"
    angles = wedge_angles() if angles is None else angles
    for i in range(start, start + count):
        rng = np.random.default_rng([base, FAMILIES.index(family), i])
        fine = make_sample(family, n, rng, split=split)
        clean, gt = simulate_sinogram(fine, angles)
        sinos = {}
        for d in doses:
            I0 = resolve_dose(d)
            sinos[d] = clean if I0 is None else poisson_dose(clean, I0, rng)
        yield {"gt": gt, "sino": sinos, "index": i}


def eval_stack(family: str, count: int, n: int, dose: str, angles, start: int = 0):
    """:func:`eval_set`'s held-out samples at one dose, stacked.

    Returns
    -------
    sinograms : numpy.ndarray, float32, shape (count, n_angles, n)
    ground_truth : numpy.ndarray, shape (count, n, n)
    """
    samples = list(eval_set(family, count, n=n, angles=angles, doses=(dose,), start=start))
    sinos = np.stack([s["sino"][dose] for s in samples]).astype(np.float32)
    return sinos, np.stack([s["gt"] for s in samples])


def demo_phantom_case(seed: int, ny: int | None = None):
    """``make demo``'s phantom (``simulate --n 128``, +-60 deg at 2 deg), ``ny`` slices.

    Returns
    -------
    sinograms : numpy.ndarray, float32, shape (ny, n_angles, 128)
    ground_truth : numpy.ndarray, shape (ny, 128, 128)
    angles : numpy.ndarray, shape (n_angles,)
    """
    # here, not at the top: tomoinpaint.demo loads the CLI, which most benchmarks never need
    from tomoinpaint.demo import SIM

    angles = tilt_range(SIM["tilt_min"], SIM["tilt_max"], SIM["step"])
    rng = np.random.default_rng(seed)
    fine = phantom_volume(SIM["ny"] if ny is None else ny, 2 * SIM["n"], rng, "shapes")
    ts, gt = simulate_tilt_series(fine, angles, supersample=2)
    return np.ascontiguousarray(ts.transpose(1, 0, 2)).astype(np.float32), gt, angles


def fastest_of(repeat: int, fn, *args, **kwargs):
    """(seconds of the fastest of ``repeat`` calls ``fn(*args, **kwargs)``, the last result),
    as ``timeit`` reports a time: on a shared machine single runs vary by about 10 %."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def validation_slice(family: str, n: int, index: int, doses, wedge: float = 45.0):
    """One validation slice: ``{dose: sinogram}``, ground truth (n, n), angles.

    ``family`` is one of :data:`tomoinpaint.sim.FAMILIES` (:func:`eval_set`,
    validation seeds) or "sliced-3d": a slice of a 3D volume as ``make demo``
    simulates it (``sim.phantom_volume``, 2x supersampled), which the
    networks never saw as such.
    """
    angles = wedge_angles(wedge)
    if family == "sliced-3d":
        rng = np.random.default_rng([VALIDATION_SEED, 99, index, n])
        fine = phantom_volume(1, 2 * n, rng, "shapes")
        ts, gt = simulate_tilt_series(fine, angles, supersample=2)
        clean = ts[:, 0].astype(np.float32)
        sinos = {d: clean if d == "noise-free" else poisson_dose(clean, d, rng) for d in doses}
        return sinos, gt[0], angles
    s = next(
        eval_set(family, 1, n=n, purpose="validation", angles=angles, doses=doses, start=index)
    )
    return s["sino"], s["gt"], angles


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 (kernels and timings differ by it)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln), "")
    return f"{name or 'unknown CPU'}, {'AVX-512' if ' avx512f' in info else 'no AVX-512'}"


def machine() -> str:
    """One line naming this machine's CPU, CPU count and GPU."""
    gpu = "CUDA GPU" if cuda_available() else "no GPU"
    return (
        f"{platform.node()} — {os.cpu_count()} CPU cores ({cpu_name()}), {gpu}, "
        f"{platform.platform()}"
    )


def header() -> dict:
    """Command, git commit, date and machine, for the top of a result file."""
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
            ).stdout.strip()
            or "uncommitted"
        )
    except OSError:
        commit = "unknown"
    return {
        "command": "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
    }


def write_results(name: str, meta: dict, markdown: str, data) -> None:
    """Write ``results/NAME.md`` (header + table) and ``results/NAME.json``."""
    RESULTS.mkdir(exist_ok=True)
    head = "\n".join(f"- **{k}**: `{v}`" for k, v in meta.items())
    (RESULTS / f"{name}.md").write_text(f"# {name}\n\n{head}\n\n{markdown}\n")
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": data}, indent=1))


def family_dose_rows(rows: list[dict], families, doses, variants) -> list[str]:
    """Markdown rows ``| family | dose | PSNR / SSIM per variant |``: means over ``rows``
    (dicts with family, dose, variant, psnr, ssim)."""
    lines = []
    for family in families:
        for dose in doses:
            cells = []
            for v in variants:
                key = (family, dose, v)
                sel = [r for r in rows if (r["family"], r["dose"], r["variant"]) == key]
                cells.append(
                    f"{np.mean([r['psnr'] for r in sel]):.2f} / "
                    f"{np.mean([r['ssim'] for r in sel]):.3f}"
                )
            lines.append(f"| {family} | {dose} | " + " | ".join(cells) + " |")
    return lines


def summary_rows(rows: list[dict], families, doses, variants, ref: str, label: str) -> list[str]:
    """Markdown rows under a :func:`family_dose_rows` table: mean PSNR, its difference and the
    worst family-dose cell's difference to variant ``ref`` (named ``label``), seconds per
    slice and their ratio to the variant "tv"."""

    def cell(v, f, d):
        key = (f, d, v)
        return np.mean([r["psnr"] for r in rows if (r["family"], r["dose"], r["variant"]) == key])

    mean = {v: np.mean([r["psnr"] for r in rows if r["variant"] == v]) for v in variants}
    worst = {v: min(cell(v, f, d) - cell(ref, f, d) for f in families for d in doses)
             for v in variants}  # fmt: skip
    secs = {v: np.mean([r["seconds"] for r in rows if r["variant"] == v]) for v in variants}

    def line(name, values):
        return f"| {name} | | " + " | ".join(values) + " |"

    return [
        line("mean PSNR", (f"{mean[v]:.2f}" for v in variants)),
        line(f"− {label} (dB)", (f"{mean[v] - mean[ref]:+.2f}" for v in variants)),
        line(f"worst cell − {label} (dB)", (f"{worst[v]:+.2f}" for v in variants)),
        line("seconds / slice", (f"{secs[v]:.2f}" for v in variants)),
        line("÷ TV", (f"{secs[v] / secs['tv']:.2f}" for v in variants)),
    ]


def variant_table(rows: list[dict], n: int, variants, names, families, doses) -> str:
    """A ``### n²`` section: :func:`family_dose_rows` of ``variants`` and TV (columns
    headed ``names`` and "TV"), then :func:`summary_rows` against the first variant."""
    at = [r for r in rows if r["n"] == n]
    columns = [*variants, "tv"]
    lines = [
        f"### {n}²",
        "",
        "| family | dose | " + " | ".join([*names, "TV"]) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    lines += family_dose_rows(at, families, doses, columns)
    lines += summary_rows(at, families, doses, columns, variants[0], "first")
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=1)
def tooth_series() -> tuple[np.ndarray, np.ndarray]:
    """``tooth.h5`` as ``make demo`` preprocesses and crops it, read once per process.

    Returns
    -------
    sinograms : numpy.ndarray, shape (2, 181, 400), read-only
    angles : numpy.ndarray, shape (181,), read-only
    """
    # here, not at the top: tomoinpaint.demo loads the CLI, which most benchmarks never need
    from tomoinpaint.demo import tooth_sinograms

    sino, angles, _, _ = tooth_sinograms()
    sino = np.ascontiguousarray(sino.transpose(1, 0, 2))
    for a in (sino, angles):
        a.setflags(write=False)  # shared by every case of the process
    return sino, angles


def tooth_block_case(around: float, width: int = 45):
    """``tooth.h5`` as ``make demo`` uses it, without ``width`` projections near ``around``.

    Returns
    -------
    sinograms : numpy.ndarray, shape (2, n_kept, 400)
    reference : numpy.ndarray, shape (2, 400, 400)
        WBP of the full scan.
    angles : numpy.ndarray, shape (n_kept,)
    """
    from tomoinpaint.demo import drop_block

    sino, angles = tooth_series()
    reference = reconstruct(sino, angles, "wbp")
    keep = drop_block(angles, width, around)
    return np.ascontiguousarray(sino[:, keep]), reference, angles[keep]


def tooth_heldout_case(around: float, width: int = 45):
    """``tooth.h5`` split by projection index, so that input and reference share no noise.

    The input is the even-indexed projections (2° steps) without those among
    the ``width`` consecutive projections near ``around``; the reference is the
    WBP of the odd-indexed projections (the full range, 2° steps), whose noise
    is independent of the input's (``benchmarks/tooth_heldout_reference.py``).

    Returns
    -------
    sinograms : numpy.ndarray, shape (2, n_kept, 400)
    reference : numpy.ndarray, shape (2, 400, 400)
    angles : numpy.ndarray, shape (n_kept,)
    """
    from tomoinpaint.demo import drop_block

    sino, angles = tooth_series()
    even = np.arange(angles.size) % 2 == 0
    reference = reconstruct(sino[:, ~even], angles[~even], "wbp", device="cpu")
    keep = even & drop_block(angles, width, around)
    return np.ascontiguousarray(sino[:, keep]), reference, angles[keep]


def rows_where(rows: list[dict], **match) -> list[dict]:
    """The rows whose fields equal ``match``, in order."""
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def mean_of(rows: list[dict], key: str, **match) -> float:
    """Mean of ``row[key]`` over the rows whose fields equal ``match`` (nan if none)."""
    sel = [r[key] for r in rows_where(rows, **match)]
    return float(np.mean(sel)) if sel else float("nan")


def score_variants(sino, gt, angles, variants: dict, base: dict) -> list[dict]:
    """Reconstruct with each variant and score every slice against its reference.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_slices, n_angles, n_det)
    gt : numpy.ndarray, shape (n_slices, n, n)
        The references.
    angles : numpy.ndarray, shape (n_angles,)
    variants : dict
        Name -> ``(method, options)`` of :func:`tomoinpaint.methods.reconstruct`.
    base : dict
        Fields every row starts with (the case).

    Returns
    -------
    list of dict
        One row per variant and slice: ``base``, ``slice``, ``variant``,
        ``seconds`` (per slice, the variant's wall time over the stack) and
        :func:`tomoinpaint.metrics.compare`'s metrics.
    """
    rows = []
    for name, (method, options) in variants.items():
        t0 = time.perf_counter()
        rec = reconstruct(sino, angles, method, device="cpu", **options)
        seconds = (time.perf_counter() - t0) / len(sino)
        for k, (g, r) in enumerate(zip(gt, rec, strict=True)):
            rows.append(base | {"slice": k, "variant": name, "seconds": seconds} | compare(g, r))
    return rows


def step_variant_rows(family, index, n, model, doses, variants, run_step) -> list[dict]:
    """Rows of one validation sample (45° wedge) at each dose: TV at its defaults, then
    joint's data-consistency step in each variant, all from one prior made as joint makes it.

    Parameters
    ----------
    family : str
    index : int
        The sample's index among the validation seeds.
    n : int
    model : str
        Weights directory.
    doses : sequence of str
    variants : sequence
        Passed to ``run_step`` one by one.
    run_step : callable
        ``run_step(variant, sino, angles, prior, noise_estimates)`` -> (image of shape
        (n, n), dict of extra row fields): the step in that variant
        (:func:`tomoinpaint.recon.joint.joint_from_prior` or ``data_consistency``).

    Returns
    -------
    list of dict
        Per dose: TV's row, then one per variant with ``seconds`` (the step alone),
        ``prior_seconds`` and :func:`tomoinpaint.metrics.compare`'s metrics.
    """
    # here, not at the top: the deep methods load torch, which most benchmarks never need
    from tomoinpaint.recon import tv
    from tomoinpaint.recon.joint import joint_prior

    angles = wedge_angles(45.0)
    s = next(eval_set(family, 1, n=n, purpose="validation", angles=angles, start=index))
    rows = []
    for dose in doses:
        b = s["sino"][dose]
        base = {"family": family, "index": index, "dose": dose, "n": n}
        rows.append(timed_row(base, "tv", s["gt"], tv, b, angles, device="cpu"))
        t0 = time.perf_counter()
        # the prior exactly as joint makes it (its size and TV count follow the noise)
        prior, noise = joint_prior(b, angles, model=model, device="cpu")
        t_prior = time.perf_counter() - t0
        for v in variants:
            t0 = time.perf_counter()
            rec, fields = run_step(v, b, angles, prior, noise)
            seconds = time.perf_counter() - t0
            rows.append(
                base
                | {"variant": v, "seconds": seconds, "prior_seconds": t_prior}
                | fields
                | compare(s["gt"], rec)
            )
    print(family, index, n, flush=True)
    return rows


def weighted_step(sino, angles, prior, weight: float | str, noise_estimates, **options):
    """joint's data-consistency step on one slice with the prior weight ``weight`` and
    joint's other defaults for that width and noise (iterations, step ratio), or
    ``options`` of :func:`~tomoinpaint.recon.joint.data_consistency` (these included).

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_angles, n_det) or (1, n_angles, n_det)
    angles : numpy.ndarray, shape (n_angles,)
    prior : NetworkPrior
        :func:`tomoinpaint.recon.joint.joint_prior` of ``sino``.
    weight : float or "auto"
    noise_estimates : (scales, noises)
        From the same ``joint_prior`` call.
    **options
        Further keywords of ``data_consistency``.

    Returns
    -------
    numpy.ndarray, shape (n_det, n_det)
    """
    from tomoinpaint.recon.joint import (
        call_noise,
        data_consistency,
        step_iterations,
        step_ratio_for,
    )

    n = np.shape(sino)[-1]
    options = {
        "iterations": step_iterations(n, call_noise(noise_estimates)),
        "step_ratio": step_ratio_for(n, prior.model_n),
    } | options
    return data_consistency(
        sino,
        angles,
        prior,
        prior_weight=weight,
        noise_estimates=noise_estimates,
        device="cpu",
        **options,
    )[0]


def shipped_diff_row(label: str, rows: list[dict], variants, shipped: str, blanks: int) -> str:
    """A table row of each variant's PSNR minus ``shipped``'s over ``rows``: "mean (worst)".

    ``rows`` hold one row per variant and slice, in the same slice order for
    every variant; ``blanks`` empty cells follow the label.
    """
    ship = np.array([r["psnr"] for r in rows if r["variant"] == shipped])
    diffs = []
    for v in variants:
        d = np.array([r["psnr"] for r in rows if r["variant"] == v]) - ship
        diffs.append(f"{d.mean():+.2f} ({d.min():+.2f})")
    return f"| {label} | " + "| " * blanks + " | ".join(diffs) + " |"


def timed_row(base: dict, variant: str, gt, method, *args, **kwargs) -> dict:
    """One result row: ``base``, ``variant``, the seconds ``method(*args, **kwargs)`` took
    and :func:`tomoinpaint.metrics.compare`'s metrics of its image against ``gt``."""
    t0 = time.perf_counter()
    rec = method(*args, **kwargs)
    return base | {"variant": variant, "seconds": time.perf_counter() - t0} | compare(gt, rec)


def one_thread_worker() -> None:
    """Process-pool initializer: one torch thread per worker process (one per core)."""
    import torch

    torch.set_num_threads(1)


def add_validation_options(ap) -> None:
    """The options of the per-sample validation benchmarks (weights, samples, size, workers)."""
    from tomoinpaint.recon.joint import WEIGHTS_DIR

    ap.add_argument("--model", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--count", type=int, default=4, help="validation samples per family")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))


def map_validation_samples(one_sample, args, families) -> list:
    """``one_sample((family, index, n, model_dir))`` for ``args.count`` samples per family,
    in ``args.workers`` processes; the rows of all samples, in task order."""
    from concurrent.futures import ProcessPoolExecutor

    model = str(args.model.resolve())
    tasks = [(f, i, args.n, model) for f in families for i in range(args.count)]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        return [r for rs in pool.map(one_sample, tasks) for r in rs]


def add_sized_validation_options(ap, sizes=(128, 256)) -> None:
    """:func:`add_validation_options`, and the sizes with the samples from 256 px on
    (``--sizes``, ``--large-count``), for :func:`map_sized_samples`."""
    add_validation_options(ap)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(sizes))
    ap.add_argument("--large-count", type=int, default=1, help="slices per case from 256 px on")


def map_sized_samples(one_sample, args, keys) -> list:
    """``one_sample((*key, index, n, model_dir))`` per key, sample and size, in processes.

    ``args.count`` samples per key below 256 px, ``args.large_count`` from 256 px
    on, the largest size first (so that the workers finish together), in
    ``args.workers`` processes of one torch thread; the rows of all samples.
    """
    from concurrent.futures import ProcessPoolExecutor

    model = str(args.model.resolve())
    tasks = []
    for n in sorted(args.sizes, reverse=True):
        count = args.count if n < 256 else args.large_count
        tasks += [(*key, i, n, model) for key in keys for i in range(count)]
    with ProcessPoolExecutor(args.workers, initializer=one_thread_worker) as pool:
        return [r for rs in pool.map(one_sample, tasks) for r in rs]


def sized_samples_meta(args) -> dict:
    """The header fields of a :func:`map_sized_samples` run: samples and weights."""
    return {
        "samples": f"{args.count} validation slices per family and wedge (seeds from "
        f"{VALIDATION_SEED:,}); from 256 px on {args.large_count}",
        "weights": str(args.model),
    }
