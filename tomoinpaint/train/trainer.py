"""One adversarial trainer for both stages of the joint model.

:class:`AdversarialTrainer` is given its parts (composition, no subclassing):
a generator, an optional conditional discriminator, a
:class:`~tomoinpaint.nn.GeneratorLoss`, a ``condition_fn`` that turns the
generator's input into the discriminator's condition, a ``metrics_fn`` for
validation, the training and validation datasets and a :class:`TrainConfig`.
:func:`build_trainer` assembles the parts of stage 1 or stage 2 from a config.

One training iteration on a batch ``(x, y)`` (inputs, targets), D:G =
``d_steps``:1 (paper 1:1):

1. generator step (discriminator frozen): ``out = G(x)``;
   ``loss = mse(out, y) + gan_weight * adv_G(D(c, y), D(c, out))`` with
   ``c = condition_fn(x)``; Adam (paper: lr 4e-4, weight decay 1e-4, betas
   0.9/0.999);
2. ``d_steps`` discriminator steps on the same batch:
   ``adv_D(D(c, y), D(c, out.detach()))``; RMSprop (paper: lr 4e-4, weight
   decay 1e-4, alpha 0.99).

With ``gan_weight == 0`` there is no discriminator and step 2 is skipped.

Learning rate: set at the start of every epoch to ``lr * lr_factor(epoch)``
(:func:`lr_factor`: warm-up factors, then ``decay_factor`` at each decay
epoch, scaled to the run length).

Reproducibility and resume: the data order of epoch ``e`` is a permutation
seeded by ``(seed, e)`` and each sample's flip is seeded by its position
(:func:`~.datasets.aug_seed`), so an interrupted run that resumes from a
checkpoint (weights, optimiser states, counters, RNG states; see
:mod:`.checkpoint`) takes exactly the same steps as an uninterrupted one —
bit for bit on the CPU with one thread.

Run directory
-------------
``config.json``
    Resolved training config, networks and the caller's metadata.
``ckpt-SSSSSSSS.{safetensors,json}``, ``latest.json``
    Checkpoints (every ``checkpoint_every_steps`` steps, every
    ``checkpoint_every_minutes``, at each epoch end and when stopped).
``best.safetensors`` + ``best.json``
    Generator with the best validation ``best_metric`` (model file of
    :func:`tomoinpaint.nn.save_model`).
``snapshots/generator-epochEEE.safetensors``
    Generators exported after the ``snapshot_epochs``.
``history.json``
    Per-epoch training losses, learning-rate factor and validation metrics.

Size: one module because it is one training loop (the adversarial trainer
both stages use) with its schedule, validation metrics and resume state,
which change together.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from ..io.atomic import atomic_write_text
from ..metrics import psnr, ssim
from ..nn.build import build as build_network
from ..nn.device import torch_device
from ..nn.losses import ADVERSARIAL_LOSSES, GeneratorLoss
from ..nn.weights import load_model, save_model
from ..provenance import sha256_file
from ..recon.wbp import wbp
from .checkpoint import (
    dumps,
    latest_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    read_checkpoint,
    rng_state,
    set_rng_state,
    write_checkpoint,
)
from .config import STAGE2_KINDS, TrainConfig, to_dict
from .datasets import aug_seed

__all__ = [
    "AdversarialTrainer",
    "EpochBatchSampler",
    "GroupedEpochBatchSampler",
    "SinogramMetrics",
    "ImageMetrics",
    "build_trainer",
    "lr_factor",
    "decay_epochs",
    "seed_everything",
    "snapshot_path",
]

log = logging.getLogger(__name__)

#: Config fields that may differ between a run and its resumption.
RESUMABLE_CHANGES = frozenset(
    {
        "device",
        "num_threads",
        "num_workers",
        "progress",
        "checkpoint_every_steps",
        "checkpoint_every_minutes",
        "keep_checkpoints",
    }
)


# --------------------------------------------------------------------------- schedule
def decay_epochs(config: TrainConfig) -> tuple[int, ...]:
    """Decay epochs scaled to the run: ``round(e * epochs / schedule_epochs)``."""
    r = config.epochs / config.schedule_epochs
    return tuple(int(math.floor(e * r + 0.5)) for e in config.decay_epochs)


def lr_factor(epoch: int, config: TrainConfig) -> float:
    """Learning-rate factor of (0-based) ``epoch``.

    ``warmup[epoch]`` during the warm-up (1 after it), times ``decay_factor``
    for every scaled decay epoch ``<= epoch``. Paper (30 epochs): 0.25, 0.5, 1
    for epochs 0-2 (lr 1e-4, 2e-4, 4e-4), 1 up to epoch 19, 0.1 for epochs
    20-27, 0.01 for epochs 28-29.
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    f = float(config.warmup[epoch]) if epoch < len(config.warmup) else 1.0
    for d in decay_epochs(config):
        if epoch >= d:
            f *= config.decay_factor
    return f


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's global generator and ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - for code that uses the global one
    random.seed(seed)


