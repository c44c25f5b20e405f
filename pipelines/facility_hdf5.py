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
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tomoinpaint
from tomoinpaint.cli import versions
from tomoinpaint.prep import RING_METHODS
from tomoinpaint.recon import METHODS
from tomoinpaint.volume import EXECUTORS, Prep, reconstruct_volume

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


def load_config(path: str | None) -> dict:
    """Keys of a YAML/JSON config file (empty without one); unknown keys are an error."""
    if path is None:
        return {}
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping of options")
    known = {f.name for f in dataclasses.fields(FacilityConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {sorted(known)}")
    return data


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
        "--center",
        type=_center,
        default=argparse.SUPPRESS,
        help="auto, none (already centred) or a column index [default: auto]",
    )
    p.add_argument("--backend", choices=["auto", "tomopy", "algotom"], help="[default: auto]")
    p.add_argument("--method", choices=list(METHODS), help="[default: wbp]")
    p.add_argument("--filter", help="WBP/FBP ramp filter (ram-lak, hann, ...)")
    p.add_argument("--iterations", type=int, help="SIRT/TV iterations")
    p.add_argument("--sweeps", type=int, help="SART sweeps")
    p.add_argument("--chunk", type=int, help="slices per task [default: 8]")
    p.add_argument("--workers", type=int, help="local worker processes [default: 1]")
    p.add_argument("--executor", choices=list(EXECUTORS), help="[default: auto]")
    p.add_argument("--scheduler", help="dask.distributed scheduler address tcp://HOST:PORT")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="[default: auto]")
    p.add_argument("--slices", help="Y0:Y1, detector rows to reconstruct [default: all]")
    p.add_argument("--work-dir", dest="work_dir", help="where finished chunks are kept")
    p.add_argument("--no-resume", dest="resume", action="store_false", default=None)
    p.add_argument("--overwrite", action="store_true", default=None)
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    p.add_argument("-v", "--verbose", action="count", default=0)
    a = p.parse_args(argv)

    values = load_config(a.config)
    for name in ("input", "output", "angles", "rings", "backend", "method", "chunk", "workers"):
        if getattr(a, name) is not None:
            values[name] = getattr(a, name)
    for name in ("executor", "scheduler", "device", "work_dir", "resume", "overwrite"):
        if getattr(a, name) is not None:
            values[name] = getattr(a, name)
    if hasattr(a, "center"):
        values["center"] = a.center
    if a.slices is not None:
        y0, _, y1 = a.slices.partition(":")
        values["slices"] = [int(y0), int(y1)]
    options = dict(values.get("options") or {})
    for name in ("filter", "iterations", "sweeps"):
        if getattr(a, name) is not None:
            options[name] = getattr(a, name)
    values["options"] = options
    missing = [k for k in ("input", "output") if not values.get(k)]
    if missing:
        p.error(f"missing {' and '.join(missing)} (on the command line or in --config)")
    return FacilityConfig(**values), a


def run(cfg: FacilityConfig, *, progress: bool | None = None):
    """Run the recipe; returns the :class:`tomoinpaint.volume.VolumeResult`."""
    return reconstruct_volume(
        cfg.input,
        cfg.output,
        angles=cfg.angles,
        method=cfg.method,
        options=cfg.options,
        chunk=cfg.chunk,
        workers=cfg.workers,
        executor=cfg.executor,
        scheduler=cfg.scheduler,
        device=cfg.device,
        slices=None if cfg.slices is None else tuple(cfg.slices),
        prep=Prep(rings=cfg.rings, center=cfg.center, backend=cfg.backend),
        overwrite=cfg.overwrite,
        resume=cfg.resume,
        work_dir=cfg.work_dir,
        progress=progress,
        metadata={
            "pipeline": {"recipe": RECIPE, "config": dataclasses.asdict(cfg)},
            "versions": versions(),
        },
    )


def main(argv=None) -> int:
    try:
        cfg, args = parse_args(argv)
    except (ValueError, OSError, TypeError) as exc:  # a bad config file
        print(f"Error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.print_config:
        print(json.dumps(dataclasses.asdict(cfg), indent=2))
        return 0
    level = logging.WARNING if args.verbose == 0 else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run(cfg)
    except (ValueError, OSError) as exc:
        print(f"Error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Aborted! Run the same command again to resume.", file=sys.stderr)
        return 130
    prep = result.config["prep"]
    print(
        f"wrote {result.output} {result.shape} with {cfg.method}, rotation centre "
        f"{prep['center_used']:.2f}, in {result.seconds:.1f} s; config in {result.sidecar}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
