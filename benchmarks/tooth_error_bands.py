"""Where the error on the real tooth scan lies: measured directions or wedge, by frequency.

By the Fourier slice theorem the projections kept measure the slice's
Fourier transform in some directions (``adapt.fourier.measured_direction_mask``);
the block removed leaves a wedge of directions unmeasured. The squared error
of a reconstruction against a reference (orthonormal FFT, so the parts add up
to the pixel-domain sum of squares) is split here into the measured
directions and the wedge, and the wedge part into bands of spatial frequency.
That says what a method gets wrong: noise removal and bias where the data
speak, or the unmeasured information it has to supply.

Two references, as in ``tooth_heldout_reference.py``:

* ``full``: the input is the full scan without a 45° block, the reference
  the full scan's WBP (``realsize_quality.py``'s tooth). The reference holds
  the input's own projections and their noise: in the measured directions
  the best score is to keep the input's data as they are.
* ``odd``: the input is the even-indexed projections without the block, the
  reference the odd-indexed projections' WBP, whose noise the input does not
  share: the differences between methods are their differences against the
  object.

Besides SART, TV and ``joint`` (with the network prior ``joint`` starts from,
on its own), one diagnostic that is not a method of the package: ``keep
data + TV wedge``, the measured projections kept as measured and the missing
ones filled by TV's image reprojected, then WBP. Against the ``full``
reference it is the best use of TV's image (the measured directions exactly
the reference's); against ``odd`` it keeps all the input's noise. The gap
between its two scores measures how much the ``full`` reference rewards
keeping noise rather than recovering the object. A second diagnostic,
``TV + complete scan's wedge``, keeps TV's image in the measured directions
and takes the wedge from TV's image of the complete scan (the full scan, or
all the even-indexed projections): a guess of the wedge as good as TV gets
from data that measure it, at TV's noise level. What it gains over TV is the
headroom of a better prior; the per-block table gives the share of it that
``joint`` takes and the share that +0.5 dB over TV needs.

``--levers`` adds settings that trade error in the measured directions
against error in the wedge: TV at half and at twice the weight its rule
gives, ``joint`` with the prior's projections weighted 3 (the rule gives
about 1 on the tooth), and ``joint`` with its prior made at the input's
400 px instead of the network's 128 (``prior_size="input"``). They say
whether a method could gain on the tooth by a setting rather than by a
better guess of the wedge.

Run::

    python benchmarks/tooth_error_bands.py     # ~20 min on 2 cores
    python benchmarks/tooth_error_bands.py --blocks 135 --levers --name tooth_error_bands_135_levers
    python benchmarks/tooth_error_bands.py --blocks 135 --adapt-minutes 8 \
        --name tooth_error_bands_135_adapted

Results: ``results/tooth_error_bands.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time

import numpy as np
from _common import (
    header,
    mean_of,
    rows_where,
    tooth_block_case,
    tooth_heldout_case,
    tooth_series,
    write_results,
)

from tomoinpaint.adapt import adapt
from tomoinpaint.adapt.fourier import measured_direction_mask
from tomoinpaint.methods import reconstruct
from tomoinpaint.metrics import compare
from tomoinpaint.project import forward_project
from tomoinpaint.recon.joint import joint_from_prior, joint_prior
from tomoinpaint.recon.tv import tv
from tomoinpaint.recon.tv_weights import default_weight

BLOCKS = (45.0, 90.0, 135.0)
WIDTH_DEG = 45
#: Band edges of the wedge's error, in units of the Nyquist frequency.
BAND_EDGES = (0.0, 0.08, 0.16, 0.32, np.inf)
BANDS = list(zip(BAND_EDGES[:-1], BAND_EDGES[1:], strict=True))
#: The diagnostic with TV's image of the complete scan in the wedge.
ORACLE = "TV + complete scan's wedge"
#: ``--adapt-minutes``: ``joint`` with weights adapted to each case's input.
ADAPTED = "joint adapted"
#: ``--levers``: TV at these multiples of the weight its rule gives.
TV_WEIGHT_FACTORS = (0.5, 2.0)


def _tv_lever(factor: float) -> str:
    """The ``--levers`` variant name of TV at ``factor`` times its weight."""
    return f"tv, weight ×{factor:g}"


def error_parts(image: np.ndarray, reference: np.ndarray, measured: np.ndarray) -> dict:
    """Squared error split by Fourier direction and, in the wedge, by frequency band.

    Parameters
    ----------
    image, reference : numpy.ndarray, shape (n, n)
    measured : numpy.ndarray of bool, shape (n, n)
        :func:`measured_direction_mask` of the input's angles.

    Returns
    -------
    dict
        ``measured`` and ``wedge``: sums of the squared error over those
        frequencies (orthonormal FFT: they add up to the pixel-domain sum of
        squares); ``band_k``: the wedge's part in band ``k`` of :data:`BAND_EDGES`.
    """
    n = reference.shape[-1]
    power = np.abs(np.fft.fft2(image - reference, norm="ortho")) ** 2
    f = np.fft.fftfreq(n)
    radius = np.hypot(f[:, None], f[None, :]) / 0.5
    parts = {"measured": float(power[measured].sum()), "wedge": float(power[~measured].sum())}
    for k, (lo, hi) in enumerate(BANDS):
        band = ~measured & (radius >= lo) & (radius < hi)
        parts[f"band_{k}"] = float(power[band].sum())
    return parts


def keep_data_complete(sino, angles, image, all_angles) -> np.ndarray:
    """WBP of the measured projections plus ``image``'s projections at the angles not measured.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_slices, n_angles, n_det)
    angles : numpy.ndarray, shape (n_angles,)
    image : numpy.ndarray, shape (n_slices, n_det, n_det)
    all_angles : numpy.ndarray
        The scan's angles; those not in ``angles`` are filled.

    Returns
    -------
    numpy.ndarray, shape (n_slices, n_det, n_det)
    """
    missing = all_angles[~np.isin(all_angles, angles)]
    filled = np.concatenate([sino, forward_project(image, missing, device="cpu")], axis=1)
    both = np.concatenate([angles, missing])
    order = np.argsort(both)
    return reconstruct(filled[:, order], both[order], "wbp", device="cpu")


def _case(reference: str, around: float):
    """(sinograms, reference images, angles kept, the scan's angles on the input's step)."""
    every = tooth_series()[1]
    if reference == "odd":
        return (*tooth_heldout_case(around, WIDTH_DEG), every[::2])
    return (*tooth_block_case(around, WIDTH_DEG), every)


@functools.cache
def complete_scan_tv(reference: str) -> np.ndarray:
    """TV's images of the scan the input is cut from, before any block is dropped.

    Parameters
    ----------
    reference : {"full", "odd"}
        "full": the whole scan; "odd": its even-indexed projections.

    Returns
    -------
    numpy.ndarray, shape (2, 400, 400), read-only
    """
    sino, angles = tooth_series()
    step = 2 if reference == "odd" else 1
    images = reconstruct(sino[:, ::step], angles[::step], "tv", device="cpu")
    images.setflags(write=False)
    return images


def with_wedge_of(image: np.ndarray, other: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """``image`` in the measured Fourier directions, ``other`` in the wedge.

    Parameters
    ----------
    image, other : numpy.ndarray, shape (n, n)
    measured : numpy.ndarray of bool, shape (n, n)
        :func:`measured_direction_mask` (unshifted FFT layout).

    Returns
    -------
    numpy.ndarray, shape (n, n)
    """
    spectrum = np.where(measured, np.fft.fft2(image), np.fft.fft2(other))
    return np.real(np.fft.ifft2(spectrum)).astype(image.dtype)


def tv_weight_scaled(sino, angles, factor: float) -> np.ndarray:
    """TV of each slice at ``factor`` times the weight TV's own rule gives it.

    Parameters
    ----------
    sino : numpy.ndarray, shape (n_slices, n_angles, n_det)
    angles : numpy.ndarray, shape (n_angles,)

    Returns
    -------
    numpy.ndarray, shape (n_slices, n_det, n_det)
    """
    images = []
    for s in sino:
        weight = factor * default_weight(s, angles, device="cpu")
        images.append(tv(s, angles, weight=weight, device="cpu"))
    return np.stack(images)


def _lever_images(sino, angles, prior, noise, prior_seconds: float, model=None) -> dict:
    """The ``--levers`` variants' images and their seconds (all slices).

    ``prior`` and ``noise`` are :func:`joint_prior`'s at its defaults, made
    already in ``prior_seconds``, which count in the variant that reuses them.
    """
    out = {}
    for factor in TV_WEIGHT_FACTORS:
        t0 = time.perf_counter()
        out[_tv_lever(factor)] = (tv_weight_scaled(sino, angles, factor), time.perf_counter() - t0)
    t0 = time.perf_counter()
    rec = joint_from_prior(sino, angles, prior, noise, prior_weight=3.0, device="cpu")
    out["joint, prior weight 3"] = (rec, prior_seconds + time.perf_counter() - t0)
    t0 = time.perf_counter()
    prior, noise = joint_prior(sino, angles, model=model, prior_size="input", device="cpu")
    rec = joint_from_prior(sino, angles, prior, noise, device="cpu")
    out["joint, prior at the input's size"] = (rec, time.perf_counter() - t0)
    return out


def _adapted_joint(sino, angles, model, minutes: float) -> np.ndarray:
    """``joint`` with the weights :func:`adapt` makes from ``sino`` in ``minutes``."""
    with tempfile.TemporaryDirectory() as tmp:
        adapt(sino, angles, f"{tmp}/adapted", model=model, minutes=minutes, device="cpu")
        return reconstruct(sino, angles, "joint", model=f"{tmp}/adapted", device="cpu")


def _images(
    sino, angles, all_angles, measured, reference: str, model=None, levers=False, adapt_minutes=None
) -> dict:
    """Each variant's images and its seconds per slice (``measured``: the input's
    :func:`measured_direction_mask`)."""
    out = {}
    for method in ("sart", "tv"):
        t0 = time.perf_counter()
        out[method] = (reconstruct(sino, angles, method, device="cpu"), time.perf_counter() - t0)
    t0 = time.perf_counter()
    prior, noise = joint_prior(sino, angles, model=model, device="cpu")
    t_prior = time.perf_counter() - t0
    out["joint's prior"] = (prior.image, t_prior)
    rec = joint_from_prior(sino, angles, prior, noise, device="cpu")
    out["joint"] = (rec, time.perf_counter() - t0)
    t0 = time.perf_counter()
    completed = keep_data_complete(sino, angles, out["tv"][0], all_angles)
    out["keep data + TV wedge"] = (completed, out["tv"][1] + time.perf_counter() - t0)
    complete = complete_scan_tv(reference)  # made once per reference, not timed
    t0 = time.perf_counter()
    oracle = np.stack(
        [with_wedge_of(i, c, measured) for i, c in zip(out["tv"][0], complete, strict=True)]
    )
    out[ORACLE] = (oracle, out["tv"][1] + time.perf_counter() - t0)
    if adapt_minutes:
        t0 = time.perf_counter()
        rec = _adapted_joint(sino, angles, model, adapt_minutes)
        out[ADAPTED] = (rec, time.perf_counter() - t0)
    if levers:
        out.update(_lever_images(sino, angles, prior, noise, t_prior, model))
    return {k: (img, sec / len(sino)) for k, (img, sec) in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=float, nargs="+", default=list(BLOCKS))
    ap.add_argument("--name", default="tooth_error_bands", help="results file name")
    ap.add_argument("--model", default=None, help="joint's weights (default: the installed)")
    ap.add_argument(
        "--adapt-minutes",
        type=float,
        default=None,
        help="also joint with weights adapted to each input (from --model) in this budget",
    )
    ap.add_argument(
        "--levers",
        action="store_true",
        help="also TV at half and twice its weight, joint at prior weight 3 and with the "
        "prior at the input's size (~2x the time)",
    )
    args = ap.parse_args()
    rows = []
    for reference in ("full", "odd"):
        for around in args.blocks:
            sino, ref, angles, all_angles = _case(reference, around)
            measured = measured_direction_mask(ref.shape[-1], angles)
            variants = _images(
                sino,
                angles,
                all_angles,
                measured,
                reference,
                args.model,
                args.levers,
                args.adapt_minutes,
            )
            for variant, (images, seconds) in variants.items():
                for k in range(len(sino)):
                    rows.append(
                        {"reference": reference, "around": around, "variant": variant, "slice": k}
                        | {"seconds": seconds}
                        | compare(ref[k], images[k])
                        | error_parts(images[k], ref[k], measured)
                    )
                print(reference, around, variant, f"{seconds:.1f} s/slice", flush=True)
    write_results(args.name, _meta(args), _text(rows, args.blocks), rows)


def _meta(args) -> dict:
    return header() | {
        "input": f"tooth.h5 (400 px crop, its 2 rows) without a {WIDTH_DEG}° block of "
        f"projections around {', '.join(f'{b:g}°' for b in args.blocks)}",
        "references": "full: WBP of the full scan (the input is the rest of it); odd: WBP of "
        "the odd-indexed projections (the input is the even-indexed ones without the block)",
        "joint's weights": args.model or "installed",
        "adaptation": f"{args.adapt_minutes:g} min on each input" if args.adapt_minutes else "none",
        "levers": bool(args.levers),
        "bands": "wedge error in |f| / Nyquist bands "
        + ", ".join(f"[{lo:g}, {hi:g})" for lo, hi in BANDS),
    }


def _text(rows: list[dict], blocks) -> str:
    bands = [f"{lo:g}–{hi:g}" for lo, hi in BANDS]
    lines = [
        "Means over the blocks and the two rows. PSNR (dB) / SSIM; then the squared error "
        "(orthonormal FFT, ×1000) in the measured directions, in the wedge, and the wedge's "
        "by |f| / Nyquist band. `keep data + TV wedge` is a diagnostic, not a method of the "
        "package: the measured projections as measured, the missing ones reprojected from "
        "TV's image, then WBP. `TV + complete scan's wedge` is another: TV's image in the "
        "measured directions, TV's image of the complete scan (full scan, or all the even-"
        "indexed projections) in the wedge.",
        "",
    ]
    for reference, title in (
        ("full", "Against the full scan's WBP (shares the input's projections and noise)"),
        ("odd", "Against the odd-indexed projections' WBP (noise independent of the input's)"),
    ):
        lines += [
            f"**{title}**",
            "",
            "| variant | PSNR / SSIM | − TV (dB) | measured | wedge | "
            + " | ".join(f"wedge {b}" for b in bands)
            + " | s / slice |",
            "|---|---|---|---|---|" + "---|" * len(bands) + "---|",
        ]
        tv = mean_of(rows, "psnr", reference=reference, variant="tv")
        for v in dict.fromkeys(r["variant"] for r in rows):
            sel = {"reference": reference, "variant": v}
            p = mean_of(rows, "psnr", **sel)
            parts = [1000 * mean_of(rows, k, **sel) for k in ("measured", "wedge")]
            parts += [1000 * mean_of(rows, f"band_{k}", **sel) for k in range(len(bands))]
            lines.append(
                f"| {v} | {p:.2f} / {mean_of(rows, 'ssim', **sel):.3f} | {p - tv:+.2f} | "
                + " | ".join(f"{x:.1f}" for x in parts)
                + f" | {mean_of(rows, 'seconds', **sel):.1f} |"
            )
        lines.append("")
    lines += [
        "PSNR (dB) per block, `joint` and the diagnostic against TV:",
        "",
        "| reference | block around | TV | joint | joint's prior | keep data + TV wedge |",
        "|---|---|---|---|---|---|",
    ]
    for reference in ("full", "odd"):
        for around in blocks:
            cells = [
                mean_of(rows, "psnr", reference=reference, around=around, variant=v)
                for v in ("tv", "joint", "joint's prior", "keep data + TV wedge")
            ]
            lines.append(
                f"| {reference} | {around:g}° | " + " | ".join(f"{c:.2f}" for c in cells) + " |"
            )
    deep = [v for v in ("joint", ADAPTED) if rows_where(rows, variant=v)]
    lines += [
        "",
        f"Headroom per block: `{ORACLE}` against TV, and the share of its cut in the total "
        "squared error that each `joint` takes and that +0.5 dB over TV would take:",
        "",
        "| reference | block around | TV (dB) | complete scan's wedge − TV (dB) | "
        + " | ".join(f"{v} − TV (dB) | {v}'s share" for v in deep)
        + " | +0.5 dB needs |",
        "|---|---|---|---|" + "---|---|" * len(deep) + "---|",
    ]
    for reference in ("full", "odd"):
        for around in blocks:
            lines.append(_headroom_row(rows, reference, around, deep))
    return "\n".join(lines)


def _headroom_row(rows: list[dict], reference: str, around: float, deep: list[str]) -> str:
    """One line of the headroom table (shares of the cut in the mean squared error)."""
    sel = {"reference": reference, "around": around}
    psnr = {v: mean_of(rows, "psnr", variant=v, **sel) for v in ("tv", ORACLE, *deep)}
    err = {
        v: mean_of(rows, "measured", variant=v, **sel) + mean_of(rows, "wedge", variant=v, **sel)
        for v in psnr
    }
    room = err["tv"] - err[ORACLE]
    needed = err["tv"] * (1.0 - 10.0 ** (-0.05))  # the cut that is +0.5 dB

    def share(cut: float) -> str:
        # no headroom (the complete scan's wedge no better than TV's): no share to give
        return f"{cut / room:.0%}" if room > 0 else "n/a"

    cells = [f"{psnr[v] - psnr['tv']:+.2f} | {share(err['tv'] - err[v])}" for v in deep]
    return (
        f"| {reference} | {around:g}° | {psnr['tv']:.2f} | {psnr[ORACLE] - psnr['tv']:+.2f} | "
        + " | ".join(cells)
        + f" | {share(needed)} |"
    )


if __name__ == "__main__":
    main()
