"""The stage-2 training inputs of the paper's Table 3, precomputed into one HDF5 cache.

:func:`build_stage2_cache` reconstructs every sample of the stage-2 library
in the kinds of :data:`~tomoinpaint.train.config.STAGE2_KINDS` (WBP of the
wedge, of complete data, SART, WBP of inpainted sinograms from several
stage-1 checkpoints, TV), block by block, resumable; the file records the
config and the checkpoints' hashes, so a changed recipe is not mixed in.
:class:`DeartifactDataset` reads it.
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

from ..io.atomic import atomic_output
from ..nn.device import torch_device
from ..nn.grid import image_scale, sinogram_scale
from ..nn.inference import run_inpainter
from ..nn.weights import load_model
from ..provenance import sha256_file
from ..recon.iterative import sart
from ..recon.tv import STEP_RATIO, tv
from ..recon.wbp import wbp
from .config import STAGE2_KINDS, Stage2DataConfig, to_dict
from .datasets import LazyFiles, Library, allowed_flips, draw_flip, flip_image

__all__ = [
    "DeartifactDataset",
    "ConcatSamples",
    "CACHE_FORMAT",
    "CACHE_VERSION",
    "stage2_counts",
    "build_stage2_cache",
    "stage2_cache_complete",
]

log = logging.getLogger(__name__)

CACHE_FORMAT = "tomoinpaint-stage2-cache"
CACHE_VERSION = 1


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
            sel = kb == w_idx["tv_wedge"]
            if sel.any():  # one batched solve: identical to one call per sample (own weights)
                recs[sel] = tv(
                    sinos[sel][:, mask],
                    angles[mask],
                    iterations=config.tv_iterations,
                    device=astra_dev,
                    step_ratio=STEP_RATIO,  # the ratio the shipped networks were trained with
                ).reshape(-1, n, n)
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


# --------------------------------------------------------------------------- reading it
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
    crop : int
        Return ``crop`` x ``crop`` windows (0: whole images). Their position
        is drawn from the item's augmentation seed; without one (validation)
        it is the centre window. The scale stays the whole slice's, as at
        inference.

    Items
    -----
    ``input`` : float32 (1, m, m)
        Reconstruction / ``image_scale(s, n)``; ``m`` is ``crop`` or ``n``.
    ``target`` : float32 (1, m, m)
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
        crop: int = 0,
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
        if not 0 <= int(crop) <= self.n:
            raise ValueError(f"crop must lie in [0, {self.n}] for {self.path}, got {crop}")
        self.crop = int(crop)
        self._files = LazyFiles([self.path])

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, key) -> dict[str, Any]:
        pos, op = draw_flip(key, self.flips)
        i = int(self.indices[pos])
        f = self._files.get(0)
        s = float(self.scales[i])
        sc = np.float32(image_scale(s, self.n))
        win = self._window(key)
        x = flip_image(f["input"][i][win].astype(np.float32), op) / sc
        y = flip_image(f["target"][i][win].astype(np.float32), op) / sc
        return {
            "input": torch.from_numpy(np.ascontiguousarray(x)[None]),
            "target": torch.from_numpy(np.ascontiguousarray(y)[None]),
            "scale": torch.tensor(s, dtype=torch.float32),
            "kind": torch.tensor(int(self.kinds[i]), dtype=torch.int64),
            "index": torch.tensor(i, dtype=torch.int64),
            "flip": torch.tensor(op, dtype=torch.int64),
        }

    def _window(self, key) -> tuple[slice, slice]:
        """Rows and columns of the item's crop window (all of the image without ``crop``)."""
        m, n = self.crop, self.n
        if not m or m == n:
            return slice(None), slice(None)
        seed = key[1] if isinstance(key, (tuple, list)) else None
        if seed is None:
            r0 = c0 = (n - m) // 2
        else:
            # its own stream of the augmentation seed: the flip drawn from it is unchanged
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
            r0, c0 = (int(v) for v in rng.integers(0, n - m + 1, size=2))
        return slice(r0, r0 + m), slice(c0, c0 + m)


class ConcatSamples(Dataset):
    """Several datasets as one, for keys ``i`` or ``(i, aug_seed)`` (the trainer's sampler).

    Item ``i`` is item ``i - offset`` of the dataset whose range holds it;
    the augmentation seed is passed on unchanged. When the datasets' items
    differ in size (whole images of several slice sizes), :meth:`batch_groups`
    tells the trainer to batch each dataset on its own.
    """

    def __init__(self, datasets: Sequence[Dataset]):
        if not datasets:
            raise ValueError("ConcatSamples needs at least one dataset")
        self.datasets = list(datasets)
        self.ends = np.cumsum([len(d) for d in self.datasets])

    def __len__(self) -> int:
        return int(self.ends[-1])

    def __getitem__(self, key):
        i, seed = (key[0], key[1]) if isinstance(key, (tuple, list)) else (key, None)
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range [0, {len(self)})")
        k = int(np.searchsorted(self.ends, i, side="right"))
        local = i - (int(self.ends[k - 1]) if k else 0)
        return self.datasets[k][(local, seed) if seed is not None else local]

    def item_sizes(self) -> list[int]:
        """Image size of each dataset's items (``crop`` or ``n``)."""
        return [int(getattr(d, "crop", 0) or d.n) for d in self.datasets]

    def batch_groups(self, batch_size: int):
        """``[(start, stop, batch_size), ...]`` per dataset, or None when all items share a size.

        A dataset of ``m``-px items gets ``batch_size * (m0 / m)**2`` items per
        batch (at least 1; ``m0`` the smallest size), so that every step sees
        about the same number of pixels.
        """
        sizes = self.item_sizes()
        if len(set(sizes)) == 1:
            return None
        m0 = min(sizes)
        starts = np.concatenate([[0], self.ends[:-1]])
        return [
            (int(a), int(b), max(1, round(batch_size * (m0 / m) ** 2)))
            for a, b, m in zip(starts, self.ends, sizes, strict=True)
            if b > a
        ]
