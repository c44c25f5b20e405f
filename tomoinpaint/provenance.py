"""What produced a file: package versions and JSON for the records written beside outputs.

One helper for the sidecars of reconstructions, the resolved configs of
training runs and pipelines, checkpoints and model cards.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
from typing import Any

import numpy as np

__all__ = ["VERSION_PACKAGES", "versions", "json_default", "dumps", "sha256_file"]

#: Distributions whose versions every record names.
VERSION_PACKAGES = (
    "tomoinpaint",
    "astra-toolbox",
    "torch",
    "numpy",
    "scipy",
    "dask",
    "h5py",
    "mrcfile",
    "algotom",
)


def versions(packages: tuple[str, ...] = VERSION_PACKAGES) -> dict[str, str | None]:
    """Installed versions of tomoinpaint and its main dependencies.

    Parameters
    ----------
    packages : tuple of str
        Distribution names.

    Returns
    -------
    dict
        ``"python"`` and each distribution name -> version string (None when
        not installed). Read from package metadata, without importing anything.
    """
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays, paths, sets (sorted)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` that also takes what :func:`json_default` converts (NaN allowed)."""
    return json.dumps(obj, default=json_default, allow_nan=True, **kw)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
