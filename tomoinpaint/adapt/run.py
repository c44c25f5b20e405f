"""``tomoinpaint adapt``: fine-tune the prior's network on the user's own tilt series.

Training runs in rounds. Each round draws a fresh set of pairs
(:func:`~.pairs.make_pairs`, from a generator seeded by the seed and the
round's number) and makes a few passes over them with Adam; after each
round a checkpoint (weights, optimiser, round, losses) is written to
``OUT/adapt-checkpoints``. The same command started again resumes from it,
and the weights it reaches are the ones an uninterrupted run reaches. A
time budget stops the run at the end of the last round that fits in it.

The output directory is an ordinary weights directory: the base weights'
inpainter and paper de-artifact network, copied, and the adapted network of
the "tv" prior, whose model card adds ``metadata.adaptation`` (the base
weights and their checksum, a fingerprint of the data, the settings, the
losses). ``reconstruct --model OUT`` uses it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import OptionError
from ..io.atomic import atomic_write
from ..nn.device import torch_device
from ..nn.weights import card_path_for, save_model
from ..provenance import sha256_file
from ..recon.joint.model import (
    TV_DEARTIFACT_FILE,
    WEIGHT_FILES,
    WEIGHTS_DIR,
    load_joint_model,
)
from ..score.holdout import MIN_SCORING_TILTS
from ..train.checkpoint import (
    latest_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    read_checkpoint,
    write_checkpoint,
)
from .fourier import masked_fourier_loss
from .pairs import TARGETS, make_pairs, prepare_halves
from .prior_size import choice_seconds, choose_clean_prior_size, has_choice
from .projection_loss import measured_projection_loss

__all__ = ["AdaptSettings", "AdaptResult", "adapt", "MIN_ADAPT_SLICES", "CHECKPOINT_DIR"]

log = logging.getLogger(__name__)

#: Fewest slices adaptation learns from.
MIN_ADAPT_SLICES = 2
#: Smallest slice size to adapt at (the U-Net halves it four times).
MIN_SIZE = 32
#: Where the checkpoints live inside the output directory.
CHECKPOINT_DIR = "adapt-checkpoints"


@dataclass(frozen=True)
class AdaptSettings:
    """How to adapt (recorded in the model card; a resumed run must use the same).

    Attributes
    ----------
    pairs_per_round : int
        Pairs drawn per round (each costs one TV reconstruction on the grid).
    passes : int
        Passes over a round's pairs.
    batch_size : int
    learning_rate : float
        Adam's step size (fine-tuning: well below training's).
    seed : int
    target : {"projections", "image"}
        What the output is compared with (:mod:`~.pairs`): the other half's
        measured projections (:func:`~.projection_loss.measured_projection_loss`)
        or its TV image in its measured Fourier directions
        (:func:`~.fourier.masked_fourier_loss`).
    tv_iterations : int, optional
        PDHG iterations of the pairs' TV; default: those the base network's
        training inputs were made with (:func:`~.pairs.prepare_halves`).
    size : int, optional
        Slice size the network is adapted at, which its card then names as
        its own (``joint`` runs its prior there on noisy data); default: the
        base network's.
    """

    pairs_per_round: int = 32
    passes: int = 2
    batch_size: int = 4
    learning_rate: float = 5e-5
    seed: int = 0
    target: str = "projections"
    tv_iterations: int | None = None
    size: int | None = None

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        for name, least in (("pairs_per_round", 1), ("passes", 1), ("batch_size", 1), ("seed", 0)):
            _check_int(name, getattr(self, name), least)
        if self.tv_iterations is not None:
            _check_int("tv_iterations", self.tv_iterations, 1)
        if self.size is not None:
            _check_int("size", self.size, MIN_SIZE)
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr < np.inf:
            raise ValueError(f"learning_rate must be a positive number, got {lr!r}")


def _check_int(name: str, value, least: int) -> None:
    """ValueError naming ``name`` unless ``value`` is an integer >= ``least``.

    ``True`` is refused, although Python counts it as the integer 1: a
    setting given as a flag is a mistake, not one pass or one iteration.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")


@dataclass
class AdaptResult:
    """What :func:`adapt` did.

    Attributes
    ----------
    out_dir : pathlib.Path
        The weights directory written.
    rounds : int
        Rounds completed in all (resumed ones included).
    losses : list of float
        Mean training loss of each round.
    seconds : float
        Time of this call.
    resumed_from : int
        Rounds already done when this call started.
    tv_iterations : int or None
        PDHG iterations of the pairs' TV.
    size : int or None
        The slice size the network was adapted at.
    clean_prior_size : {"network", "input"} or None
        Where ``joint`` runs the adapted network on clean data, as chosen on
        the data (:func:`~.prior_size.choose_clean_prior_size`); None where
        there was nothing to choose (the network's size then).
    """

    out_dir: Path
    rounds: int
    losses: list
    seconds: float
    resumed_from: int = 0
    tv_iterations: int | None = None
    size: int | None = None
    clean_prior_size: str | None = None


