"""Resumable chunked runs: a work directory of finished chunks, kept across interruptions.

:func:`tomoinpaint.volume.reconstruct_volume` computes a volume ``(ny, nx, nx)``
chunk by chunk (a chunk is the slab of slices ``y0..y1-1``). Every finished
chunk is saved here first, as one ``.npy`` file, so that a run that is
interrupted (Ctrl-C, an error, ``kill -9``, a lost cluster) and started again
with the same parameters only computes the chunks that are missing.

Layout of a work directory::

    manifest.json                 key (hash) + the parameters it was made from
    lock                          held (flock) by the run that uses the directory
    chunk-000000-000008.npy       slices 0..7, float32 (y1 - y0, nx, nx)
    .chunk-....tmp-XXXXXXXX.npy   a chunk being written (io.atomic; removed when stale)

Rules
-----
* A chunk file appears only complete: it is written to a hidden temporary
  name and renamed (:func:`save_chunk`), so a worker killed mid-write leaves
  at most a temporary file, which the next run deletes. (There is no fsync:
  a killed process loses nothing that was written; after a crash of the
  machine itself, a chunk whose size or header is wrong is recomputed, and
  ``resume=False`` starts over if in doubt.)
* The manifest's key is a hash of everything that determines the result
  (input file identity, angles, method and options, device, slices, chunk
  size, preprocessing incl. the rotation centre, code versions). A run whose
  key differs discards the directory's chunks (and logs it); ``resume=False``
  discards them too.
* One run at a time: the lock is a non-blocking :func:`fcntl.flock` on
  ``lock``, released by the operating system even after ``kill -9``.
* Only files of the layout above are ever deleted, so pointing a work
  directory at the wrong place cannot remove anything else.

Size: one module because the work directory's layout, its key, its lock and
its clean-up rules are one contract.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OptionError
from .io.atomic import atomic_write, atomic_write_text, temporary_regex

try:  # POSIX only; without it runs are not protected against a concurrent twin
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "WORK_DIR_ENV",
    "SIDE_FILE_SUFFIX",
    "WorkDir",
    "WorkDirBusyError",
    "default_work_root",
    "work_dir_for",
    "prune_work_dirs",
    "hash_params",
    "chunk_name",
    "save_chunk",
    "load_chunk",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the root directory of work directories.
WORK_DIR_ENV = "TOMOINPAINT_WORK_DIR"
#: Ending of the small files kept beside a work directory (``--method auto``'s choice).
SIDE_FILE_SUFFIX = ".auto.json"

MANIFEST = "manifest.json"
LOCK = "lock"
#: Version of the work-directory layout (part of the key).
LAYOUT_VERSION = 1
#: Work directories in the default cache untouched for this long are deleted.
MAX_AGE_DAYS = 30

_CHUNK_RE = re.compile(r"^chunk-(\d{6,})-(\d{6,})\.npy$")
#: Temporaries of chunks and the manifest, as :mod:`tomoinpaint.io.atomic` names them.
_TEMP_RE = temporary_regex(r"(?:chunk-\d+-\d+|manifest)", r"\.(?:npy|json)")


class WorkDirBusyError(ValueError):
    """Another run holds the lock of a work directory (a ``ValueError``)."""


# --------------------------------------------------------------------------- locations


def default_work_root() -> Path:
    """Where work directories live unless told otherwise.

    Returns
    -------
    pathlib.Path
        ``$TOMOINPAINT_WORK_DIR`` if set, else
        ``$XDG_CACHE_HOME/tomoinpaint/partial`` (``~/.cache/...``). A local
        cache keeps the output's directory free of anything but complete
        outputs, even after an interruption.
    """
    env = os.environ.get(WORK_DIR_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tomoinpaint" / "partial"


def work_dir_for(output: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """The work directory of one output path.

    Parameters
    ----------
    output : str or os.PathLike
        The final output path (its directory must exist).
    root : str or os.PathLike, optional
        Directory holding work directories; default :func:`default_work_root`.
        When it is the output's own directory, the work directory is the
        hidden ``.NAME.partial`` beside the output (what a cluster run uses:
        every worker must reach it).

    Returns
    -------
    pathlib.Path
        ``ROOT/NAME-HASH`` with ``HASH`` from the absolute output path, or
        ``DIR/.NAME.partial``.
    """
    out = Path(output).resolve()
    base = default_work_root() if root is None else Path(root).expanduser()
    if base.resolve() == out.parent:
        return out.parent / f".{out.name}.partial"
    digest = hashlib.sha256(str(out).encode("utf-8")).hexdigest()[:16]
    return base / f"{out.name}-{digest}"


# --------------------------------------------------------------------------- hashing


def _canonical(obj: Any) -> Any:
    """A JSON-able, deterministic form of parameters (arrays by content hash)."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        return {
            "array_sha256": hashlib.sha256(a.tobytes()).hexdigest(),
            "shape": list(a.shape),
            "dtype": str(a.dtype),
        }
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float):
        return repr(obj)  # exact, and NaN/inf-safe
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if callable(obj):  # by name: a function, or the class of a callable object
        named = obj if hasattr(obj, "__qualname__") else type(obj)
        return f"{named.__module__}.{named.__qualname__}"
    return repr(obj)


