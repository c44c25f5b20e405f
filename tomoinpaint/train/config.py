"""Typed, frozen configurations of training, loaded from YAML or JSON.

Four dataclasses describe a training run; every one is frozen, validated on
construction, built from a mapping by :func:`from_dict` (unknown keys are a
``ValueError`` that names them, at any nesting level) and turned back into
JSON-ready values by :func:`to_dict`, so ``from_dict(cls, to_dict(c)) == c``.

:class:`TrainConfig`
    One adversarial training run (either stage): networks, loss, the paper's
    optimisers and learning-rate schedule (Ding et al., 2019, Table 2), epochs,
    validation, seeds, device, checkpoints.
:class:`DataConfig`
    A simulated training library (:func:`tomoinpaint.sim.build_library`):
    files, families, doses, image size, angular grid, wedge. The recipe builds
    the library from it; the datasets check an existing library against it.
:class:`Stage2DataConfig`
    The de-artifact training set of the paper's Table 3: its source library,
    proportions of the four input kinds (:class:`Stage2Proportions`) and the
    stage-1 checkpoints whose inpainted sinograms are reconstructed.
:class:`RecipeConfig`
    The whole recipe of ``pipelines/train_weights.py``: stage-1 data and
    training, stage-2 data and training.

:func:`load_config` reads any of them from a ``.yaml``/``.yml``/``.json``
file. Sequences become tuples; a network given as a preset name (``"tiny"``,
``"default"``, ``"paper"``) or as a dict of its config fields is resolved by
:meth:`TrainConfig.generator_config` / :meth:`TrainConfig.discriminator_config`.

Size: one module because it is the recipe's schema: every section's frozen
dataclass with its validation, read and written together.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..config import from_dict, save_config, to_dict
from ..config import load_config as _load_config
from ..geometry import tilt_range, wedge_mask
from ..nn.config import PRESETS, config_from_dict
from ..nn.grid import centered_layout
from ..nn.losses import ADVERSARIAL_LOSSES
from ..recon.filters import FILTERS
from ..sim.noise import resolve_dose
from ..sim.tiltseries import FAMILIES, LIBRARY_FAMILIES

__all__ = [
    "STAGES",
    "STAGE_ARCHITECTURES",
    "STAGE2_KINDS",
    "TrainConfig",
    "DataConfig",
    "Stage2Proportions",
    "Stage2DataConfig",
    "RecipeConfig",
    "from_dict",
    "to_dict",
    "load_config",
    "save_config",
    "sized_path",
]

_C = TypeVar("_C")

#: Training stages.
STAGES = ("inpaint", "deartifact")
#: Stage -> (generator architecture, discriminator architecture), keys of ``nn.BUILDERS``.
STAGE_ARCHITECTURES = {
    "inpaint": ("inpainter", "inpaint_disc"),
    "deartifact": ("unet", "deartifact_disc"),
}
#: The four input kinds of the stage-2 training set (paper, Table 3), in cache order.
STAGE2_KINDS = ("wbp_wedge", "wbp_complete", "sart_wedge", "wbp_inpainted", "tv_wedge")
#: Field metadata of options added after runs were recorded: left out of :func:`to_dict`
#: at their default, so the configs of those runs (and their caches) still match.
_ADDED_LATER = {"omit_at_default": True}
_DEVICES = ("auto", "cpu", "cuda")
_TARGETS = ("clean", "noisy")


# --------------------------------------------------------------------------- checks
def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _int(name: str, v: Any, minimum: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")


def _num(name: str, v: Any, *, minimum: float = 0.0, strict: bool = False) -> None:
    if not _is_number(v) or v < minimum or (strict and v == minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be a number {op} {minimum}, got {v!r}")


def _choice(name: str, v: Any, choices: tuple[str, ...]) -> None:
    if v not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {v!r}")


def _network(name: str, v: Any, architecture: str) -> None:
    if isinstance(v, str):
        if v not in PRESETS[architecture]:
            raise ValueError(
                f"{name} must be a preset of {sorted(PRESETS[architecture])} or a dict of "
                f"{architecture} config fields, got {v!r}"
            )
    elif isinstance(v, Mapping):
        try:
            config_from_dict(architecture, v)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name}: {exc}") from None
    else:
        raise ValueError(f"{name} must be a preset name or a dict, got {type(v).__name__}")


# --------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class TrainConfig:
    """One adversarial training run (stage 1 or stage 2).

    The defaults are the paper's (Ding et al., 2019, Table 2 and "training
    strategy"): 30 epochs, batch 8, D:G 1:1, Adam for G (lr 4e-4, weight decay
    1e-4, betas 0.9/0.999), RMSprop for D (lr 4e-4, weight decay 1e-4, alpha
    0.99, momentum 0), learning rates 1e-4, 2e-4, 4e-4 over the first three
    epochs and x0.1 at epochs 20 and 28 (:func:`tomoinpaint.train.lr_factor`).

    Attributes
    ----------
    stage : {"inpaint", "deartifact"}
        Stage 1 (sinogram inpainting: ``inpainter`` + ``inpaint_disc``) or
        stage 2 (de-artifacting slices: ``unet`` + ``deartifact_disc``).
    generator, discriminator : str or dict
        Preset name (``"tiny"``, ``"default"``, ``"paper"``) or a dict of the
        architecture's config fields (:mod:`tomoinpaint.nn.config`).
    gan_weight : float
        Weight of the adversarial term of the generator loss,
        ``mse + gan_weight * adversarial``. 0 trains with plain MSE and no
        discriminator. The paper does not give it; 5e-3 is ESRGAN's.
    adversarial : {"lsgan", "rlsgan"}
        Least-squares GAN (paper) or relativistic average least squares.
    epochs : int
        Paper: 30.
    batch_size : int
        Paper: 8.
    steps_per_epoch : int or None
        Cap on the generator steps of one epoch (None: one pass over the data).
        Lets CPU runs use short "epochs" and keep the paper's 30-epoch schedule.
    lr_g, lr_d : float
        Peak learning rates of generator and discriminator (paper: 4e-4).
    weight_decay_g, weight_decay_d : float
        L2 weight decay of Adam / RMSprop (paper: 1e-4).
    betas_g : (float, float)
        Adam betas (paper: 0.9, 0.999).
    rmsprop_alpha, rmsprop_momentum : float
        RMSprop smoothing constant and momentum (paper: 0.99, 0).
    warmup : tuple of float
        Learning-rate factors of the first epochs (paper: 1e-4, 2e-4, 4e-4 of a
        4e-4 peak, i.e. 0.25, 0.5, 1).
    decay_epochs : tuple of int
        Epochs (0-based, counted on a ``schedule_epochs``-epoch run) from which
        the rate is multiplied by another ``decay_factor`` (paper: 20 and 28 of
        30). With ``epochs != schedule_epochs`` they are scaled to
        ``round(e * epochs / schedule_epochs)``; the warm-up is not scaled.
    decay_factor : float
        Paper: 0.1.
    schedule_epochs : int
        The run length ``decay_epochs`` refer to (paper: 30).
    d_steps : int
        Discriminator updates per generator update (D:G ratio ``d_steps:1``;
        paper 1:1). Ignored when ``gan_weight == 0``.
    grad_clip : float or None
        Clip the gradient norm of each network to this value (None: off).
    val_size : int
        Samples held out for validation (a seeded choice).
    val_batch_size : int or None
        Batch size of validation (None: ``batch_size``).
    seed : int
        Seeds torch (network initialisation), numpy, the data order and the
        augmentations.
    device : {"auto", "cpu", "cuda"}
        Where the networks train ("auto": CUDA if torch sees a GPU).
    num_threads : int or None
        ``torch.set_num_threads`` for the run (None: leave as it is).
    num_workers : int
        DataLoader worker processes (0: load in the main process).
    amp : bool
        Mixed precision (CUDA only; off by default, and off in the paper).
    checkpoint_every_steps : int
        Write a checkpoint every this many generator steps (0: only at epoch
        ends and on a requested stop).
    checkpoint_every_minutes : float
        Also write one when this much wall time passed since the last (0: off).
    keep_checkpoints : int
        Checkpoints kept on disk (older ones are removed).
    snapshot_epochs : tuple of int
        Export the generator (safetensors model file) after these epochs
        (1-based, i.e. after ``e`` completed epochs). Stage 1 snapshots are the
        "several checkpoints" of stage 2's inpainted inputs.
    best_metric : str
        Validation metric (higher is better) that selects the best weights;
        "auto": ``wbp_psnr`` for stage 1 when available, else ``psnr``.
    validate_wbp : bool
        Stage 1: also reconstruct validation sinograms (WBP) and compare them
        with the ground truth.
    progress : bool or None
        tqdm progress bars (None: only on a terminal).
    init_generator : str or None
        A generator model file (``.safetensors``, e.g. installed weights)
        whose weights start the generator instead of a random initialisation:
        fine-tuning. Its architecture must be this stage's ``generator``. A
        resumed run continues from its checkpoint.
    """

    stage: str = "inpaint"
    generator: Any = "default"
    discriminator: Any = "default"
    gan_weight: float = 5e-3
    adversarial: str = "lsgan"
    epochs: int = 30
    batch_size: int = 8
    steps_per_epoch: int | None = None
    lr_g: float = 4e-4
    lr_d: float = 4e-4
    weight_decay_g: float = 1e-4
    weight_decay_d: float = 1e-4
    betas_g: tuple[float, float] = (0.9, 0.999)
    rmsprop_alpha: float = 0.99
    rmsprop_momentum: float = 0.0
    warmup: tuple[float, ...] = (0.25, 0.5, 1.0)
    decay_epochs: tuple[int, ...] = (20, 28)
    decay_factor: float = 0.1
    schedule_epochs: int = 30
    d_steps: int = 1
    grad_clip: float | None = None
    val_size: int = 64
    val_batch_size: int | None = None
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    num_workers: int = 0
    amp: bool = False
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 10.0
    keep_checkpoints: int = 2
    snapshot_epochs: tuple[int, ...] = ()
    best_metric: str = "auto"
    validate_wbp: bool = True
    progress: bool | None = None
    init_generator: str | None = field(default=None, metadata=_ADDED_LATER)

    def __post_init__(self) -> None:
        _choice("stage", self.stage, STAGES)
        g_arch, d_arch = STAGE_ARCHITECTURES[self.stage]
        _network("generator", self.generator, g_arch)
        _network("discriminator", self.discriminator, d_arch)
        _num("gan_weight", self.gan_weight)
        _choice("adversarial", self.adversarial, tuple(ADVERSARIAL_LOSSES))
        _int("epochs", self.epochs, 1)
        _int("batch_size", self.batch_size, 1)
        if self.steps_per_epoch is not None:
            _int("steps_per_epoch", self.steps_per_epoch, 1)
        for name in ("lr_g", "lr_d"):
            _num(name, getattr(self, name), strict=True)
        for name in ("weight_decay_g", "weight_decay_d", "rmsprop_momentum"):
            _num(name, getattr(self, name))
        b = self.betas_g
        if not (isinstance(b, tuple) and len(b) == 2 and all(_is_number(x) for x in b)) or not all(
            0.0 <= x < 1.0 for x in b
        ):
            raise ValueError(f"betas_g must be two numbers in [0, 1), got {b!r}")
        if not _is_number(self.rmsprop_alpha) or not 0.0 <= self.rmsprop_alpha < 1.0:
            raise ValueError(f"rmsprop_alpha must be in [0, 1), got {self.rmsprop_alpha!r}")
        if not isinstance(self.warmup, tuple) or not all(
            _is_number(x) and x > 0 for x in self.warmup
        ):
            raise ValueError(f"warmup must be a list of positive factors, got {self.warmup!r}")
        if not isinstance(self.decay_epochs, tuple):
            raise ValueError(f"decay_epochs must be a list of integers, got {self.decay_epochs!r}")
        for e in self.decay_epochs:
            _int("each of decay_epochs", e, 0)
        if list(self.decay_epochs) != sorted(self.decay_epochs):
            raise ValueError(f"decay_epochs must be increasing, got {self.decay_epochs!r}")
        _num("decay_factor", self.decay_factor, strict=True)
        _int("schedule_epochs", self.schedule_epochs, 1)
        _int("d_steps", self.d_steps, 1)
        if self.grad_clip is not None:
            _num("grad_clip", self.grad_clip, strict=True)
        _int("val_size", self.val_size, 0)
        if self.val_batch_size is not None:
            _int("val_batch_size", self.val_batch_size, 1)
        _int("seed", self.seed, 0)
        _choice("device", self.device, _DEVICES)
        if self.num_threads is not None:
            _int("num_threads", self.num_threads, 1)
        _int("num_workers", self.num_workers, 0)
        if not isinstance(self.amp, bool):
            raise ValueError(f"amp must be a bool, got {self.amp!r}")
        _int("checkpoint_every_steps", self.checkpoint_every_steps, 0)
        _num("checkpoint_every_minutes", self.checkpoint_every_minutes)
        _int("keep_checkpoints", self.keep_checkpoints, 1)
        if not isinstance(self.snapshot_epochs, tuple):
            raise ValueError(f"snapshot_epochs must be a list, got {self.snapshot_epochs!r}")
        for e in self.snapshot_epochs:
            _int("each of snapshot_epochs", e, 1)
            if e > self.epochs:
                raise ValueError(f"snapshot epoch {e} is beyond epochs={self.epochs}")
        if not isinstance(self.best_metric, str) or not self.best_metric:
            raise ValueError(f"best_metric must be a metric name, got {self.best_metric!r}")
        if not isinstance(self.validate_wbp, bool):
            raise ValueError(f"validate_wbp must be a bool, got {self.validate_wbp!r}")
        if self.progress is not None and not isinstance(self.progress, bool):
            raise ValueError(f"progress must be a bool or null, got {self.progress!r}")
        if self.init_generator is not None and (
            not isinstance(self.init_generator, str) or not self.init_generator
        ):
            raise ValueError(
                f"init_generator must be a model file path or null, got {self.init_generator!r}"
            )

    @property
    def architectures(self) -> tuple[str, str]:
        """(generator, discriminator) architecture names of this stage."""
        return STAGE_ARCHITECTURES[self.stage]

    def _net(self, value: Any, architecture: str) -> Any:
        if isinstance(value, str):
            return PRESETS[architecture][value]
        return config_from_dict(architecture, value)

    def generator_config(self):
        """The generator's network config (preset resolved)."""
        return self._net(self.generator, self.architectures[0])

    def discriminator_config(self):
        """The discriminator's network config (preset resolved)."""
        return self._net(self.discriminator, self.architectures[1])

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class DataConfig:
    """A simulated library of (complete, missing-wedge) sinograms and ground truths.

    The recipe builds it with :func:`tomoinpaint.sim.build_library`; the
    datasets check that an existing library matches it (image size, angular
    grid, wedge) and use the samples of the listed families and doses.

    Attributes
    ----------
    library : tuple of str
        HDF5 library file(s); several files are concatenated (same grid). The
        recipe fills this in when empty.
    families : tuple of str
        From ("shapes", "natural", "ct").
    doses : tuple of str
        Dose labels: "noise-free", "moderate", "low" (see
        :data:`tomoinpaint.sim.DOSE_LEVELS`). Mixed, so the model needs no
        tuning for dose.
    n : int
        Image and detector size, pixels.
    angles : (float, float, float)
        The complete angular grid ``(start, stop, step)`` in degrees, stop
        included (:func:`tomoinpaint.geometry.tilt_range`).
    wedge : (float, float)
        Measured tilt range ``(tilt_min, tilt_max)``, degrees; the rest of the
        grid is the missing wedge.
    n_samples : int
        Samples of the library the recipe builds.
    seed : int
        Seed of the library the recipe builds.
    target : {"clean", "noisy"}
        Stage-1 target: the noise-free complete sinogram (inpaint and denoise)
        or the complete sinogram at the sample's dose.
    flips : bool
        Random geometry-preserving flips of training samples.
    layout : {"centered", "library"}
        Row order the networks see. "centered" (default): every projection
        angle φ of the library is taken mod 180° into the half turn centred on
        the missing wedge, ``θ = φ + 180 k`` in ``[c - 90, c + 90)`` (``c`` the
        wedge centre; a row moved by an odd ``k`` is flipped on the detector,
        since ``p(φ + 180°, t) = p(φ, -t)``), rows sorted by θ. The missing
        rows then form ONE band in the middle with measured rows on both
        sides; for tilts -67.5…67.5° the model grid is 0…178.5° and rows
        69…111° are missing. "library": the library's rows as they are (for
        -90…88.5° the wedge is split between the first and last rows).
    """

    library: tuple[str, ...] = ()
    families: tuple[str, ...] = FAMILIES  # the paper's three
    doses: tuple[str, ...] = ("noise-free", "moderate", "low")
    n: int = 64
    angles: tuple[float, float, float] = (-90.0, 88.5, 1.5)
    wedge: tuple[float, float] = (-67.5, 67.5)
    n_samples: int = 1000
    seed: int = 0
    target: str = "clean"
    flips: bool = True
    layout: str = "centered"

    def __post_init__(self) -> None:
        if not isinstance(self.library, tuple) or not all(
            isinstance(p, str) and p for p in self.library
        ):
            raise ValueError(f"library must be a list of file paths, got {self.library!r}")
        if not isinstance(self.families, tuple) or not self.families:
            raise ValueError(f"families must be a non-empty list, got {self.families!r}")
        for f in self.families:
            _choice("each of families", f, LIBRARY_FAMILIES)
        if not isinstance(self.doses, tuple) or not self.doses:
            raise ValueError(f"doses must be a non-empty list, got {self.doses!r}")
        for d in self.doses:
            if not isinstance(d, str):
                raise ValueError(f"doses must be dose names (strings), got {d!r}")
            resolve_dose(d)
        _int("n", self.n, 8)
        a = self.angles
        if not (isinstance(a, tuple) and len(a) == 3 and all(_is_number(x) for x in a)) or not (
            a[2] > 0 and a[1] >= a[0]
        ):
            raise ValueError(f"angles must be (start, stop, step) with step > 0, got {a!r}")
        w = self.wedge
        if not (isinstance(w, tuple) and len(w) == 2 and all(_is_number(x) for x in w)) or not (
            w[0] <= w[1]
        ):
            raise ValueError(f"wedge must be (tilt_min, tilt_max), got {w!r}")
        if not self.mask().any():
            raise ValueError(f"wedge {w!r} measures none of the angles {a!r}")
        _int("n_samples", self.n_samples, 1)
        _int("seed", self.seed, 0)
        _choice("target", self.target, _TARGETS)
        if not isinstance(self.flips, bool):
            raise ValueError(f"flips must be a bool, got {self.flips!r}")
        _choice("layout", self.layout, ("centered", "library"))

    def full_angles(self):
        """The complete angular grid, degrees, shape (n_angles,)."""
        return tilt_range(*self.angles)

    def mask(self):
        """Measured angles of :meth:`full_angles`, bool (n_angles,)."""
        return wedge_mask(self.full_angles(), *self.wedge)

    def model_grid(self):
        """The networks' grid: ``(angles, measured)`` in the row order of ``layout``."""
        if self.layout == "library":
            return self.full_angles(), self.mask()
        angles, perm, _ = centered_layout(self.full_angles(), self.mask())
        return angles, self.mask()[perm]

    def replace(self, **changes: Any) -> DataConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Stage2Proportions:
    """Relative sizes of the four stage-2 input kinds (paper, Table 3).

    Any non-negative numbers with a positive sum; they are normalised. The
    defaults are the paper's counts: 10,000 / 7,500 / 7,500 / 20,000.

    Attributes
    ----------
    wbp_wedge : float
        WBP of missing-wedge sinograms.
    wbp_complete : float
        WBP of complete sinograms (teaches the model not to over-correct).
    sart_wedge : float
        SART of missing-wedge sinograms.
    wbp_inpainted : float
        WBP of stage-1-inpainted sinograms, from several stage-1 checkpoints.
    tv_wedge : float
        TV (the default noise-adaptive weight) of missing-wedge sinograms; not
        in the paper (0 by default): teaches the network to correct TV.
    """

    wbp_wedge: float = 10000.0
    wbp_complete: float = 7500.0
    sart_wedge: float = 7500.0
    wbp_inpainted: float = 20000.0
    tv_wedge: float = field(default=0.0, metadata=_ADDED_LATER)

    def __post_init__(self) -> None:
        for k in STAGE2_KINDS:
            _num(k, getattr(self, k))
        if sum(getattr(self, k) for k in STAGE2_KINDS) <= 0:
            raise ValueError("stage-2 proportions must have a positive sum")

    def fractions(self) -> dict[str, float]:
        """Normalised proportions, by kind (in :data:`STAGE2_KINDS` order)."""
        total = float(sum(getattr(self, k) for k in STAGE2_KINDS))
        return {k: float(getattr(self, k)) / total for k in STAGE2_KINDS}


