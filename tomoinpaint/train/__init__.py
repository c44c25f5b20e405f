"""Training of the joint deep model: configs, datasets, one adversarial trainer.

Configs (:mod:`.config`)
    Frozen dataclasses :class:`TrainConfig`, :class:`DataConfig`,
    :class:`Stage2DataConfig` (with :class:`Stage2Proportions`) and
    :class:`RecipeConfig`; :func:`load_config` reads YAML/JSON and refuses
    unknown keys; :func:`to_dict` / :func:`save_config` write them back.
Data (:mod:`.datasets`)
    :class:`InpaintDataset` (stage 1: zero-filled noisy wedge sinogram + mask
    -> clean complete sinogram), :func:`build_stage2_cache` (:mod:`.stage2_cache`:
    the input kinds of the paper's Table 3, resumable HDF5) and :class:`DeartifactDataset`
    (stage 2: reconstruction -> ground truth); per-sample normalisation from
    the measured rows (:func:`tomoinpaint.nn.grid.sinogram_scale`) and geometry-preserving flips.
Training (:mod:`.trainer`)
    :class:`AdversarialTrainer` (paper's optimisers and schedule, validation
    PSNR/SSIM, checkpoints without pickle, exact resume, best weights,
    export with a model card) and :func:`build_trainer` for either stage.
Checkpoints (:mod:`.checkpoint`)
    safetensors + JSON, written atomically, read without unpickling.
"""

from .checkpoint import latest_checkpoint, read_checkpoint, write_checkpoint
from .config import (
    STAGE2_KINDS,
    STAGES,
    DataConfig,
    RecipeConfig,
    Stage2DataConfig,
    Stage2Proportions,
    TrainConfig,
    from_dict,
    load_config,
    save_config,
    to_dict,
)
from .datasets import (
    InpaintDataset,
    Library,
    flip_image,
    flip_sinogram,
    split_indices,
)
from .stage2_cache import (
    ConcatSamples,
    DeartifactDataset,
    build_stage2_cache,
    stage2_cache_complete,
    stage2_counts,
)
from .trainer import (
    AdversarialTrainer,
    ImageMetrics,
    SinogramMetrics,
    build_trainer,
    decay_epochs,
    lr_factor,
    snapshot_path,
)

__all__ = [
    "STAGES",
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
    "Library",
    "InpaintDataset",
    "ConcatSamples",
    "DeartifactDataset",
    "build_stage2_cache",
    "stage2_cache_complete",
    "stage2_counts",
    "flip_sinogram",
    "flip_image",
    "split_indices",
    "AdversarialTrainer",
    "build_trainer",
    "SinogramMetrics",
    "ImageMetrics",
    "lr_factor",
    "decay_epochs",
    "snapshot_path",
    "latest_checkpoint",
    "read_checkpoint",
    "write_checkpoint",
]
