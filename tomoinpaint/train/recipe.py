"""The training recipe of the shipped weights: both stages of the joint model from scratch.

Steps
-----
1. **Libraries** (:func:`tomoinpaint.sim.build_library`): the stage-1 library
   (``data``) and the stage-2 source library (``stage2_data.source``, another
   seed, so stage 2 learns from objects stage 1 never saw, as at inference).
   Families shapes/natural/ct, doses noise-free/moderate/low mixed, the fixed
   angular grid and missing wedge of the config.
2. **Stage 1** (inpainting GAN) with :class:`~tomoinpaint.train.AdversarialTrainer`;
   generators are exported after the ``stage1.snapshot_epochs``.
3. **Stage-2 cache** (:func:`~tomoinpaint.train.build_stage2_cache`): WBP of
   missing-wedge, WBP of complete, SART of missing-wedge and WBP of
   sinograms inpainted by the stage-1 snapshots (paper, Table 3; proportions
   from the config).
4. **Stage 2** (de-artifact GAN); then, when the recipe has ``stage2_tv``,
   the same for a second de-artifact network on its own cache of TV inputs
   (``stage2_tv_data``), the ``joint`` method's prior.
5. **Weights**: the joint model (inpaint -> WBP -> de-artifact) is evaluated
   on held-out stage-2 samples next to WBP and SART of the missing-wedge
   data; ``OUT/weights/{inpainter,deartifact}.safetensors`` are written with
   JSON model cards (architecture, angular grid, data recipe, steps,
   validation metrics, resolved config); :func:`install` copies them to
   ``tomoinpaint/weights/``.

Every step is skipped when its outputs exist and are complete, and the two
trainings checkpoint as they go, so running the same recipe again resumes
where it stopped (after a crash, ``kill`` or a time budget). The resolved
config is written to ``OUT/resolved_config.json``; a later run on the same
``OUT`` must use the same config (devices and thread counts may change).

Entry points: :func:`execute` (used by ``tomoinpaint train`` and
``pipelines/train_weights.py``) and :func:`run`. Recipes shipped with the
package: :data:`RECIPES` (``tiny``, ``default``, ``paper``).

Size: one module because it is one resumable sequence of steps (libraries,
stages, cache, export, install) whose order and skip-if-done checks are
read together.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from ..errors import OptionError
from ..io.atomic import atomic_write, atomic_write_text
from ..metrics import psnr, ssim
from ..nn.grid import sinogram_scale
from ..nn.inference import run_deartifact, run_inpainter
from ..nn.weights import load_model, save_model
from ..provenance import versions
from ..recon.iterative import sart
from ..recon.joint import WEIGHTS_DIR
from ..recon.wbp import wbp
from ..sim import build_library
from .config import RecipeConfig, load_config, sized_path, to_dict
from .datasets import (
    InpaintDataset,
    Library,
    split_indices,
)
from .stage2_cache import (
    ConcatSamples,
    DeartifactDataset,
    build_stage2_cache,
    stage2_cache_complete,
)
from .trainer import build_trainer, snapshot_path

RECIPE = "train_weights"
#: The recipe configs shipped with the package, by name.
RECIPES = {p.stem: p for p in sorted((Path(__file__).parent / "recipes").glob("*.yaml"))}
#: The from-scratch recipe of the installed weights (whose TV network was then fine-tuned
#: by ``joint_tv150_cellular_ft``, which starts from this recipe's): the default of
#: ``execute``, ``tomoinpaint train`` and ``pipelines/train_weights.py``.
DEFAULT_RECIPE = "joint_tv150_wide2x"
DEFAULT_CONFIG = RECIPES[DEFAULT_RECIPE]
PACKAGE_WEIGHTS = WEIGHTS_DIR
EXIT_STOPPED = 75
EXIT_LOCKED = 2
WEIGHT_FILES = ("inpainter", "deartifact")
#: Written when the recipe trains it (``stage2_tv``).
OPTIONAL_WEIGHT_FILES = ("deartifact_tv",)
#: What ``execute(stages=...)`` can run.
STAGE_CHOICES = {
    "inpaint": ("inpaint",),
    "deartifact": ("deartifact",),
    "joint": ("inpaint", "deartifact"),
}

log = logging.getLogger(__name__)


def config_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped recipe by name (:data:`RECIPES`) or a YAML/JSON file."""
    if str(name_or_path) in RECIPES:
        return RECIPES[str(name_or_path)]
    p = Path(name_or_path)
    if not p.is_file():
        raise ValueError(
            f"recipe {str(name_or_path)!r} is neither a file nor one of {', '.join(RECIPES)}"
        )
    return p


