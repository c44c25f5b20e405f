"""Save and load networks as safetensors weights plus a JSON model card.

Files
-----
``NAME.safetensors``
    The model's ``state_dict`` (parameters and buffers), written with
    :func:`safetensors.torch.save_file`. The model card (without its checksum)
    is also embedded in the safetensors header metadata under
    ``"tomoinpaint.card"``, so the weights file alone is self-describing.
``NAME.json``
    The model card: architecture name (a key of :data:`~.build.BUILDERS`),
    resolved config, parameter count, SHA-256 of the weights file and any
    metadata given at save time (angular grid, training recipe, steps,
    metrics, ...).

Loading never unpickles: files with a pickle suffix (``.pt``, ``.pth``,
``.ckpt``, ``.pkl``, ``.pickle``) are refused, and so is any file whose bytes
are not a safetensors header (a pickle stream or a ``torch.save`` zip archive is
named as such in the error). The card's architecture and config build a fresh
model whose parameter names and shapes must match the stored tensors exactly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..io.atomic import atomic_write, atomic_write_text
from ..provenance import json_default, sha256_file
from .build import BUILDERS
from .config import CONFIG_CLASSES, config_from_dict
from .discriminators import DeartifactDiscriminator, DualPathDiscriminator
from .inpainter import InpaintGenerator
from .summary import count_parameters
from .unet import UNetGenerator

__all__ = ["save_model", "load_model", "read_card", "card_path_for", "CARD_FORMAT"]

log = logging.getLogger(__name__)

CARD_FORMAT = "tomoinpaint.model-card"
CARD_VERSION = 1
_EMBEDDED_KEY = "tomoinpaint.card"
_PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".pkl", ".pickle"}
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header

_ARCHITECTURE_OF: dict[type, str] = {
    InpaintGenerator: "inpainter",
    UNetGenerator: "unet",
    DualPathDiscriminator: "inpaint_disc",
    DeartifactDiscriminator: "deartifact_disc",
}


def card_path_for(path: str | os.PathLike) -> Path:
    """The model card path beside a weights file: ``NAME.safetensors`` -> ``NAME.json``."""
    return Path(path).with_suffix(".json")


def _jsonable(obj: Any) -> Any:
    """``json.dumps`` fallback: torch tensors and dataclasses, then :func:`json_default`."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    try:
        return json_default(obj)
    except TypeError:
        raise TypeError(
            f"metadata value of type {type(obj).__name__} is not JSON serialisable"
        ) from None


def _dumps(obj: Any, **kw: Any) -> str:
    try:
        return json.dumps(obj, default=_jsonable, **kw)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def save_model(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    architecture: str | None = None,
    config: Any = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights (safetensors) and its model card (JSON).

    Parameters
    ----------
    model : torch.nn.Module
        A network of :mod:`tomoinpaint.nn` (or any module that ``BUILDERS[architecture]``
        rebuilds from ``config``).
    path : str or path-like
        Weights file; must end in ``.safetensors``. The card goes to
        :func:`card_path_for` ``(path)``.
    architecture : str, optional
        Key of :data:`~.build.BUILDERS`; inferred from the model class if omitted.
    config : config dataclass, optional
        Defaults to ``model.config``.
    metadata : mapping, optional
        JSON-serialisable information stored in the card under ``"metadata"``
        (numpy arrays and tensors become lists), e.g. ``{"angles_deg": [...],
        "recipe": {...}, "steps": 10000, "metrics": {"psnr": 27.5}}``.

    Returns
    -------
    pathlib.Path
        The weights path.

    Raises
    ------
    ValueError
        Wrong suffix, unknown architecture, config of the wrong type, or metadata
        that is not JSON serialisable.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"weights path must end in .safetensors, got {str(path)!r}")
    if architecture is None:
        architecture = _ARCHITECTURE_OF.get(type(model))
        if architecture is None:
            raise ValueError(
                f"cannot infer the architecture of a {type(model).__name__}; pass "
                f"architecture= (one of {sorted(BUILDERS)})"
            )
    if architecture not in BUILDERS:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(BUILDERS)}")
    config = getattr(model, "config", None) if config is None else config
    expected = CONFIG_CLASSES[architecture]
    if not isinstance(config, expected):
        raise ValueError(
            f"architecture {architecture!r} needs a {expected.__name__} config, "
            f"got {type(config).__name__}"
        )
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "format_version": CARD_VERSION,
        "architecture": architecture,
        "config": config.to_dict(),
        "n_parameters": count_parameters(model),
        "torch_version": torch.__version__,
        "metadata": dict(metadata or {}),
    }
    embedded = _dumps(card)  # also validates the metadata before anything is written
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={_EMBEDDED_KEY: embedded}))
    card["weights_file"] = path.name
    card["sha256"] = sha256_file(path)
    text = _dumps(card, indent=2, sort_keys=False) + "\n"
    atomic_write_text(card_path_for(path), text)
    log.info("saved %s (%s, %d parameters)", path, architecture, card["n_parameters"])
    return path


