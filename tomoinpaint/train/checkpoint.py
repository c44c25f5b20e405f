"""Training checkpoints without pickle: safetensors (tensors) + JSON (everything else).

A checkpoint ``ckpt-SSSSSSSS`` (``S`` = generator step) in a run directory is
two files, each written to a temporary name and renamed into place:

``ckpt-SSSSSSSS.safetensors``
    Every tensor: network weights and buffers (``generator.*``,
    ``discriminator.*``), optimiser state tensors (``opt_g.state.I.KEY``,
    ``opt_d.state.I.KEY``: Adam's ``exp_avg``, ``exp_avg_sq``, ``step``;
    RMSprop's ``square_avg``, ...), random-number-generator states
    (``rng.torch``, ``rng.cuda.K``, ``rng.numpy.keys``).
``ckpt-SSSSSSSS.json``
    Written second; the checkpoint exists once this file does. Format name and
    version, the SHA-256 of the tensors file, step/epoch/batch counters, the
    learning-rate schedule position, optimiser ``param_groups`` and non-tensor
    state entries, the rest of the RNG states (numpy's position, Python's
    ``random`` state), the validation history, best metric, the resolved
    training config and the caller's metadata.

``latest.json`` names the newest complete checkpoint (updated last). Loading
uses only :func:`safetensors.torch.load_file` and :func:`json.loads`: nothing
is ever unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..io.atomic import atomic_write, atomic_write_text
from ..provenance import dumps, sha256_file

__all__ = [
    "CHECKPOINT_FORMAT",
    "atomic_save_tensors",
    "sha256_file",
    "optimizer_to_flat",
    "optimizer_from_flat",
    "rng_state",
    "set_rng_state",
    "write_checkpoint",
    "read_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "tomoinpaint.train-checkpoint"
CHECKPOINT_VERSION = 1

_NAME = re.compile(r"^ckpt-(\d{8,})\.json$")


# --------------------------------------------------------------------------- files
def atomic_save_tensors(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """:func:`safetensors.torch.save_file` through a temporary file and a rename."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write(
        path, lambda tmp: save_file(flat, tmp, metadata=dict(metadata or {})), parents=True
    )


# --------------------------------------------------------------------------- optimisers
def optimizer_to_flat(
    state_dict: Mapping[str, Any], prefix: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors and JSON.

    Parameters
    ----------
    state_dict : mapping
        ``{"state": {param_id: {key: value}}, "param_groups": [...]}``.
    prefix : str
        Tensor-name prefix, e.g. ``"opt_g"``.

    Returns
    -------
    tensors : dict
        ``{f"{prefix}.state.{param_id}.{key}": tensor}``.
    meta : dict
        ``{"param_groups": [...], "scalars": {param_id: {key: value}}}`` with
        the non-tensor state entries.
    """
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entries in state_dict["state"].items():
        for key, value in entries.items():
            if "." in key:
                raise ValueError(f"optimizer state key {key!r} contains a dot")
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{int(pid)}.{key}"] = value
            else:
                scalars.setdefault(str(int(pid)), {})[key] = value
    groups = json.loads(dumps(list(state_dict["param_groups"])))
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_flat(
    tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], prefix: str
) -> dict[str, Any]:
    """Inverse of :func:`optimizer_to_flat`: a dict for ``optimizer.load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if name.startswith(head):
            pid, key = name[len(head) :].split(".", 1)
            state.setdefault(int(pid), {})[key] = value
    for pid, entries in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entries)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


# --------------------------------------------------------------------------- RNG
def rng_state(include_cuda: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Random states of torch (CPU, CUDA), numpy's global generator and ``random``."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if include_cuda and torch.cuda.is_available():
        for k, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{k}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    tensors["rng.numpy.keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    py = random.getstate()
    meta = {
        "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached": cached},
        "python": [py[0], list(py[1]), py[2]],
    }
    return tensors, meta


def set_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    cuda = sorted(
        (int(k.rsplit(".", 1)[1]), v) for k, v in tensors.items() if k.startswith("rng.cuda.")
    )
    if cuda and torch.cuda.is_available():
        states = [v.to(torch.uint8) for _, v in cuda][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(states)
    npm = meta["numpy"]
    keys = tensors["rng.numpy.keys"].numpy().astype(np.uint32)
    state = (npm["kind"], keys, npm["pos"], npm["has_gauss"], npm["cached"])
    np.random.set_state(state)  # noqa: NPY002 - the global generator third-party code uses
    py = meta["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


# --------------------------------------------------------------------------- files
def _stem(step: int) -> str:
    return f"ckpt-{int(step):08d}"


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints (their ``.json`` files) of a run directory, oldest first."""
    d = Path(run_dir)
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        m = _NAME.match(p.name)
        if m and p.with_suffix(".safetensors").is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint's ``.json`` (via ``latest.json``, else by step)."""
    d = Path(run_dir)
    pointer = d / "latest.json"
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
            p = d / f"{name}.json"
            if p.is_file() and p.with_suffix(".safetensors").is_file():
                return p
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("ignoring unreadable %s", pointer)
    found = list_checkpoints(d)
    return found[-1] if found else None


def write_checkpoint(
    run_dir: str | os.PathLike,
    step: int,
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    *,
    keep: int = 2,
) -> Path:
    """Write one checkpoint (tensors, then JSON, then ``latest.json``); prune old ones.

    Returns
    -------
    pathlib.Path
        The checkpoint's ``.json``.
    """
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    stem = _stem(step)
    tpath = d / f"{stem}.safetensors"
    atomic_save_tensors(tpath, tensors, {"format": CHECKPOINT_FORMAT})
    doc = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "tensors_file": tpath.name,
        "sha256": sha256_file(tpath),
        **meta,
    }
    jpath = d / f"{stem}.json"
    atomic_write_text(jpath, dumps(doc, indent=1) + "\n", parents=True)
    atomic_write_text(
        d / "latest.json", dumps({"checkpoint": stem, "step": int(step)}) + "\n", parents=True
    )
    for old in list_checkpoints(d)[:-keep]:
        if old != jpath:
            old.unlink(missing_ok=True)
            old.with_suffix(".safetensors").unlink(missing_ok=True)
    return jpath


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`write_checkpoint`, with json + safetensors only.

    Parameters
    ----------
    path : str or path-like
        The checkpoint's ``.json`` file, or a run directory (its latest checkpoint).

    Returns
    -------
    tensors : dict of torch.Tensor
        On the CPU.
    meta : dict

    Raises
    ------
    ValueError
        No checkpoint, wrong format, or a tensors file whose checksum differs.
    """
    p = Path(path)
    if p.is_dir():
        found = latest_checkpoint(p)
        if found is None:
            raise ValueError(f"no checkpoint in {p}")
        p = found
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read checkpoint {p}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{p} is not a tomoinpaint training checkpoint")
    if int(meta.get("format_version", 0)) > CHECKPOINT_VERSION:
        raise ValueError(f"{p} has format_version {meta['format_version']}; too new")
    tpath = p.parent / meta["tensors_file"]
    if Path(meta["tensors_file"]).name != meta["tensors_file"] or tpath.suffix != ".safetensors":
        raise ValueError(f"{p} names a bad tensors file {meta['tensors_file']!r}")
    if sha256_file(tpath) != meta.get("sha256"):
        raise ValueError(f"{tpath} does not match {p} (SHA-256 mismatch)")
    tensors = load_file(tpath, device="cpu")
    return tensors, meta
