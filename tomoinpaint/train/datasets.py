"""Training data of both stages, read lazily from HDF5.

Normalisation and row layout
----------------------------
Samples are scaled and their rows laid out on the model grid exactly as at
inference: :mod:`tomoinpaint.nn.grid` (``sinogram_scale``, ``image_scale``,
``centered_layout``, ``to_layout``). With ``DataConfig.layout == "centered"``
(default) :class:`Library` returns sinograms in the centred order;
``Library.angles``/``.mask`` are the model's grid, which the model cards record.

Geometry-preserving flips
-------------------------
For ASTRA's parallel-beam convention (checked in the tests with the project's
projector):

===== ================================ ===================== ==================
op    sinogram                         image                 needs
===== ================================ ===================== ==================
0     unchanged                        unchanged
1     detector flip ``p(θ, -t)``       rotation by 180°      any grid
2     angle mirror ``p(-θ, t)``        flip of axis 0 (rows) grid and wedge
                                                             symmetric under
                                                             θ -> -θ
3     angle mirror + detector flip     flip of axis 1 (cols) as op 2
===== ================================ ===================== ==================

The angle mirror maps the row of θ to the row of -θ (mod 180°; a row that
wraps, e.g. -90° -> +90° = -90° + 180°, is also flipped on the detector), so
the measured-row mask is unchanged and the geometry stays the model's.

Datasets
--------
:class:`InpaintDataset` (stage 1) and :class:`DeartifactDataset` (stage 2)
open their HDF5 files lazily, once per process (DataLoader workers each open
their own). An item is ``dataset[i]`` (no augmentation) or
``dataset[(i, aug_seed)]`` (a flip drawn from ``aug_seed``); it is a dict of
tensors, see the classes. :func:`build_stage2_cache` precomputes the stage-2
inputs of the paper's Table 3 into one resumable HDF5 file.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..geometry import wedge_mask
from ..io.atomic import atomic_output
from ..nn.device import torch_device
from ..nn.grid import centered_layout, image_scale, mirror_permutation, sinogram_scale, to_layout
from ..nn.inference import run_inpainter
from ..nn.weights import load_model
from ..provenance import sha256_file
from ..recon.iterative import sart
from ..recon.tv import tv
from ..recon.wbp import wbp
from .config import STAGE2_KINDS, DataConfig, Stage2DataConfig, to_dict

__all__ = [
    "FLIP_OPS",
    "flip_sinogram",
    "flip_image",
    "allowed_flips",
    "split_indices",
    "aug_seed",
    "Library",
    "InpaintDataset",
    "DeartifactDataset",
    "stage2_counts",
    "build_stage2_cache",
    "stage2_cache_complete",
]

log = logging.getLogger(__name__)

#: Flip operations: 0 none, 1 detector flip, 2 angle mirror, 3 both (see module notes).
FLIP_OPS = (0, 1, 2, 3)
CACHE_FORMAT = "tomoinpaint-stage2-cache"
CACHE_VERSION = 1


# --------------------------------------------------------------------------- flips
def allowed_flips(angles_deg, measured) -> tuple[int, ...]:
    """Flip ops that keep this geometry (grid and measured rows) valid."""
    mp = mirror_permutation(angles_deg)
    if mp is None or not np.array_equal(np.asarray(measured)[mp[0]], np.asarray(measured)):
        return (0, 1)
    return FLIP_OPS


def flip_sinogram(sino: np.ndarray, op: int, mirror=None) -> np.ndarray:
    """Apply flip ``op`` to sinogram(s) of shape (..., n_angles, n_det).

    ``mirror`` is :func:`mirror_permutation` of the grid (needed for ops 2, 3).
    """
    if op == 0:
        return sino
    out = sino
    if op in (2, 3):
        if mirror is None:
            raise ValueError("the angle mirror needs mirror_permutation(angles)")
        perm, det_flip = mirror
        out = out[..., perm, :].copy()
        out[..., det_flip, :] = out[..., det_flip, ::-1]
    if op in (1, 3):
        out = out[..., ::-1]
    if op not in FLIP_OPS:
        raise ValueError(f"unknown flip op {op!r}")
    return np.ascontiguousarray(out)


def flip_image(img: np.ndarray, op: int) -> np.ndarray:
    """The image counterpart of :func:`flip_sinogram` on (..., n, n) arrays."""
    if op == 0:
        return img
    if op == 1:
        out = img[..., ::-1, ::-1]
    elif op == 2:
        out = img[..., ::-1, :]
    elif op == 3:
        out = img[..., :, ::-1]
    else:
        raise ValueError(f"unknown flip op {op!r}")
    return np.ascontiguousarray(out)


def aug_seed(seed: int, epoch: int, position: int) -> int:
    """Augmentation seed of the sample at ``position`` of ``epoch`` (resume-safe)."""
    ss = np.random.SeedSequence([int(seed), int(epoch), int(position)])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _draw_op(key, allowed: tuple[int, ...]) -> tuple[int, int]:
    """(index, flip op) of a dataset key ``i`` or ``(i, aug_seed)``."""
    if isinstance(key, (tuple, list)):
        i, s = key
        if s is None or len(allowed) == 1:
            return int(i), 0
        rng = np.random.default_rng(int(s))
        return int(i), int(allowed[int(rng.integers(len(allowed)))])
    return int(key), 0


def split_indices(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation split of ``range(n)``: (train, val), each sorted."""
    if val_size >= n:
        raise ValueError(f"val_size ({val_size}) must be smaller than the {n} samples")
    perm = np.random.default_rng(np.random.SeedSequence([int(seed), 7919])).permutation(n)
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])


