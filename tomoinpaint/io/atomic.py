"""Atomic output files: write to a hidden temporary file, then rename.

Every file tomoinpaint writes goes through :func:`atomic_output` (one file) or
:func:`atomic_outputs` (several files committed together, e.g. an MRC tilt
series and its ``.tlt`` angle file). The data are written to a temporary file
in the same directory as the final path, named ``.STEM.tmp-XXXXXXXX.SUFFIX``
(hidden, real suffix kept at the end so that libraries that dispatch on the
suffix still work), and moved onto the final path with :func:`os.replace` only
when the ``with`` block succeeds. On any exception the temporary files are
removed and nothing appears at the final paths. :func:`atomic_write` and
:func:`atomic_write_text` are the one-call forms for the project's own files
(checkpoints, model cards, caches, configs), which are replaced by default.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

__all__ = [
    "OutputExistsError",
    "atomic_output",
    "atomic_outputs",
    "atomic_write",
    "atomic_write_text",
    "check_free_space",
    "check_target",
    "output_lock",
    "OutputBusyError",
    "NotEnoughSpaceError",
    "remove_stale_temporaries",
    "temporary_regex",
    "temporary_path",
]

logger = logging.getLogger(__name__)


class OutputExistsError(FileExistsError, ValueError):
    """An output path exists already and overwriting was not requested.

    A subclass of both :class:`FileExistsError` and :class:`ValueError`, so
    callers that turn ``ValueError`` into a one-line error message catch it.
    """


def temporary_path(path: str | os.PathLike) -> Path:
    """A fresh, not yet existing, hidden temporary path beside ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The final output path.

    Returns
    -------
    pathlib.Path
        ``PARENT/.STEM.tmp-XXXXXXXX.SUFFIX`` where ``SUFFIX`` is the suffix of
        ``path`` (empty when it has none).
    """
    p = Path(path)
    for _ in range(100):
        tmp = p.parent / f".{p.stem}.tmp-{secrets.token_hex(4)}{p.suffix}"
        if not os.path.lexists(tmp):
            return tmp
    raise RuntimeError(f"cannot find a free temporary name beside {p}")  # pragma: no cover


#: The name :func:`temporary_path` gives, possibly nested (a writer's own temporary of it).
_TEMPORARY_NAME = r"^\.+{stem}(?:\.tmp-[0-9a-f]{{8}})+{suffix}$"


def temporary_regex(stem_regex: str, suffix_regex: str) -> re.Pattern:
    """The names :func:`temporary_path` gives to outputs whose stem and suffix match.

    Parameters
    ----------
    stem_regex, suffix_regex : str
        Regular expressions of the final name's stem and suffix (with its dot).

    Returns
    -------
    re.Pattern
        Matches ``.STEM.tmp-XXXXXXXX.SUFFIX`` (and nested temporaries of it).
    """
    return re.compile(_TEMPORARY_NAME.format(stem=stem_regex, suffix=suffix_regex))


def remove_stale_temporaries(
    paths: Sequence[str | os.PathLike], *, keep: Sequence[str | os.PathLike] = ()
) -> list[Path]:
    """Delete temporary files of ``paths`` left by an earlier, killed writer.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Final output paths; their temporaries are the files beside them named
        as :func:`temporary_path` names them.
    keep : sequence of str or os.PathLike
        Temporaries of the current writer, never removed.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    kept = {Path(k) for k in keep}
    removed = []
    for f in map(Path, paths):
        pattern = temporary_regex(re.escape(f.stem), re.escape(f.suffix))
        for p in f.parent.iterdir():
            if pattern.match(p.name) and p not in kept:
                logger.info("removing %s, left by an interrupted run", p)
                try:
                    p.unlink()
                    removed.append(p)
                except OSError as exc:  # pragma: no cover - best effort
                    logger.warning("could not remove %s: %s", p, exc)
    return removed