def snapshot_path(run_dir: str | Path, epoch: int) -> Path:
    """Where the generator exported after ``epoch`` (1-based) goes."""
    return Path(run_dir) / "snapshots" / f"generator-epoch{int(epoch):03d}.safetensors"


# --------------------------------------------------------------------------- sampling
class EpochBatchSampler(Sampler):
    """Batches of one epoch: a permutation seeded by ``(seed, epoch)``, from batch ``start``.

    Yields lists of ``(index, aug_seed)`` (see :func:`~.datasets.aug_seed`) so
    flips are fixed by the position in the epoch, not by a global RNG.
    """

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, steps: int, start: int = 0):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.steps, self.start = steps, start

    def __iter__(self):
        rng = np.random.default_rng(np.random.SeedSequence([int(self.seed), int(self.epoch), 1]))
        perm = rng.permutation(self.n)
        bs = min(self.batch_size, self.n)
        for b in range(self.start, self.steps):
            pos = range(b * bs, (b + 1) * bs)
            yield [(int(perm[p]), aug_seed(self.seed, self.epoch, p)) for p in pos]

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


class GroupedEpochBatchSampler(Sampler):
    """Batches of one epoch, each drawn from ONE group of the dataset (e.g. one slice size).

    Every step first draws a group, with a probability proportional to the
    batches it holds (its samples over its batch size), then takes that
    group's next batch of its own seeded permutation. Everything is fixed by
    ``(seed, epoch)`` and the step, so a resumed epoch yields the batches an
    uninterrupted one would have.

    Parameters
    ----------
    groups : sequence of (int, int, int)
        ``(start, stop, batch_size)``: dataset indices ``start..stop-1`` and
        the batch size of that group.
    seed, epoch, steps, start
        As :class:`EpochBatchSampler`.
    """

    def __init__(self, groups, seed: int, epoch: int, steps: int, start: int = 0):
        self.groups = [(int(a), int(b), int(bs)) for a, b, bs in groups]
        if not self.groups or any(b <= a or bs < 1 for a, b, bs in self.groups):
            raise ValueError(f"groups must be non-empty (start, stop, batch_size), got {groups!r}")
        self.seed, self.epoch, self.steps, self.start = seed, epoch, steps, start

    def _epoch_batches(self) -> list[list[int]]:
        rng = np.random.default_rng(np.random.SeedSequence([int(self.seed), int(self.epoch), 1]))
        weights = np.array([(b - a) / bs for a, b, bs in self.groups], dtype=float)
        which = rng.choice(len(self.groups), size=self.steps, p=weights / weights.sum())
        perms = [a + rng.permutation(b - a) for a, b, _ in self.groups]
        used = [0] * len(self.groups)
        batches = []
        for g in which:
            a, b, bs = self.groups[g]
            bs = min(bs, b - a)
            if used[g] + bs > b - a:  # this group's pass is done: a fresh permutation
                perms[g], used[g] = a + rng.permutation(b - a), 0
            batches.append([int(i) for i in perms[g][used[g] : used[g] + bs]])
            used[g] += bs
        return batches

    def __iter__(self):
        width = max(bs for _, _, bs in self.groups)
        for b, batch in enumerate(self._epoch_batches()[self.start :], start=self.start):
            yield [(i, aug_seed(self.seed, self.epoch, b * width + j)) for j, i in enumerate(batch)]

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


