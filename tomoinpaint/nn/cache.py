"""A model loaded once per process and reused by every slice chunk.

The volume pipeline runs a deep method on hundreds of chunks; each chunk task
asks :func:`cached_model` for the model instead of loading the weights itself,
so a worker process loads them once.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable

__all__ = ["cached_model"]

logger = logging.getLogger(__name__)

_MODEL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_model(loader: Callable, weights: str | None, device: str):
    logger.info("loading model %s on %s (once per worker)", weights, device)
    return loader(weights, device)


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
        What ``loader`` returned, cached by ``(loader, weights, device)``
        (up to 8 entries per process; thread-safe).
    """
    with _MODEL_LOCK:
        return _load_model(loader, None if weights is None else str(weights), str(device))
