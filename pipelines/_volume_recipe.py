"""What the volume recipes (``et_tilt_series.py``, ``facility_hdf5.py``) share.

Config files, the command-line options every volume recipe has, merging the
two (the command line wins), the call of
:func:`tomoinpaint.volume.reconstruct_volume` and the ``main`` skeleton with
its exit statuses (0 done, 1 failed, 2 bad config, 130 interrupted).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from tomoinpaint.config import read_mapping
from tomoinpaint.errors import OptionError
from tomoinpaint.methods import METHODS
from tomoinpaint.provenance import versions
from tomoinpaint.volume import EXECUTORS, reconstruct_volume

#: Command-line options every volume recipe copies into its config when given
#: (``--slices`` and the method options are converted separately).
COMMON_FLAGS = (
    "method",
    "chunk",
    "workers",
    "executor",
    "scheduler",
    "device",
    "resume",
    "overwrite",
    "work_dir",
)
#: Command-line options that go into ``options`` (method options).
METHOD_FLAGS = ("filter", "iterations", "sweeps", "model")


def load_config(path: str | None, config_cls) -> dict:
    """Keys of a YAML/JSON config file (empty without one); unknown keys are an error."""
    if path is None:
        return {}
    data = read_mapping(path) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping of options")
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {sorted(known)}")
    return data


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The method, execution and output options of every volume recipe."""
    p.add_argument("--method", choices=list(METHODS), help="[default: wbp]")
    p.add_argument("--filter", help="WBP/FBP ramp filter (ram-lak, hann, ...)")
    p.add_argument("--iterations", type=int, help="SIRT/TV/joint iterations")
    p.add_argument("--sweeps", type=int, help="SART sweeps")
    p.add_argument("--model", help="weights directory of the deep methods")
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


def resolve(p: argparse.ArgumentParser, a: argparse.Namespace, config_cls, own: tuple[str, ...]):
    """The ``--config`` file overridden by the command line, as a ``config_cls``.

    ``own``: the recipe's own option names (besides the common ones) copied when given.
    """
    values = load_config(a.config, config_cls)
    for name in ("input", "output", *own, *COMMON_FLAGS):
        if getattr(a, name) is not None:
            values[name] = getattr(a, name)
    if a.slices is not None:
        y0, _, y1 = a.slices.partition(":")
        values["slices"] = [int(y0), int(y1)]
    options = dict(values.get("options") or {})
    for name in METHOD_FLAGS:
        if getattr(a, name) is not None:
            options[name] = getattr(a, name)
    if options.get("model"):  # cluster workers may run in another directory
        options["model"] = str(Path(options["model"]).resolve())
    values["options"] = options
    missing = [k for k in ("input", "output") if not values.get(k)]
    if missing:
        p.error(f"missing {' and '.join(missing)} (on the command line or in --config)")
    return config_cls(**values)


def run_volume(cfg, recipe: str, *, prep, progress: bool | None = None, source=None, **volume):
    """:func:`reconstruct_volume` with a recipe config; the resolved config goes to the sidecar.

    ``source``: a :class:`tomoinpaint.io.TiltSeries` read from ``cfg.input`` with its angles
    (and views left out) instead of the path; ``volume``: more of its keyword arguments.
    """
    return reconstruct_volume(
        cfg.input if source is None else source,
        cfg.output,
        angles=cfg.angles if source is None else None,  # a series holds its angles
        method=cfg.method,
        options=cfg.options,
        chunk=cfg.chunk,
        workers=cfg.workers,
        executor=cfg.executor,
        scheduler=cfg.scheduler,
        device=cfg.device,
        slices=None if cfg.slices is None else tuple(cfg.slices),
        prep=prep,
        overwrite=cfg.overwrite,
        resume=cfg.resume,
        work_dir=cfg.work_dir,
        progress=progress,
        **volume,
        metadata={
            "pipeline": {"recipe": recipe, "config": dataclasses.asdict(cfg)},
            "versions": versions(),
        },
    )


def _message(exc: BaseException) -> str:
    """The error's message, with the library's option names shown as this script's flags."""
    if isinstance(exc, OptionError):
        return exc.render(lambda name: "--" + name.replace("_", "-"))
    return str(exc)


def main_with(parse_args: Callable, run: Callable, summary: Callable, argv=None) -> int:
    """Parse, optionally print the config, run, and report; an exit status."""
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
        print(f"Error: {' '.join(_message(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Aborted! Run the same command again to resume.", file=sys.stderr)
        return 130
    print(summary(cfg, result))
    return 0