def _steps_in_epoch(n: int, config: TrainConfig) -> int:
    full = max(1, n // config.batch_size) if n >= config.batch_size else 1
    return min(full, config.steps_per_epoch) if config.steps_per_epoch else full


def _batch_groups(dataset: Dataset, batch_size: int):
    """The dataset's batch groups (``dataset.batch_groups(batch_size)``), None if it has none."""
    fn = getattr(dataset, "batch_groups", None)
    return None if fn is None else fn(batch_size)


# --------------------------------------------------------------------------- metrics
def _range(ref: np.ndarray) -> float:
    r = float(ref.max() - ref.min())
    return r if r > 0 else 1.0


class ImageMetrics:
    """Per-sample PSNR/SSIM of output vs target images (stage 2), also per input kind.

    Returns ``{"psnr": [...], "ssim": [...], "psnr_<kind>": [...], ...}``.
    """

    def __call__(self, batch: Mapping[str, torch.Tensor], output: torch.Tensor):
        out = output[:, 0].float().cpu().numpy()
        tgt = batch["target"][:, 0].float().numpy()
        res: dict[str, list[float]] = {"psnr": [], "ssim": []}
        kinds = batch.get("kind")
        for b in range(out.shape[0]):
            dr = _range(tgt[b])
            p, s = psnr(tgt[b], out[b], data_range=dr), ssim(tgt[b], out[b], data_range=dr)
            res["psnr"].append(p)
            res["ssim"].append(s)
            if kinds is not None:
                k = STAGE2_KINDS[int(kinds[b])]
                res.setdefault(f"psnr_{k}", []).append(p)
                res.setdefault(f"ssim_{k}", []).append(s)
        return res


class SinogramMetrics:
    """Per-sample metrics of inpainted sinograms (stage 1).

    ``psnr``/``ssim``: inpainted vs target sinogram. With ``wbp`` and a
    ``ground_truth`` in the batch, also ``wbp_psnr``/``wbp_ssim`` of the WBP of
    the inpainted sinogram vs the ground truth, and ``wbp_wedge_psnr``/
    ``wbp_wedge_ssim`` of the plain missing-wedge WBP (the baseline).

    Parameters
    ----------
    angles : array_like (n_angles,)
        The model's angular grid, degrees.
    wbp : bool
    wbp_filter : str
    device : {"auto", "cpu", "cuda"}
        ASTRA device.
    """

    def __init__(self, angles, *, wbp: bool = True, wbp_filter: str = "ram-lak", device="auto"):
        self.angles = np.asarray(angles, dtype=np.float64)
        self.wbp, self.filter, self.device = wbp, wbp_filter, device

    def __call__(self, batch: Mapping[str, torch.Tensor], output: torch.Tensor):
        out = output[:, 0].float().cpu().numpy()
        tgt = batch["target"][:, 0].float().numpy()
        res: dict[str, list[float]] = {"psnr": [], "ssim": []}
        for b in range(out.shape[0]):
            dr = _range(tgt[b])
            res["psnr"].append(psnr(tgt[b], out[b], data_range=dr))
            res["ssim"].append(ssim(tgt[b], out[b], data_range=dr))
        if self.wbp and "ground_truth" in batch:
            n = out.shape[-1]
            gt = batch["ground_truth"][:, 0].float().numpy()
            rec = wbp(out, self.angles, filter=self.filter, device=self.device).reshape(gt.shape)
            rec = rec * n  # WBP of the normalised sinogram, in normalised image units
            mask = batch["mask"][0].numpy().astype(bool)
            wedge = batch["input"][:, 0].float().numpy()[:, mask]
            base = wbp(wedge, self.angles[mask], filter=self.filter, device=self.device)
            base = base.reshape(gt.shape) * n
            for key in ("wbp_psnr", "wbp_ssim", "wbp_wedge_psnr", "wbp_wedge_ssim"):
                res[key] = []
            for b in range(out.shape[0]):
                dr = _range(gt[b])
                res["wbp_psnr"].append(psnr(gt[b], rec[b], data_range=dr))
                res["wbp_ssim"].append(ssim(gt[b], rec[b], data_range=dr))
                res["wbp_wedge_psnr"].append(psnr(gt[b], base[b], data_range=dr))
                res["wbp_wedge_ssim"].append(ssim(gt[b], base[b], data_range=dr))
        return res


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


# --------------------------------------------------------------------------- trainer
class AdversarialTrainer:
    """The one adversarial training loop of both stages.

    Parameters
    ----------
    generator : torch.nn.Module
        ``generator(x) -> output`` with the target's shape; must carry a
        ``config`` attribute (the networks of :mod:`tomoinpaint.nn` do) to be
        exported with :func:`tomoinpaint.nn.save_model`.
    discriminator : torch.nn.Module or None
        ``discriminator(condition, sample) -> scores``; needed iff
        ``loss.gan_weight > 0`` (ignored otherwise).
    loss : GeneratorLoss
        Generator objective; also gives the discriminator loss.
    train_dataset, val_dataset : torch.utils.data.Dataset
        Items are dicts with ``input`` and ``target`` tensors (plus whatever
        ``metrics_fn`` reads); the training set is indexed by
        ``(index, aug_seed)``. ``val_dataset`` may be None or empty.
    config : TrainConfig
    run_dir : str or path-like
        Checkpoints, best weights, snapshots and history go here.
    condition_fn : callable, optional
        ``condition_fn(input) -> condition`` of the discriminator (default: the
        generator's input itself, as in both stages of the paper).
    metrics_fn : callable, optional
        ``metrics_fn(batch, output) -> {name: [per-sample values]}`` on CPU
        tensors; validation reports the means (plus ``mse``).
    metadata : mapping, optional
        JSON-serialisable information (angular grid, data recipe, ...) kept in
        ``config.json``, every checkpoint and every exported model card.
    resume : bool
        Continue from the latest checkpoint in ``run_dir`` if there is one.
        A checkpoint written with another config (apart from
        :data:`RESUMABLE_CHANGES`) is refused.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module | None,
        loss: GeneratorLoss,
        train_dataset: Dataset,
        val_dataset: Dataset | None,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        condition_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        metrics_fn: Callable[[Mapping[str, torch.Tensor], torch.Tensor], Mapping] | None = None,
        metadata: Mapping[str, Any] | None = None,
        resume: bool = False,
    ):
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
        if not isinstance(loss, GeneratorLoss):
            raise ValueError(f"loss must be a GeneratorLoss, got {type(loss).__name__}")
        if len(train_dataset) == 0:
            raise ValueError("the training set is empty")
        if loss.needs_discriminator and discriminator is None:
            raise ValueError(f"gan_weight={loss.gan_weight} > 0 needs a discriminator")
        self.config = config
        self.loss = loss
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        self.device = torch_device(config.device)
        self.amp = bool(config.amp and self.device.type == "cuda")
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device) if loss.needs_discriminator else None
        self.condition_fn = condition_fn or _identity
        self.metrics_fn = metrics_fn
        self.train_dataset, self.val_dataset = train_dataset, val_dataset
        self.metadata = json.loads(dumps(dict(metadata or {})))

        c = config
        self.opt_g = torch.optim.Adam(
            self.generator.parameters(),
            lr=c.lr_g,
            betas=tuple(c.betas_g),
            weight_decay=c.weight_decay_g,
        )
        self.opt_d = (
            torch.optim.RMSprop(
                self.discriminator.parameters(),
                lr=c.lr_d,
                alpha=c.rmsprop_alpha,
                weight_decay=c.weight_decay_d,
                momentum=c.rmsprop_momentum,
            )
            if self.discriminator is not None
            else None
        )
        self.steps_per_epoch = _steps_in_epoch(len(train_dataset), c)
        # counters and records (all saved in checkpoints)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.epoch_sums: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self._last_ckpt_time = time.monotonic()
        self._epoch_t0 = time.monotonic()
        self._set_lr(0)
        atomic_write_text(
            self.run_dir / "config.json", dumps(self._describe(), indent=2) + "\n", parents=True
        )
        if resume:
            found = latest_checkpoint(self.run_dir)
            if found is not None:
                self.load_checkpoint(found)
            else:
                log.info("no checkpoint in %s: starting from scratch", self.run_dir)

    # ------------------------------------------------------------------ description
    def _networks(self) -> dict[str, Any]:
        nets = {}
        for name, net in (("generator", self.generator), ("discriminator", self.discriminator)):
            if net is None:
                continue
            cfg = getattr(net, "config", None)
            nets[name] = {
                "class": type(net).__name__,
                "config": cfg.to_dict() if hasattr(cfg, "to_dict") else None,
            }
        return nets

    def _describe(self) -> dict[str, Any]:
        return {
            "train_config": to_dict(self.config),
            "loss": {"gan_weight": self.loss.gan_weight, "adversarial": self.loss.adversarial},
            "networks": self._networks(),
            "steps_per_epoch": self.steps_per_epoch,
            "decay_epochs": list(decay_epochs(self.config)),
            "train_size": len(self.train_dataset),
            "val_size": 0 if self.val_dataset is None else len(self.val_dataset),
            "device": str(self.device),
            "torch_version": torch.__version__,
            "metadata": self.metadata,
        }

    @property
    def finished(self) -> bool:
        """Whether all epochs are done."""
        return self.epoch >= self.config.epochs

    @property
    def total_steps(self) -> int:
        """Generator steps of the whole run."""
        return self.steps_per_epoch * self.config.epochs

    # ------------------------------------------------------------------ schedule
    def _set_lr(self, epoch: int) -> float:
        f = lr_factor(min(epoch, self.config.epochs - 1), self.config)
        for g in self.opt_g.param_groups:
            g["lr"] = self.config.lr_g * f
        if self.opt_d is not None:
            for g in self.opt_d.param_groups:
                g["lr"] = self.config.lr_d * f
        return f

    # ------------------------------------------------------------------ steps
    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return nullcontext()

    def _to_device(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        nb = self.device.type == "cuda"
        return (
            batch["input"].to(self.device, non_blocking=nb),
            batch["target"].to(self.device, non_blocking=nb),
        )

    def _clip(self, net: nn.Module) -> None:
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), self.config.grad_clip)

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One generator update and ``d_steps`` discriminator updates on ``batch``.

        Returns
        -------
        dict
            ``mse``, ``adversarial``, ``total`` (generator) and ``d_loss``.
        """
        x, y = self._to_device(batch)
        G, D = self.generator, self.discriminator
        G.train()
        with self._autocast():
            out = G(x)
        if D is None:
            with self._autocast():
                total, parts = self.loss(out.float(), y)
        else:
            D.train()
            cond = self.condition_fn(x)
            for p in D.parameters():
                p.requires_grad_(False)
            with self._autocast():
                d_fake = D(cond, out)
                needs_real = ADVERSARIAL_LOSSES[self.loss.adversarial].needs_real_for_g
                d_real = D(cond, y).detach() if needs_real else None
                total, parts = self.loss(out.float(), y, d_fake.float(), d_real)
            for p in D.parameters():
                p.requires_grad_(True)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self._clip(G)
        self.opt_g.step()
        parts = dict(parts)
        if D is not None:
            fake = out.detach()
            for _ in range(self.config.d_steps):
                with self._autocast():
                    d_loss = self.loss.discriminator_loss(D(cond, y).float(), D(cond, fake).float())
                self.opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                self._clip(D)
                self.opt_d.step()
            parts["d_loss"] = float(d_loss.detach())
        return parts

    @torch.no_grad()
    def content_loss(self, batch: Mapping[str, Any]) -> float:
        """MSE of the generator's output on ``batch`` (no update; eval mode)."""
        x, y = self._to_device(batch)
        was = self.generator.training
        self.generator.eval()
        out = self.generator(x)
        self.generator.train(was)
        return float(torch.mean((out.float() - y) ** 2))

    # ------------------------------------------------------------------ validation
    def _loader(self, dataset: Dataset, **kw: Any) -> DataLoader:
        gen = torch.Generator().manual_seed(self.config.seed)
        return DataLoader(
            dataset,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=gen,
            **kw,
        )

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean validation metrics of the current generator (``{}`` without a validation set)."""
        if self.val_dataset is None or len(self.val_dataset) == 0:
            return {}
        bs = self.config.val_batch_size or self.config.batch_size
        groups = _batch_groups(self.val_dataset, bs)
        if groups is None:
            loader = self._loader(self.val_dataset, batch_size=bs, shuffle=False)
        else:  # in order, each batch from one group
            batches = [
                list(range(i, min(i + gbs, b))) for a, b, gbs in groups for i in range(a, b, gbs)
            ]
            loader = self._loader(self.val_dataset, batch_sampler=batches)
        G = self.generator
        was = G.training
        G.eval()
        sums: dict[str, list[float]] = {"mse": []}
        for batch in loader:
            x, y = self._to_device(batch)
            with self._autocast():
                out = G(x)
            out = out.float()
            sums["mse"].extend(torch.mean((out - y) ** 2, dim=tuple(range(1, y.ndim))).tolist())
            if self.metrics_fn is not None:
                for k, v in self.metrics_fn(batch, out.cpu()).items():
                    sums.setdefault(k, []).extend(float(x) for x in v)
        G.train(was)
        return {k: float(np.mean(v)) for k, v in sums.items() if v}

    def _best_key(self, metrics: Mapping[str, float]) -> str | None:
        key = self.config.best_metric
        if key == "auto":
            key = "wbp_psnr" if "wbp_psnr" in metrics else "psnr"
        return key if key in metrics else None

    # ------------------------------------------------------------------ loop
    def fit(self, *, max_steps: int | None = None, deadline: float | None = None) -> dict[str, Any]:
        """Train until all epochs are done, ``max_steps`` is reached or ``deadline`` passes.

        Parameters
        ----------
        max_steps : int, optional
            Stop (with a checkpoint) once the global generator step reaches it.
        deadline : float, optional
            ``time.time()`` value; stop (with a checkpoint) after the first step
            that ends past it.

        Returns
        -------
        dict
            ``status`` ("finished" or "stopped"), ``step``, ``epoch``, ``best``.
        """
        c = self.config
        disable = None if c.progress is None else not c.progress
        while not self.finished:
            steps = self.steps_per_epoch
            if self.batch_in_epoch < steps:
                f = self._set_lr(self.epoch)
                if self.batch_in_epoch == 0:
                    self._epoch_t0 = time.monotonic()
                groups = _batch_groups(self.train_dataset, c.batch_size)
                if groups is None:
                    sampler = EpochBatchSampler(
                        len(self.train_dataset), c.batch_size, c.seed, self.epoch, steps,
                        start=self.batch_in_epoch,
                    )  # fmt: skip
                else:
                    sampler = GroupedEpochBatchSampler(
                        groups, c.seed, self.epoch, steps, start=self.batch_in_epoch
                    )
                loader = self._loader(self.train_dataset, batch_sampler=sampler)
                bar = tqdm(
                    total=steps,
                    initial=self.batch_in_epoch,
                    desc=f"{c.stage} epoch {self.epoch + 1}/{c.epochs}",
                    unit="step",
                    disable=disable,
                    leave=False,
                )
                stop = False
                for batch in loader:
                    parts = self.train_step(batch)
                    self.step += 1
                    self.batch_in_epoch += 1
                    for k, v in parts.items():
                        self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + float(v)
                    bar.update(1)
                    bar.set_postfix(mse=f"{parts['mse']:.3g}", lr=f"{f:.2g}")
                    if max_steps is not None and self.step >= max_steps:
                        stop = True
                    elif deadline is not None and time.time() >= deadline:
                        stop = True
                    if stop:
                        break
                    if self._checkpoint_due():
                        self.save_checkpoint()
                bar.close()
                if stop and self.batch_in_epoch < steps:
                    self.save_checkpoint()
                    log.info("stopped at step %d (epoch %d); resumable", self.step, self.epoch + 1)
                    return self._status("stopped")
            self._end_epoch()
            if (max_steps is not None and self.step >= max_steps) or (
                deadline is not None and time.time() >= deadline
            ):
                if not self.finished:
                    return self._status("stopped")
        return self._status("finished")

    def _status(self, status: str) -> dict[str, Any]:
        return {"status": status, "step": self.step, "epoch": self.epoch, "best": self.best}

    def _checkpoint_due(self) -> bool:
        c = self.config
        if c.checkpoint_every_steps and self.step % c.checkpoint_every_steps == 0:
            return True
        minutes = (time.monotonic() - self._last_ckpt_time) / 60.0
        return bool(c.checkpoint_every_minutes) and minutes >= c.checkpoint_every_minutes

    def _end_epoch(self) -> None:
        c = self.config
        metrics = self.validate()
        n = max(self.batch_in_epoch, 1)
        record = {
            "epoch": self.epoch + 1,
            "step": self.step,
            "lr_factor": lr_factor(self.epoch, c),
            "train": {k: v / n for k, v in self.epoch_sums.items()},
            "val": metrics,
            "seconds": round(time.monotonic() - self._epoch_t0, 3),
        }
        self.history.append(record)
        log.info(
            "%s epoch %d/%d step %d: train %s | val %s",
            c.stage,
            self.epoch + 1,
            c.epochs,
            self.step,
            {k: round(v, 5) for k, v in record["train"].items()},
            {k: round(v, 4) for k, v in metrics.items()},
        )
        key = self._best_key(metrics)
        better = (
            self.best is None
            or key is None
            or self.best.get("metric") != key
            or metrics[key] > self.best["value"]
        )
        if better:
            self.best = {
                "epoch": self.epoch + 1,
                "step": self.step,
                "metric": key,
                "value": None if key is None else metrics[key],
                "val": metrics,
            }
            self._export(self.generator, self.run_dir / "best.safetensors", {"best": self.best})
        if (self.epoch + 1) in c.snapshot_epochs:
            self._export(
                self.generator,
                snapshot_path(self.run_dir, self.epoch + 1),
                {"snapshot_epoch": self.epoch + 1, "validation": metrics},
            )
        self.epoch += 1
        self.batch_in_epoch = 0
        self.epoch_sums = {}
        atomic_write_text(
            self.run_dir / "history.json", dumps(self.history, indent=1) + "\n", parents=True
        )
        self.save_checkpoint()

    # ------------------------------------------------------------------ export
    def _card(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        card = {
            "stage": self.config.stage,
            "steps": self.step,
            "epochs_completed": self.epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "train_config": to_dict(self.config),
            "loss": {"gan_weight": self.loss.gan_weight, "adversarial": self.loss.adversarial},
            "train_size": len(self.train_dataset),
            "val_size": 0 if self.val_dataset is None else len(self.val_dataset),
            "normalisation": (
                "per sample by s = mean over measured rows of the row maximum "
                "(tomoinpaint.nn.grid.sinogram_scale); sinograms / s, images / (s / n_det)"
            ),
        }
        card.update(self.metadata)
        card.update(extra or {})
        return card

    def _export(self, model: nn.Module, path: Path, extra: Mapping[str, Any]) -> Path:
        return save_model(model, path, metadata=self._card(extra))

    def export(
        self,
        path: str | Path,
        *,
        which: str = "best",
        metadata: Mapping[str, Any] | None = None,
    ) -> Path:
        """Export generator weights with :func:`tomoinpaint.nn.save_model` and a model card.

        Parameters
        ----------
        path : str or path-like
            ``.safetensors`` file; the model card goes beside it (``.json``).
        which : {"best", "last"}
            The best-validation weights (``best.safetensors`` of the run) or the
            current ones.
        metadata : mapping, optional
            Added to the card (on top of stage, steps, config, history, ...).

        Returns
        -------
        pathlib.Path
        """
        if which not in ("best", "last"):
            raise ValueError(f"which must be 'best' or 'last', got {which!r}")
        model = self.generator
        extra: dict[str, Any] = {"weights": which, "history": self.history, "best": self.best}
        best_file = self.run_dir / "best.safetensors"
        if which == "best" and best_file.is_file():
            model = copy.deepcopy(self.generator).cpu()
            model.load_state_dict(load_file(best_file, device="cpu"), strict=True)
            extra["validation"] = (self.best or {}).get("val", {})
        else:
            extra["validation"] = self.history[-1]["val"] if self.history else {}
        extra.update(metadata or {})
        return self._export(model, Path(path), extra)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors: dict[str, torch.Tensor] = {}
        for k, v in self.generator.state_dict().items():
            tensors[f"generator.{k}"] = v
        if self.discriminator is not None:
            for k, v in self.discriminator.state_dict().items():
                tensors[f"discriminator.{k}"] = v
        t, opt_g = optimizer_to_flat(self.opt_g.state_dict(), "opt_g")
        tensors.update(t)
        opt_d = None
        if self.opt_d is not None:
            t, opt_d = optimizer_to_flat(self.opt_d.state_dict(), "opt_d")
            tensors.update(t)
        t, rng = rng_state(include_cuda=self.device.type == "cuda")
        tensors.update(t)
        meta = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "finished": self.finished,
            "scheduler": {
                "epoch": self.epoch,
                "lr_factor": lr_factor(min(self.epoch, self.config.epochs - 1), self.config),
                "decay_epochs": list(decay_epochs(self.config)),
            },
            "epoch_sums": self.epoch_sums,
            "history": self.history,
            "best": self.best,
            "optimizers": {"generator": opt_g, "discriminator": opt_d},
            "rng": rng,
            **self._describe(),
        }
        return tensors, meta

    def save_checkpoint(self) -> Path:
        """Write a checkpoint now (see :mod:`.checkpoint`); returns its ``.json``."""
        tensors, meta = self._state()
        path = write_checkpoint(
            self.run_dir, self.step, tensors, meta, keep=self.config.keep_checkpoints
        )
        self._last_ckpt_time = time.monotonic()
        log.debug("checkpoint %s", path)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore everything from a checkpoint (``.json`` file or run directory)."""
        tensors, meta = read_checkpoint(path)
        saved = meta.get("train_config", {})
        mine = to_dict(self.config)
        diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        diff = [k for k in diff if k not in RESUMABLE_CHANGES]
        if diff:
            raise ValueError(
                f"checkpoint {path} was written with another config (fields {diff}); "
                f"resume with the same config or start a fresh run directory"
            )

        def sub(prefix: str) -> dict[str, torch.Tensor]:
            n = len(prefix) + 1
            return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

        self.generator.load_state_dict(sub("generator"), strict=True)
        if self.discriminator is not None:
            self.discriminator.load_state_dict(sub("discriminator"), strict=True)
        self.opt_g.load_state_dict(
            optimizer_from_flat(tensors, meta["optimizers"]["generator"], "opt_g")
        )
        if self.opt_d is not None:
            self.opt_d.load_state_dict(
                optimizer_from_flat(tensors, meta["optimizers"]["discriminator"], "opt_d")
            )
        set_rng_state(tensors, meta["rng"])
        self.step = int(meta["step"])
        self.epoch = int(meta["epoch"])
        self.batch_in_epoch = int(meta["batch_in_epoch"])
        self.epoch_sums = {k: float(v) for k, v in meta.get("epoch_sums", {}).items()}
        self.history = list(meta.get("history", []))
        self.best = meta.get("best")
        self._set_lr(self.epoch)
        log.info(
            "resumed %s at step %d (epoch %d, batch %d)",
            path,
            self.step,
            self.epoch + 1,
            self.batch_in_epoch,
        )


# --------------------------------------------------------------------------- assembly
def _start_from(generator: nn.Module, path: str) -> dict[str, str]:
    """Load the weights of model file ``path`` into ``generator``; its path and SHA-256.

    Raises
    ------
    ValueError
        If the file is missing or holds another architecture (one line).
    """
    if not Path(path).is_file():
        raise ValueError(f"init_generator {path!r} does not exist")
    start, _ = load_model(path, device="cpu")
    try:
        generator.load_state_dict(start.state_dict(), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(
            f"init_generator {path!r} does not fit this stage's generator: {first}"
        ) from None
    return {"path": str(path), "sha256": sha256_file(path)}


def build_trainer(
    config: TrainConfig,
    train_dataset: Dataset,
    val_dataset: Dataset | None,
    run_dir: str | Path,
    *,
    angles: Sequence[float] | None = None,
    metadata: Mapping[str, Any] | None = None,
    resume: bool = False,
) -> AdversarialTrainer:
    """The trainer of ``config.stage`` with networks, loss and metrics built from ``config``.

    Seeds everything with ``config.seed`` first, so the initial weights are
    reproducible. Stage 1 validates with :class:`SinogramMetrics` (``angles``
    default to ``train_dataset.angles``), stage 2 with :class:`ImageMetrics`;
    in both the discriminator's condition is the generator's input.
    """
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    g_arch, d_arch = config.architectures
    generator = build_network(g_arch, config.generator_config())
    if config.init_generator is not None:
        metadata = dict(metadata or {}) | {
            "init_generator": _start_from(generator, config.init_generator)
        }
    loss = GeneratorLoss(config.gan_weight, config.adversarial)
    discriminator = (
        build_network(d_arch, config.discriminator_config()) if loss.needs_discriminator else None
    )
    if config.stage == "inpaint":
        grid = angles if angles is not None else getattr(train_dataset, "angles", None)
        if grid is None:
            raise ValueError("stage 1 needs the angular grid (angles=...) for validation")
        metrics = SinogramMetrics(grid, wbp=config.validate_wbp)
    else:
        metrics = ImageMetrics()
    return AdversarialTrainer(
        generator,
        discriminator,
        loss,
        train_dataset,
        val_dataset,
        config,
        run_dir,
        metrics_fn=metrics,
        metadata=metadata,
        resume=resume,
    )
