"""One chunk task: read rows, preprocess, reconstruct, save; and what local workers need.

A task receives only a small :class:`ChunkJob` and a row range, and reads
its rows itself in the worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import prep as tprep
from ..io.binning import BinnedStack, bin_images
from ..io.hdf5 import DARKS, FLATS
from ..io.rows import open_projections, read_field_rows, read_rows
from ..io.views import ViewSubset
from ..methods import reconstruct
from ..resume import save_chunk

__all__ = [
    "ChunkJob",
    "run_chunk",
    "chunk_sinograms",
    "handoff_cleared",
    "take_block",
    "init_worker_process",
]

logger = logging.getLogger(__name__)

#: Blocks computed in the client's own process, waiting for the writer (see run_chunk).
_HANDOFF: dict[tuple[str, int, int], np.ndarray] = {}


_HANDOFF_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChunkJob:
    """Everything a chunk task needs besides its rows (small; pickled to workers)."""

    input: str
    fmt: str
    n_tilts: int
    nx: int
    angles_deg: np.ndarray = field(repr=False)
    method: str
    options: dict
    device: str
    prep: tprep.PrepPlan | None
    work_dir: str
    reconstruct_fn: Callable | None = None
    #: in-process executors hand the block to the client directly (no re-read)
    return_block: bool = False
    #: the file's images (0-based) to reconstruct from, when some are left out; None: all
    views: np.ndarray | None = field(default=None, repr=False)
    #: detector pixels averaged into one along each axis (TiltSeries.binned); 1: none
    binning: int = 1
    #: rows z0..z1-1 of each nx x nx slice that are kept (a slab); None: the whole slice
    slab: tuple[int, int] | None = None
    #: whether the method computes only the slab (its ``slab`` option), else it is cut out
    native_slab: bool = False


def chunk_sinograms(job: ChunkJob, y0: int, y1: int) -> np.ndarray:
    """The sinograms of rows ``y0..y1-1``, ``(y1 - y0, n_tilts, nx)`` float32."""
    data = open_projections(job.input, job.fmt)
    if job.views is not None:
        data = ViewSubset(data, job.views)
    field_rows = (y0, y1)
    if job.binning != 1:
        data = BinnedStack(data, job.binning)
        field_rows = data.base_rows(y0, y1)
    try:
        block = read_rows(data, y0, y1)
    finally:
        del data  # unmap / close before the long computation
    if block.shape != (job.n_tilts, y1 - y0, job.nx):
        raise ValueError(
            f"{job.input} changed: rows {y0}..{y1 - 1} have shape {block.shape}, "
            f"expected {(job.n_tilts, y1 - y0, job.nx)}"
        )
    if job.prep is not None:
        p = job.prep
        flats = darks = None  # without flat fields the rows are line integrals already
        if p.raw:
            flats = read_field_rows(job.input, FLATS, *field_rows)
            darks = read_field_rows(job.input, DARKS, *field_rows)
            if job.binning != 1:  # binned as the projections are
                flats, darks = (
                    None if a is None else bin_images(a, job.binning) for a in (flats, darks)
                )
        block = tprep.line_integrals(
            block,
            flats,
            darks,
            rings=p.rings,
            backend=p.backend,
            beam=p.beam,
            ring_window=p.ring_window,
        )
        if p.shift:
            block = tprep.shift_to_center(block, p.center)
    return np.ascontiguousarray(np.asarray(block, dtype=np.float32).transpose(1, 0, 2))


#: Whether this process is computing a chunk (for Ctrl-C in local worker processes).
_BUSY = False


def _on_sigint_in_worker(signum, frame):
    """Ctrl-C reaches the whole process group: stop the chunk being computed (its
    KeyboardInterrupt goes back to the client, which keeps the finished chunks);
    an idle worker process just exits, without a traceback."""
    if _BUSY:
        raise KeyboardInterrupt
    raise SystemExit(130)


def init_worker_process(threads: int | None = None, workers: int | None = None) -> None:
    """Initialiser of local worker processes: Ctrl-C handling, and exit with the client.

    A ``kill -9`` of the client would otherwise leave its pool processes
    waiting forever (each holds the task queue open); a watchdog thread ends
    a worker within a second of its parent's death.

    Parameters
    ----------
    threads : int, optional
        Threads each worker's matrix projector may use (the cores shared out
        between the workers, so that they do not oversubscribe them);
        ``$TOMOINPAINT_THREADS`` set by the user wins.
    workers : int, optional
        Local worker processes: each may give its projection matrices that
        share of the memory (``$TOMOINPAINT_WORKERS``,
        :func:`~tomoinpaint.project.matrix_memory_share`).
    """
    if threads is not None:
        os.environ.setdefault("TOMOINPAINT_THREADS", str(max(1, int(threads))))
    if workers is not None:
        os.environ["TOMOINPAINT_WORKERS"] = str(max(1, int(workers)))
    signal.signal(signal.SIGINT, _on_sigint_in_worker)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="tomoinpaint-parent-watch", daemon=True).start()


def run_chunk(job: ChunkJob, y0: int, y1: int) -> tuple[int, int, float]:
    """One task: read, (prep,) reconstruct and save slices ``y0..y1-1``.

    Runs in a worker (thread, process or cluster worker). Returns the row
    range and the seconds the task took (for the progress bar's time left);
    the chunk goes to the work directory, and, when the worker shares the
    client's memory (``job.return_block``), also to :func:`take_block`.
    """
    global _BUSY
    t0 = time.perf_counter()
    _BUSY = True
    try:
        sinos = chunk_sinograms(job, y0, y1)
        fn = job.reconstruct_fn or reconstruct
        native = job.native_slab
        options = {**job.options, "slab": job.slab} if native else job.options
        vol = np.asarray(
            fn(sinos, job.angles_deg, job.method, device=job.device, **options),
            dtype=np.float32,
        )
    finally:
        _BUSY = False
    plane = (job.slab[1] - job.slab[0], job.nx) if native else (job.nx, job.nx)
    if vol.shape != (y1 - y0, *plane):
        raise ValueError(
            f"method {job.method!r} returned shape {vol.shape} for rows {y0}..{y1 - 1}, "
            f"expected {(y1 - y0, *plane)}"
        )
    if job.slab is not None and not native:
        vol = np.ascontiguousarray(vol[:, job.slab[0] : job.slab[1], :])
    save_chunk(job.work_dir, y0, y1, vol)
    seconds = time.perf_counter() - t0
    logger.debug("chunk %d..%d done in %.2f s", y0, y1 - 1, seconds)
    if job.return_block:
        # Handed over beside the task result: Dask keeps every result until the whole
        # graph is done, which would hold the entire volume in memory.
        with _HANDOFF_LOCK:
            _HANDOFF[(job.work_dir, y0, y1)] = vol
    return y0, y1, seconds


@contextlib.contextmanager
def handoff_cleared(job: ChunkJob):
    """Drop blocks of ``job`` that no writer took (a run that stopped midway)."""
    try:
        yield
    finally:
        with _HANDOFF_LOCK:
            for key in [k for k in _HANDOFF if k[0] == job.work_dir]:
                del _HANDOFF[key]


def take_block(job: ChunkJob, y0: int, y1: int) -> np.ndarray | None:
    """The block an in-process chunk task handed over (None for other executors)."""
    with _HANDOFF_LOCK:
        return _HANDOFF.pop((job.work_dir, y0, y1), None)