# --------------------------------------------------------------------------- library
class _LazyFiles:
    """HDF5 files opened on first use in each process (safe with DataLoader workers)."""

    def __init__(self, paths: Sequence[str]):
        self.paths = [str(p) for p in paths]
        self._files: list | None = None
        self._pid: int | None = None

    def get(self, k: int):
        if self._files is None or self._pid != os.getpid():
            self._files = [h5py.File(p, "r") for p in self.paths]
            self._pid = os.getpid()
        return self._files[k]

    def close(self) -> None:
        if self._files is not None and self._pid == os.getpid():
            for f in self._files:
                f.close()
        self._files = None

    def __getstate__(self):
        return {"paths": self.paths, "_files": None, "_pid": None}


class Library:
    """One or more simulated libraries (:func:`tomoinpaint.sim.build_library`) as one.

    Parameters
    ----------
    paths : str or sequence of str
        HDF5 library files, all on the same angular grid, wedge and size.
    data : DataConfig, optional
        If given, the files must match its ``n``, ``angles`` and ``wedge``, and
        only samples of its ``families`` and ``doses`` are used.

    Attributes
    ----------
    angles : numpy.ndarray (n_angles,)
        The networks' grid (``data.layout``; the files' grid without ``data``).
    mask : numpy.ndarray of bool (n_angles,)
        Measured rows of :attr:`angles`.
    library_angles, library_mask : numpy.ndarray
        The grid and mask as stored in the files.
    n : int
    families, doses : numpy.ndarray of str (len(self),)
    """

    def __init__(self, paths, data: DataConfig | None = None):

        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not paths:
            raise ValueError("no library file given")
        self.paths = [str(p) for p in paths]
        refs, fams, doses = [], [], []
        self.angles = self.mask = None
        self.n = None
        for k, p in enumerate(self.paths):
            if not Path(p).is_file():
                raise ValueError(f"library file {p} does not exist")
            with h5py.File(p, "r") as f:
                missing = [
                    d
                    for d in ("sinogram", "sinogram_clean", "sinogram_wedge", "ground_truth")
                    if d not in f
                ]
                if missing:
                    raise ValueError(f"{p} is not a tomoinpaint library: lacks {missing}")
                angles, mask, n = f["angles"][()], f["mask"][()].astype(bool), int(f.attrs["n"])
                fam = f["family"].asstr()[()]
                dose = f["dose"].asstr()[()]
            if self.angles is None:
                self.angles, self.mask, self.n = angles, mask, n
            elif not (
                np.allclose(angles, self.angles) and np.array_equal(mask, self.mask) and n == self.n
            ):
                raise ValueError(f"{p} has another grid, wedge or size than {self.paths[0]}")
            for j in range(fam.size):
                if data is None or (fam[j] in data.families and dose[j] in data.doses):
                    refs.append((k, j))
                    fams.append(fam[j])
                    doses.append(dose[j])
        if data is not None:
            self._check(data)
        self.library_angles, self.library_mask = self.angles, self.mask
        self._layout = None
        if data is not None and data.layout == "centered":
            angles, perm, det_flip = centered_layout(self.angles, self.mask)
            self._layout = (perm, det_flip)
            self.angles, self.mask = angles, self.mask[perm]
        self.refs = refs
        self.families = np.asarray(fams, dtype=object)
        self.doses = np.asarray(doses, dtype=object)
        self._files = _LazyFiles(self.paths)
        if not refs:
            raise ValueError(f"no sample of {self.paths} matches the families and doses asked for")

    def _check(self, data: DataConfig) -> None:
        want = data.full_angles()
        if self.angles.shape != want.shape or not np.allclose(self.angles, want, atol=1e-6):
            raise ValueError(
                f"library {self.paths[0]} has {self.angles.size} angles "
                f"{self.angles[0]:g}…{self.angles[-1]:g}, but the config asks for "
                f"{data.angles} ({want.size} angles)"
            )
        if not np.array_equal(self.mask, wedge_mask(want, *data.wedge)):
            raise ValueError(
                f"library {self.paths[0]} measures other angles than the wedge {data.wedge}"
            )
        if self.n != data.n:
            raise ValueError(
                f"library {self.paths[0]} has n={self.n}, the config asks for {data.n}"
            )

    def __len__(self) -> int:
        return len(self.refs)

    def read(self, i: int, name: str) -> np.ndarray:
        """Dataset ``name`` of sample ``i`` (e.g. "sinogram_wedge", "ground_truth").

        Sinograms come in the row order of the config's ``layout`` (the grid
        :attr:`angles`); images as stored.
        """
        k, j = self.refs[i]
        arr = self._files.get(k)[name][j]
        if self._layout is not None and name.startswith("sinogram"):
            arr = to_layout(arr, *self._layout)
        return arr

    def close(self) -> None:
        """Close the files this process opened."""
        self._files.close()


