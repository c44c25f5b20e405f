"""Whole volumes: a per-slice Dask pipeline, out of core, resumable, distributed.

:func:`reconstruct_volume` turns a tilt series file ``(n_tilts, ny, nx)`` into
a volume file ``(ny, nx, nx)``. Slices along the tilt axis are independent, so
the rows are cut into chunks of ``chunk`` slices and every chunk is one task::

    task(y0, y1):  open INPUT lazily -> rows y0..y1-1 (n_tilts, rows, nx)
                   -> [prep: normalise, -log, rings, shift to the centre]
                   -> sinograms (rows, n_tilts, nx) -> recon.reconstruct
                   -> save chunk (rows, nx, nx) in the work directory

A task receives only small things (input path, angles, row range, method,
options, device, work directory) and reads its rows itself, in the worker (a
memory map, an HDF5 hyperslab or TIFF pages), so nothing large goes through
the scheduler and peak memory is ``workers x chunk``, whatever the volume
size. As each chunk finishes, the client copies it into the output file (a
hidden temporary file beside the output, :func:`tomoinpaint.io.open_volume_writer`),
which is renamed onto the output path once every slice is in: the output path
only ever holds a complete volume.

Execution (``executor``)
------------------------
``"synchronous"``
    In the calling process, one chunk after the other (the default for one
    worker: no start-up cost, no copies).
``"processes"``
    ``workers`` local processes (the default for more than one worker): ASTRA
    CPU and numpy release the GIL only in parts, so processes scale where
    threads do not.
``"threads"``
    ``workers`` threads of the calling process (GPU runs, or methods that
    release the GIL).
``scheduler="tcp://HOST:PORT"``
    The same tasks on an existing :mod:`dask.distributed` cluster (CPU or GPU
    workers; each worker resolves ``device="auto"`` itself). The input path
    and the work directory must be reachable from every worker.

On a GPU, a chunk is one batch: the recon functions reuse one ASTRA projector
(and the deep model one network forward) for all slices of a chunk, so
``chunk`` is the batching knob. Models are loaded once per worker with
:func:`tomoinpaint.nn.cache.cached_model`.

Resume
------
Finished chunks are kept in a work directory (:mod:`tomoinpaint.resume`)
keyed by a hash of everything that determines the result. The same call
again after an interruption (Ctrl-C, an error, ``kill -9``) computes only
the missing chunks and gives the identical file; a call with other
parameters discards the stale chunks. The work directory is deleted once the
output is committed. By default it lives in the user cache
(``~/.cache/tomoinpaint/partial``, or ``$TOMOINPAINT_WORK_DIR``), so the
output directory never holds anything but complete outputs; a cluster run
keeps it in ``.NAME.partial/`` beside the output, where all workers can
reach it.

Determinism: every slice is reconstructed on its own (seeded SART order,
per-slice TV weight), so the volume is the same for any chunk size, worker
count, scheduler and completion order, and equal to a plain loop over
:func:`tomoinpaint.recon.reconstruct`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import inspect
import json
import logging
import numbers
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io as tio
from . import prep as tprep
from .io import hdf5 as _hdf5
from .io import mrc as _mrc
from .io import tiff as _tiff
from .io.lazy import LazyStack
from .methods import METHODS, method_options, reconstruct
from .project import DEVICES, resolve_device
from .provenance import json_default, versions
from .resume import (
    WorkDir,
    default_work_root,
    hash_params,
    prune_work_dirs,
    save_chunk,
    work_dir_for,
)

__all__ = [
    "EXECUTORS",
    "Prep",
    "VolumeResult",
    "reconstruct_volume",
    "method_defaults",
    "sidecar_path",
]

logger = logging.getLogger(__name__)

#: Ways to run the chunks on this machine (``scheduler=`` runs them on a cluster).
EXECUTORS = ("auto", "synchronous", "threads", "processes")

#: Packages whose versions are part of the resume key (a new version may change results).


# --------------------------------------------------------------------------- small API types


@dataclass(frozen=True)
class Prep:
    """Preprocessing of raw projections with flat fields, done chunk by chunk.

    Flat/dark normalisation, minus-log, ring removal and re-centring
    (:mod:`tomoinpaint.prep`). The rotation centre is estimated once, before
    any chunk, from the middle row of the reconstructed rows (as
    :func:`tomoinpaint.prep.preprocess` does for the whole block), so chunks
    are independent and the result equals preprocessing all rows at once.

    Attributes
    ----------
    rings : bool or {"sorting", "all", "fw"}
        Ring removal method; True means "sorting", False skips it.
    center : "auto", float or None
        Rotation-axis column: "auto" (estimated), a column index, or None
        (already at the detector middle).
    backend : {"auto", "tomopy", "algotom"}
    """

    rings: bool | str = True
    center: str | float | None = "auto"
    backend: str = "auto"

    def __post_init__(self):
        if self.rings is not True and self.rings is not False:
            if not isinstance(self.rings, str) or self.rings not in tprep.RING_METHODS:
                raise ValueError(
                    f"rings must be True, False or one of {sorted(tprep.RING_METHODS)}, "
                    f"got {self.rings!r}"
                )
        c = self.center
        if isinstance(c, str):
            if c != "auto":
                raise ValueError(f"center must be 'auto', a number or None, got {c!r}")
        elif c is not None:
            if isinstance(c, bool) or not isinstance(c, numbers.Real) or not np.isfinite(c):
                raise ValueError(f"center must be 'auto', a number or None, got {c!r}")
        if self.backend not in ("auto", *tprep.BACKENDS):
            raise ValueError(
                f"backend must be one of 'auto', {', '.join(map(repr, tprep.BACKENDS))}, "
                f"got {self.backend!r}"
            )


@dataclass(frozen=True)
class VolumeResult:
    """What :func:`reconstruct_volume` did.

    Attributes
    ----------
    output : pathlib.Path
        The volume file ``(ny, nx, nx)``.
    sidecar : pathlib.Path or None
        ``OUTPUT.json`` with :attr:`config`, when written.
    shape : tuple of int
    config : dict
        The resolved configuration (JSON-able), as saved in the sidecar.
    chunks : int
        Number of chunks of the run.
    chunks_reused : int
        Chunks taken from an interrupted earlier run.
    seconds : float
        Wall time of the call.
    """

    output: Path
    sidecar: Path | None
    shape: tuple[int, int, int]
    config: dict
    chunks: int
    chunks_reused: int
    seconds: float


@dataclass(frozen=True)
class _PrepPlan:
    """Resolved preprocessing, identical for every chunk."""

    rings: str | bool
    center: float
    backend: str
    shift: bool


#: Blocks computed in the client's own process, waiting for the writer (see _run_chunk).
_HANDOFF: dict[tuple[str, int, int], np.ndarray] = {}
_HANDOFF_LOCK = threading.Lock()


@dataclass(frozen=True)
class _ChunkJob:
    """Everything a chunk task needs besides its rows (small; pickled to workers)."""

    input: str
    fmt: str
    n_tilts: int
    nx: int
    angles_deg: np.ndarray = field(repr=False)
    method: str
    options: dict
    device: str
    prep: _PrepPlan | None
    work_dir: str
    reconstruct_fn: Callable | None = None
    #: in-process executors hand the block to the client directly (no re-read)
    return_block: bool = False


# --------------------------------------------------------------------------- helpers


def method_defaults(method: str) -> dict:
    """Default values of a method's keyword options (the JSON-friendly ones).

    Parameters
    ----------
    method : str
        A key of :data:`tomoinpaint.recon.METHODS`.

    Returns
    -------
    dict
        Option name -> default, without ``x0`` and array-valued defaults.
    """
    params = inspect.signature(METHODS[method]).parameters
    out = {}
    for name in method_options(method):
        default = params[name].default
        if name == "x0" or default is inspect.Parameter.empty:
            continue
        if isinstance(default, (str, int, float, bool)) or default is None:
            out[name] = default
    return out


def sidecar_path(output: str | os.PathLike) -> Path:
    """``OUTPUT.json`` beside ``OUTPUT`` (the full name plus ``.json``)."""
    p = Path(output)
    return p.with_name(p.name + ".json")


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_method(method: str, options: dict | None) -> dict:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    options = dict(options or {})
    allowed = method_options(method)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"method {method!r} has no option {', '.join(unknown)}; "
            f"it accepts: {', '.join(allowed)}"
        )
    return options


def _resolve_executor(executor: str, workers: int, scheduler) -> str:
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if scheduler is not None:
        if executor != "auto":
            raise ValueError(
                f"executor {executor!r} does not apply with a scheduler: "
                "the cluster runs the chunks"
            )
        if workers != 1:
            raise ValueError(
                "workers does not apply with a scheduler: the cluster's workers run the chunks"
            )
        return "distributed"
    if executor == "auto":
        return "synchronous" if workers == 1 else "processes"
    if executor == "synchronous" and workers != 1:
        raise ValueError(f"executor 'synchronous' runs one chunk at a time, got workers={workers}")
    return executor


def _check_slices(slices, ny: int) -> tuple[int, int]:
    if slices is None:
        return 0, ny
    if isinstance(slices, slice):
        if slices.step not in (None, 1):
            raise ValueError(f"slices must be a step-1 range, got {slices}")
        y0, y1, _ = slices.indices(ny)
    else:
        try:
            y0, y1 = (int(v) for v in slices)
        except (TypeError, ValueError):
            raise ValueError(f"slices must be (y0, y1), got {slices!r}") from None
    if not 0 <= y0 < y1 <= ny:
        raise ValueError(f"slices ({y0}, {y1}) outside the {ny} rows of the input")
    return y0, y1


def _input_identity(path: Path) -> dict:
    """Size and modification time of the input (file, or each file of a TIFF directory)."""
    if path.is_dir():
        files = _tiff.list_tiff_files(path)
        return {"files": [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]}
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


# --------------------------------------------------------------------------- reading rows


def _open_data(path: str, fmt: str):
    """The projections of ``path``, lazily (opened in the worker, never pickled)."""
    if fmt == "mrc":
        return _mrc.read_mrc(path)[0]
    if fmt == "hdf5":
        return _hdf5.H5Stack(path, _hdf5.DATA)
    return _tiff.read_tiff(path)[0]


def _read_rows(data, y0: int, y1: int) -> np.ndarray:
    """Rows ``y0..y1-1`` of every tilt, ``(n_tilts, y1 - y0, nx)``, in bounded memory."""
    if isinstance(data, LazyStack) and not getattr(data, "_applies_rest", False):
        # a reader that loads whole images: one image at a time, keep the rows
        return np.stack([np.asarray(data[i])[y0:y1] for i in range(data.shape[0])])
    return np.asarray(data[:, y0:y1, :])


def _field_rows(path: str, name: str, y0: int, y1: int) -> np.ndarray | None:
    """Rows ``y0..y1-1`` of the flat or dark fields of a DXchange file."""
    import h5py

    with h5py.File(path, "r") as f:
        if name not in f:
            return None
        ds = f[name]
        if ds.ndim == 2:
            return np.asarray(ds[y0:y1, :])[np.newaxis]
        return np.asarray(ds[:, y0:y1, :])


def _line_integrals(raw, flats, darks, rings, backend: str) -> np.ndarray:
    """normalise -> minus-log -> ring removal, as in :func:`tomoinpaint.prep.preprocess`."""
    sino = tprep.minus_log(tprep.normalize(raw, flats, darks))
    if rings:
        sino = tprep.remove_rings(sino, method=rings, backend=backend)
    return sino


def _chunk_sinograms(job: _ChunkJob, y0: int, y1: int) -> np.ndarray:
    """The sinograms of rows ``y0..y1-1``, ``(y1 - y0, n_tilts, nx)`` float32."""
    data = _open_data(job.input, job.fmt)
    try:
        block = _read_rows(data, y0, y1)
    finally:
        del data  # unmap / close before the long computation
    if block.shape != (job.n_tilts, y1 - y0, job.nx):
        raise ValueError(
            f"{job.input} changed: rows {y0}..{y1 - 1} have shape {block.shape}, "
            f"expected {(job.n_tilts, y1 - y0, job.nx)}"
        )
    if job.prep is not None:
        p = job.prep
        flats = _field_rows(job.input, _hdf5.FLATS, y0, y1)
        darks = _field_rows(job.input, _hdf5.DARKS, y0, y1)
        block = _line_integrals(block, flats, darks, p.rings, p.backend)
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


def _init_worker_process() -> None:
    """Initialiser of local worker processes: Ctrl-C handling, and exit with the client.

    A ``kill -9`` of the client would otherwise leave its pool processes
    waiting forever (each holds the task queue open); a watchdog thread ends
    a worker within a second of its parent's death.
    """
    signal.signal(signal.SIGINT, _on_sigint_in_worker)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="tomoinpaint-parent-watch", daemon=True).start()


def _run_chunk(job: _ChunkJob, y0: int, y1: int) -> tuple[int, int]:
    """One task: read, (prep,) reconstruct and save slices ``y0..y1-1``.

    Runs in a worker (thread, process or cluster worker). Returns the row
    range; the chunk goes to the work directory, and, when the worker shares
    the client's memory (``job.return_block``), also to :func:`_take_block`.
    """
    global _BUSY
    t0 = time.perf_counter()
    _BUSY = True
    try:
        sinos = _chunk_sinograms(job, y0, y1)
        fn = job.reconstruct_fn or reconstruct
        vol = np.asarray(
            fn(sinos, job.angles_deg, job.method, device=job.device, **job.options),
            dtype=np.float32,
        )
    finally:
        _BUSY = False
    if vol.shape != (y1 - y0, job.nx, job.nx):
        raise ValueError(
            f"method {job.method!r} returned shape {vol.shape} for rows {y0}..{y1 - 1}, "
            f"expected {(y1 - y0, job.nx, job.nx)}"
        )
    save_chunk(job.work_dir, y0, y1, vol)
    logger.debug("chunk %d..%d done in %.2f s", y0, y1 - 1, time.perf_counter() - t0)
    if job.return_block:
        # Handed over beside the task result: Dask keeps every result until the whole
        # graph is done, which would hold the entire volume in memory.
        with _HANDOFF_LOCK:
            _HANDOFF[(job.work_dir, y0, y1)] = vol
    return y0, y1


@contextlib.contextmanager
def _handoff_cleared(job: _ChunkJob):
    """Drop blocks of ``job`` that no writer took (a run that stopped midway)."""
    try:
        yield
    finally:
        with _HANDOFF_LOCK:
            for key in [k for k in _HANDOFF if k[0] == job.work_dir]:
                del _HANDOFF[key]


def _take_block(job: _ChunkJob, y0: int, y1: int) -> np.ndarray | None:
    """The block an in-process chunk task handed over (None for other executors)."""
    with _HANDOFF_LOCK:
        return _HANDOFF.pop((job.work_dir, y0, y1), None)


# --------------------------------------------------------------------------- planning


def _check_prep(prep, series: tio.TiltSeries) -> Prep | None:
    has_flats = series.flats is not None
    if prep is None:
        return Prep() if has_flats else None
    if prep is False:
        return None
    if prep is True:
        prep = Prep()
    if not isinstance(prep, Prep):
        raise ValueError(f"prep must be None, True, False or a Prep, got {prep!r}")
    if not has_flats:
        raise ValueError(f"prep needs flat fields, and {series.path} has none")
    return prep


def _plan_prep(series: tio.TiltSeries, fmt: str, prep: Prep, y0: int, y1: int) -> _PrepPlan:
    """Resolve the backend and the rotation centre (estimated once, from the middle row)."""
    if fmt != "hdf5":
        raise ValueError(f"prep reads the flat fields from a DXchange HDF5 input, not {fmt}")
    backend = tprep.backend(prep.backend)
    rings = "sorting" if prep.rings is True else prep.rings
    nx = series.shape[2]
    middle = (nx - 1) / 2.0
    if prep.center == "auto":
        ym = y0 + (y1 - y0) // 2  # the row preprocess() would use for rows y0..y1-1
        raw = np.asarray(series.data[:, ym : ym + 1, :], dtype=np.float32)
        darks = None if series.darks is None else series.darks[:, ym : ym + 1]
        sino = _line_integrals(raw, series.flats[:, ym : ym + 1], darks, rings, backend)
        center = tprep.find_center(sino, series.angles_deg, slice_index=0, backend=backend)
    elif prep.center is None:
        center = middle
    else:
        center = float(prep.center)
        if not 0.0 <= center <= nx - 1:
            raise ValueError(f"center must lie on the detector, in [0, {nx - 1}], got {center}")
    return _PrepPlan(rings=rings, center=float(center), backend=backend, shift=center != middle)


# a temporary output of tomoinpaint.io.atomic, possibly nested (a writer's own temporary)
_TEMP_OUTPUT = r"^\.+{stem}(?:\.tmp-[0-9a-f]{{8}})+{suffix}$"


def _remove_stale_outputs(finals: Sequence[Path], keep: Sequence[Path]) -> None:
    """Delete temporary outputs of an earlier, killed run of the same output."""
    for f in finals:
        pattern = re.compile(
            _TEMP_OUTPUT.format(stem=re.escape(f.stem), suffix=re.escape(f.suffix))
        )
        for p in f.parent.iterdir():
            if pattern.match(p.name) and p not in keep:
                logger.info("removing %s, left by an interrupted run", p)
                try:
                    p.unlink()
                except OSError as exc:  # pragma: no cover - best effort
                    logger.warning("could not remove %s: %s", p, exc)


# --------------------------------------------------------------------------- execution


def _execute_local(job, todo, executor: str, workers: int, on_done) -> None:
    """Run the chunk tasks with a local Dask scheduler; ``on_done(y0, y1, block)`` per chunk."""
    from dask.callbacks import Callback

    if executor in ("synchronous", "threads"):
        job = dataclasses.replace(job, return_block=True)
    task = functools.partial(_run_chunk, job)
    # dask runs independent tasks in reverse key order: rank the keys so rows go upwards
    n = len(todo)
    keys = [f"tomoinpaint-chunk-{n - 1 - i:06d}" for i in range(n)]
    graph = {k: (task, y0, y1) for k, (y0, y1) in zip(keys, todo, strict=True)}

    def posttask(key, result, dsk, state, worker_id):
        if key in graph:
            on_done(*result, _take_block(job, *result))

    with Callback(posttask=posttask), _handoff_cleared(job):
        if executor == "synchronous":
            from dask.local import get_sync

            get_sync(graph, keys)
        elif executor == "threads":
            from dask.threaded import get

            get(graph, keys, num_workers=workers)
        else:
            from dask.multiprocessing import get

            # one task at a time per process: balanced when there are few chunks
            get(
                graph,
                keys,
                num_workers=workers,
                chunksize=1,
                optimize_graph=False,
                initializer=_init_worker_process,
            )


def _scheduler_address(scheduler) -> str | None:
    """The address of a scheduler given as an address or a client."""
    if scheduler is None or isinstance(scheduler, str):
        return scheduler
    try:
        return str(scheduler.scheduler.address)
    except AttributeError:
        return repr(scheduler)


def _execute_distributed(job, todo, scheduler, on_done) -> None:
    """Run the chunk tasks on a dask.distributed cluster; ``on_done(y0, y1)`` per chunk."""
    import uuid

    from distributed import Client, as_completed

    own = not hasattr(scheduler, "submit")
    client = Client(scheduler, timeout="30s", set_as_default=False) if own else scheduler
    try:
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(
                _run_chunk,
                job,
                y0,
                y1,
                key=f"tomoinpaint-chunk-{y0:06d}-{y1:06d}-{run}",
                pure=False,
            )
            for y0, y1 in todo
        ]
        try:
            for fut in as_completed(futures, loop=client.loop):
                on_done(*fut.result())
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if own:
            client.close()


class _Assembler:
    """Copies finished chunks into the output writer, in completion order."""

    def __init__(self, writer, work: WorkDir, y_start: int, nx: int, bar):
        self.writer, self.work, self.y_start, self.nx, self.bar = writer, work, y_start, nx, bar
        self.done = 0

    def __call__(self, y0: int, y1: int, block: np.ndarray | None = None) -> None:
        if block is None:
            block = self.work.load(y0, y1, (self.nx, self.nx))
        self.writer[y0 - self.y_start : y1 - self.y_start] = block
        self.done += 1
        self.bar.update(1)
        logger.debug("slices %d..%d written", y0, y1 - 1)


# --------------------------------------------------------------------------- the entry point


def reconstruct_volume(
    source,
    output: str | os.PathLike,
    *,
    angles=None,
    method: str = "wbp",
    options: dict | None = None,
    chunk: int = 8,
    workers: int = 1,
    executor: str = "auto",
    scheduler=None,
    device: str = "auto",
    slices=None,
    prep=None,
    overwrite: bool = False,
    resume: bool = True,
    work_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    sidecar: bool = True,
    metadata: dict | None = None,
    reconstruct_fn: Callable | None = None,
) -> VolumeResult:
    """Reconstruct a whole tilt series into a volume file, chunk by chunk.

    Parameters
    ----------
    source : str, os.PathLike or tomoinpaint.io.TiltSeries
        The tilt series ``(n_tilts, ny, nx)``: an MRC, DXchange HDF5 or TIFF
        file (or directory), or a :class:`~tomoinpaint.io.TiltSeries` read
        from one (its ``path`` is re-opened by every task; its angles, voxel
        size and flat fields are used).
    output : str or os.PathLike
        The volume ``(y1 - y0, nx, nx)``, float32; format by suffix (.mrc,
        .h5, .tif ...). Appears only when complete.
    angles : str, os.PathLike or array_like of shape (n_tilts,), optional
        Tilt angles in degrees or an angle file (only with a path
        ``source``); default: stored in or beside the input.
    method : str
        A key of :data:`tomoinpaint.recon.METHODS`.
    options : dict, optional
        Keyword options of that method.
    chunk : int
        Slices per task: the unit of work, of memory (about ``chunk x
        (n_tilts + nx) x nx x 4`` bytes per worker, plus the method's
        working set), of resume, and the batch size on a GPU.
    workers : int
        Local workers (processes or threads).
    executor : {"auto", "synchronous", "threads", "processes"}
        "auto": synchronous for one worker, processes otherwise.
    scheduler : str or distributed.Client, optional
        Address (``tcp://HOST:PORT``) of a dask.distributed scheduler, or a
        client, to run the tasks on; then ``workers``/``executor`` must keep
        their defaults.
    device : {"auto", "cpu", "cuda"}
        Resolved here for local runs; on a cluster each worker resolves it.
    slices : (y0, y1) or slice, optional
        Reconstruct only rows ``y0..y1-1``; default all.
    prep : None, bool or Prep
        Raw-data preprocessing per chunk (DXchange input with flat fields):
        None = on when the input has flat fields, True = ``Prep()``.
    overwrite : bool
        Replace existing outputs; otherwise an existing output (or sidecar)
        is refused before any work.
    resume : bool
        Reuse the finished chunks of an interrupted run with the same
        parameters; False starts over.
    work_dir : str or os.PathLike, optional
        Directory under which the run keeps its finished chunks (in a
        subdirectory named after the output). Default: the user cache
        (``$TOMOINPAINT_WORK_DIR`` overrides it), or the output's directory
        for a cluster run. It needs room for the whole volume.
    progress : bool, optional
        A progress bar over chunks (done / total, rate, ETA) on stderr; None:
        only on a terminal.
    sidecar : bool
        Write the resolved configuration to ``OUTPUT.json``, together with
        the volume (both appear at once or neither).
    metadata : dict, optional
        Extra JSON-able entries for the sidecar (e.g. the command, versions).
    reconstruct_fn : callable, optional
        Replaces :func:`tomoinpaint.recon.reconstruct` (same signature), e.g.
        for instrumentation; must be picklable for processes or a cluster.

    Returns
    -------
    VolumeResult

    Raises
    ------
    ValueError
        On invalid input or options (checked before any work), an existing
        output without ``overwrite``, a work directory in use by another
        run, or an error in a chunk (re-raised from the worker).
    OSError
        On file-system errors, or a scheduler that cannot be reached.
    KeyboardInterrupt
        Propagated; finished chunks stay in the work directory for resume.

    Examples
    --------
    >>> reconstruct_volume("series.mrc", "rec.mrc", method="sirt", workers=2)  # doctest: +SKIP
    >>> reconstruct_volume("scan.h5", "rec.h5", prep=Prep(center=295.0))  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    # 1. everything that can be checked cheaply, before reading anything
    options = _check_method(method, options)
    chunk = _check_int(chunk, "chunk")
    workers = _check_int(workers, "workers")
    mode = _resolve_executor(executor, workers, scheduler)
    out = Path(output)
    tio.detect_format(out, for_writing=True)
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    dev = device if mode == "distributed" else resolve_device(device)

    # 2. the input: shape, angles, flats (data stay on disk)
    if isinstance(source, tio.TiltSeries):
        if angles is not None:
            raise ValueError("give angles with the TiltSeries, not as a separate argument")
        series = source
        if series.path is None:
            raise ValueError(
                "reconstruct_volume needs a tilt series read from a file (TiltSeries.path); "
                "for arrays in memory use tomoinpaint.recon.reconstruct"
            )
    else:
        series = tio.read_tilt_series(source, angles=angles)
    in_path = Path(series.path).resolve()
    fmt = tio.detect_format(in_path)
    n_tilts, ny_all, nx = (int(v) for v in series.shape)
    y0, y1 = _check_slices(slices, ny_all)
    prep_spec = _check_prep(prep, series)
    ranges = [(a, min(a + chunk, y1)) for a in range(y0, y1, chunk)]
    shape = (y1 - y0, nx, nx)
    finals = [out, sidecar_path(out)] if sidecar else [out]
    resolved_options = {**method_defaults(method), **options}

    # 3. outputs refused now if they exist; written to hidden temporaries, renamed at the end
    with tio.atomic_outputs(finals, overwrite=overwrite) as temps:
        plan = None if prep_spec is None else _plan_prep(series, fmt, prep_spec, y0, y1)
        angles_deg = np.asarray(series.angles_deg, dtype=np.float64)
        key_params = {
            "input": str(in_path),
            "input_id": _input_identity(in_path),
            "format": fmt,
            "shape": [n_tilts, ny_all, nx],
            "angles_deg": angles_deg,
            "method": method,
            "options": resolved_options,
            "device": dev,
            "slices": [y0, y1],
            "chunk": chunk,
            "prep": None if plan is None else vars(plan),
            "reconstruct_fn": reconstruct_fn or reconstruct,
            "versions": versions(),
        }
        root = work_dir
        if root is None and mode == "distributed":
            root = out.resolve().parent  # workers elsewhere must reach it
        elif root is None:
            root = default_work_root()
            prune_work_dirs(root)
        work = WorkDir(work_dir_for(out, root))
        job = _ChunkJob(
            input=str(in_path),
            fmt=fmt,
            n_tilts=n_tilts,
            nx=nx,
            angles_deg=angles_deg,
            method=method,
            options=options,
            device=dev,
            prep=plan,
            work_dir=str(work.path),
            reconstruct_fn=reconstruct_fn,
        )

        with work.session(hash_params(key_params), key_params, resume=resume):
            _remove_stale_outputs(finals, temps)
            done = work.finished(ranges, (nx, nx))
            finished = set(done)
            todo = [r for r in ranges if r not in finished]
            logger.info(
                "%s: %d slices (rows %d..%d) in %d chunk(s) of %d, %d to compute "
                "(%s%s), work directory %s",
                method,
                y1 - y0,
                y0,
                y1 - 1,
                len(ranges),
                chunk,
                len(todo),
                mode,
                "" if mode in ("synchronous", "distributed") else f", {workers} workers",
                work.path,
            )
            from tqdm.auto import tqdm

            bar = tqdm(
                total=len(ranges),
                initial=len(done),
                desc=f"{method} ({chunk} slices/chunk)",
                unit="chunk",
                disable=None if progress is None else not progress,
            )
            try:
                with (
                    bar,
                    tio.open_volume_writer(
                        temps[0], shape, voxel_size=series.voxel_size, overwrite=True
                    ) as writer,
                ):
                    assemble = _Assembler(writer, work, y0, nx, bar)
                    for r in done:
                        assemble(*r)
                    if todo and mode == "distributed":
                        _execute_distributed(job, todo, scheduler, assemble)
                    elif todo:
                        _execute_local(job, todo, mode, workers, assemble)
            except BaseException as exc:
                n_kept = len(work.finished(ranges, (nx, nx)))
                if n_kept == 0:  # nothing to resume from: leave nothing behind
                    work.remove()
                else:
                    level = logging.WARNING if isinstance(exc, KeyboardInterrupt) else logging.INFO
                    logger.log(
                        level,
                        "stopped (%s): %d of %d chunks are finished and kept in %s; "
                        "the same command again resumes from them",
                        type(exc).__name__,
                        n_kept,
                        len(ranges),
                        work.path,
                    )
                raise

            config = {
                "input": str(in_path),
                "output": str(out.resolve()),
                "method": method,
                "options": resolved_options,
                "device": dev,
                "slices": [y0, y1],
                "chunk": chunk,
                "shape": list(shape),
                "voxel_size": series.voxel_size,
                "angles_deg": angles_deg.tolist(),
                "prep": None
                if plan is None
                else {
                    "rings": prep_spec.rings,
                    "center": prep_spec.center,
                    "center_used": plan.center,
                    "backend": plan.backend,
                },
                "execution": {
                    "executor": mode,
                    "workers": workers,
                    "scheduler": _scheduler_address(scheduler),
                    "chunks": len(ranges),
                    "chunks_reused": len(done),
                },
                **(metadata or {}),
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            }
            if sidecar:
                temps[1].write_text(
                    json.dumps(config, indent=2, default=json_default) + "\n", encoding="utf-8"
                )
    # committed: the chunks are no longer needed
    work.remove()
    seconds = time.perf_counter() - t_start
    logger.info(
        "wrote %s %s in %.1f s (%.2f slices/s, %d of %d chunks reused)",
        out,
        shape,
        seconds,
        (y1 - y0) / max(seconds, 1e-9),
        len(done),
        len(ranges),
    )
    return VolumeResult(
        output=out,
        sidecar=finals[1] if sidecar else None,
        shape=shape,
        config=config,
        chunks=len(ranges),
        chunks_reused=len(done),
        seconds=seconds,
    )
