"""The trained networks of the deep methods: where they are, loading them, the model card's grid."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...nn.cache import cached_model
from ...nn.device import torch_device
from ...nn.inference import for_cpu_inference
from ...nn.weights import load_model

__all__ = [
    "JointModel",
    "WEIGHTS_DIR",
    "WEIGHT_FILES",
    "TV_DEARTIFACT_FILE",
    "weights_available",
    "load_joint_model",
    "load_inference_model",
    "get_model",
]

#: The shipped weights (``pipelines/train_weights.py --install`` writes them).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent.parent / "weights"
#: File names of the two generators inside a weights directory.
WEIGHT_FILES = {"inpainter": "inpainter.safetensors", "deartifact": "deartifact.safetensors"}
#: Optional: a de-artifact network trained on TV inputs (the "tv" prior's network).
TV_DEARTIFACT_FILE = "deartifact_tv.safetensors"


@dataclass(frozen=True, eq=False)
class JointModel:
    """Both generators and the grid they were trained on.

    Attributes
    ----------
    inpainter, deartifact : torch.nn.Module
        Stage-1 and stage-2 generators, in eval mode on ``device``.
    angles_deg : numpy.ndarray, shape (n_grid,)
        The model's angular grid (degrees, increasing, a half turn).
    trained_measured : numpy.ndarray of bool, shape (n_grid,)
        Rows measured during training (the trained wedge is the rest).
    n : int
        Slice size (and detector width) of the model.
    wbp_filter : str
        Ramp filter of the WBP the de-artifact network was trained on.
    deartifact_tv : torch.nn.Module or None
        The de-artifact network for TV inputs, if the weights have one
        (else the "tv" prior uses ``deartifact``).
    tv_iterations : int
        PDHG iterations of the TV inputs the network of the "tv" prior was
        trained on (``tv_wedge``).
    tv_n : int or None
        Slice size the network of the "tv" prior works at (None: ``n``); its
        angular grid is always ``angles_deg``.
    tv_sizes : tuple of int
        Slice sizes that network was trained on (its card's
        ``trained_sizes``; one size, ``tv_n`` (or ``n`` when the weights have
        no TV network), for a network trained at one).
    device : torch.device
    source : str
        Where the weights came from.
    """

    inpainter: object
    deartifact: object
    angles_deg: np.ndarray
    trained_measured: np.ndarray
    n: int
    wbp_filter: str
    device: object
    source: str
    cards: dict = field(default_factory=dict, repr=False)
    tv_iterations: int = 300
    deartifact_tv: object = None
    tv_n: int | None = None
    tv_sizes: tuple[int, ...] = ()

    @property
    def tv_size(self) -> int:
        """Slice size the "tv" prior's network works at: ``tv_n``, or ``n`` without one."""
        return self.n if self.tv_n is None else self.tv_n

    @property
    def adapted(self) -> bool:
        """Whether the "tv" prior's network was fine-tuned by ``tomoinpaint adapt``.

        Its card then holds ``metadata.adaptation``; such a network has
        learned one data set at one size (``tv_size``) and is run there on
        noisy data, and on clean data where :attr:`clean_prior_size` says so.
        """
        card = self.cards.get("deartifact_tv", {})
        return "adaptation" in card.get("metadata", {})

    @property
    def clean_prior_size(self) -> str:
        """An adapted network's prior size on clean data: "network" (default) or "input".

        Chosen by ``tomoinpaint adapt`` on the data it learned from
        (:mod:`tomoinpaint.adapt.prior_size`); "input" for weights not adapted.
        """
        if not self.adapted:
            return "input"
        info = self.cards["deartifact_tv"]["metadata"]["adaptation"]
        return "input" if info.get("clean_prior_size") == "input" else "network"


def _weights_dir(model) -> Path:
    return WEIGHTS_DIR if model is None else Path(model)


def weights_available(model: str | os.PathLike | None = None) -> bool:
    """Whether ``model`` (default: the shipped weights) holds both generators."""
    d = _weights_dir(model)
    return all((d / f).is_file() for f in WEIGHT_FILES.values())