# --------------------------------------------------------------------------- stage 1
class InpaintDataset(Dataset):
    """Stage-1 samples: (zero-filled noisy wedge sinogram + mask) -> complete sinogram.

    Parameters
    ----------
    data : DataConfig
        Library files (``data.library``), families, doses, grid checks,
        ``target`` ("clean": noise-free complete sinogram; "noisy": at the
        sample's dose) and ``flips``.
    indices : sequence of int, optional
        Samples of the (filtered) library to use; all by default.
    with_ground_truth : bool
        Also return the normalised ground-truth image (for validation by WBP).
    library : Library, optional
        An already opened library (shares its file handles).

    Items
    -----
    ``dataset[i]`` or ``dataset[(i, aug_seed)]`` is a dict:

    ``input`` : float32 (2, n_angles, n_det)
        Channel 0: the measured noisy sinogram / ``s``, missing rows exactly 0;
        channel 1: the measured-row mask (1/0).
    ``target`` : float32 (1, n_angles, n_det)
        The complete sinogram / ``s``.
    ``scale`` : float32 ()
        ``s`` (:func:`sinogram_scale` of the measured rows).
    ``mask`` : bool (n_angles,)
    ``index`` : int64 ()
        Index into the library.
    ``flip`` : int64 ()
        The flip op applied.
    ``ground_truth`` : float32 (1, n, n), if ``with_ground_truth``
        Ground truth / ``image_scale(s, n_det)``.
    """

    def __init__(
        self,
        data: DataConfig,
        indices: Sequence[int] | None = None,
        *,
        with_ground_truth: bool = False,
        library: Library | None = None,
    ):
        if not data.library and library is None:
            raise ValueError("DataConfig.library is empty: no library file to read")
        self.data = data
        self.library = library if library is not None else Library(data.library, data)
        n = len(self.library)
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise ValueError(f"indices must lie in [0, {n})")
        self.with_ground_truth = with_ground_truth
        self.angles = self.library.angles
        self.mask = self.library.mask
        self.n = self.library.n
        self._mirror = mirror_permutation(self.angles)
        self.flips = allowed_flips(self.angles, self.mask) if data.flips else (0,)
        self._target = "sinogram_clean" if data.target == "clean" else "sinogram"

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, key) -> dict[str, Any]:
        pos, op = _draw_op(key, self.flips)
        i = int(self.indices[pos])
        lib = self.library
        wedge = lib.read(i, "sinogram_wedge").astype(np.float32)
        target = lib.read(i, self._target).astype(np.float32)
        mask = self.mask
        s = sinogram_scale(wedge, mask)
        wedge = flip_sinogram(wedge, op, self._mirror)
        target = flip_sinogram(target, op, self._mirror)
        mask_f = mask if op in (0, 1) else mask[self._mirror[0]]
        x = np.zeros((2,) + wedge.shape, np.float32)
        x[0] = np.where(mask_f[:, None], wedge / np.float32(s), np.float32(0.0))
        x[1] = mask_f[:, None]
        item = {
            "input": torch.from_numpy(x),
            "target": torch.from_numpy((target / np.float32(s))[None]),
            "scale": torch.tensor(s, dtype=torch.float32),
            "mask": torch.from_numpy(mask_f.copy()),
            "index": torch.tensor(i, dtype=torch.int64),
            "flip": torch.tensor(op, dtype=torch.int64),
        }
        if self.with_ground_truth:
            gt = flip_image(lib.read(i, "ground_truth").astype(np.float32), op)
            item["ground_truth"] = torch.from_numpy((gt / np.float32(image_scale(s, self.n)))[None])
        return item


