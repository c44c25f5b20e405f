"""Synchrotron / micro-CT: a raw DXchange HDF5 scan -> a volume, in one command.

Recipe
------
1. Read ``/exchange/data`` (raw projections, ``(n_proj, ny, nx)``, lazily),
   ``/exchange/data_white`` (flats), ``/exchange/data_dark`` (darks) and
   ``/exchange/theta``.
2. Estimate the rotation centre once, from the middle detector row of the
   rows to reconstruct (Vo's method; tomopy if importable, else algotom), or
   take ``--center``.
3. For each chunk of rows, in a worker: flat/dark normalisation, minus-log,
   ring removal (``--rings``), shift of the rotation axis to the detector
   middle, reconstruction (WBP by default).
4. Write the volume ``(ny, nx, nx)`` and ``OUTPUT.json`` with this recipe's
   resolved configuration, including the centre used.

Runs on the shipped example scan (``tomoinpaint/data/tooth.h5``, 181 x 2 x
640, centre about 295)::

    python pipelines/facility_hdf5.py tomoinpaint/data/tooth.h5 -o tooth_rec.h5
    python pipelines/facility_hdf5.py scan.h5 -o rec.h5 --workers 2 --rings all --center 1023.5
    python pipelines/facility_hdf5.py --config scan.yaml --scheduler tcp://head:8786

Options on the command line override those of ``--config`` (YAML or JSON;
unknown keys are an error). An interrupted run continues where it stopped
when started again with the same command.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from _volume_recipe import add_common_arguments, main_with, resolve, run_volume

import tomoinpaint
from tomoinpaint.prep import RING_METHODS
from tomoinpaint.volume import Prep

RECIPE = "facility_hdf5"
TOOTH = Path(tomoinpaint.__file__).parent / "data" / "tooth.h5"


@dataclass(frozen=True)
class FacilityConfig:
    """Resolved configuration of the facility recipe.

    Attributes
    ----------
    input : str
        DXchange HDF5 scan with flats (and darks).
    output : str
        Volume path (.h5, .mrc, .tif).
    angles : str or None
        Angle file overriding ``/exchange/theta``.
    rings : str or bool
        Ring removal: "sorting", "all", "fw", or false.
    ring_window : int or None
        The ring filter's window, detector pixels (odd, at least 3); None:
        about 1 % of the detector width (``tomoinpaint.prep.ring_window``).
    center : "auto", float or None
        Rotation-axis column ("auto": estimated; None: already centred).
    backend : str
        Preprocessing backend: auto, tomopy or algotom.
    method : str
        wbp, fbp, sart, sirt or tv.
    options : dict
        Method options.
    chunk, workers, executor, scheduler, device, slices, resume, overwrite, work_dir
        As in ``tomoinpaint reconstruct``.
    """

    input: str
    output: str
    angles: str | None = None
    rings: str | bool = "sorting"
    ring_window: int | None = None
    center: str | float | None = "auto"
    backend: str = "auto"
    method: str = "wbp"
    options: dict = field(default_factory=dict)
    chunk: int = 8
    workers: int = 1
    executor: str = "auto"
    scheduler: str | None = None
    device: str = "auto"
    slices: list | None = None
    resume: bool = True
    overwrite: bool = False
    work_dir: str | None = None


def _center(text: str):
    if text == "auto":
        return "auto"
    if text == "none":
        return None
    return float(text)


def _rings(text: str):
    return False if text in ("none", "off", "false") else text


def parse_args(argv=None) -> tuple[FacilityConfig, argparse.Namespace]:
    """Command line (+ optional config file) -> the resolved :class:`FacilityConfig`."""
    p = argparse.ArgumentParser(
        prog="facility_hdf5.py",
        description="Raw DXchange HDF5 scan (flats, darks) -> preprocessed, reconstructed volume.",
    )
    p.add_argument("input", nargs="?", help=f"DXchange .h5 scan (example: {TOOTH})")
    p.add_argument("-o", "--output", help="output volume (.h5, .mrc, .tif)")
    p.add_argument("--config", help="YAML or JSON file with any of these options")
    p.add_argument("--angles", help="angle file overriding /exchange/theta")
    p.add_argument(
        "--rings",
        type=_rings,
        help=f"ring removal: {', '.join(RING_METHODS)} or none [default: sorting]",
    )
    p.add_argument(
        "--ring-window",
        type=int,
        metavar="PX",
        help="ring filter window, detector pixels, odd [default: about 1%% of the width]",
    )
    p.add_argument(
        "--center",
        type=_center,
        default=argparse.SUPPRESS,
        help="auto, none (already centred) or a column index [default: auto]",
    )
    p.add_argument("--backend", choices=["auto", "tomopy", "algotom"], help="[default: auto]")
    add_common_arguments(p)
    a = p.parse_args(argv)

    cfg = resolve(p, a, FacilityConfig, ("angles", "rings", "ring_window", "backend"))
    if hasattr(a, "center"):  # None is a value here ("already centred")
        cfg = dataclasses.replace(cfg, center=a.center)
    return cfg, a


def run(cfg: FacilityConfig, *, progress: bool | None = None):
    """Run the recipe; returns the :class:`tomoinpaint.volume.VolumeResult`."""
    prep = Prep(
        rings=cfg.rings, center=cfg.center, backend=cfg.backend, ring_window=cfg.ring_window
    )
    return run_volume(cfg, RECIPE, prep=prep, progress=progress)


def _summary(cfg: FacilityConfig, result) -> str:
    prep = result.config["prep"]
    return (
        f"wrote {result.output} {result.shape} with {cfg.method}, rotation centre "
        f"{prep['center_used']:.2f}, in {result.seconds:.1f} s; config in {result.sidecar}"
    )


def main(argv=None) -> int:
    return main_with(parse_args, run, _summary, argv)


if __name__ == "__main__":
    sys.exit(main())
