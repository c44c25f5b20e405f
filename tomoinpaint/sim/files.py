"""Simulated tilt-series files: a phantom volume, its tilt series and angles, its ground truth.

:func:`simulate` is what ``tomoinpaint simulate`` runs: it checks every
option before any work and writes the three files together (atomically).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import io as tio
from ..errors import OptionError
from ..geometry import tilt_range
from ..io.atomic import check_free_space
from ..memory import check_memory
from ._util import check_size
from .noise import resolve_dose
from .phantoms import VOLUME_FAMILIES, phantom_volume
from .tiltseries import simulate_tilt_series

__all__ = ["MAX_TILTS", "SimulationResult", "simulation_angles", "simulate"]

#: More tilts than any instrument records: a larger count is a typo in the step.
MAX_TILTS = 10_000


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    paths : tuple of pathlib.Path
        The tilt series, its ground truth ``STEM_gt``, and (MRC, TIFF) its ``.tlt``.
    shape : tuple of int
        Tilt series ``(n_tilts, ny, n)``.
    angles_deg : numpy.ndarray, shape (n_tilts,)
    """

    paths: tuple[Path, ...]
    shape: tuple[int, int, int]
    angles_deg: np.ndarray


def _finite(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v):
        raise OptionError(f"{{{name}}} must be a finite number of degrees, got {value!r}", name)
    return v


def simulation_angles(tilt_min=None, tilt_max=None, step=2.0, wedge=None) -> np.ndarray:
    """Tilt angles of a simulation, degrees.

    Parameters
    ----------
    tilt_min, tilt_max : float, optional
        First and last tilt (default -60, 60).
    step : float
        Tilt step, > 0.
    wedge : float, optional
        A missing wedge in [0, 180) instead of ``tilt_min``/``tilt_max``: tilts
        within ±(90 - wedge / 2), symmetric about 0.

    Returns
    -------
    numpy.ndarray, shape (n_tilts,)

    Raises
    ------
    OptionError
        For a non-finite or non-positive step, both a wedge and a tilt range,
        a wedge outside [0, 180), ``tilt_max < tilt_min``, or more than
        :data:`MAX_TILTS` tilts.
    """
    if step is None or not math.isfinite(float(step)) or float(step) <= 0:
        raise OptionError(f"{{step}} must be a positive number of degrees, got {step}", "step")
    step = float(step)
    if wedge is not None:
        if tilt_min is not None or tilt_max is not None:
            raise OptionError(
                "give either {wedge} or {tilt_min}/{tilt_max}, not both",
                "wedge",
                "tilt_min",
                "tilt_max",
            )
        wedge = _finite(wedge, "wedge")
        if not 0 <= wedge < 180:
            raise OptionError(f"{{wedge}} must be in [0, 180) degrees, got {wedge}", "wedge")
        half = 90.0 - wedge / 2.0
        n = math.floor(2.0 * half / step + 1e-9) + 1
        if 90.0 - half < 1e-9:  # no wedge: a half circle, without repeating +-90
            n = round(180.0 / step)
        _check_count(n, step)
        return -(n - 1) * step / 2.0 + step * np.arange(n, dtype=np.float64)
    lo = -60.0 if tilt_min is None else _finite(tilt_min, "tilt_min")
    hi = 60.0 if tilt_max is None else _finite(tilt_max, "tilt_max")
    if hi < lo:
        raise OptionError(
            f"{{tilt_max}} ({hi:g}) is below {{tilt_min}} ({lo:g})", "tilt_min", "tilt_max"
        )
    _check_count(math.floor((hi - lo) / step + 1e-9) + 1, step)
    return tilt_range(lo, hi, step)


def _check_count(n: int, step: float) -> None:
    if n > MAX_TILTS:
        raise OptionError(
            f"{{step}} {step:g} gives {n} tilts; at most {MAX_TILTS} are simulated", "step"
        )


