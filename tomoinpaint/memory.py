"""Memory this machine can give, and a clear refusal when a run cannot fit in it.

A run that needs more memory than the machine has does not fail cleanly: the
kernel's out-of-memory killer ends it (exit 137, no message) or the machine
starts swapping for hours. Sizes that are known before any work (a chunk of
rows, a simulated volume) are checked here instead, against the memory the
kernel reports as available (``MemAvailable``: free memory plus what it can
reclaim without swapping).
"""

from __future__ import annotations

import os
import sys

from .errors import OptionError

__all__ = ["available_memory", "check_memory", "gib", "worker_memory_left"]


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation without swapping.

    Returns
    -------
    int or None
        ``MemAvailable`` from ``/proc/meminfo`` (Linux); otherwise free
        physical pages x page size where the OS reports them; None where
        nothing is known (then no check refuses anything).
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def worker_memory_left() -> int | None:
    """Bytes this process may still take under its dask.distributed worker's memory limit.

    A distributed worker's nanny restarts it when it passes its
    ``memory_limit`` (by default the machine's memory shared out between the
    workers on it), whatever the machine has free.

    Returns
    -------
    int or None
        The limit less what the process holds now (resident memory); None
        outside a distributed worker, or when its memory is not limited.
    """
    distributed = sys.modules.get("distributed")  # a worker has imported it already
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:  # not in a worker
        return None
    limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
    monitor = getattr(worker, "monitor", None)  # what the nanny's limit is measured by
    if not limit or not hasattr(monitor, "get_process_memory"):
        return None
    return max(0, int(limit) - int(monitor.get_process_memory()))


def gib(n_bytes: float) -> str:
    """A byte count for people: ``'1.5 GiB'``, ``'320 MiB'``."""
    if n_bytes >= 1 << 30:
        return f"{n_bytes / (1 << 30):.1f} GiB"
    return f"{n_bytes / (1 << 20):.0f} MiB"


def check_memory(
    needed: int,
    what: str,
    advice: str = "",
    *options: str,
    available: int | None = None,
) -> None:
    """Refuse a run whose known memory need exceeds what is available.

    Parameters
    ----------
    needed : int
        Bytes the run needs at least (a lower bound: what it must hold, not a
        guess of the total, so a run that could fit is never refused).
    what : str
        What needs it, for the message (``"64-slice chunks of 2048 x 2048 on
        4 workers"``).
    advice : str
        How to need less, an :class:`~tomoinpaint.errors.OptionError`
        template naming ``options`` (``"use {chunk} 16"``); may be empty.
    *options : str
        The option names ``advice`` refers to.
    available : int, optional
        Bytes available; default :func:`available_memory` (None: no check).

    Raises
    ------
    OptionError
        (not a usage error) naming the need, what is available and the advice.
    """
    if available is None:
        available = available_memory()
    if available is None or needed <= available:
        return
    text = f"{what} needs at least {gib(needed)} of memory and {gib(available)} is available"
    template = text.replace("{", "{{").replace("}", "}}")
    if advice:
        template += "; " + advice
    raise OptionError(template, *options, usage=False)
