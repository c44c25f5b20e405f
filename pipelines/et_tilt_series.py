"""Electron tomography: an aligned tilt series (MRC + .tlt) -> a volume.

Recipe
------
1. Read the aligned stack ``(n_tilts, ny, nx)`` (MRC ``.mrc/.st/.ali``,
   memory-mapped) and its tilt angles (``.tlt``/``.rawtlt`` beside it, or
   ``--angles``).
2. Reconstruct every slice along the tilt axis (WBP, SART, SIRT or TV), chunk
   by chunk with Dask: ``--workers`` local processes or a cluster
   (``--scheduler``), resumable after an interruption (run the same command
   again).
3. Write the volume ``(ny, nx, nx)`` (MRC/HDF5/TIFF by suffix) and, beside it,
   ``OUTPUT.json`` with this recipe's resolved configuration.

The stack must hold line integrals (mass = bright): invert bright-field
images first (e.g. IMOD ``newstack -multadd -1,0``).

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
import dataclasses
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tomoinpaint.cli import versions
from tomoinpaint.recon import METHODS
from tomoinpaint.volume import EXECUTORS, reconstruct_volume

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
    known = {f.name for f in dataclasses.fields(ETConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {sorted(known)}")
    return data


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
    p.add_argument("--method", choices=list(METHODS), help="[default: wbp]")
    p.add_argument("--filter", help="WBP/FBP ramp filter (ram-lak, hann, ...)")
    p.add_argument("--iterations", type=int, help="SIRT/TV iterations")
    p.add_argument("--sweeps", type=int, help="SART sweeps")
    p.add_argument("--chunk", type=int, help="slices per task [default: 8]")
    p.add_argument("--workers", type=int, help="local worker processes [default: 1]")
    p.add_argument("--executor", choices=list(EXECUTORS), help="[default: auto]")
    p.add_argument("--scheduler", help="dask.distributed scheduler address tcp://HOST:PORT")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="[default: auto]")
    p.add_argument("--slices", help="Y0:Y1, rows to reconstruct [default: all]")
    p.add_argument("--work-dir", dest="work_dir", help="where finished chunks are kept")
    p.add_argument("--no-resume", dest="resume", action="store_false", default=None)
    p.add_argument("--overwrite", action="store_true", default=None)
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    p.add_argument("-v", "--verbose", action="count", default=0)
    a = p.parse_args(argv)

    values = load_config(a.config)
    for name in ("input", "output", "angles", "method", "chunk", "workers", "executor"):
        if getattr(a, name) is not None:
            values[name] = getattr(a, name)
    for name in ("scheduler", "device", "work_dir", "resume", "overwrite"):
        if getattr(a, name) is not None:
            values[name] = getattr(a, name)
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
    return ETConfig(**values), a


def run(cfg: ETConfig, *, progress: bool | None = None):
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
        prep=False,
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
    print(
        f"wrote {result.output} {result.shape} with {cfg.method} in {result.seconds:.1f} s "
        f"({result.shape[0] / max(result.seconds, 1e-9):.2f} slices/s); config in "
        f"{result.sidecar}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
