"""New HDF5 files that survive a full disk: a write error is an OSError, never a crash.

HDF5 does not survive a failed write. After ``ENOSPC`` its file handle is
left half-open, closing it fails again, and the interpreter crashes
(segmentation fault) when the handle is collected, so a full disk killed the
process with no ``Error:`` line and left the temporary file behind. Here the
file is opened through a Python stream that keeps the failure from HDF5 and
raises it itself.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator

import h5py

__all__ = ["CheckedDataset", "new_hdf5_file"]


class _WriteOnceFailFile(io.FileIO):
    """A file that, after its first failed write, drops all further writes.

    HDF5 does not survive a failed write: its handle is left half-open and
    the interpreter crashes (segmentation fault) when it is collected. So the
    failure is kept from HDF5: the first :class:`OSError` (``ENOSPC`` on a
    full disk) is stored in :attr:`error`, every later write "succeeds"
    without writing, and the caller raises :attr:`error` itself
    (:meth:`check`). The file is a temporary that is then discarded.
    """

    error: OSError | None = None

    def write(self, b) -> int:
        if self.error is None:
            try:
                return super().write(b)
            except OSError as exc:
                self.error = exc
        return memoryview(b).nbytes

    def truncate(self, size=None) -> int:
        if self.error is None:
            try:
                return super().truncate(size)
            except OSError as exc:
                self.error = exc
        return self.tell() if size is None else size

    def check(self) -> None:
        """Raise the stored write error, if any."""
        if self.error is not None:
            raise self.error


class CheckedDataset:
    """``dataset[key] = block`` that raises the file's stored write error at once."""

    def __init__(self, dataset: h5py.Dataset, raw: _WriteOnceFailFile):
        self._dataset, self._raw = dataset, raw

    def __setitem__(self, key, value) -> None:
        self._dataset[key] = value
        self._raw.check()


@contextlib.contextmanager
def new_hdf5_file(tmp: str | os.PathLike) -> Iterator[tuple[h5py.File, _WriteOnceFailFile]]:
    """Create a new HDF5 file whose write errors surface as one OSError, never a crash.

    Parameters
    ----------
    tmp : str or os.PathLike
        A temporary path (from :func:`~.atomic.atomic_output`): after a
        write error the file's content is not valid and must be discarded.

    Yields
    ------
    (h5py.File, _WriteOnceFailFile)
        The file, and the stream under it; ``raw.check()`` raises a write
        error as soon as one happened (HDF5 may buffer writes until close).

    Notes
    -----
    The file is closed on every exit; the first write error (also one met
    while closing, when HDF5 flushes its caches) is raised then.
    """
    with _WriteOnceFailFile(tmp, "w+") as raw:
        f = h5py.File(raw, "w")
        try:
            yield f, raw
        finally:
            f.close()
        raw.check()