def simulate(
    output: str | os.PathLike,
    *,
    n: int = 128,
    ny: int = 8,
    family: str = "shapes",
    tilt_min: float | None = None,
    tilt_max: float | None = None,
    step: float = 2.0,
    wedge: float | None = None,
    dose="noise-free",
    seed: int = 0,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> SimulationResult:
    """Simulate a phantom's tilt series into ``output``, with its angles and ground truth.

    The phantom is drawn on a 2x finer grid and projected with an
    area-integrating kernel (no "inverse crime"); Poisson noise at ``dose``.

    Parameters
    ----------
    output : str or os.PathLike
        Tilt series ``(n_tilts, ny, n)``; format by suffix. Its angles go to
        ``STEM.tlt`` beside it (MRC, TIFF) or inside it (HDF5); the ground
        truth ``(ny, n, n)`` to ``STEM_gt.SUFFIX``.
    n : int
        Detector pixels (slices are n x n), >= 8.
    ny : int
        Slices along the tilt axis, >= 1.
    family : str
        A key of :data:`tomoinpaint.sim.phantoms.VOLUME_FAMILIES`.
    tilt_min, tilt_max, step, wedge
        As in :func:`simulation_angles`.
    dose : str or float
        "noise-free", a name of :data:`tomoinpaint.sim.DOSE_LEVELS` ("moderate",
        "low", "very-low"), or the incident counts I0.
    seed : int
    voxel_size : float, optional
        Å, > 0.
    overwrite : bool
        Replace existing outputs (else they are refused before any work).

    Returns
    -------
    SimulationResult
    """
    out = Path(output)
    fmt = tio.detect_format(out, for_writing=True)
    n = check_size(n, name="n", minimum=8)  # the CLI's IntRange checks these first
    ny = check_size(ny, name="ny", minimum=1)
    if family not in VOLUME_FAMILIES:
        raise OptionError(
            f"unknown {{family}} {family!r}; choose one of {', '.join(VOLUME_FAMILIES)}", "family"
        )
    angles = simulation_angles(tilt_min, tilt_max, step, wedge)
    resolve_dose(dose)  # validate before any work
    if voxel_size is not None and (not math.isfinite(voxel_size) or voxel_size <= 0):
        raise OptionError(
            f"{{voxel_size}} must be a positive number of Å, got {voxel_size}", "voxel_size"
        )
    gt_path = out.with_name(f"{out.stem}_gt{out.suffix}")
    finals = [out, gt_path]
    if fmt != "hdf5":
        finals.append(out.with_suffix(".tlt"))

    n_tilts, n_bytes = angles.size, 4 * ny * n
    check_free_space({out: n_bytes * (n_tilts + n) + 2 * 4096}, for_what=str(out))
    # held at once: the phantom drawn at twice the size, its tilt series and the truth
    check_memory(
        n_bytes * (4 * n + n + n_tilts),
        f"simulating {ny} slice(s) of {n} x {n} with {n_tilts} tilts",
        "use a smaller {n} or {ny}",
        "n",
        "ny",
    )
    with tio.atomic_outputs(finals, overwrite=overwrite) as temps:
        rng = np.random.default_rng(seed)
        fine = phantom_volume(ny, 2 * n, rng, family)
        ts, gt = simulate_tilt_series(fine, angles, supersample=2, dose=dose, rng=rng)
        tmp_ts, tmp_gt = temps[0], temps[1]
        stray_tlt = tmp_ts.with_suffix(".tlt")  # written by write_tilt_series beside tmp_ts
        try:
            tio.write_tilt_series(tmp_ts, ts, angles, voxel_size=voxel_size, overwrite=True)
            if fmt != "hdf5":
                os.replace(stray_tlt, temps[2])
        finally:
            if stray_tlt.exists():
                stray_tlt.unlink()
        tio.write_volume(tmp_gt, gt, voxel_size=voxel_size, overwrite=True)
    return SimulationResult(tuple(finals), tuple(int(v) for v in ts.shape), angles)