def _check_safetensors_file(path: Path) -> None:
    """Refuse anything that is not a safetensors file, before any parser sees it."""
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise ValueError(
            f"refusing to load {str(path)!r}: {path.suffix} files are pickles, which can run "
            f"code when loaded; convert them to .safetensors in a trusted environment"
        )
    if not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError(
            f"refusing to load {str(path)!r}: it is a zip archive (torch.save checkpoint), "
            f"not safetensors; pickled checkpoints can run code when loaded"
        )
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise ValueError(
            f"refusing to load {str(path)!r}: it is a pickle stream, not safetensors; "
            f"pickles can run code when loaded"
        )
    n = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if len(head) < 9 or not 0 < n <= min(_MAX_HEADER, size - 8) or head[8:9] != b"{":
        raise ValueError(f"{str(path)!r} is not a safetensors file (bad header)")


def _embedded_card(path: Path) -> dict[str, Any] | None:
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors.SafetensorError and I/O errors
        raise ValueError(f"{str(path)!r} is not a readable safetensors file: {exc}") from None
    text = meta.get(_EMBEDDED_KEY)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"model card embedded in {str(path)!r} is not valid JSON: {exc}") from None


def _validate_card(card: Any, source: str) -> dict[str, Any]:
    if not isinstance(card, dict):
        raise ValueError(f"model card {source} is not a JSON object")
    if card.get("format") != CARD_FORMAT:
        raise ValueError(
            f"model card {source} has format {card.get('format')!r}, expected {CARD_FORMAT!r}"
        )
    version = card.get("format_version")
    if not isinstance(version, int) or version > CARD_VERSION:
        raise ValueError(
            f"model card {source} has format_version {version!r}; this tomoinpaint reads "
            f"versions <= {CARD_VERSION}"
        )
    for key in ("architecture", "config"):
        if key not in card:
            raise ValueError(f"model card {source} lacks {key!r}")
    if card["architecture"] not in BUILDERS:
        raise ValueError(
            f"model card {source} names unknown architecture {card['architecture']!r}; "
            f"known: {sorted(BUILDERS)}"
        )
    try:
        config_from_dict(card["architecture"], card["config"])
    except ValueError as exc:
        raise ValueError(f"model card {source}: {exc}") from None
    return card


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """The model card of a weights file (the JSON beside it, else the embedded copy).

    Parameters
    ----------
    path : str or path-like
        The ``.safetensors`` weights file.

    Returns
    -------
    dict
        The card; see :func:`save_model`.

    Raises
    ------
    ValueError
        Pickle or non-safetensors file, missing or malformed card, or a JSON card
        that disagrees with the embedded one (architecture, config) or with the
        weights file's checksum.
    """
    path = Path(path)
    _check_safetensors_file(path)
    embedded = _embedded_card(path)
    side = card_path_for(path)
    if side.is_file():
        try:
            card = json.loads(side.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"model card {str(side)!r} is not valid JSON: {exc}") from None
        card = _validate_card(card, repr(str(side)))
        sha = card.get("sha256")
        if sha is not None and sha != sha256_file(path):
            raise ValueError(
                f"model card {str(side)!r} does not belong to {str(path)!r}: SHA-256 mismatch"
            )
        if embedded is not None and (
            embedded.get("architecture") != card["architecture"]
            or embedded.get("config") != card["config"]
        ):
            raise ValueError(
                f"model card {str(side)!r} disagrees with the card embedded in {str(path)!r} "
                f"(architecture/config)"
            )
        return card
    if embedded is None:
        raise ValueError(f"no model card: neither {str(side)!r} nor one embedded in {str(path)!r}")
    return _validate_card(embedded, f"embedded in {str(path)!r}")


def _check_tensors(path, arch: str, card: dict, stored: dict, expected: dict) -> None:
    """Refuse stored tensors whose names or shapes differ from the model the card describes."""
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = [
        f"{k}: stored {stored[k]}, model {v}"
        for k, v in expected.items()
        if k in stored and stored[k] != v
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s) e.g. {unexpected[:3]}")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es) e.g. {wrong[:3]}")
        raise ValueError(
            f"weights in {str(path)!r} do not match architecture {arch!r} with config "
            f"{card['config']}: " + "; ".join(parts)
        )


def load_model(
    path: str | os.PathLike, *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a network from its safetensors weights and model card, without unpickling.

    Parameters
    ----------
    path : str or path-like
        The ``.safetensors`` weights file (card beside it or embedded).
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    model : torch.nn.Module
        In eval mode.
    card : dict
        The model card (architecture, config, metadata, ...).

    Raises
    ------
    ValueError
        Pickle files (by suffix or content), non-safetensors files, bad cards,
        unknown config keys, or stored tensors whose names or shapes do not
        match the model the card describes.
    """
    path = Path(path)
    card = read_card(path)
    arch = card["architecture"]
    config = config_from_dict(arch, card["config"])
    try:
        with safe_open(str(path), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors.SafetensorError and I/O errors
        raise ValueError(f"{str(path)!r} is not a readable safetensors file: {exc}") from None
    # The card's architecture is checked against the stored shapes on the meta device
    # first: a card asking for a huge network allocates nothing before it is refused.
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in BUILDERS[arch](config).state_dict().items()}
    _check_tensors(path, arch, card, stored, expected)
    model = BUILDERS[arch](config)
    tensors = load_file(path, device="cpu")
    model.load_state_dict(tensors, strict=True)
    model.to(device).eval()
    return model, card