def check_target(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse an output path that cannot or must not be written.

    Raises
    ------
    ValueError
        Its directory is missing or a file, or the path is a directory.
    OutputExistsError
        It exists and ``overwrite`` is False.
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        if os.path.lexists(parent) and not parent.is_dir():
            raise ValueError(f"output {path}: {parent} is a file, not a directory")
        raise ValueError(f"output directory does not exist: {parent} (for output {path})")
    if path.is_dir():
        raise ValueError(f"output path is a directory: {path}")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f"output exists: {path} (pass --overwrite to replace it)")


def _remove(tmp: Path) -> None:
    """Remove a temporary file or directory, if present, never raising."""
    try:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        elif os.path.lexists(tmp):
            tmp.unlink()
    except OSError as exc:  # pragma: no cover - best effort clean-up
        logger.warning("could not remove temporary file %s: %s", tmp, exc)


#: Errors that can only come from writing: named after the outputs even without a path.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def _named_for_user(exc: OSError, temps: Sequence[Path], finals: Sequence[Path]) -> OSError:
    """The same error, naming the user's output instead of its hidden temporary.

    An error that names a path already (another file's, or one renamed here
    by an enclosing write, e.g. a work-directory chunk that could not be
    saved while the volume was being written) is passed on unchanged, so the
    message names the file that failed, once.
    """
    if isinstance(exc, NotEnoughSpaceError) or getattr(exc, "names_user_path", False):
        return exc
    text = f"{exc.filename or ''} {exc.filename2 or ''} {exc}"
    reason = exc.strerror or str(exc)
    if exc.errno and ("\n" in reason or len(reason) > 200):
        # libraries (HDF5) put their whole error stack, temporary name included, in strerror
        reason = os.strerror(exc.errno)
    named = None
    for t, f in zip(temps, finals, strict=True):
        if str(t) in text or t.name in text:
            named = type(exc)(exc.errno, f"cannot write {f}: {reason}")
            break
    else:
        if exc.filename is None and exc.errno in _WRITE_ERRNOS:
            names = ", ".join(str(f) for f in finals)
            named = type(exc)(exc.errno, f"cannot write {names}: {reason}")
    if named is None:
        return exc
    named.names_user_path = True
    return named


