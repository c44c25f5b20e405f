"""Preprocessing backends: tomopy where importable (conda), algotom otherwise (pip)."""

from __future__ import annotations

import importlib
import logging

__all__ = ["BACKENDS", "RING_METHODS", "available_backends", "backend"]

logger = logging.getLogger(__name__)

#: Backends in order of preference for ``backend="auto"``.
BACKENDS = ("tomopy", "algotom")

_INSTALL_HINT = {
    "tomopy": (
        "tomopy is not installed (it is available from conda only: "
        "`conda install -c conda-forge tomopy`); use backend='auto' or 'algotom'"
    ),
    "algotom": "algotom is not installed: `pip install algotom`",
}

#: Ring-removal methods: name -> (tomopy function, algotom function).
RING_METHODS = {
    "sorting": ("remove_stripe_based_sorting", "remove_stripe_based_sorting"),
    "all": ("remove_all_stripe", "remove_all_stripe"),
    "fw": ("remove_stripe_fw", "remove_stripe_based_wavelet_fft"),
}

# Show a progress bar for per-sinogram loops over at least this many rows.


# --------------------------------------------------------------------------- backends


def _import_backend(name: str):
    """Import and return the backend's module, or None when it cannot be imported."""
    try:
        return importlib.import_module(name)
    except (ImportError, OSError) as exc:  # OSError: a broken compiled extension
        logger.debug("backend %s not importable: %s", name, exc)
        return None


def available_backends() -> list[str]:
    """Backends that can be imported here, in order of preference.

    Returns
    -------
    list of str
        A subset of ``["tomopy", "algotom"]``.
    """
    return [name for name in BACKENDS if _import_backend(name) is not None]


def backend(name: str = "auto") -> str:
    """Resolve a backend name.

    Parameters
    ----------
    name : {"auto", "tomopy", "algotom"}
        ``"auto"`` picks ``"tomopy"`` when it is importable, else ``"algotom"``.

    Returns
    -------
    str
        ``"tomopy"`` or ``"algotom"``.

    Raises
    ------
    ValueError
        For an unknown name, or when the requested backend (for ``"auto"``:
        every backend) cannot be imported; the message says how to install it.
    """
    return _resolve_backend(name)


def _resolve_backend(name: str) -> str:
    # Separate from `backend` because the step functions take a `backend` argument.
    if not isinstance(name, str) or name not in ("auto", *BACKENDS):
        raise ValueError(f"backend must be one of 'auto', 'tomopy', 'algotom', got {name!r}")
    if name == "auto":
        avail = available_backends()
        if not avail:
            raise ValueError(f"no preprocessing backend is installed; {_INSTALL_HINT['algotom']}")
        return avail[0]
    if _import_backend(name) is None:
        raise ValueError(_INSTALL_HINT[name])
    return name


def _backend_module(name: str):
    resolved = _resolve_backend(name)
    return resolved, importlib.import_module(resolved)