class Stopped(Exception):
    """The time budget ran out; everything done so far is saved."""


# --------------------------------------------------------------------------- config
def resolve_config(config, out: Path, device: str | None):
    """Fill in the output paths (libraries, stage-2 checkpoints) and the device override."""

    data = config.data
    if not data.library:
        data = data.replace(library=(str(out / "library" / "stage1.h5"),))
    s2 = config.stage2_data
    src = s2.source
    if not src.library:
        src = src.replace(library=(str(out / "library" / "stage2.h5"),))
    ckpts = s2.checkpoints
    if not ckpts and s2.proportions.wbp_inpainted > 0:
        epochs = config.stage1.snapshot_epochs or (config.stage1.epochs,)
        ckpts = tuple(str(snapshot_path(out / "stage1", e)) for e in epochs)
    stage1, stage2 = config.stage1, config.stage2
    if not config.stage1.snapshot_epochs and s2.proportions.wbp_inpainted > 0:
        stage1 = stage1.replace(snapshot_epochs=(stage1.epochs,))
    if device is not None:
        stage1, stage2 = stage1.replace(device=device), stage2.replace(device=device)
        s2 = s2.replace(device=device)
    s2 = s2.replace(source=src, checkpoints=ckpts)
    tv_data, tv_train = config.stage2_tv_data, config.stage2_tv
    if tv_data is not None:
        if not tv_data.source.library:
            lib = (str(out / "library" / "stage2_tv.h5"),)
            tv_data = tv_data.replace(source=tv_data.source.replace(library=lib))
        if device is not None:
            tv_data, tv_train = tv_data.replace(device=device), tv_train.replace(device=device)
    return config.replace(
        data=data,
        stage1=stage1,
        stage2=stage2,
        stage2_data=s2,
        stage2_tv_data=tv_data,
        stage2_tv=tv_train,
    )


_VOLATILE = {"device", "num_threads", "num_workers", "progress"}


#: Path-valued fields filled in from OUT by resolve_config: compared by their tail only,
#: so a run directory still matches its recorded config after being moved or cloned.
_RUN_PATHS = {"library", "checkpoints"}


def _comparable(d: Any) -> Any:
    if isinstance(d, dict):
        return {
            k: [Path(p).parts[-3:] for p in v] if k in _RUN_PATHS else _comparable(v)
            for k, v in d.items()
            if k not in _VOLATILE
        }
    return d


def record_config(config, out: Path) -> None:
    """Write ``OUT/resolved_config.json``; refuse an ``OUT`` made with another config."""

    path = out / "resolved_config.json"
    mine = to_dict(config)
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8")).get("config", {})
        if _comparable(old) != _comparable(mine):
            raise OptionError(
                f"{out} holds a run with another config ({path}); use another {{out}} or the "
                "same {config}",
                "out",
                "config",
                usage=False,
            )
    doc = {"pipeline": RECIPE, "config": mine, "versions": versions()}
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n", parents=True)


# --------------------------------------------------------------------------- steps
def _check(deadline: float | None) -> None:
    if deadline is not None and time.time() >= deadline:
        raise Stopped


