"""Running the chunk tasks: a local Dask scheduler or a dask.distributed cluster."""

from __future__ import annotations

import dataclasses
import functools
import logging
import uuid

import numpy as np
from dask.callbacks import Callback
from dask.local import get_sync
from dask.multiprocessing import get as get_processes
from dask.threaded import get as get_threads
from distributed import Client, as_completed

from ..project import matrix_threads
from ..resume import WorkDir
from .tasks import handoff_cleared, init_worker_process, run_chunk, take_block

__all__ = ["execute_local", "execute_distributed", "scheduler_address", "Assembler"]

logger = logging.getLogger(__name__)


def execute_local(job, todo, executor: str, workers: int, on_done) -> None:
    """Run the chunk tasks with a local Dask scheduler; ``on_done(y0, y1, block)`` per chunk."""
    if executor in ("synchronous", "threads"):
        job = dataclasses.replace(job, return_block=True)
    task = functools.partial(run_chunk, job)
    # dask runs independent tasks in reverse key order: rank the keys so rows go upwards
    n = len(todo)
    keys = [f"tomoinpaint-chunk-{n - 1 - i:06d}" for i in range(n)]
    graph = {k: (task, y0, y1) for k, (y0, y1) in zip(keys, todo, strict=True)}

    def posttask(key, result, dsk, state, worker_id):
        if key in graph:
            on_done(*result, take_block(job, *result))

    with Callback(posttask=posttask), handoff_cleared(job):
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
                initializer=functools.partial(init_worker_process, threads),
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
    """Run the chunk tasks on a dask.distributed cluster; ``on_done(y0, y1)`` per chunk."""
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
                on_done(*fut.result())
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if own:
            client.close()


class Assembler:
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