@dataclass(frozen=True)
class Stage2DataConfig:
    """The stage-2 (de-artifact) training set, precomputed by ``build_stage2_cache``.

    Each sample of the ``source`` library gives one cache entry: its ground
    truth and ONE reconstruction, of a kind drawn (seeded, with exact counts)
    from ``proportions``.

    Attributes
    ----------
    source : DataConfig
        The library of sinograms and ground truths (its own seed, so stage 2
        sees objects stage 1 was not trained on, as at inference).
    proportions : Stage2Proportions
    checkpoints : tuple of str
        Stage-1 generator weights (``.safetensors`` model files) used for the
        ``wbp_inpainted`` kind, in turn (earlier checkpoints inpaint more
        weakly). Required when ``proportions.wbp_inpainted > 0``; the recipe
        fills in the stage-1 snapshots when empty.
    sart_sweeps : int
        SART sweeps for the ``sart_wedge`` kind.
    tv_iterations : int
        PDHG iterations for the ``tv_wedge`` kind.
    extra_sizes : tuple of (int, int, int)
        Further source libraries at other slice sizes, each ``(n, n_samples,
        seed)``: ``source`` with these three fields replaced (same families,
        doses, angles, wedge and layout). Each gets its own cache; training
        draws from all of them. So a fully convolutional network sees the
        missing wedge's artefacts at the sizes it is applied at.
    crop : int
        Train on ``crop`` x ``crop`` windows of the images, at a position drawn
        with each sample's augmentation (validation: the centre window),
        at most every slice size; 0: whole images. With ``extra_sizes`` and
        whole images, each batch holds one size, with ``batch_size * (n0 /
        n)**2`` images of size ``n`` (at least one; ``n0`` the smallest), so
        that the network sees images whole, as it is applied, at a constant
        cost per step.
    wbp_filter : str
        Filter of every WBP (:data:`tomoinpaint.recon.FILTERS`).
    seed : int
        Seed of the kind and checkpoint assignment.
    device : {"auto", "cpu", "cuda"}
        ASTRA and stage-1 inference device.
    batch_size : int
        Samples per stage-1 inference batch (and per cache write).
    flips : bool
        Random geometry-preserving flips of stage-2 training samples.
    """

    source: DataConfig = field(default_factory=lambda: DataConfig(seed=1))
    proportions: Stage2Proportions = field(default_factory=Stage2Proportions)
    checkpoints: tuple[str, ...] = ()
    sart_sweeps: int = 20
    wbp_filter: str = "ram-lak"
    seed: int = 0
    device: str = "auto"
    batch_size: int = 16
    flips: bool = True
    tv_iterations: int = field(default=300, metadata=_ADDED_LATER)
    extra_sizes: tuple[tuple[int, int, int], ...] = field(default=(), metadata=_ADDED_LATER)
    crop: int = field(default=0, metadata=_ADDED_LATER)

    def __post_init__(self) -> None:
        if not isinstance(self.source, DataConfig):
            raise ValueError(f"source must be a DataConfig, got {type(self.source).__name__}")
        if not isinstance(self.proportions, Stage2Proportions):
            raise ValueError("proportions must be a Stage2Proportions")
        if not isinstance(self.checkpoints, tuple) or not all(
            isinstance(p, str) and p for p in self.checkpoints
        ):
            raise ValueError(f"checkpoints must be a list of paths, got {self.checkpoints!r}")
        _int("sart_sweeps", self.sart_sweeps, 1)
        _int("tv_iterations", self.tv_iterations, 1)
        if not isinstance(self.extra_sizes, tuple) or not all(
            isinstance(e, tuple) and len(e) == 3 for e in self.extra_sizes
        ):
            raise ValueError(
                f"extra_sizes must be a list of [n, n_samples, seed], got {self.extra_sizes!r}"
            )
        for n, n_samples, seed in self.extra_sizes:
            _int("extra_sizes n", n, 8)
            _int("extra_sizes n_samples", n_samples, 1)
            _int("extra_sizes seed", seed, 0)
        _int("crop", self.crop, 0)
        sizes = [self.source.n] + [e[0] for e in self.extra_sizes]
        if self.crop and self.crop > min(sizes):
            raise ValueError(
                f"crop {self.crop} is larger than the smallest slice size {min(sizes)}"
            )
        _choice("wbp_filter", self.wbp_filter, tuple(FILTERS))
        _int("seed", self.seed, 0)
        _choice("device", self.device, _DEVICES)
        _int("batch_size", self.batch_size, 1)
        if not isinstance(self.flips, bool):
            raise ValueError(f"flips must be a bool, got {self.flips!r}")

    def sources(self) -> tuple[DataConfig, ...]:
        """``source`` and one library config per ``extra_sizes`` entry, in that order.

        An extra library's file is the source's with ``_n{n}`` added to its
        stem (``stage2_tv.h5`` -> ``stage2_tv_n256.h5``).
        """
        out = [self.source]
        for n, n_samples, seed in self.extra_sizes:
            lib = tuple(sized_path(p, n) for p in self.source.library)
            out.append(self.source.replace(n=n, n_samples=n_samples, seed=seed, library=lib))
        return tuple(out)

    def replace(self, **changes: Any) -> Stage2DataConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RecipeConfig:
    """The whole training recipe: both stages from scratch.

    Attributes
    ----------
    name : str
        Recorded in the model cards.
    data : DataConfig
        Stage-1 library.
    stage1 : TrainConfig
        Stage-1 training (``stage`` must be "inpaint").
    stage2_data : Stage2DataConfig
        Stage-2 training set (Table 3).
    stage2 : TrainConfig
        Stage-2 training (``stage`` must be "deartifact").
    joint_val_size : int
        Samples of the stage-2 source library on which the finished joint
        model (inpaint -> WBP -> de-artifact) is evaluated for the model cards.
    library_workers : int or None
        Worker threads of the library simulation (None: all cores).
    stage2_tv_data : Stage2DataConfig or None
        Training set of an optional second de-artifact network, for TV inputs
        (the ``joint`` method's prior, ``network_prior(source="tv")``); its
        proportions may not use ``wbp_inpainted``. Its source library has the
        angles, wedge and layout of ``data`` and may have another slice size
        ``n`` (the network then works at that size). None: no such network.
    stage2_tv : TrainConfig or None
        Its training (``stage`` must be "deartifact"); set with ``stage2_tv_data``.
    """

    name: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    stage1: TrainConfig = field(default_factory=lambda: TrainConfig(stage="inpaint"))
    stage2_data: Stage2DataConfig = field(default_factory=Stage2DataConfig)
    stage2: TrainConfig = field(default_factory=lambda: TrainConfig(stage="deartifact"))
    joint_val_size: int = 32
    library_workers: int | None = None
    stage2_tv_data: Stage2DataConfig | None = field(default=None, metadata=_ADDED_LATER)
    stage2_tv: TrainConfig | None = field(default=None, metadata=_ADDED_LATER)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if self.stage1.stage != "inpaint":
            raise ValueError(f"stage1.stage must be 'inpaint', got {self.stage1.stage!r}")
        if self.stage2.stage != "deartifact":
            raise ValueError(f"stage2.stage must be 'deartifact', got {self.stage2.stage!r}")
        grid = (self.data.n, self.data.angles, self.data.wedge)
        sets = [("stage2_data", self.stage2_data)]
        if (self.stage2_tv_data is None) != (self.stage2_tv is None):
            raise ValueError("stage2_tv_data and stage2_tv must be given together")
        if self.stage2_tv is not None:
            if self.stage2_tv.stage != "deartifact":
                raise ValueError(
                    f"stage2_tv.stage must be 'deartifact', got {self.stage2_tv.stage!r}"
                )
            if self.stage2_tv_data.proportions.wbp_inpainted > 0:
                raise ValueError("stage2_tv_data.proportions.wbp_inpainted must be 0")
        for name, s2 in sets:
            src = s2.source
            if (src.n, src.angles, src.wedge) != grid:
                raise ValueError(
                    f"{name}.source must use the stage-1 grid: n, angles and wedge of data "
                    f"{grid} differ from {(src.n, src.angles, src.wedge)}"
                )
        if self.stage2_tv is not None:
            # The TV network may work at another slice size (its own n), never on
            # another angular grid: its projections fill the model grid's wedge.
            src, want = self.stage2_tv_data.source, self.data
            if (src.angles, src.wedge, src.layout) != (want.angles, want.wedge, want.layout):
                raise ValueError(
                    "stage2_tv_data.source must use the angles, wedge and layout of data "
                    f"{(want.angles, want.wedge, want.layout)}, got "
                    f"{(src.angles, src.wedge, src.layout)}"
                )
        _int("joint_val_size", self.joint_val_size, 0)
        if self.library_workers is not None:
            _int("library_workers", self.library_workers, 1)

    def replace(self, **changes: Any) -> RecipeConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------- files
def sized_path(path: str | Path, n: int) -> str:
    """``path`` with ``_n{n}`` added to its stem: the file of the same data at size ``n``."""
    p = Path(path)
    return str(p.with_name(f"{p.stem}_n{int(n)}{p.suffix}"))


def load_config(path: str | Path, cls: type[_C] = RecipeConfig) -> _C:
    """Read a config from a YAML or JSON file (:func:`tomoinpaint.config.load_config`).

    ``cls`` is the config class of the file's top level (default
    :class:`RecipeConfig`; :class:`TrainConfig`, :class:`DataConfig`, ... for
    a single section).
    """
    return _load_config(path, cls)