def data_fingerprint(sino: np.ndarray, angles_deg) -> str:
    """SHA-256 (first 16 hex digits) of the float32 sinograms and the angles."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(sino, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(angles_deg, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def _check_data(sino: np.ndarray, angles: np.ndarray) -> None:
    if sino.ndim != 3 or sino.shape[1] != angles.size:
        raise ValueError(f"sinograms of shape {sino.shape} do not match {angles.size} angles")
    if sino.shape[0] < MIN_ADAPT_SLICES:
        raise ValueError(f"adapting needs at least {MIN_ADAPT_SLICES} slices, got {sino.shape[0]}")
    if angles.size < MIN_SCORING_TILTS:
        raise ValueError(
            f"adapting splits the tilts into even and odd halves and needs at least "
            f"{MIN_SCORING_TILTS} tilts, got {angles.size}"
        )


def _train_round(net, opt, pairs: dict, settings: AdaptSettings, rng, dev) -> float:
    """One round: ``passes`` shuffled passes over the pairs; the mean loss."""
    x = torch.from_numpy(pairs["inputs"])[:, None]
    if settings.target == "image":
        y, m = torch.from_numpy(pairs["targets"]), torch.from_numpy(pairs["masks"])
    losses = []
    net.train()
    for _ in range(settings.passes):
        order = rng.permutation(len(x))
        for a in range(0, len(order), settings.batch_size):
            idx = torch.from_numpy(order[a : a + settings.batch_size])
            out = net(x[idx].to(dev))[:, 0]
            if settings.target == "projections":
                picked = idx.tolist()
                sinos = [pairs["target_sinos"][i] for i in picked]
                angles = [pairs["target_angles"][i] for i in picked]
                loss = measured_projection_loss(out, sinos, angles)
            else:
                loss = masked_fourier_loss(out, y[idx].to(dev), m[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    net.eval()
    return float(np.mean(losses))


def _resume(ckpt_dir: Path, net, opt, identity: dict) -> tuple[int, list]:
    """Load the latest checkpoint if it belongs to this adaptation: (rounds done, losses)."""
    found = latest_checkpoint(ckpt_dir)
    if found is None:
        return 0, []
    tensors, meta = read_checkpoint(found)
    theirs = dict(meta.get("identity", {}))
    if "settings" in theirs:
        # settings added since behaved as their defaults do now
        theirs["settings"] = asdict(AdaptSettings()) | theirs["settings"]
    if theirs != identity:
        differs = sorted(k for k in set(theirs) | set(identity) if theirs.get(k) != identity.get(k))
        raise ValueError(
            f"{ckpt_dir.parent} holds an adaptation with other {', '.join(differs)}; "
            "choose another output directory or pass --overwrite"
        )
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    opt.load_state_dict(optimizer_from_flat(tensors, meta["optimizer"], "opt"))
    return int(meta["round"]), list(meta["losses"])


def _copy_base(base: Path, out: Path) -> None:
    """The networks adaptation leaves alone, with their cards."""
    for name in WEIGHT_FILES.values():
        for src in (base / name, card_path_for(base / name)):
            atomic_write(out / src.name, lambda tmp, src=src: shutil.copyfile(src, tmp))


def adapt(
    sino,
    angles_deg,
    out_dir,
    *,
    model=None,
    minutes: float | None = 30.0,
    rounds: int | None = None,
    settings: AdaptSettings | None = None,
    overwrite: bool = False,
    device: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> AdaptResult:
    """Fine-tune the network of ``joint``'s prior on the user's own slices.

    Parameters
    ----------
    sino : array_like, shape (n_slices, n_tilts, n_det)
        Sample slices of the user's volume (line integrals).
    angles_deg : array_like, shape (n_tilts,)
    out_dir : str or path-like
        The weights directory to write (created; resumed if it holds this
        adaptation's checkpoints).
    model : str or path-like, optional
        Base weights directory (default: the installed weights).
    minutes : float, optional
        Time budget: no round starts that would not end within it (the
        preparation counts). None: no budget (then ``rounds`` is needed).
        On clean data wider than the network, choosing the prior's size
        after training (:func:`~.prior_size.choose_clean_prior_size`: four
        ``joint`` reconstructions of one slice, about 25 s at 256 px on 2
        CPU cores) counts too: its time is measured on one slice first
        (:func:`~.prior_size.choice_seconds`) and kept out of the rounds'.
    rounds : int, optional
        Stop after this many rounds in all (resumed ones included).
    settings : AdaptSettings, optional
    overwrite : bool
        Start afresh even if ``out_dir`` holds weights or other checkpoints.
    device : {"auto", "cpu", "cuda"}
    progress : callable, optional
        Called with a one-line message per round.

    Returns
    -------
    AdaptResult

    Raises
    ------
    ValueError
        Too few slices or tilts, base weights without the "tv" prior's
        network, an output directory holding something else, or a budget
        that leaves no time for one round (nothing is written then).
    """
    t0 = time.perf_counter()
    settings = settings or AdaptSettings()
    s = np.asarray(sino, dtype=np.float32)
    a = np.asarray(angles_deg, dtype=np.float64)
    _check_data(s, a)
    if minutes is None and rounds is None:
        raise OptionError(
            "give a time budget {minutes} or a number of {rounds}", "minutes", "rounds"
        )
    base = WEIGHTS_DIR if model is None else Path(model)
    out = Path(out_dir)
    if out.resolve() == base.resolve():
        raise ValueError(f"the output directory {str(out)!r} is the base weights directory")
    if (
        (out / TV_DEARTIFACT_FILE).exists()
        and not overwrite
        and latest_checkpoint(out / CHECKPOINT_DIR) is None
    ):
        raise ValueError(f"{str(out)!r} already holds weights; pass --overwrite to replace them")
    m = load_joint_model(base, device=device)
    if m.deartifact_tv is None:
        raise ValueError(f"the weights in {str(base)!r} have no {TV_DEARTIFACT_FILE} to adapt")
    dev = torch_device(device)
    # load_joint_model (unlike get_model) is not cached: its network is ours to train
    net, card = m.deartifact_tv, m.cards["deartifact_tv"]
    opt = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    identity = {
        "base": sha256_file(base / TV_DEARTIFACT_FILE),
        "data": data_fingerprint(s, a),
        "settings": asdict(settings),
    }
    ckpt_dir = out / CHECKPOINT_DIR
    if overwrite and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    done, losses = _resume(ckpt_dir, net, opt, identity)
    start_round = done
    data = prepare_halves(
        m, s, a, device=device, tv_iterations=settings.tv_iterations, size=settings.size
    )
    budget = None if minutes is None else 60.0 * float(minutes)
    reserve = 0.0
    if budget is not None and has_choice(s, a, data.n, device=device):
        # the prior-size choice after training counts in the budget: reserve its time
        if progress is not None:
            progress("adapt: timing the prior-size choice to reserve it in the budget")
        reserve = choice_seconds(base, s, a, device=device)
        budget -= reserve
    last = 0.0
    while rounds is None or done < rounds:
        elapsed = time.perf_counter() - t0
        if budget is not None and elapsed + last > budget:
            break
        t_round = time.perf_counter()
        rng = np.random.default_rng([settings.seed, done])
        pairs = make_pairs(data, rng, settings.pairs_per_round, device, settings.target)
        losses.append(_train_round(net, opt, pairs, settings, rng, dev))
        done += 1
        tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
        opt_tensors, opt_meta = optimizer_to_flat(opt.state_dict(), "opt")
        meta = {"round": done, "losses": losses, "identity": identity, "optimizer": opt_meta}
        write_checkpoint(ckpt_dir, done, {**tensors, **opt_tensors}, meta, keep=1)
        last = time.perf_counter() - t_round
        if progress is not None:
            progress(f"adapt: round {done}, loss {losses[-1]:.4g}, {last:.0f} s")
    if done == 0:  # nothing learned: writing the base weights as adapted ones would mislead
        spent = time.perf_counter() - t0
        raise ValueError(
            f"the time budget of {minutes:g} min left no time for a round (preparing the data "
            f"took {spent - reserve:.0f} s, choosing the prior size needs {reserve:.0f} s): "
            "give more minutes"
        )
    _copy_base(base, out)
    metadata = dict(card.get("metadata", {}))
    metadata["adaptation"] = {
        "base_weights": str(base),
        "base_sha256": identity["base"],
        "data_fingerprint": identity["data"],
        "data_shape": list(s.shape),
        "settings": identity["settings"],
        "rounds": done,
        "losses": losses,
        "pair_tv_iterations": data.tv_iterations,
    }
    # the one size it was adapted at (prepare_halves), for prior_size "auto" and the
    # prior's grid on noisy data
    metadata["trained_sizes"] = [data.n]
    metadata["grid"] = {**metadata.get("grid", {}), "n": data.n}
    save_model(net, out / TV_DEARTIFACT_FILE, metadata=metadata)
    # on clean data wider than the network, whether joint runs it there or at its own size
    choice = choose_clean_prior_size(out, s, a, data.n, device=device, progress=progress)
    if choice is not None:
        metadata["adaptation"].update(choice)
        save_model(net, out / TV_DEARTIFACT_FILE, metadata=metadata)
    seconds = time.perf_counter() - t0
    return AdaptResult(
        out,
        done,
        losses,
        seconds,
        start_round,
        data.tv_iterations,
        size=data.n,
        clean_prior_size=None if choice is None else choice["clean_prior_size"],
    )
