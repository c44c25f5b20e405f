"""Train the shipped weights of the joint model, both stages, from scratch.

The recipe (libraries -> stage 1 -> stage-2 cache -> stage 2 -> weights with
model cards) is :mod:`tomoinpaint.train.recipe`, also run by ``tomoinpaint
train``; this script adds running detached (``--background``) and a log file.
Every step is skipped when its outputs are complete and both trainings
checkpoint as they go, so the same command again resumes where it stopped.
The resolved config is ``OUT/resolved_config.json``; a later run on the same
``OUT`` must use the same config (devices and thread counts may change).

Usage
-----
::

    python pipelines/train_weights.py --config tiny --out /tmp/x
    # detached (new session), logs to OUT/train.log; run again to resume
    python pipelines/train_weights.py --out runs/my_run --background
    # stop cleanly after about an hour
    python pipelines/train_weights.py --out runs/my_run --time-budget 60
    # when finished: copy the weights into the package
    python pipelines/train_weights.py --out runs/my_run --install

Exit status: 0 when finished, 75 when stopped by ``--time-budget`` (run again
to continue), 1 on an error (one line on stderr), 2 when another run holds
``OUT``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from tomoinpaint.train.recipe import (  # noqa: F401 - re-exported for scripts and tests
    DEFAULT_RECIPE,
    EXIT_LOCKED,
    EXIT_STOPPED,
    RECIPE,
    RECIPES,
    RunDirLocked,
    Stopped,
    config_path,
    evaluate_joint,
    execute,
    install,
    lock_run_dir,
    record_config,
    resolve_config,
    run,
)

log = logging.getLogger("train_weights")


# --------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_weights.py",
        description="Train the joint model's two stages from scratch (resumable).",
    )
    p.add_argument(
        "--config",
        default=DEFAULT_RECIPE,
        help=f"recipe: one of {', '.join(RECIPES)} or a YAML/JSON file",
    )
    p.add_argument("--out", type=Path, default=Path("runs/train_weights"), help="output dir")
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="MINUTES",
        help="stop cleanly at a checkpoint after this long (run again to resume)",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    p.add_argument(
        "--install", action="store_true", help="copy the finished weights to tomoinpaint/weights/"
    )
    p.add_argument(
        "--background",
        action="store_true",
        help="start detached (new session), log to OUT/train.log, print the PID",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _setup_logging(out: Path, verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    root.addHandler(err)
    if not os.environ.get("TRAIN_WEIGHTS_CHILD"):
        fh = logging.FileHandler(out / "train.log")
        fh.setFormatter(fmt)
        root.addHandler(fh)


def _background(argv: list[str], out: Path) -> int:
    args = [a for a in argv if a != "--background"]
    logf = open(out / "train.log", "a")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, TRAIN_WEIGHTS_CHILD="1")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args, "--no-progress"],
        stdout=logf,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    (out / "train.pid").write_text(f"{proc.pid}\n")
    print(f"training in the background: pid {proc.pid}, log {out / 'train.log'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    out = args.out.resolve()
    if args.print_config:
        from tomoinpaint.train import RecipeConfig, load_config, to_dict

        try:
            config = load_config(config_path(args.config), RecipeConfig)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(to_dict(resolve_config(config, out, args.device)), indent=2))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    if args.background:
        probe = lock_run_dir(out)
        if probe is None:
            print(f"error: another run is using {out}", file=sys.stderr)
            return EXIT_LOCKED
        probe.close()
        return _background(argv, out)
    _setup_logging(out, args.verbose)
    try:
        return execute(
            args.config,
            out,
            time_budget=args.time_budget,
            device=args.device,
            install_weights=args.install,
            progress=args.progress,
        )
    except RunDirLocked as exc:
        log.error("%s", exc)
        return EXIT_LOCKED
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