def ensure_library(data, *, workers: int | None, device: str, progress: bool | None) -> Path:
    """Build the library of ``data`` unless it exists (and then check that it matches)."""

    path = Path(data.library[0])
    if path.is_file():
        with h5py.File(path, "r") as f:
            built = json.loads(f.attrs["config"])
        want = {
            "n_samples": data.n_samples,
            "seed": data.seed,
            "families": list(data.families),
            "doses": list(data.doses),
        }
        got = {k: built.get(k) for k in want}
        if got != want:
            raise ValueError(f"{path} was built with {got}, the config asks for {want}")
        Library(data.library, data)  # checks grid, wedge and size
        log.info("library %s exists: reusing it", path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("building library %s (%d samples)", path, data.n_samples)
    build_library(
        path,
        n_samples=data.n_samples,
        n=data.n,
        families=data.families,
        full_angles=data.full_angles(),
        tilt_min=data.wedge[0],
        tilt_max=data.wedge[1],
        doses=data.doses,
        seed=data.seed,
        scheduler="processes" if (workers or os.cpu_count() or 1) > 1 else "synchronous",
        num_workers=workers,
        device="cpu" if device == "cpu" else "auto",
        progress=progress,
    )
    return path


def _data_recipe(config, stage2_data=None) -> dict[str, Any]:
    """What a model card records of the training data (``stage2``: that network's set)."""

    return {
        "stage1_library": to_dict(config.data),
        "stage2": to_dict(config.stage2_data if stage2_data is None else stage2_data),
        "simulation": "tomoinpaint.sim.build_library (strip kernel on a 2x finer grid, "
        "Beer-Lambert Poisson dose)",
    }


def _grid(data) -> dict[str, Any]:
    """The model's angular grid, as the model cards record it."""
    angles, mask = data.model_grid()
    return {
        "n": data.n,
        "angles_deg": [float(a) for a in angles],
        "measured": [bool(m) for m in mask],
        "layout": data.layout,
        "layout_rule": (
            "row k of the model's sinogram is the projection at angles_deg[k] (ASTRA "
            "parallel beam, degrees); a tilt phi maps to theta = phi + 180 m in the grid's "
            "half turn, its row flipped on the detector when m is odd; missing rows are "
            "the measured == false ones"
        ),
        "library_grid": {"start": data.angles[0], "stop": data.angles[1], "step": data.angles[2]},
        "tilt_range": list(data.wedge),
    }


#: De-artifact networks: name -> (run directory, stage-2 cache file) under OUT.
_DEARTIFACT_RUNS = {
    "deartifact": ("stage2", "stage2_cache.h5"),
    "deartifact_tv": ("stage2_tv", "stage2_tv_cache.h5"),
}


def _deartifact_configs(config, name: str):
    """(training set, training config) of de-artifact network ``name``."""
    if name == "deartifact":
        return config.stage2_data, config.stage2
    return config.stage2_tv_data, config.stage2_tv


def _generator_file(out: Path, stage: str) -> Path:
    """``OUT/RUN/NAME.safetensors``: the exported generator of ``stage``."""
    if stage == "inpaint":
        return out / "stage1" / "inpainter.safetensors"
    return out / _DEARTIFACT_RUNS[stage][0] / f"{stage}.safetensors"


def _finished(out: Path, stage: str) -> bool:
    """True when ``stage``'s generator and its model card are exported."""
    final = _generator_file(out, stage)
    return final.is_file() and final.with_suffix(".json").is_file()


def _train_deartifact(
    config, out: Path, name: str, deadline: float | None, progress: bool | None
) -> Path:
    """Library, cache and training of de-artifact network ``name``; its generator file."""
    # a finished network needs neither its library, nor its cache, nor the stage-1
    # snapshots that inpaint part of the cache (a network copied in from another run)
    if not _finished(out, name):
        s2, _ = _deartifact_configs(config, name)
        missing = [c for c in s2.checkpoints if not Path(c).is_file()]
        if missing:
            key = "stage2_data" if name == "deartifact" else "stage2_tv_data"
            raise ValueError(
                f"stage 2 mixes in data inpainted by stage-1 snapshots, and {missing[0]} does "
                f"not exist: train stage 1 first ('inpaint'), list existing snapshots in "
                f"{key}.checkpoints, or set {key}.proportions.wbp_inpainted to 0"
            )
        for source in s2.sources():
            ensure_library(
                source, workers=config.library_workers, device=s2.device, progress=progress
            )
        _check(deadline)
        build_cache(config, out, deadline, progress, name=name)
        _check(deadline)
    return train_stage(name, config, out, deadline)


def train_stage(stage: str, config, out: Path, deadline: float | None) -> Path:
    """Train one network (resuming), export its best generator to ``OUT/RUN/NAME.safetensors``.

    ``stage`` is "inpaint" or a de-artifact network of :data:`_DEARTIFACT_RUNS`.
    """

    final = _generator_file(out, stage)
    if _finished(out, stage):
        log.info("%s: %s exists, skipping", stage, final)
        return final
    if stage == "inpaint":
        tcfg, run, name = config.stage1, out / "stage1", "inpainter"
        lib = Library(config.data.library, config.data)
        tr, va = split_indices(len(lib), tcfg.val_size, tcfg.seed)
        train = InpaintDataset(config.data, tr, library=lib)
        val = InpaintDataset(
            config.data.replace(flips=False), va, with_ground_truth=True, library=lib
        )
        s2 = None
    else:
        name = stage
        s2, tcfg = _deartifact_configs(config, name)
        run = out / _DEARTIFACT_RUNS[name][0]
        train, val = _deartifact_sets(out, name, s2, tcfg)
    meta = {
        "recipe": config.name,
        # a de-artifact network's own slice size (the TV network may have another)
        "grid": _grid(config.data if s2 is None else s2.source),
        "data_recipe": _data_recipe(config, s2),
    }
    if s2 is not None and s2.extra_sizes:
        # a network trained on several slice sizes (prior_size "auto" stays within them)
        meta["trained_sizes"] = [src.n for src in s2.sources()]
        meta["crop"] = s2.crop
    trainer = build_trainer(tcfg, train, val, run, metadata=meta, resume=True)
    log.info(
        "%s: %d training / %d validation samples, %d steps per epoch, %d epochs",
        stage,
        len(train),
        len(val),
        trainer.steps_per_epoch,
        tcfg.epochs,
    )
    result = trainer.fit(deadline=deadline)
    if result["status"] != "finished":
        raise Stopped
    return trainer.export(final, which="best")


def build_cache(
    config, out: Path, deadline: float | None, progress: bool | None, name: str = "deartifact"
) -> Path:
    """The training set of de-artifact network ``name``, resumed if partly built."""

    s2, _ = _deartifact_configs(config, name)
    paths = _cache_files(out, name, s2)
    for path, one in zip(paths, _per_size(s2), strict=True):
        if stage2_cache_complete(path):
            log.info("stage-2 cache %s is complete, skipping", path)
        elif not build_stage2_cache(path, one, progress=progress, deadline=deadline):
            raise Stopped
    return paths[0]


def _per_size(s2):
    """One training-set config per slice size of ``s2`` (the cache each one builds).

    Without ``extra_sizes`` and ``crop`` (left out of the cache's recorded
    config), so the first equals the config of a single-size recipe.
    """
    return [s2.replace(source=src, extra_sizes=(), crop=0) for src in s2.sources()]


def _cache_files(out: Path, name: str, s2) -> list[Path]:
    """The cache file of each size of ``s2`` (``NAME_cache.h5``, then ``NAME_cache_n{n}.h5``)."""
    main = out / _DEARTIFACT_RUNS[name][1]
    return [main] + [Path(sized_path(main, n)) for n, _, _ in s2.extra_sizes]


def _deartifact_sets(out: Path, name: str, s2, tcfg):
    """(training, validation) datasets of de-artifact network ``name``, all its sizes.

    Each cache is split on its own (the validation share of an extra size is
    ``val_size`` scaled by its sample count, at least 1).
    """
    trains, vals = [], []
    files = _cache_files(out, name, s2)
    counts = [len(DeartifactDataset(f, flips=False)) for f in files]
    for k, (f, count) in enumerate(zip(files, counts, strict=True)):
        val_size = tcfg.val_size if k == 0 else max(1, round(tcfg.val_size * count / counts[0]))
        tr, va = split_indices(count, val_size, tcfg.seed)
        trains.append(DeartifactDataset(f, tr, flips=s2.flips, crop=s2.crop))
        vals.append(DeartifactDataset(f, va, flips=False, crop=s2.crop))
    if len(files) == 1:
        return trains[0], vals[0]
    return ConcatSamples(trains), ConcatSamples(vals)


def evaluate_joint(config, out: Path, inpainter: Path, deartifact: Path) -> dict[str, Any]:
    """Joint model vs WBP/SART of missing-wedge data on held-out stage-2 samples."""

    s2 = config.stage2_data
    lib = Library(s2.source.library, s2.source)
    _, va = split_indices(len(lib), config.stage2.val_size, config.stage2.seed)
    idx = va[: config.joint_val_size]
    if not idx.size:
        return {}
    dev = "cuda" if config.stage2.device != "cpu" and torch.cuda.is_available() else "cpu"
    g1, _ = load_model(inpainter, device=dev)
    g2, _ = load_model(deartifact, device=dev)
    angles, mask = lib.angles, lib.mask
    sinos = np.stack([lib.read(int(i), "sinogram") for i in idx]).astype(np.float32)
    gts = np.stack([lib.read(int(i), "ground_truth") for i in idx]).astype(np.float32)
    lib.close()
    full = run_inpainter(g1, sinos, mask, device=dev)
    inp_wbp = wbp(full, angles, filter=s2.wbp_filter).reshape(gts.shape)
    joint = run_deartifact(g2, inp_wbp, np.atleast_1d(sinogram_scale(sinos, mask)), device=dev)
    results = {
        "joint": joint,
        "inpaint_wbp": inp_wbp,
        "wbp_wedge": wbp(sinos[:, mask], angles[mask], filter=s2.wbp_filter).reshape(gts.shape),
        "sart_wedge": sart(sinos[:, mask], angles[mask], sweeps=s2.sart_sweeps).reshape(gts.shape),
        "wbp_complete": wbp(sinos, angles, filter=s2.wbp_filter).reshape(gts.shape),
    }
    metrics: dict[str, Any] = {"n_samples": int(idx.size)}
    for name, rec in results.items():
        p, s = [], []
        for b in range(gts.shape[0]):
            dr = float(gts[b].max() - gts[b].min()) or 1.0
            p.append(psnr(gts[b], rec[b], data_range=dr))
            s.append(ssim(gts[b], rec[b], data_range=dr))
        metrics[name] = {"psnr": float(np.mean(p)), "ssim": float(np.mean(s))}
    metrics["protocol"] = (
        "held-out samples of the stage-2 source library (never trained on), "
        "PSNR/SSIM vs the ground truth, data range of each ground truth slice; "
        "wbp_complete is the complete-data reference"
    )
    return metrics


def write_weights(config, out: Path, stage_files: dict[str, Path], joint: dict) -> Path:
    """``OUT/weights/``: the two generators with model cards, and the recipe."""

    wdir = out / "weights"
    wdir.mkdir(parents=True, exist_ok=True)
    names = [n for n in WEIGHT_FILES + OPTIONAL_WEIGHT_FILES if n in stage_files]
    for name in names:
        model, card = load_model(stage_files[name], device="cpu")
        meta = dict(card.get("metadata", {}))
        meta["joint_validation"] = joint
        meta["recipe_config"] = to_dict(config)
        meta["pipeline"] = "pipelines/train_weights.py"
        meta["companion"] = {n: f"{n}.safetensors" for n in names if n != name}
        save_model(model, wdir / f"{name}.safetensors", metadata=meta)
    # a stale one from an earlier config would be loaded with these
    _remove_weight_files(wdir, [n for n in OPTIONAL_WEIGHT_FILES if n not in names])
    doc = {"pipeline": RECIPE, "config": to_dict(config), "joint_validation": joint}
    atomic_write_text(wdir / "recipe.json", json.dumps(doc, indent=2) + "\n", parents=True)
    return wdir


def _remove_weight_files(wdir: Path, names) -> None:
    """Delete generators ``names`` (safetensors + model card) from ``wdir``, if there."""
    for name in names:
        for suffix in (".safetensors", ".json"):
            (wdir / f"{name}{suffix}").unlink(missing_ok=True)


def weights_complete(out: Path) -> bool:
    wdir = out / "weights"
    return (wdir / "recipe.json").is_file() and all(
        (wdir / f"{n}.safetensors").is_file() and (wdir / f"{n}.json").is_file()
        for n in WEIGHT_FILES
    )


def install(out: Path, dest: Path = PACKAGE_WEIGHTS) -> None:
    """Copy the finished weights (+ cards, recipe) into the package."""
    if not weights_complete(out):
        raise ValueError(f"{out}/weights is not complete: finish the training first")
    dest.mkdir(parents=True, exist_ok=True)
    src = out / "weights"
    present = [n for n in OPTIONAL_WEIGHT_FILES if (src / f"{n}.safetensors").is_file()]
    files = [f"{n}.{s}" for n in WEIGHT_FILES + tuple(present) for s in ("safetensors", "json")]
    for name in files + ["recipe.json"]:
        atomic_write(dest / name, lambda tmp, name=name: shutil.copyfile(src / name, tmp))
    # not part of these weights: never mix two models
    _remove_weight_files(dest, [n for n in OPTIONAL_WEIGHT_FILES if n not in present])
    log.info("installed the weights into %s", dest)


def run(
    config,
    out: Path,
    *,
    deadline: float | None,
    progress: bool | None,
    stages: tuple[str, ...] = ("inpaint", "deartifact"),
) -> Path:
    """Run the recipe's steps for ``stages``; raises :class:`Stopped` at the deadline.

    Parameters
    ----------
    config : RecipeConfig
        Resolved (:func:`resolve_config`).
    out : pathlib.Path
        Run directory.
    deadline : float or None
        ``time.time()`` at which to stop cleanly.
    progress : bool or None
        Progress bars (None: on a terminal).
    stages : tuple of str
        ``("inpaint",)``: libraries and stage 1 only; ``("deartifact",)``:
        stage-2 data and stage 2 only (needs the stage-1 snapshots of
        ``stage2_data.checkpoints`` when it mixes in inpainted data); both:
        everything, ending with ``OUT/weights``.

    Returns
    -------
    pathlib.Path
        ``OUT/weights`` for both stages, else the stage's generator file.
    """
    record_config(config, out)
    both = "inpaint" in stages and "deartifact" in stages
    if both and weights_complete(out):
        log.info("%s/weights is complete: nothing to do", out)
        return out / "weights"
    files = {}
    if "inpaint" in stages:
        if not _finished(out, "inpaint"):
            ensure_library(
                config.data,
                workers=config.library_workers,
                device=config.stage1.device,
                progress=progress,
            )
            _check(deadline)
        files["inpainter"] = train_stage("inpaint", config, out, deadline)
        _check(deadline)
    if "deartifact" not in stages:
        return files["inpainter"]
    names = ("deartifact",) if config.stage2_tv is None else ("deartifact", "deartifact_tv")
    for i, name in enumerate(names):
        if i:
            _check(deadline)
        files[name] = _train_deartifact(config, out, name, deadline, progress)
    if not both:
        return files["deartifact"]
    s2 = config.stage2_data.source  # held-out samples of the joint validation
    ensure_library(
        s2, workers=config.library_workers, device=config.stage2.device, progress=progress
    )
    _check(deadline)
    joint = evaluate_joint(config, out, files["inpainter"], files["deartifact"])
    log.info("joint validation: %s", json.dumps(joint))
    return write_weights(config, out, files, joint)


def lock_run_dir(out: Path):
    """An exclusive lock on ``OUT/.lock`` (None if another run holds it)."""
    f = open(out / ".lock", "w")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


class RunDirLocked(OSError):
    """Another process is running a recipe in the same directory."""


def execute(
    config: str | os.PathLike = DEFAULT_RECIPE,
    out: str | os.PathLike = "runs/train_weights",
    *,
    stages: str = "joint",
    time_budget: float | None = None,
    device: str | None = None,
    install_weights: bool = False,
    progress: bool | None = None,
) -> int:
    """Run (or resume) a recipe in ``out``, holding a lock on it.

    Parameters
    ----------
    config : str or path-like
        A shipped recipe name (:data:`RECIPES`) or a YAML/JSON recipe file.
    out : str or path-like
        Run directory (created).
    stages : {"joint", "inpaint", "deartifact"}
        Which stages (:data:`STAGE_CHOICES`).
    time_budget : float, optional
        Minutes after which to stop cleanly at a checkpoint.
    device : {"auto", "cpu", "cuda"}, optional
        Overrides the recipe's devices.
    install_weights : bool
        Copy the finished weights into the package (``stages="joint"`` only).
    progress : bool, optional

    Returns
    -------
    int
        0 when finished, :data:`EXIT_STOPPED` when stopped by the time budget
        (run again to continue).

    Raises
    ------
    RunDirLocked
        Another run holds ``out``.
    ValueError, OSError
        Bad recipe, a config that differs from the one ``out`` was started
        with, missing inputs.
    """

    if stages not in STAGE_CHOICES:
        raise ValueError(f"stages must be one of {', '.join(STAGE_CHOICES)}, got {stages!r}")
    if install_weights and stages != "joint":
        raise ValueError("installing weights needs both stages (joint)")
    cfg = load_config(config_path(config), RecipeConfig)
    outp = Path(out).resolve()
    cfg = resolve_config(cfg, outp, device)
    outp.mkdir(parents=True, exist_ok=True)
    lock = lock_run_dir(outp)
    if lock is None:
        raise RunDirLocked(f"another run is using {outp} (see {outp / 'train.pid'})")
    deadline = None if time_budget is None else time.time() + 60.0 * time_budget
    t0 = time.time()
    try:
        result = run(cfg, outp, deadline=deadline, progress=progress, stages=STAGE_CHOICES[stages])
        if install_weights:
            install(outp)
    except Stopped:
        log.info(
            "time budget reached after %.1f min; everything is saved, run the same command "
            "again to continue",
            (time.time() - t0) / 60,
        )
        return EXIT_STOPPED
    finally:
        lock.close()
    log.info("finished in %.1f min: %s", (time.time() - t0) / 60, result)
    return 0
