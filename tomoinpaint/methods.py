"""The one registry of reconstruction methods, classical and deep, by name.

The CLI, the volume pipeline and the benchmarks pick methods here. Every
method has the signature ``method(sino, angles_deg, *, ..., device="auto")``
(:mod:`tomoinpaint.recon`, :mod:`tomoinpaint.recon.joint`).
"""

from __future__ import annotations

import inspect

import numpy as np

from .recon.iterative import sart, sirt
from .recon.joint import deartifact, inpaint, joint, paper
from .recon.tv import tv
from .recon.wbp import fbp, wbp

__all__ = [
    "METHODS",
    "DEEP_METHODS",
    "SLAB_EXACT",
    "check_options",
    "method_options",
    "parse_method_spec",
    "reconstruct",
]

#: Method name -> function.
METHODS = {
    "wbp": wbp,
    "fbp": fbp,
    "sart": sart,
    "sirt": sirt,
    "tv": tv,
    "joint": joint,
    "paper": paper,
    "inpaint": inpaint,
    "deartifact": deartifact,
}
#: The methods that need trained weights (option ``model``).
DEEP_METHODS = ("joint", "paper", "inpaint", "deartifact")
#: Methods whose ``slab`` option gives those rows of the whole slice (pixel by pixel);
#: for the others that take one (SART, SIRT, TV) a slab is a support constraint.
SLAB_EXACT = frozenset({"wbp", "fbp"})


def method_options(method: str) -> tuple[str, ...]:
    """Names of the keyword options a method accepts (besides ``device``)."""
    fn = _get(method)
    return tuple(
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "device"
    )


def _get(method: str):
    try:
        return METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}") from None


def reconstruct(
    sino, angles_deg, method: str = "wbp", *, device: str = "auto", **options
) -> np.ndarray:
    """Reconstruct with a method chosen by name.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    method : str
        A key of :data:`METHODS`.
    device : {"auto", "cpu", "cuda"}
    **options
        Keyword options of that method; unknown ones are a ValueError.

    Returns
    -------
    numpy.ndarray, shape (n_det, n_det) or (n_slices, n_det, n_det)
    """
    fn = _get(method)
    return fn(sino, angles_deg, device=device, **check_options(method, options))


def check_options(method: str, options: dict | None) -> dict:
    """A copy of ``options``, refused if ``method`` is unknown or has no such option.

    Raises
    ------
    ValueError
        Naming the unknown method or options and what is accepted.
    """
    _get(method)
    options = dict(options or {})
    allowed = method_options(method)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"method {method!r} has no option {', '.join(unknown)}; "
            f"it accepts: {', '.join(allowed)}"
        )
    return options


def parse_method_spec(spec: str) -> tuple[str, dict]:
    """A method and its options from ``METHOD[:OPTION=VALUE]...``.

    For comparing settings of one method side by side (``tomoinpaint
    benchmark --methods tv,tv:step_ratio=10,tv:iterations=2000``). Option
    names are the method's keyword options (``step-ratio`` is taken for
    ``step_ratio``); values are read as a whole number, a number,
    ``true``/``false``, or else as text (``auto``, ``hann``).

    Parameters
    ----------
    spec : str
        E.g. ``"sart"``, ``"tv:step_ratio=10"``, ``"joint:prior_weight=3:iterations=500"``.

    Returns
    -------
    method : str
    options : dict

    Raises
    ------
    ValueError
        Naming an unknown method or option, an option that takes an array
        (``x0``, ``row_weights``, ``slab``), or a part that is not OPTION=VALUE.
    """
    method, *parts = (v.strip() for v in spec.split(":"))
    options = {}
    for part in parts:
        key, sep, value = (v.strip() for v in part.partition("="))
        if not (sep and key and value):
            raise ValueError(f"{spec!r}: {part!r} is not OPTION=VALUE")
        key = key.replace("-", "_")
        if key in options:
            raise ValueError(f"{spec!r}: option {key} given twice")
        options[key] = _option_value(value)
    options = check_options(method, options)
    arrays = sorted(set(options) & _ARRAY_OPTIONS)
    if arrays:
        raise ValueError(f"{spec!r}: {', '.join(arrays)} takes an array, not a value in text")
    return method, options


#: Options that take arrays or pairs (a starting image, row weights, a slab),
#: which a ``METHOD:OPTION=VALUE`` entry cannot give.
_ARRAY_OPTIONS = frozenset({"x0", "row_weights", "slab"})


def _option_value(text: str):
    """``"300"`` -> 300, ``"0.5"`` -> 0.5, ``"true"`` -> True, anything else as it is."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
