"""Electron tomography: an aligned tilt series (MRC + .tlt) -> a volume.

Recipe
------
1. Read the aligned stack ``(n_tilts, ny, nx)`` (MRC ``.mrc/.st/.ali``,
   memory-mapped) and its tilt angles (``.tlt``/``.rawtlt`` beside it, or
   ``--angles``), less the views of ``--exclude`` (IMOD's EXCLUDELIST,
   numbered from 1).
2. Reconstruct every slice along the tilt axis (WBP, SART, SIRT or TV), chunk
   by chunk with Dask: ``--workers`` local processes or a cluster
   (``--scheduler``), resumable after an interruption (run the same command
   again).
3. Write the volume ``(ny, nx, nx)``, or the slab ``(ny, THICKNESS, nx)``
   of ``--thickness`` (IMOD's THICKNESS; ``--z-shift`` moves it), as
   MRC/HDF5/TIFF by suffix and, beside it, ``OUTPUT.json`` with this recipe's
   resolved configuration.

The stack must hold line integrals (mass bright, empty beam near zero):
convert bright-field intensities first, e.g. ``-log(I / I0)``, or
``I0 - I`` for a thin specimen (IMOD ``newstack -multadd -1,I0``), with
``I0`` the empty-beam intensity.

Usage
-----
::

    python pipelines/et_tilt_series.py series.ali -o rec.mrc --method sirt --workers 2
    python pipelines/et_tilt_series.py --config et.yaml            # keys = the options below
    python pipelines/et_tilt_series.py series.ali -o rec.mrc --print-config

Options on the command line override those of ``--config`` (YAML or JSON;
unknown keys are an error).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from _volume_recipe import add_common_arguments, main_with, resolve, run_volume

import tomoinpaint.io as tio

RECIPE = "et_tilt_series"


@dataclass(frozen=True)
class ETConfig:
    """Resolved configuration of the ET recipe.

    Attributes
    ----------
    input : str
        Aligned tilt series (MRC, or TIFF/HDF5).
    output : str
        Volume path (.mrc, .rec, .h5, .tif).
    angles : str or None
        Angle file; default ``.tlt``/``.rawtlt`` beside the input.
    method : str
        wbp, fbp, sart, sirt or tv.
    options : dict
        Method options (e.g. ``{"iterations": 50}``, ``{"filter": "hann"}``).
    chunk, workers : int
        Slices per task; local worker processes.
    executor : str
        auto, synchronous, threads or processes.
    scheduler : str or None
        dask.distributed scheduler address.
    device : str
        auto, cpu or cuda.
    slices : list of int or None
        ``[y0, y1]``: reconstruct rows ``y0..y1-1`` only.
    exclude : str or None
        Views to leave out, IMOD's list numbered from 1 (``"1,40-41"``).
    thickness : int or None
        Rows of each slice kept around its centre (a slab); default all.
    z_shift : float
        Moves the slab's centre by this many rows.
    slab_only : bool
        SART/SIRT/TV reconstruct inside the slab only, as IMOD's SIRT does.
    resume, overwrite : bool
    work_dir : str or None
        Where finished chunks wait for the output to be complete.
    """

    input: str
    output: str
    angles: str | None = None
    method: str = "wbp"
    options: dict = field(default_factory=dict)
    chunk: int = 8
    workers: int = 1
    executor: str = "auto"
    scheduler: str | None = None
    device: str = "auto"
    slices: list | None = None
    exclude: str | None = None
    thickness: int | None = None
    z_shift: float = 0.0
    slab_only: bool = False
    resume: bool = True
    overwrite: bool = False
    work_dir: str | None = None


def parse_args(argv=None) -> tuple[ETConfig, argparse.Namespace]:
    """Command line (+ optional config file) -> the resolved :class:`ETConfig`."""
    p = argparse.ArgumentParser(
        prog="et_tilt_series.py",
        description="ET tilt series (MRC + .tlt) -> volume, chunk by chunk with Dask.",
    )
    p.add_argument("input", nargs="?", help="aligned tilt series (.mrc/.st/.ali, .h5, .tif)")
    p.add_argument("-o", "--output", help="output volume (.mrc/.rec, .h5, .tif)")
    p.add_argument("--config", help="YAML or JSON file with any of these options")
    p.add_argument("--angles", help="tilt-angle file [default: .tlt/.rawtlt beside INPUT]")
    p.add_argument("--exclude", help="views to leave out, numbered from 1 (IMOD): 1,40-41")
    p.add_argument("--thickness", type=int, help="rows of each slice kept (a slab)")
    p.add_argument("--z-shift", dest="z_shift", type=float, help="moves the slab's centre")
    p.add_argument(
        "--slab-only", dest="slab_only", action="store_true", default=None,
        help="SART/SIRT/TV: reconstruct inside the slab only (a support constraint)",
    )  # fmt: skip
    add_common_arguments(p)
    a = p.parse_args(argv)

    return resolve(p, a, ETConfig, ("angles", "exclude", "thickness", "z_shift", "slab_only")), a


def run(cfg: ETConfig, *, progress: bool | None = None):
    """Run the recipe; returns the :class:`tomoinpaint.volume.VolumeResult`."""
    series = tio.read_tilt_series_excluding(cfg.input, cfg.exclude, angles=cfg.angles)
    return run_volume(
        cfg, RECIPE, prep=False, progress=progress, source=series,
        thickness=cfg.thickness, z_shift=cfg.z_shift, slab_only=cfg.slab_only,
    )  # fmt: skip


def _summary(cfg: ETConfig, result) -> str:
    return (
        f"wrote {result.output} {result.shape} with {cfg.method} in {result.seconds:.1f} s "
        f"({result.shape[0] / max(result.seconds, 1e-9):.2f} slices/s); config in "
        f"{result.sidecar}"
    )


def main(argv=None) -> int:
    return main_with(parse_args, run, _summary, argv)


if __name__ == "__main__":
    sys.exit(main())
