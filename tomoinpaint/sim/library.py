"""Build the training library: sinograms with and without the missing wedge.

:func:`build_library` draws ``n_samples`` images of the families
(:data:`.tiltseries.FAMILIES`), augments them, simulates their complete
sinograms without the inverse crime (strip kernel on a 2x finer image, see
:mod:`.tiltseries`), adds noise at a dose drawn per sample, and writes
everything to one chunked HDF5 file.

Determinism
-----------
Sample ``i`` uses its own generator,
``numpy.random.default_rng(numpy.random.SeedSequence(seed, spawn_key=(i,)))``
(the ``i``-th child of ``SeedSequence(seed).spawn``), for everything: family,
dose, image, augmentation and noise. The file's contents therefore depend only
on the configuration, never on ``chunk``, the Dask scheduler or the number of
workers.

HDF5 layout
-----------
``N`` samples, ``A`` angles, ``n`` pixels; every per-sample dataset is chunked
one sample per HDF5 chunk (fast random access for training).

================== ================ ======== =====================================
dataset            shape            dtype    content
================== ================ ======== =====================================
``sinogram``       (N, A, n)        float32  complete sinogram at the sample's
                                             dose (the inpainting target)
``sinogram_clean`` (N, A, n)        float32  complete noise-free sinogram
``sinogram_wedge`` (N, A, n)        float32  ``sinogram`` with the missing-wedge
                                             rows zero-filled (network input)
``mask``           (A,)             bool     True for measured angles
``angles``         (A,)             float64  full angular grid, degrees
``ground_truth``   (N, n, n)        float32  2x2 block mean of the fine image
``family``         (N,)             str      "shapes", "natural" or "ct"
``dose``           (N,)             str      dose label ("noise-free", "low",
                                             "moderate" or the I0 as text)
``dose_I0``        (N,)             float64  I0; 0 for noise-free
``mu``             (N,)             float64  Beer–Lambert μ; NaN if noise-free
================== ================ ======== =====================================

The measured rows only are ``sinogram[:, mask]`` (angles ``angles[mask]``).
h5py returns the string datasets as bytes; read them with
``h5["family"].asstr()[:]``.
File attributes: ``format``, ``version``, ``angles``, ``measured_angles``,
``tilt_min``, ``tilt_max``, ``wedge`` (start, stop, width in degrees, see
:func:`tomoinpaint.geometry.missing_wedge`), ``seed``, ``n``,
``supersample``, ``split``, ``families``, ``doses`` and ``config`` (the
resolved :class:`LibraryConfig` as JSON).

The file is written to a temporary name in the target directory and renamed
into place only when complete: a failed or interrupted build leaves nothing.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dask
import h5py
import numpy as np
from tqdm.auto import tqdm

from ..geometry import Geometry, missing_wedge, tilt_range, validate_angles, wedge_mask
from ..io.atomic import atomic_output
from ..io.safe_hdf5 import new_hdf5_file
from ..project import Projector, resolve_device
from ._util import block_mean, check_size
from .images import SPLITS
from .noise import poisson_dose, resolve_dose
from .tiltseries import FAMILIES, LIBRARY_FAMILIES, make_sample

__all__ = [
    "LibraryConfig",
    "LibraryExistsError",
    "SCHEDULERS",
    "DEFAULT_FULL_ANGLES",
    "sample_rng",
    "simulate_samples",
    "build_library",
]

log = logging.getLogger(__name__)

FORMAT = "tomoinpaint-sim-library"
VERSION = 1
SCHEDULERS = ("threads", "processes", "synchronous")
#: Default complete grid: -90 ... 88.5 degrees in 1.5 degree steps (120 angles).
DEFAULT_FULL_ANGLES = tuple(tilt_range(-90.0, 88.5, 1.5).tolist())


class LibraryExistsError(FileExistsError, ValueError):
    """The output file exists and ``overwrite`` is False."""


def _dose_label(dose) -> str:
    if dose is None:
        return "noise-free"
    return dose if isinstance(dose, str) else repr(float(dose))


@dataclass(frozen=True)
class LibraryConfig:
    """Resolved, validated configuration of a library build.

    Parameters
    ----------
    n_samples : int
    n : int
        Reconstruction (and detector) size.
    families : tuple of str
        Subset of :data:`.tiltseries.LIBRARY_FAMILIES` ("shapes", "natural",
        "ct", "cellular").
    family_weights : tuple of float, optional
        Probabilities of the families; uniform when None.
    full_angles : tuple of float
        The complete angular grid, degrees.
    tilt_min, tilt_max : float
        The measured tilt range, degrees.
    doses : tuple
        Dose levels (names of :data:`.noise.DOSE_LEVELS`, I0 numbers, or
        None); each sample draws one uniformly.
    seed : int
    supersample : int
    split : {"train", "test"}
        Source files of the natural/CT families.
    augment : bool
    device : {"auto", "cpu", "cuda"}
    """

    n_samples: int
    n: int = 64
    families: tuple = FAMILIES
    family_weights: tuple | None = None
    full_angles: tuple = DEFAULT_FULL_ANGLES
    tilt_min: float = -67.5
    tilt_max: float = 67.5
    doses: tuple = ("noise-free",)
    seed: int = 0
    supersample: int = 2
    split: str = "train"
    augment: bool = True
    device: str = "auto"
    _weights: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "n_samples", check_size(self.n_samples, name="n_samples", minimum=1))
        set_(self, "n", check_size(self.n, name="n", minimum=4))
        fams = (self.families,) if isinstance(self.families, str) else tuple(self.families)
        bad = [f for f in fams if f not in LIBRARY_FAMILIES]
        if not fams or bad:
            raise ValueError(
                f"unknown families {bad or fams!r}; choose from {', '.join(LIBRARY_FAMILIES)}"
            )
        if len(set(fams)) != len(fams):
            raise ValueError(f"families has duplicates: {fams!r}")
        set_(self, "families", fams)
        if self.family_weights is None:
            w = np.full(len(fams), 1.0 / len(fams))
        else:
            w = np.asarray(self.family_weights, dtype=np.float64)
            if w.shape != (len(fams),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError(
                    f"family_weights must be {len(fams)} non-negative numbers with a "
                    f"positive sum, got {self.family_weights!r}"
                )
            set_(self, "family_weights", tuple(float(x) for x in w))
            w = w / w.sum()
        set_(self, "_weights", tuple(float(x) for x in w))
        angles = validate_angles(self.full_angles, name="full_angles")
        set_(self, "full_angles", tuple(float(a) for a in angles))
        set_(self, "tilt_min", float(self.tilt_min))
        set_(self, "tilt_max", float(self.tilt_max))
        mask = wedge_mask(angles, self.tilt_min, self.tilt_max)
        if not mask.any():
            raise ValueError(
                f"tilt range [{self.tilt_min}, {self.tilt_max}] measures none of full_angles"
            )
        doses = (
            (self.doses,)
            if isinstance(self.doses, str) or self.doses is None
            else tuple(self.doses)
        )
        if not doses:
            raise ValueError("doses is empty")
        for d in doses:
            resolve_dose(d)
        set_(
            self, "doses", tuple(d if d is None or isinstance(d, str) else float(d) for d in doses)
        )
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        set_(self, "seed", int(self.seed))
        s = self.supersample
        if isinstance(s, bool) or int(s) != s or s < 1:
            raise ValueError(f"supersample must be a positive integer, got {s!r}")
        set_(self, "supersample", int(s))
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; choose 'train' or 'test'")
        set_(self, "augment", bool(self.augment))
        resolve_device(self.device)

    @property
    def mask(self) -> np.ndarray:
        """Measured angles of ``full_angles``, shape (n_angles,) bool."""
        return wedge_mask(self.full_angles, self.tilt_min, self.tilt_max)

    def to_dict(self) -> dict:
        """The configuration as plain JSON-able values."""
        d = asdict(self)
        d.pop("_weights", None)
        d["families"] = list(self.families)
        d["full_angles"] = list(self.full_angles)
        d["doses"] = list(self.doses)
        if self.family_weights is not None:
            d["family_weights"] = list(self.family_weights)
        return d


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index``: child ``index`` of ``SeedSequence(seed)``."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))


def simulate_samples(config: LibraryConfig, start: int, stop: int) -> dict:
    """Simulate samples ``start .. stop-1`` of a library (one Dask task).

    Parameters
    ----------
    config : LibraryConfig
    start, stop : int

    Returns
    -------
    dict of numpy.ndarray
        ``sinogram``, ``sinogram_clean``, ``sinogram_wedge`` (k, A, n),
        ``ground_truth`` (k, n, n), ``family``/``dose`` (k,) str,
        ``dose_I0``, ``mu`` (k,) float64, with ``k = stop - start``.
    """
    if not 0 <= start <= stop <= config.n_samples:
        raise ValueError(f"sample range [{start}, {stop}) is outside [0, {config.n_samples})")
    k, n, s = stop - start, config.n, config.supersample
    angles = np.asarray(config.full_angles)
    mask = config.mask
    out = {
        "sinogram": np.empty((k, angles.size, n), np.float32),
        "sinogram_clean": np.empty((k, angles.size, n), np.float32),
        "ground_truth": np.empty((k, n, n), np.float32),
        "family": np.empty(k, dtype=object),
        "dose": np.empty(k, dtype=object),
        "dose_I0": np.zeros(k, np.float64),
        "mu": np.full(k, np.nan),
    }
    weights = np.asarray(config._weights)
    with Projector(Geometry(angles, n), kernel="strip", device=config.device, supersample=s) as P:
        for j, i in enumerate(range(start, stop)):
            rng = sample_rng(config.seed, i)
            family = config.families[int(rng.choice(len(config.families), p=weights))]
            dose = config.doses[int(rng.integers(len(config.doses)))]
            fine = make_sample(
                family, n, rng, supersample=s, split=config.split, augment=config.augment
            )
            clean = np.asarray(P.forward(fine), dtype=np.float32)
            i0 = resolve_dose(dose)
            if i0 is None:
                noisy = clean
            else:
                noisy, mu = poisson_dose(clean, i0, rng, return_mu=True)
                out["dose_I0"][j], out["mu"][j] = i0, mu
            out["sinogram"][j] = noisy
            out["sinogram_clean"][j] = clean
            out["ground_truth"][j] = block_mean(fine, s)
            out["family"][j] = family
            out["dose"][j] = _dose_label(dose)
    out["sinogram_wedge"] = np.where(mask[None, :, None], out["sinogram"], np.float32(0.0))
    return out


def _create_datasets(h5, config: LibraryConfig) -> None:
    N, n, A = config.n_samples, config.n, len(config.full_angles)
    for name in ("sinogram", "sinogram_clean", "sinogram_wedge"):
        h5.create_dataset(name, shape=(N, A, n), dtype=np.float32, chunks=(1, A, n))
    h5.create_dataset("ground_truth", shape=(N, n, n), dtype=np.float32, chunks=(1, n, n))
    str_dt = h5py.string_dtype("utf-8")
    h5.create_dataset("family", shape=(N,), dtype=str_dt)
    h5.create_dataset("dose", shape=(N,), dtype=str_dt)
    h5.create_dataset("dose_I0", shape=(N,), dtype=np.float64)
    h5.create_dataset("mu", shape=(N,), dtype=np.float64)
    angles = np.asarray(config.full_angles)
    mask = config.mask
    h5.create_dataset("angles", data=angles)
    h5.create_dataset("mask", data=mask)
    a = h5.attrs
    a["format"] = FORMAT
    a["version"] = VERSION
    a["angles"] = angles
    a["measured_angles"] = angles[mask]
    a["tilt_min"] = config.tilt_min
    a["tilt_max"] = config.tilt_max
    a["wedge"] = np.asarray(missing_wedge(angles[mask]))
    a["seed"] = config.seed
    a["n"] = config.n
    a["supersample"] = config.supersample
    a["split"] = config.split
    a["families"] = json.dumps(list(config.families))
    a["doses"] = json.dumps([_dose_label(d) for d in config.doses])
    a["config"] = json.dumps(config.to_dict())


def _write_block(h5, start: int, block: dict) -> None:
    stop = start + block["sinogram"].shape[0]
    for name, arr in block.items():
        if arr.dtype == object:
            h5[name][start:stop] = [str(x) for x in arr]
        else:
            h5[name][start:stop] = arr


@contextmanager
def _worker_pool(scheduler: str, workers: int):
    """One executor for the whole build (Dask would start one per compute call)."""
    if scheduler == "synchronous":
        yield None
        return
    if scheduler == "threads":
        pool = ThreadPoolExecutor(max_workers=workers)
    else:
        ctx = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def build_library(
    path,
    *,
    n_samples: int,
    n: int = 64,
    families=FAMILIES,
    family_weights=None,
    full_angles=None,
    tilt_min: float = -67.5,
    tilt_max: float = 67.5,
    doses=("noise-free",),
    seed: int = 0,
    supersample: int = 2,
    split: str = "train",
    augment: bool = True,
    chunk: int = 32,
    overwrite: bool = False,
    scheduler: str = "threads",
    num_workers: int | None = None,
    device: str = "auto",
    progress: bool | None = None,
) -> Path:
    """Simulate a library of (complete, missing-wedge) sinogram pairs to HDF5.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.h5`` file; its directory must exist.
    n_samples : int
    n : int
        Image / detector size of the reconstruction grid.
    families : sequence of str
        From ("shapes", "natural", "ct"); each sample draws one.
    family_weights : sequence of float, optional
        Family probabilities (uniform by default).
    full_angles : array_like, shape (n_angles,), optional
        Complete angular grid in degrees; default ``-90 ... 88.5`` in 1.5°
        steps (120 angles).
    tilt_min, tilt_max : float
        Measured range in degrees; default ±67.5° (a 45° missing wedge).
    doses : sequence
        Dose levels drawn per sample: names of :data:`.noise.DOSE_LEVELS`,
        I0 numbers or None.
    seed : int
        Library seed; sample ``i`` uses :func:`sample_rng` ``(seed, i)``.
    supersample : int
        Fine-grid factor of the simulation (2 per BENCHMARKS.md).
    split : {"train", "test"}
        Source files of the natural and CT families.
    augment : bool
        Apply each family's augmentations.
    chunk : int
        Samples per Dask task (does not change the result).
    overwrite : bool
        Replace an existing file; otherwise refuse.
    scheduler : {"threads", "processes", "synchronous"}
        Dask scheduler (does not change the result).
    num_workers : int, optional
        Dask workers (threads or processes); Dask's default when None.
    device : {"auto", "cpu", "cuda"}
        ASTRA device for the projections.
    progress : bool or None
        tqdm progress bar; None shows it only on a terminal.

    Returns
    -------
    pathlib.Path
        The written file (see the module notes for its layout).

    Raises
    ------
    LibraryExistsError
        If ``path`` exists and ``overwrite`` is False (a ``ValueError`` and a
        ``FileExistsError``).
    ValueError
        On any invalid option, before any work is done.
    """
    config = LibraryConfig(
        n_samples=n_samples,
        n=n,
        families=families,
        family_weights=family_weights,
        full_angles=DEFAULT_FULL_ANGLES if full_angles is None else tuple(np.ravel(full_angles)),
        tilt_min=tilt_min,
        tilt_max=tilt_max,
        doses=doses,
        seed=seed,
        supersample=supersample,
        split=split,
        augment=augment,
        device=device,
    )
    chunk = check_size(chunk, name="chunk", minimum=1)
    if scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; choose from {', '.join(SCHEDULERS)}")
    if num_workers is not None:
        num_workers = check_size(num_workers, name="num_workers", minimum=1)
    path = Path(path)
    if path.exists() and not overwrite:
        raise LibraryExistsError(f"{path} exists; pass overwrite=True to replace it")
    if path.is_dir():
        raise ValueError(f"path {path} is a directory")
    if not path.parent.is_dir():
        raise ValueError(f"directory {path.parent} does not exist")

    blocks = [(a, min(a + chunk, config.n_samples)) for a in range(0, config.n_samples, chunk)]
    workers = 1 if scheduler == "synchronous" else (num_workers or os.cpu_count() or 1)
    wave = 2 * workers  # blocks computed (and held in memory) at once
    log.info(
        "building library %s: %d samples of %dx%d, %d angles, %d blocks, scheduler %s",
        path,
        config.n_samples,
        config.n,
        config.n,
        len(config.full_angles),
        len(blocks),
        scheduler,
    )

    # the library appears only when complete (an interrupted build leaves nothing)
    with atomic_output(path, overwrite=True) as tmp:
        with new_hdf5_file(tmp) as (h5, _), _worker_pool(scheduler, workers) as pool:
            _create_datasets(h5, config)
            compute_kw = {"scheduler": scheduler}
            if pool is not None:
                compute_kw["pool"] = pool
            task = dask.delayed(simulate_samples)
            disable = None if progress is None else not progress
            with tqdm(
                total=config.n_samples, desc="simulating library", unit="sample", disable=disable
            ) as bar:
                for w in range(0, len(blocks), wave):
                    these = blocks[w : w + wave]
                    results = dask.compute(*[task(config, a, b) for a, b in these], **compute_kw)
                    for (a, b), res in zip(these, results, strict=True):
                        _write_block(h5, a, res)
                        bar.update(b - a)
        if path.exists() and not overwrite:  # appeared while we were working
            raise LibraryExistsError(f"{path} exists; pass overwrite=True to replace it")
    log.info("wrote %s", path)
    return path
