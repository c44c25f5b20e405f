"""The one place that turns a device name into a ``torch.device``.

ASTRA's device (the projectors) is resolved by
:func:`tomoinpaint.project.resolve_device`; this is its torch counterpart,
with the same names and the same refusals.
"""

from __future__ import annotations

import torch

from ..project import DEVICES

__all__ = ["torch_device"]


def torch_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when torch sees a GPU, else CPU; ``"cuda"`` must exist.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or torch.device

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        For an unknown name, or "cuda" on a machine where torch sees no GPU.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA GPU")
    return torch.device(device)
