"""Checks of the paths a user gives, with the message that says what is wrong."""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["check_input_path"]


def check_input_path(path: str | os.PathLike, what: str = "input file", *, directory_ok=False):
    """Refuse a path that cannot be read as a file, saying why.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        How the message names the path ("input file", "angle file").
    directory_ok : bool
        Accept a directory (a TIFF stack directory).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        "WHAT not found: PATH" when nothing is there; otherwise a message for
        a symlink that cannot be followed (dangling or a loop), a directory,
        or something that is not a regular file (a FIFO, a device, a socket).
    """
    p = Path(path)
    if not os.path.lexists(p):
        raise ValueError(f"{what} not found: {p}")
    try:
        mode = p.stat().st_mode
    except OSError as exc:
        if p.is_symlink():
            raise ValueError(
                f"{what} {p} is a symbolic link that cannot be followed "
                f"({exc.strerror or exc}: dangling or a loop)"
            ) from None
        raise ValueError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        if directory_ok:
            return p
        raise ValueError(f"{what} {p} is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
        raise ValueError(f"{what} {p} is a {kind}, not a regular file")
    return p