def load_joint_model(model: str | os.PathLike | None = None, device: str = "cpu") -> JointModel:
    """Load both generators of a weights directory, without executing pickled code.

    Parameters
    ----------
    model : str or path-like, optional
        Directory with ``inpainter.safetensors`` and ``deartifact.safetensors``
        (and their JSON model cards); default :data:`WEIGHTS_DIR`.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    JointModel

    Raises
    ------
    FileNotFoundError
        If a generator is missing (one line, saying how to get weights).
    ValueError
        For a file that is not safetensors, a bad model card, or two
        generators trained on different grids.
    """
    d = _weights_dir(model)
    missing = [f for f in WEIGHT_FILES.values() if not (d / f).is_file()]
    if missing:
        how = (
            "train them with 'python pipelines/train_weights.py --install'"
            if model is None
            else "give a directory written by pipelines/train_weights.py (OUT/weights)"
        )
        raise FileNotFoundError(f"no model weights {', '.join(missing)} in {str(d)!r}: {how}")
    dev = torch_device(device)
    g1, card1 = load_model(d / WEIGHT_FILES["inpainter"], device=dev)
    g2, card2 = load_model(d / WEIGHT_FILES["deartifact"], device=dev)
    grid = card1.get("metadata", {}).get("grid")
    if not grid or "angles_deg" not in grid or "n" not in grid:
        raise ValueError(f"the model card of {str(d / WEIGHT_FILES['inpainter'])!r} has no grid")
    _check_same_grid(card2, grid, d)
    stage2 = card2.get("metadata", {}).get("data_recipe", {}).get("stage2", {})
    cards = {"inpainter": card1, "deartifact": card2}
    g3, tv_n, tv_sizes = None, None, ()
    tv_stage2 = stage2
    if (d / TV_DEARTIFACT_FILE).is_file():
        g3, card3 = load_model(d / TV_DEARTIFACT_FILE, device=dev)
        _check_same_grid(card3, grid, d, same_n=False)
        tv_n = int(card3.get("metadata", {}).get("grid", {}).get("n", grid["n"]))
        tv_stage2 = card3.get("metadata", {}).get("data_recipe", {}).get("stage2", {})
        tv_sizes = tuple(int(v) for v in card3.get("metadata", {}).get("trained_sizes", [tv_n]))
        cards["deartifact_tv"] = card3
    return JointModel(
        inpainter=g1,
        deartifact=g2,
        angles_deg=np.asarray(grid["angles_deg"], dtype=np.float64),
        trained_measured=np.asarray(grid.get("measured", []), dtype=bool),
        n=int(grid["n"]),
        wbp_filter=str(stage2.get("wbp_filter", "ram-lak")),
        device=dev,
        source=str(d),
        cards=cards,
        tv_iterations=int(tv_stage2.get("tv_iterations", 300)),
        deartifact_tv=g3,
        tv_n=tv_n,
        tv_sizes=tv_sizes or (int(grid["n"]),),
    )


def _check_same_grid(card: dict, grid: dict, d: Path, *, same_n: bool = True) -> None:
    """Refuse a generator whose model card records another grid than ``grid``.

    ``same_n=False``: only the angular grid must match (the slice size may differ).
    """
    other = card.get("metadata", {}).get("grid")
    if other and (
        (same_n and other["n"] != grid["n"]) or other["angles_deg"] != grid["angles_deg"]
    ):
        raise ValueError(f"the generators in {str(d)!r} were trained on different grids")


def load_inference_model(model=None, device: str = "auto") -> JointModel:
    """:func:`load_joint_model` with the generators laid out for inference.

    On the CPU they are channels-last (:func:`~tomoinpaint.nn.inference.for_cpu_inference`,
    1.1-2.3x faster, ``benchmarks/results/cpu_kernels.md``); the networks are
    not to be trained further.
    """
    m = load_joint_model(model, device)
    if m.device.type == "cpu":
        for net in (m.inpainter, m.deartifact, m.deartifact_tv):
            if net is not None:
                for_cpu_inference(net)
    return m


def get_model(model, device: str) -> JointModel:
    """The model for inference, loaded once per process (the volume pipeline's cache)."""
    if isinstance(model, JointModel):
        return model
    return cached_model(load_inference_model, model, str(device))
