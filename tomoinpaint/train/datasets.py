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
tensors, see the classes. The stage-2 inputs of the paper's Table 3 are
precomputed into one resumable HDF5 file by
:func:`tomoinpaint.train.stage2_cache.build_stage2_cache`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from ..geometry import wedge_mask
from ..nn.grid import centered_layout, image_scale, mirror_permutation, sinogram_scale, to_layout
from .config import DataConfig

__all__ = [
    "FLIP_OPS",
    "flip_sinogram",
    "flip_image",
    "allowed_flips",
    "split_indices",
    "aug_seed",
    "Library",
    "InpaintDataset",
]

log = logging.getLogger(__name__)

#: Flip operations: 0 none, 1 detector flip, 2 angle mirror, 3 both (see module notes).
FLIP_OPS = (0, 1, 2, 3)


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


def draw_flip(key, allowed: tuple[int, ...]) -> tuple[int, int]:
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
class LazyFiles:
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
        self._files = LazyFiles(self.paths)
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
        pos, op = draw_flip(key, self.flips)
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