# --------------------------------------------------------------------------- stage 2 cache
def stage2_counts(n: int, proportions) -> dict[str, int]:
    """Exact counts per kind for ``n`` samples (largest remainder of the fractions)."""
    frac = proportions.fractions()
    raw = np.array([frac[k] * n for k in STAGE2_KINDS])
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return {k: int(c) for k, c in zip(STAGE2_KINDS, counts, strict=True)}


def _assign(n: int, config: Stage2DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Kind (index into STAGE2_KINDS) and checkpoint index (-1: none) of each sample."""
    counts = stage2_counts(n, config.proportions)
    kinds = np.concatenate(
        [np.full(c, k, dtype=np.int8) for k, c in enumerate(counts.values())]
    ).astype(np.int8)
    rng = np.random.default_rng(np.random.SeedSequence([int(config.seed), 2]))
    kinds = kinds[rng.permutation(n)]
    ckpt = np.full(n, -1, dtype=np.int16)
    inp = np.flatnonzero(kinds == STAGE2_KINDS.index("wbp_inpainted"))
    if inp.size:
        if not config.checkpoints:
            raise ValueError(
                "stage-2 proportions ask for wbp_inpainted samples but checkpoints is empty"
            )
        ckpt[inp] = np.arange(inp.size) % len(config.checkpoints)
    return kinds, ckpt


def _checkpoint_records(paths: Sequence[str]) -> list[dict[str, str]]:
    recs = []
    for p in paths:
        if not Path(p).is_file():
            raise ValueError(f"stage-1 checkpoint {p} does not exist")
        recs.append({"path": str(p), "sha256": sha256_file(p)})
    return recs


def stage2_cache_complete(path: str | os.PathLike) -> bool:
    """Whether a stage-2 cache file exists and every entry was computed."""

    p = Path(path)
    if not p.is_file():
        return False
    try:
        with h5py.File(p, "r") as f:
            return bool(f.attrs.get("complete", False)) and bool(f["done"][()].all())
    except OSError:
        return False


def build_stage2_cache(
    path: str | os.PathLike,
    config: Stage2DataConfig,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
    deadline: float | None = None,
) -> bool:
    """Precompute the stage-2 training set (paper, Table 3) into one HDF5 file.

    Each sample of ``config.source`` gets one entry: its ground truth and ONE
    reconstruction whose kind is assigned (seeded, exact counts from
    :func:`stage2_counts`):

    ``wbp_wedge``
        WBP of the measured rows (noisy, at the sample's dose) with their angles.
    ``wbp_complete``
        WBP of the complete noisy sinogram (all angles).
    ``sart_wedge``
        SART (``config.sart_sweeps`` sweeps, non-negative) of the measured rows.
    ``wbp_inpainted``
        WBP (all angles) of the sinogram inpainted by stage-1 checkpoint
        ``checkpoints[k]``, the checkpoints taken in turn.
    ``tv_wedge``
        TV (default weight, ``config.tv_iterations``) of the measured rows.

    Resumable: entries are written in blocks and flagged in ``done``; calling
    again with the same config (and the same checkpoint files, by SHA-256)
    computes only the missing ones. A different config is refused unless
    ``overwrite``.

    Layout: ``input`` (N, n, n) float32 reconstructions and ``target`` (N, n,
    n) float32 ground truths, both in physical units; ``scale`` (N,) float64,
    :func:`sinogram_scale` of the measured rows; ``kind`` (N,) int8 index into
    attribute ``kinds``; ``checkpoint`` (N,) int16 (-1: none); ``source_index``
    (N,) int64; ``dose``/``family`` (N,) str; ``done`` (N,) bool. Attributes:
    ``format``, ``version``, ``kinds``, ``config`` and ``checkpoints`` (JSON),
    ``angles``, ``mask``, ``n``, ``complete``.

    Parameters
    ----------
    path : str or path-like
        The cache file.
    config : Stage2DataConfig
        ``source.library`` must name existing library files.
    overwrite : bool
        Start again if the file exists with another config.
    progress : bool or None
        tqdm bar (None: on a terminal only).
    deadline : float, optional
        ``time.time()`` after which to stop after the current block.

    Returns
    -------
    bool
        True when the cache is complete, False when stopped at ``deadline``.
    """

    path = Path(path)
    lib = Library(config.source.library, config.source)
    N, n = len(lib), lib.n
    angles, mask = lib.angles, lib.mask
    kinds, ckpt = _assign(N, config)
    used = sorted({int(c) for c in ckpt if c >= 0})
    records = _checkpoint_records(config.checkpoints) if used else []
    cfg_json = json.dumps(to_dict(config), sort_keys=True)
    rec_json = json.dumps(records, sort_keys=True)

    if path.exists():
        with h5py.File(path, "r") as f:
            same = (
                f.attrs.get("format") == CACHE_FORMAT
                and f.attrs.get("config") == cfg_json
                and f.attrs.get("checkpoints") == rec_json
                and f["input"].shape == (N, n, n)
            )
        if not same:
            if not overwrite:
                raise ValueError(
                    f"{path} was built with another config or other stage-1 checkpoints; "
                    f"remove it or pass overwrite=True"
                )
            path.unlink()
    if not path.exists():
        with atomic_output(path, overwrite=True) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("input", (N, n, n), np.float32, chunks=(1, n, n))
            f.create_dataset("target", (N, n, n), np.float32, chunks=(1, n, n))
            f.create_dataset("scale", (N,), np.float64)
            f.create_dataset("kind", data=kinds)
            f.create_dataset("checkpoint", data=ckpt)
            f.create_dataset("source_index", data=np.arange(N, dtype=np.int64))
            str_dt = h5py.string_dtype("utf-8")
            f.create_dataset("family", data=[str(x) for x in lib.families], dtype=str_dt)
            f.create_dataset("dose", data=[str(x) for x in lib.doses], dtype=str_dt)
            f.create_dataset("done", (N,), bool, fillvalue=False)
            a = f.attrs
            a["format"], a["version"] = CACHE_FORMAT, CACHE_VERSION
            a["kinds"] = json.dumps(list(STAGE2_KINDS))
            a["config"], a["checkpoints"] = cfg_json, rec_json
            a["angles"], a["mask"], a["n"] = angles, mask, n
            a["complete"] = False

    with h5py.File(path, "r") as f:
        todo = np.flatnonzero(~f["done"][()])
    if not todo.size:
        with h5py.File(path, "a") as f:
            f.attrs["complete"] = True
        return True

    device = torch_device(config.device)
    models = {}
    for c in used:
        model, _ = load_model(records[c]["path"], device=device)
        models[c] = model
    astra_dev = "cuda" if device.type == "cuda" else config.device
    w_idx = {k: i for i, k in enumerate(STAGE2_KINDS)}
    B = config.batch_size
    disable = None if progress is None else not progress
    log.info("stage-2 cache %s: %d of %d entries to compute", path, todo.size, N)
    bar = tqdm(total=N, initial=N - todo.size, desc="stage-2 cache", unit="sample", disable=disable)
    with bar:
        for a in range(0, todo.size, B):
            block = todo[a : a + B]
            sinos = np.stack([lib.read(int(i), "sinogram") for i in block]).astype(np.float32)
            gts = np.stack([lib.read(int(i), "ground_truth") for i in block]).astype(np.float32)
            scales = np.atleast_1d(sinogram_scale(sinos, mask))
            recs = np.empty((block.size, n, n), np.float32)
            kb, cb = kinds[block], ckpt[block]
            sel = kb == w_idx["wbp_wedge"]
            if sel.any():
                recs[sel] = wbp(
                    sinos[sel][:, mask], angles[mask], filter=config.wbp_filter, device=astra_dev
                ).reshape(-1, n, n)
            sel = kb == w_idx["wbp_complete"]
            if sel.any():
                recs[sel] = wbp(
                    sinos[sel], angles, filter=config.wbp_filter, device=astra_dev
                ).reshape(-1, n, n)
            for j in np.flatnonzero(kb == w_idx["sart_wedge"]):
                recs[j] = sart(
                    sinos[j][mask],
                    angles[mask],
                    sweeps=config.sart_sweeps,
                    seed=int(block[j]),
                    device=astra_dev,
                )
            for j in np.flatnonzero(kb == w_idx["tv_wedge"]):
                recs[j] = tv(
                    sinos[j][mask], angles[mask], iterations=config.tv_iterations, device=astra_dev
                )
            for c in used:
                sel = (kb == w_idx["wbp_inpainted"]) & (cb == c)
                if sel.any():
                    full = run_inpainter(models[c], sinos[sel], mask, batch_size=B, device=device)
                    recs[sel] = wbp(
                        full, angles, filter=config.wbp_filter, device=astra_dev
                    ).reshape(-1, n, n)
            with h5py.File(path, "a") as f:
                for j, i in enumerate(block):
                    f["input"][i] = recs[j]
                    f["target"][i] = gts[j]
                    f["scale"][i] = scales[j]
                f["done"][block] = True
            bar.update(block.size)
            if deadline is not None and time.time() >= deadline and a + B < todo.size:
                log.info("stage-2 cache: time budget reached, %s is resumable", path)
                lib.close()
                return False
    with h5py.File(path, "a") as f:
        f.attrs["complete"] = bool(f["done"][()].all())
    lib.close()
    return True


# --------------------------------------------------------------------------- stage 2
class DeartifactDataset(Dataset):
    """Stage-2 samples from a cache of :func:`build_stage2_cache`: reconstruction -> truth.

    Parameters
    ----------
    path : str or path-like
        A complete stage-2 cache.
    indices : sequence of int, optional
        Entries to use (all by default).
    flips : bool
        Allow the geometry-preserving image flips (rotation by 180°, and the
        mirror flips when the grid and wedge are symmetric).
    kinds : sequence of str, optional
        Use only entries of these kinds (of :data:`STAGE2_KINDS`).

    Items
    -----
    ``input`` : float32 (1, n, n)
        Reconstruction / ``image_scale(s, n)``.
    ``target`` : float32 (1, n, n)
        Ground truth / the same scale.
    ``scale`` : float32 ()
        The sinogram scale ``s``.
    ``kind`` : int64 ()
        Index into :data:`STAGE2_KINDS`.
    ``index`` : int64 (); ``flip`` : int64 ()
    """

    def __init__(
        self,
        path: str | os.PathLike,
        indices: Sequence[int] | None = None,
        *,
        flips: bool = True,
        kinds: Sequence[str] | None = None,
    ):

        self.path = str(path)
        if not stage2_cache_complete(self.path):
            raise ValueError(f"{self.path} is not a complete stage-2 cache")
        with h5py.File(self.path, "r") as f:
            self.angles = np.asarray(f.attrs["angles"])
            self.mask = np.asarray(f.attrs["mask"]).astype(bool)
            self.n = int(f.attrs["n"])
            self.kinds = f["kind"][()]
            self.scales = f["scale"][()]
        n_total = self.kinds.size
        idx = np.arange(n_total) if indices is None else np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n_total):
            raise ValueError(f"indices must lie in [0, {n_total})")
        if kinds is not None:
            bad = [k for k in kinds if k not in STAGE2_KINDS]
            if bad:
                raise ValueError(f"unknown kinds {bad}; choose from {list(STAGE2_KINDS)}")
            keep = np.isin(self.kinds[idx], [STAGE2_KINDS.index(k) for k in kinds])
            idx = idx[keep]
        self.indices = idx
        self.flips = allowed_flips(self.angles, self.mask) if flips else (0,)
        self._files = _LazyFiles([self.path])

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, key) -> dict[str, Any]:
        pos, op = _draw_op(key, self.flips)
        i = int(self.indices[pos])
        f = self._files.get(0)
        s = float(self.scales[i])
        sc = np.float32(image_scale(s, self.n))
        x = flip_image(f["input"][i].astype(np.float32), op) / sc
        y = flip_image(f["target"][i].astype(np.float32), op) / sc
        return {
            "input": torch.from_numpy(np.ascontiguousarray(x)[None]),
            "target": torch.from_numpy(np.ascontiguousarray(y)[None]),
            "scale": torch.tensor(s, dtype=torch.float32),
            "kind": torch.tensor(int(self.kinds[i]), dtype=torch.int64),
            "index": torch.tensor(i, dtype=torch.int64),
            "flip": torch.tensor(op, dtype=torch.int64),
        }
