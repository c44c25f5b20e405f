"""Is a tilt series attenuation-like? What the non-negative methods need.

SART, SIRT and TV constrain the image to be non-negative, and the deep
methods learned from non-negative objects: they need projections in which
dense matter is bright and empty space is about zero (line integrals: the
minus-log of flat-field-normalised intensities, HAADF-STEM signals). A
series written with inverted contrast (dense matter dark, values mostly
negative) or normalised to zero mean per image (as some alignment and
denoising tools write them) would be clipped to a few positive specks: the result looks
like a reconstruction and is not one. :func:`check_attenuation_like` refuses
such a series before anything is computed; WBP/FBP, which are linear, take
any contrast.

The test is the balance ``sum(p) / sum(|p|)`` over a few whole tilt images:
each tilt image of a parallel-beam series sums to the object's total mass,
so attenuation-like data balance near +1 (noise in empty space lowers it a
little: the tests check simulated data down to 100 counts per pixel), data
with inverted contrast near -1 and zero-mean images near 0.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "NONNEGATIVE_METHODS",
    "MIN_BALANCE",
    "mass_balance",
    "needs_attenuation_like",
    "check_attenuation_like",
]

#: Methods whose images are constrained to be non-negative (or learned from such images).
NONNEGATIVE_METHODS = frozenset({"sart", "sirt", "tv", "joint", "paper", "inpaint", "deartifact"})
#: Smallest ``sum(p) / sum(|p|)`` of attenuation-like data; zero-mean images sit at about 0.
MIN_BALANCE = 0.02
#: Whole tilt images the balance is measured on.
_IMAGES = 5
#: Values read at once (16 MB of float64).
_BLOCK_VALUES = 2**21


def mass_balance(data, images: int = _IMAGES) -> float:
    """``sum(p) / sum(|p|)`` over a few whole tilt images, evenly spaced in the stack.

    Parameters
    ----------
    data : array-like, shape (n_tilts, ny, nx)
        Read a block of rows at a time (memory maps and lazy stacks stay on
        disk, and memory stays bounded however large an image is).
    images : int
        How many tilt images to read.

    Returns
    -------
    float
        In [-1, 1]; NaN for an all-zero series (nothing to misread).
    """
    n_tilts, ny, nx = (int(v) for v in data.shape)
    rows = max(1, _BLOCK_VALUES // max(nx, 1))
    picks = np.unique(np.linspace(0, n_tilts - 1, min(images, n_tilts)).round().astype(int))
    total = absolute = 0.0
    for i in picks:
        for y in range(0, ny, rows):
            block = np.asarray(data[int(i), y : y + rows], dtype=np.float64)
            total += float(block.sum())
            absolute += float(np.abs(block).sum())
    return total / absolute if absolute > 0 else float("nan")


def needs_attenuation_like(method: str, options: dict | None = None) -> bool:
    """Whether ``method`` with ``options`` needs attenuation-like data.

    Parameters
    ----------
    method : str
        A method name, or ``"auto"`` (its candidates are all non-negative).
    options : dict, optional
        The method's options; ``nonnegative=False`` lifts the constraint of
        SART, SIRT and TV.
    """
    if (options or {}).get("nonnegative", True) is False:
        return False
    return method == "auto" or method in NONNEGATIVE_METHODS


def check_attenuation_like(data, *, name: str, methods, options=None) -> None:
    """Refuse a series that is not attenuation-like for the methods that need it.

    Parameters
    ----------
    data : array-like, shape (n_tilts, ny, nx)
        The projections as the methods would get them (no flat fields).
    name : str
        The series, for the message.
    methods : iterable of str
        The methods that will run (``"auto"`` too); only those that need
        attenuation-like data (:func:`needs_attenuation_like`) are checked for.
    options : dict, optional
        Method name -> that method's options.

    Raises
    ------
    ValueError
        One line naming the balance, the likely cause and what to do.
    """
    options = options or {}
    methods = sorted({m for m in methods if needs_attenuation_like(m, options.get(m))})
    if not methods:
        return
    balance = mass_balance(data)
    if not balance < MIN_BALANCE:  # NaN (all zero) too
        return
    which = ", ".join(methods) + (" needs" if len(methods) == 1 else " need")
    if balance < -MIN_BALANCE:
        found = (
            f"mostly negative (sum / sum of |values| = {balance:.3f}: "
            "dense matter darker than empty space)"
        )
        fix = "invert the series (IMOD: newstack -multadd -1,0 IN OUT)"
    else:
        found = (
            f"balanced around zero (sum / sum of |values| = {balance:.3f}, as zero-mean images are)"
        )
        fix = "give line integrals whose empty space is near zero"
    raise ValueError(
        f"{name}: projections {found}; {which} attenuation-like data "
        f"(dense matter bright, empty space near zero): {fix}, or reconstruct with --method wbp"
    )
