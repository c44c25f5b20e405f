"""Parameter counts and a readable summary of a network."""

from __future__ import annotations

import torch.nn as nn

__all__ = ["count_parameters", "describe"]


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (elements) of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
    trainable_only : bool
        Count only parameters with ``requires_grad``.

    Returns
    -------
    int
        Buffers (e.g. batch-norm running statistics) are not counted.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _fmt(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} M"
    if n >= 1_000:
        return f"{n / 1e3:.1f} k"
    return str(n)


def describe(model: nn.Module) -> str:
    """A short multi-line summary of ``model``.

    Lists the class, the config (if the model carries one as ``model.config``),
    total and trainable parameters, float32 size, the receptive field where the
    model reports one (``model.receptive_field()``), and the parameters of each
    top-level child module (of the wrapped module
    if the model wraps a single one).

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    str
    """
    total = count_parameters(model)
    trainable = count_parameters(model, trainable_only=True)
    n_buffers = sum(b.numel() for b in model.buffers())
    lines = [f"{type(model).__name__}"]
    config = getattr(model, "config", None)
    if config is not None:
        lines.append(f"  config: {config}")
    lines.append(
        f"  parameters: {total:,} ({_fmt(total)}; trainable {trainable:,}); "
        f"float32 size {4 * (total + n_buffers) / 2**20:.2f} MiB"
    )
    rf = getattr(model, "receptive_field", None)
    if callable(rf):
        lines.append(f"  receptive field: {rf()} px")
    lines.append(f"  mode: {'train' if model.training else 'eval'}")
    children = list(model.named_children())
    prefix = ""
    while len(children) == 1 and list(children[0][1].named_children()):
        # a wrapper around one network (e.g. the discriminators' ``net``): show its parts
        prefix += children[0][0] + "."
        children = list(children[0][1].named_children())
    children = [(prefix + name, child) for name, child in children]
    if children:
        width = max(len(name) for name, _ in children)
        for name, child in children:
            n = count_parameters(child)
            lines.append(f"    {name:<{width}}  {type(child).__name__:<20} {n:>12,}")
    return "\n".join(lines)