def hash_params(params: dict) -> str:
    """SHA-256 (hex) of a parameter dict, independent of key order.

    Floats are hashed exactly (``repr``), arrays by their bytes, callables by
    their qualified name.
    """
    text = json.dumps(_canonical(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- chunks


def chunk_name(y0: int, y1: int) -> str:
    """File name of the chunk holding slices ``y0..y1-1``."""
    return f"chunk-{int(y0):06d}-{int(y1):06d}.npy"


def save_chunk(work_dir: str | os.PathLike, y0: int, y1: int, block) -> Path:
    """Save a finished chunk atomically (temporary file, then rename).

    Parameters
    ----------
    work_dir : str or os.PathLike
        An existing work directory (may be on a shared file system; workers
        call this without holding the lock).
    y0, y1 : int
        The chunk's slices.
    block : array_like, shape (y1 - y0, nx, nx)
        Stored as float32.

    Returns
    -------
    pathlib.Path
        The chunk file.
    """
    a = np.ascontiguousarray(block, dtype=np.float32)
    if a.ndim != 3 or a.shape[0] != y1 - y0:
        raise ValueError(f"chunk {y0}..{y1 - 1} must have shape ({y1 - y0}, nx, nx), got {a.shape}")
    final = Path(work_dir) / chunk_name(y0, y1)
    atomic_write(final, lambda tmp: np.save(tmp, a, allow_pickle=False))
    return final


def load_chunk(path: str | os.PathLike, shape: Sequence[int] | None = None) -> np.ndarray:
    """Load a chunk file, checking its shape and dtype.

    Parameters
    ----------
    path : str or os.PathLike
    shape : sequence of int, optional
        Expected shape ``(y1 - y0, nx, nx)``.

    Returns
    -------
    numpy.ndarray, float32

    Raises
    ------
    ValueError
        If the file is unreadable, truncated, or of the wrong shape/dtype.
    """
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"unreadable chunk file {path}: {exc}") from None
    if a.dtype != np.float32 or (shape is not None and a.shape != tuple(shape)):
        raise ValueError(f"chunk file {path} holds {a.dtype} {a.shape}, expected float32 {shape}")
    return a


def _valid_chunk(path: Path, shape: tuple[int, ...]) -> bool:
    """Header check without reading the data (cheap for big chunks)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                hdr = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                hdr = np.lib.format.read_array_header_2_0(f)
            else:
                return False
            data_start = f.tell()
    except (OSError, ValueError, EOFError):
        return False
    shp, fortran, dtype = hdr
    if tuple(shp) != tuple(shape) or fortran or np.dtype(dtype) != np.float32:
        return False
    expected = data_start + int(np.prod(shape)) * 4
    return path.stat().st_size == expected


# --------------------------------------------------------------------------- the directory


class WorkDir:
    """The work directory of one output: finished chunks, manifest and lock.

    Parameters
    ----------
    path : str or os.PathLike
        The directory (created on :meth:`open`).

    Notes
    -----
    Use as ``with wd.session(key, params, resume=True): ...``; inside, query
    :meth:`finished`, let workers :func:`save_chunk` into :attr:`path`, read
    chunks back with :meth:`load`. Call :meth:`remove` once the output is
    safely committed.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"WorkDir({str(self.path)!r})"

    # ---- locking
    def _acquire(self) -> None:
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise WorkDirBusyError(
                    f"another run is working on this output (work directory {self.path} "
                    "is locked); wait for it to finish or stop it"
                ) from None
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    # ---- contents
    def chunk_files(self) -> list[Path]:
        """Chunk files present (finished or not matching the current run)."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if _CHUNK_RE.match(p.name))

    def _clear(self, *, keep_lock: bool) -> int:
        """Delete chunks, temporaries and the manifest; return the number of chunks."""
        n = 0
        if not self.path.is_dir():
            return 0
        for p in self.path.iterdir():
            name = p.name
            if _CHUNK_RE.match(name):
                n += 1
            elif not (_TEMP_RE.match(name) or name == MANIFEST or (name == LOCK and not keep_lock)):
                continue  # not ours: never deleted
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        return n

    def _read_manifest(self) -> dict | None:
        try:
            return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write_manifest(self, key: str, params: dict) -> None:
        doc = {
            "layout": LAYOUT_VERSION,
            "key": key,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "params": _canonical(params),
        }
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        atomic_write_text(self.path / MANIFEST, text)

    @contextlib.contextmanager
    def session(self, key: str, params: dict, *, resume: bool = True) -> Iterator[WorkDir]:
        """Lock the directory for one run and make it match ``key``.

        Parameters
        ----------
        key : str
            :func:`hash_params` of ``params``.
        params : dict
            Everything that determines the result (stored in the manifest for
            humans; only ``key`` is compared).
        resume : bool
            Keep finished chunks of an earlier run with the same key. When
            False, they are discarded.

        Yields
        ------
        WorkDir
            ``self``, locked.

        Raises
        ------
        WorkDirBusyError
            If another run holds the lock.
        OptionError
            If the directory cannot be created (naming ``work_dir``).
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OptionError(
                f"cannot create the work directory {self.path} ({exc.strerror or exc}); "
                f"choose another place with {{work_dir}} or ${WORK_DIR_ENV}",
                "work_dir",
                usage=False,
            ) from exc
        self._acquire()
        try:
            old = self._read_manifest()
            stale_temps = [p for p in self.path.iterdir() if _TEMP_RE.match(p.name)]
            for p in stale_temps:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            if stale_temps:
                logger.info("removed %d unfinished chunk file(s) in %s", len(stale_temps), self)
            n_old = len(self.chunk_files())
            if old is not None and old.get("key") == key and resume:
                if n_old:
                    logger.info("resuming from %d finished chunk(s) in %s", n_old, self.path)
            else:
                if n_old or old is not None:
                    why = (
                        "resuming is off (--no-resume)"
                        if old is not None and old.get("key") == key
                        else "it was made with other parameters or input"
                    )
                    level = logging.WARNING if n_old else logging.INFO
                    logger.log(
                        level,
                        "discarding %d finished chunk(s) in %s: %s",
                        n_old,
                        self.path,
                        why,
                    )
                self._clear(keep_lock=True)
                self._write_manifest(key, params)
            yield self
        finally:
            self._release()

    def finished(self, ranges: Sequence[tuple[int, int]], nx: tuple[int, int]) -> list:
        """The chunks among ``ranges`` whose files are present and complete.

        Parameters
        ----------
        ranges : sequence of (y0, y1)
        nx : tuple of int
            The slice shape ``(nx, nx)``.

        Returns
        -------
        list of (y0, y1)
            In the order of ``ranges``; a damaged chunk file is deleted (and
            will be recomputed).
        """
        present = {p.name for p in self.chunk_files()}
        done = []
        for y0, y1 in ranges:
            name = chunk_name(y0, y1)
            if name not in present:
                continue
            p = self.path / name
            if _valid_chunk(p, (y1 - y0, *nx)):
                done.append((y0, y1))
            else:
                logger.warning("damaged chunk file %s: it will be recomputed", p)
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        return done

    def load(self, y0: int, y1: int, nx: tuple[int, int]) -> np.ndarray:
        """Read the finished chunk ``y0..y1-1``, shape ``(y1 - y0, *nx)``."""
        return load_chunk(self.path / chunk_name(y0, y1), (y1 - y0, *nx))

    def remove(self) -> None:
        """Delete the directory's own files, then the directory if it is empty."""
        self._clear(keep_lock=False)
        try:
            self.path.rmdir()
        except OSError as exc:
            if self.path.exists():
                logger.warning("work directory %s not removed: %s", self.path, exc)


def prune_work_dirs(root: str | os.PathLike, *, max_age_days: float = MAX_AGE_DAYS) -> int:
    """Delete abandoned work directories under ``root``.

    A work directory (one with a manifest) whose manifest and chunks were
    last modified more than ``max_age_days`` ago and that no run holds is
    removed, so interrupted runs that are never resumed do not fill the
    cache; so is a file kept beside one (name ending in
    :data:`SIDE_FILE_SUFFIX`) as old. Called for the default cache root only.

    Returns
    -------
    int
        Number of directories removed.
    """
    base = Path(root)
    if not base.is_dir():
        return 0
    limit = time.time() - max_age_days * 86400.0
    removed = 0
    for d in base.iterdir():
        manifest = d / MANIFEST
        if d.name.endswith(SIDE_FILE_SUFFIX) and d.is_file():
            # a file kept beside a work directory (--method auto's choice), as old
            with contextlib.suppress(OSError):
                if d.stat().st_mtime < limit:
                    d.unlink()
            continue
        if not manifest.is_file():
            continue
        try:
            newest = max(p.stat().st_mtime for p in d.iterdir())
        except (OSError, ValueError):
            continue
        if newest > limit:
            continue
        wd = WorkDir(d)
        try:
            wd._acquire()
        except (WorkDirBusyError, OSError):
            continue
        try:
            wd.remove()
        finally:
            wd._release()
        logger.info("removed work directory %s, unused for %.0f days", d, max_age_days)
        removed += 1
    return removed
