"""Tilt-angle files (IMOD ``.tlt`` / ``.rawtlt``) and angle resolution.

An IMOD angle file holds one tilt angle in degrees per line, in the order of
the images in the stack. Blank lines are ignored.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import OptionError
from ..geometry import validate_angles
from .atomic import atomic_output
from .paths import check_input_path

__all__ = [
    "ANGLE_SUFFIXES",
    "read_angle_file",
    "write_angle_file",
    "format_angles",
    "angle_file_candidates",
    "find_angle_file",
    "resolve_angles",
]

logger = logging.getLogger(__name__)

#: Suffixes of angle files looked for beside a data file, in order.
ANGLE_SUFFIXES = (".tlt", ".rawtlt")


def read_angle_file(path: str | os.PathLike) -> np.ndarray:
    """Read an IMOD angle file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.tlt`` / ``.rawtlt`` (or any text) file with one angle in degrees
        per line; blank lines are skipped.

    Returns
    -------
    numpy.ndarray, shape (n_angles,), float64
        The validated angles (see :func:`tomoinpaint.geometry.validate_angles`).

    Raises
    ------
    ValueError
        If the file does not exist or cannot be read, a line is not a single
        number (message gives the file and line number), the file holds no
        angles, or the angles are invalid (non-finite, duplicates).
    """
    p = check_input_path(path, "angle file")
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read angle file {p}: {exc}") from None
    values = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        try:
            values.append(float(s))
        except ValueError:
            raise ValueError(f"{p}, line {lineno}: not a number: {s!r}") from None
    if not values:
        raise ValueError(f"angle file holds no angles: {p}")
    a = validate_angles(values, name=f"angles in {p}")
    check_degrees(a, p)
    logger.debug("read %d angles from %s (%.2f..%.2f deg)", a.size, p, a.min(), a.max())
    return a


def looks_like_radians(angles) -> bool:
    """Whether angles given without units are radians.

    Three or more angles, all within ±2π and spanning more than half a degree,
    are a tilt range no instrument records in degrees but the usual one in
    radians (±1.2 for ±70°).
    """
    a = np.asarray(angles, dtype=np.float64)
    return bool(a.size > 2 and np.abs(a).max() <= 2 * np.pi + 1e-6 and np.ptp(a) > 0.5)


def check_degrees(angles_deg: np.ndarray, source) -> None:
    """Refuse angles that look like radians (:func:`looks_like_radians`; an angle
    file is in degrees).

    Raises
    ------
    ValueError
        Naming ``source`` and the range.
    """
    a = np.asarray(angles_deg, dtype=np.float64)
    if looks_like_radians(a):
        raise ValueError(
            f"the angles in {source} span only {a.min():g}..{a.max():g}: they look like "
            "radians, and angle files are in degrees (multiply by 180/pi)"
        )


def format_angles(angles_deg) -> str:
    """The text of an IMOD angle file: one angle per line.

    Parameters
    ----------
    angles_deg : array_like, shape (n_angles,)

    Returns
    -------
    str
        Each angle in its shortest exact decimal form (so reading it back
        gives the same float64 values), one per line, ending with a newline.
    """
    a = validate_angles(angles_deg, name="angles_deg")
    return "".join(np.format_float_positional(v, trim="-") + "\n" for v in a)


def write_angle_file(path: str | os.PathLike, angles_deg, *, overwrite: bool = False) -> Path:
    """Write an IMOD angle file atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.tlt`` / ``.rawtlt`` path.
    angles_deg : array_like, shape (n_angles,)
        Degrees.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        On invalid angles; :class:`~tomoinpaint.io.atomic.OutputExistsError`
        if ``path`` exists and ``overwrite`` is False.
    """
    text = format_angles(angles_deg)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def angle_file_candidates(data_path: str | os.PathLike) -> list[Path]:
    """Where the angle file of a data file is looked for, in order.

    Parameters
    ----------
    data_path : str or os.PathLike
        A data file (``DIR/STEM.SUFFIX``) or a directory of images
        (``DIR/NAME``).

    Returns
    -------
    list of pathlib.Path
        ``DIR/STEM.tlt`` then ``DIR/STEM.rawtlt``. For a directory of images
        ``DIR/NAME.tlt`` and ``DIR/NAME.rawtlt`` beside it, then
        ``DIR/NAME/NAME.tlt`` and ``DIR/NAME/NAME.rawtlt`` inside it.
    """
    p = Path(data_path)
    if p.is_dir():
        name = p.name
        beside = [p.parent / f"{name}{s}" for s in ANGLE_SUFFIXES]
        inside = [p / f"{name}{s}" for s in ANGLE_SUFFIXES]
        return beside + inside
    return [p.with_suffix(s) for s in ANGLE_SUFFIXES]


def find_angle_file(data_path: str | os.PathLike) -> Path | None:
    """The angle file beside a data file, if there is one.

    Parameters
    ----------
    data_path : str or os.PathLike

    Returns
    -------
    pathlib.Path or None
        The first existing path of :func:`angle_file_candidates`, or None.
    """
    for c in angle_file_candidates(data_path):
        if c.is_file():
            return c
    return None


def resolve_angles(data_path: str | os.PathLike | None, angles) -> np.ndarray:
    """The tilt angles of a data file, from an explicit value or beside it.

    Parameters
    ----------
    data_path : str or os.PathLike or None
        The data file the angles belong to (used to look for an angle file
        when ``angles`` is None, and in error messages).
    angles : None, str, os.PathLike or array_like of shape (n_angles,)
        None: look for an angle file beside ``data_path``
        (:func:`find_angle_file`). A path: read that angle file (overrides
        any file beside the data). An array: the angles in degrees.

    Returns
    -------
    numpy.ndarray, shape (n_angles,), float64
        Validated angles in degrees.

    Raises
    ------
    ValueError
        If no angles are given and none are found (the message lists where
        they were looked for), or the angles are invalid.
    """
    if angles is None:
        if data_path is None:
            raise OptionError(
                "tilt angles are needed: pass angles or an angle file ({angles})", "angles",
                usage=False,
            )  # fmt: skip
        found = find_angle_file(data_path)
        if found is None:
            looked = ", ".join(str(c) for c in angle_file_candidates(data_path))
            raise OptionError(
                f"tilt angles are needed for {data_path}: none given and no angle file "
                f"found (looked for {looked}); pass an angle file with {{angles}}",
                "angles",
                usage=False,
            )
        logger.info("using tilt angles from %s", found)
        return read_angle_file(found)
    if isinstance(angles, (str, os.PathLike)):
        return read_angle_file(angles)
    return validate_angles(angles, name="angles")