class OutputBusyError(ValueError):
    """Another process is writing the same output (it holds :func:`output_lock`)."""


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on an output for one writer.

    The lock is a non-blocking :func:`fcntl.flock` on the hidden file
    ``.NAME.lock`` beside the output, removed on exit (and released by the
    operating system if the process dies). While it is held, no other run can
    write the output or take its temporaries for the leftovers of a killed
    run: only a run holding the lock removes stale temporaries.

    Raises
    ------
    OutputBusyError
        If another process holds the lock.
    """
    import fcntl  # optional: POSIX only, so that this module imports everywhere

    p = Path(path)
    if not p.parent.is_dir():  # the writer's own checks say what is wrong
        yield
        return
    lock = p.with_name(f".{p.name}.lock")
    try:
        f = open(lock, "a+")  # noqa: SIM115 - held for the duration of the block
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot write {p}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusyError(
                f"another run is writing {p} now; wait for it to finish or choose another output"
            ) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
    finally:
        f.close()


class NotEnoughSpaceError(OSError):
    """Raised by :func:`check_free_space` (an ``OSError`` with ``errno.ENOSPC``)."""


def check_free_space(needs: dict, *, for_what: str) -> None:
    """Refuse to start writing what cannot fit on its file systems.

    Parameters
    ----------
    needs : dict
        Path (an existing directory, or a file whose directory exists) ->
        bytes to be written there. Paths on one file system add up.
    for_what : str
        What the space is for, for the message (the user's output).

    Raises
    ------
    NotEnoughSpaceError
        An ``OSError`` (ENOSPC) naming ``for_what``, the bytes needed and free.
    """
    per_fs: dict[int, list] = {}
    for path, n in needs.items():
        d = Path(path)
        d = d if d.is_dir() else d.resolve().parent
        entry = per_fs.setdefault(os.stat(d).st_dev, [shutil.disk_usage(d).free, d, 0])
        entry[2] += int(n)
    for free, where, total in per_fs.values():
        if total > free:
            raise NotEnoughSpaceError(
                errno.ENOSPC,
                f"not enough disk space for {for_what}: {total / 2**20:.1f} MiB needed on the "
                f"file system of {where}, {free / 2**20:.1f} MiB free",
            )


@contextlib.contextmanager
def atomic_outputs(
    paths: Sequence[str | os.PathLike], *, overwrite: bool = False
) -> Iterator[list[Path]]:
    """Write several outputs that appear together or not at all.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        The final output paths (distinct).
    overwrite : bool
        Replace outputs that exist already. When False, an existing output is
        refused before anything is written.

    Yields
    ------
    list of pathlib.Path
        One temporary path per output, in the same order, in the same
        directory as its output. The temporary paths do not exist yet; write
        each of them (as a file) inside the ``with`` block.

    Raises
    ------
    OutputExistsError
        If an output exists and ``overwrite`` is False (checked on entry and
        again just before committing).
    ValueError
        If an output's directory does not exist, an output is a directory,
        the paths are not distinct, or a temporary file was not written.

    Notes
    -----
    On success the temporary files are moved onto their final paths with
    :func:`os.replace`, in order. If the block raises, every temporary file is
    removed and the exception propagates. If a rename itself fails part-way,
    the outputs already moved that did not exist before are removed again
    (outputs that were being overwritten cannot be restored).
    """
    finals = [Path(p) for p in paths]
    if not finals:
        raise ValueError("no output paths given")
    resolved = [f.resolve() for f in finals]
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"output paths are not distinct: {[str(f) for f in finals]}")
    for f in finals:
        check_target(f, overwrite)
    temps = [temporary_path(f) for f in finals]
    try:
        yield list(temps)
        for f, t in zip(finals, temps, strict=True):
            if not os.path.lexists(t):
                raise ValueError(f"nothing was written for output {f}")
            check_target(f, overwrite)
    except OSError as exc:
        for t in temps:
            _remove(t)
        raise _named_for_user(exc, temps, finals) from exc
    except BaseException:
        for t in temps:
            _remove(t)
        raise
    existed = [os.path.lexists(f) for f in finals]
    done: list[int] = []
    try:
        for i, (f, t) in enumerate(zip(finals, temps, strict=True)):
            os.replace(t, f)
            done.append(i)
            logger.debug("wrote %s", f)
    except BaseException:
        for i in done:
            if not existed[i]:
                _remove(finals[i])
        for t in temps:
            _remove(t)
        raise


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Write one output file atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The final output path.
    overwrite : bool
        Replace ``path`` if it exists. When False an existing ``path`` is
        refused before anything is written, and left unchanged.

    Yields
    ------
    pathlib.Path
        A temporary path (not existing yet) beside ``path``, with the same
        suffix, to write the output to.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If the directory of ``path`` does not exist, ``path`` is a directory,
        or nothing was written to the temporary path.

    Examples
    --------
    >>> with atomic_output("vol.mrc") as tmp:  # doctest: +SKIP
    ...     with mrcfile.new(tmp) as mrc:
    ...         mrc.set_data(volume)
    """
    with atomic_outputs([path], overwrite=overwrite) as (tmp,):
        yield tmp


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[Path], None],
    *,
    overwrite: bool = True,
    parents: bool = False,
) -> Path:
    """Write one file through ``write(temporary_path)`` and a rename.

    Parameters
    ----------
    path : str or os.PathLike
        The final path.
    write : callable
        Called once with the temporary path (not existing yet, same suffix as
        ``path``); must create it.
    overwrite : bool
        Replace ``path`` if it exists (the default: the project's own files).
    parents : bool
        Create the directory of ``path`` first.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    p = Path(path)
    if parents:
        p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(p, overwrite=overwrite) as tmp:
        write(tmp)
    return p


def atomic_write_text(
    path: str | os.PathLike, text: str, *, overwrite: bool = True, parents: bool = False
) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; as :func:`atomic_write`."""
    return atomic_write(
        path,
        lambda tmp: tmp.write_text(text, encoding="utf-8"),
        overwrite=overwrite,
        parents=parents,
    )
