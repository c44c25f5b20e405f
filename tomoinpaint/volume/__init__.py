"""Whole volumes: a per-slice Dask pipeline, out of core, resumable, distributed.

:func:`reconstruct_volume` turns a tilt series file ``(n_tilts, ny, nx)`` into
a volume file ``(ny, nx, nx)`` (``(ny, T, nx)`` with ``thickness=T``). Slices
along the tilt axis are independent, so the rows are cut into chunks of
``chunk`` slices and every chunk is one task::

    task(y0, y1):  open INPUT lazily [its kept views] -> rows y0..y1-1 (n_tilts, rows, nx)
                   -> [prep: normalise, -log, rings, shift to the centre]
                   -> sinograms (rows, n_tilts, nx) -> recon.reconstruct
                   -> [the slab: rows z0..z1-1 of each slice]
                   -> save chunk (rows, nx, nx) or (rows, T, nx) in the work directory

A task receives only small things (input path, angles, views, row range, method,
options, slab, device, work directory) and reads its rows itself, in the worker (a
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

Modules
-------
``options``    public types (:class:`VolumeResult`) and argument checks
``tasks``      one chunk task (read rows, preprocess, reconstruct, save)
``execution``  local Dask schedulers and dask.distributed
``run``        :func:`reconstruct_volume`
Row reading is :mod:`tomoinpaint.io.rows`, the chunked preprocessing plan
:mod:`tomoinpaint.prep` (:class:`~tomoinpaint.prep.Prep`), the work directory
:mod:`tomoinpaint.resume`.
"""

from ..prep import Prep
from .options import (
    EXECUTORS,
    VolumeResult,
    check_execution,
    method_defaults,
    sidecar_path,
    work_root,
)
from .run import reconstruct_volume

__all__ = [
    "EXECUTORS",
    "Prep",
    "VolumeResult",
    "check_execution",
    "reconstruct_volume",
    "method_defaults",
    "sidecar_path",
    "work_root",
]
