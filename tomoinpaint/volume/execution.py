"""Running the chunk tasks: a local Dask scheduler or a dask.distributed cluster."""

from __future__ import annotations

import dataclasses
import functools
import heapq
import logging
import time
import uuid

import numpy as np
from dask.callbacks import Callback
from dask.local import get_sync
from dask.multiprocessing import get as get_processes
from dask.threaded import get as get_threads
from distributed import Client, as_completed
from tqdm.auto import tqdm

from ..project import matrix_threads
from ..resume import WorkDir
from .tasks import handoff_cleared, init_worker_process, run_chunk, take_block

__all__ = ["execute_local", "execute_distributed", "scheduler_address", "Assembler", "TimeLeft"]

logger = logging.getLogger(__name__)


def execute_local(job, todo, executor: str, workers: int, on_done: Assembler) -> None:
    """Run the chunk tasks with a local Dask scheduler; ``on_done(y0, y1, block, seconds)``
    per finished chunk, ``on_done.started(y0, y1)`` per started one."""
    if executor in ("synchronous", "threads"):
        job = dataclasses.replace(job, return_block=True)
    task = functools.partial(run_chunk, job)
    # dask runs independent tasks in reverse key order: rank the keys so rows go upwards
    n = len(todo)
    keys = [f"tomoinpaint-chunk-{n - 1 - i:06d}" for i in range(n)]
    graph = {k: (task, y0, y1) for k, (y0, y1) in zip(keys, todo, strict=True)}

    def pretask(key, dsk, state):
        # dask submits at most one task per worker: submitted is started
        if key in graph:
            on_done.started(*graph[key][1:])

    def posttask(key, result, dsk, state, worker_id):
        if key in graph:
            y0, y1, seconds = result
            on_done(y0, y1, take_block(job, y0, y1), seconds)

    with Callback(pretask=pretask, posttask=posttask), handoff_cleared(job):
        if executor == "synchronous":
            get_sync(graph, keys)
        elif executor == "threads":
            get_threads(graph, keys, num_workers=workers)
        else:
            # one task at a time per process: balanced when there are few chunks;
            # the cores are shared out between the processes' projector threads
            threads = max(1, matrix_threads() // workers)
            get_processes(
                graph,
                keys,
                num_workers=workers,
                chunksize=1,
                optimize_graph=False,
                initializer=functools.partial(init_worker_process, threads, workers),
            )


def scheduler_address(scheduler) -> str | None:
    """The address of a scheduler given as an address or a client."""
    if scheduler is None or isinstance(scheduler, str):
        return scheduler
    try:
        return str(scheduler.scheduler.address)
    except AttributeError:
        return repr(scheduler)


def execute_distributed(job, todo, scheduler, on_done) -> None:
    """Run the chunk tasks on a dask.distributed cluster; ``on_done(y0, y1, None, seconds)``
    per chunk."""
    own = not hasattr(scheduler, "submit")
    client = Client(scheduler, timeout="30s", set_as_default=False) if own else scheduler
    try:
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(
                run_chunk,
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
                y0, y1, seconds = fut.result()
                on_done(y0, y1, None, seconds)
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if own:
            client.close()


class Assembler:
    """Copies finished chunks into the output writer, in completion order, and shows progress.

    Parameters
    ----------
    writer : array-like
        The output volume (rows from ``y_start``).
    work : WorkDir
    y_start : int
    plane : (int, int)
        The shape of one slice as written.
    bar : tqdm.tqdm
        Progress over chunks; its postfix shows :class:`TimeLeft`'s estimate.
    time_left : TimeLeft, optional
    """

    def __init__(self, writer, work: WorkDir, y_start: int, plane, bar, time_left=None):
        self.writer, self.work, self.y_start, self.bar = writer, work, y_start, bar
        self.plane = tuple(plane)
        self.time_left = time_left
        self.done = 0

    def __call__(
        self, y0: int, y1: int, block: np.ndarray | None = None, seconds: float | None = None
    ) -> None:
        """Write chunk ``y0..y1-1`` (``block``, else from the work directory); ``seconds``:
        what computing it took (None for a chunk kept from an earlier run)."""
        if block is None:
            block = self.work.load(y0, y1, self.plane)
        self.writer[y0 - self.y_start : y1 - self.y_start] = block
        self.done += 1
        if self.time_left is not None and seconds is not None:
            self.time_left.add(seconds, (y0, y1))
            # one redraw, by the update, with the new count and time left together
            left = self.bar.total - self.bar.n - 1
            self.bar.set_postfix_str(self.time_left.text(left), refresh=False)
        self.bar.update(1)
        logger.debug("slices %d..%d written", y0, y1 - 1)

    def started(self, y0: int, y1: int) -> None:
        """Chunk ``y0..y1-1`` went to a worker (for the time left)."""
        if self.time_left is not None:
            self.time_left.started((y0, y1))


class TimeLeft:
    """Time left of a run from what its last chunks took and how many run at once.

    The chunks of a volume cost about the same, so each takes the mean
    compute time of the last ``workers`` chunks (a worker's first chunk also
    pays its start-up: projection matrices, networks). The chunks running
    now have already done part of it (the time since they started, when
    known); the chunks left are then handed to the first free worker, as the
    scheduler does, and the time left is when the last one finishes. A rate
    over wall-clock intervals instead would jump as chunks finish in bunches
    (one per worker).

    Parameters
    ----------
    workers : int
        Chunks computed at once.
    clock : callable, optional
        Seconds now (default :func:`time.perf_counter`).
    """

    def __init__(self, workers: int, clock=time.perf_counter):
        self.workers = max(1, int(workers))
        self.clock = clock
        self.seconds: list[float] = []
        self.running: dict = {}

    def started(self, key) -> None:
        """Chunk ``key`` started now."""
        self.running[key] = self.clock()

    def add(self, seconds: float, key=None) -> None:
        """Chunk ``key`` finished after ``seconds`` of compute."""
        self.seconds.append(float(seconds))
        self.running.pop(key, None)

    def per_chunk(self) -> float | None:
        """Compute seconds per chunk (None before the first chunk)."""
        return float(np.mean(self.seconds[-self.workers :])) if self.seconds else None

    def estimate(self, chunks_left: int) -> float | None:
        """Seconds until ``chunks_left`` more chunks (running ones included) are done."""
        per_chunk = self.per_chunk()
        if per_chunk is None:
            return None
        if chunks_left <= 0:
            return 0.0
        now = self.clock()
        # when each worker is free: after its running chunk, else now
        running = sorted(self.running.values())[: min(chunks_left, self.workers)]
        free = [max(per_chunk - (now - t), 0.0) for t in running]
        free += [0.0] * (self.workers - len(free))
        heapq.heapify(free)
        for _ in range(chunks_left - len(running)):  # the queued chunks, first free worker
            heapq.heapreplace(free, free[0] + per_chunk)
        return max(free)

    def text(self, chunks_left: int) -> str:
        """``"ETA 02:05, 61.3 s/chunk"`` (tqdm's clock format)."""
        eta = self.estimate(chunks_left)
        if eta is None:
            return "ETA ?"
        return f"ETA {tqdm.format_interval(eta)}, {self.per_chunk():.1f} s/chunk"
