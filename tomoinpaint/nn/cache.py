"""A model loaded once per process and reused by every slice chunk.

The volume pipeline runs a deep method on hundreds of chunks; each chunk task
asks :func:`cached_model` for the model instead of loading the weights itself,
so a worker process loads them once. The weights' files are part of the key
(their modification times and sizes): weights rewritten in place, as by
``tomoinpaint adapt`` into the same directory, are loaded again, not served
stale from the cache.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable

__all__ = ["cached_model", "weights_stamp"]

logger = logging.getLogger(__name__)

_MODEL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_model(loader: Callable, weights: str | None, device: str, stamp: tuple):
    logger.info("loading model %s on %s (once per worker)", weights, device)
    return loader(weights, device)


def weights_stamp(weights: str | None) -> tuple:
    """What identifies the current contents of a weights file or directory.

    Parameters
    ----------
    weights : str or None

    Returns
    -------
    tuple
        ``(name, st_mtime_ns, st_size)`` of the file, or of each file directly
        inside the directory, sorted by name; empty for None or a path that does
        not exist (the loader then reports it).
    """
    if weights is None:
        return ()
    try:
        if os.path.isdir(weights):
            entries = sorted((e for e in os.scandir(weights) if e.is_file()), key=lambda e: e.name)
            stats = [(e.name, e.stat()) for e in entries]
        else:
            stats = [(os.path.basename(weights), os.stat(weights))]
    except OSError:
        return ()
    return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)


def cached_model(loader: Callable, weights: str | os.PathLike | None, device: str):
    """A model loaded once per worker process and reused by every chunk.

    Parameters
    ----------
    loader : callable
        ``loader(weights, device) -> model``; must be a module-level function
        (it is part of the cache key).
    weights : str, os.PathLike or None
        Weights file (None: the loader's default weights).
    device : str
        e.g. "cpu", "cuda", "cuda:1".

    Returns
    -------
    object
        What ``loader`` returned, cached by ``(loader, weights, device)`` and
        :func:`weights_stamp` of the weights (up to 8 entries per process;
        thread-safe).
    """
    path = None if weights is None else str(weights)
    with _MODEL_LOCK:
        return _load_model(loader, path, str(device), weights_stamp(path))
