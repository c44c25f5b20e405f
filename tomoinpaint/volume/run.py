"""The entry point :func:`reconstruct_volume`: check, plan, run the chunks, commit."""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import io as tio
from .. import prep as tprep
from ..io.atomic import check_free_space, remove_stale_temporaries
from ..io.rows import input_identity
from ..methods import reconstruct
from ..project import DEVICES, resolve_device
from ..provenance import json_default, versions
from ..resume import WorkDir, hash_params, prune_work_dirs, work_dir_for
from .execution import (
    Assembler,
    TimeLeft,
    execute_distributed,
    execute_local,
    scheduler_address,
)
from .options import (
    VolumeResult,
    check_chunk_memory,
    check_execution,
    check_method,
    check_not_input,
    check_slab,
    check_slices,
    method_defaults,
    sidecar_path,
    slab_native,
    work_root,
)
from .tasks import ChunkJob

#: Fewer tilts than this hold too little to reconstruct a slice from.
MIN_TILTS = 3

__all__ = ["reconstruct_volume"]

logger = logging.getLogger(__name__)

#: The progress bar: tqdm's, with the time left from :class:`~.execution.TimeLeft` as postfix.
PROGRESS_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def reconstruct_volume(
    source,
    output: str | os.PathLike,
    *,
    angles=None,
    exclude_views=None,
    method: str = "wbp",
    options: dict | None = None,
    chunk: int = 8,
    workers: int = 1,
    executor: str = "auto",
    scheduler=None,
    device: str = "auto",
    slices=None,
    thickness: int | None = None,
    z_shift: float = 0.0,
    slab_only: bool = False,
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
        size, flat fields, views left out and binning are used:
        ``read_tilt_series(path).binned(2)`` reconstructs at bin 2).
    output : str or os.PathLike
        The volume ``(y1 - y0, thickness, nx)`` (``thickness = nx`` unless
        given), float32; format by suffix (.mrc, .h5, .tif ...). Appears only
        when complete.
    angles : str, os.PathLike or array_like of shape (n_tilts,), optional
        Tilt angles in degrees or an angle file (only with a path
        ``source``); default: stored in or beside the input.
    exclude_views : array_like of int, optional
        Views to leave out, 0-based in file order (only with a path
        ``source``; a :class:`~tomoinpaint.io.TiltSeries` carries its own,
        :meth:`~tomoinpaint.io.TiltSeries.without_views`). ``angles`` lists
        every view of the file.
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
    thickness : int, optional
        Keep only this many pixels of each ``nx x nx`` slice along its axis 0,
        the beam direction at 0° tilt, centred (IMOD tilt's THICKNESS): a
        slab specimen's volume without the empty space above and below it.
        Default: the whole slice. WBP back-projects only the slab; the other
        methods reconstruct each slice whole, and the slab is cut from it.
    z_shift : float
        Moves the kept slab's centre by this many pixels towards higher row
        indices (the z of IMOD tilt's SHIFT); only with ``thickness``.
    slab_only : bool
        SART, SIRT and TV reconstruct inside the slab only, as IMOD's SIRT does
        within THICKNESS (faster, and a support constraint: much sharper when
        the specimen lies inside the slab, much worse when it does not;
        ``benchmarks/results/slab_support.md``, ``slab_support_tv.md``).
        Only with ``thickness`` and a method that has a ``slab`` option.
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
    options = check_method(method, options)
    if "slab" in options:
        raise ValueError("give the slab as thickness= and z_shift=, not as the method's option")
    chunk, workers, mode = check_execution(chunk, workers, executor, scheduler)
    out = Path(output)
    tio.detect_format(out, for_writing=True)
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    dev = device if mode == "distributed" else resolve_device(device)

    # 2. the input: shape, angles, flats (data stay on disk)
    if isinstance(source, tio.TiltSeries):
        if angles is not None or exclude_views is not None:
            raise ValueError(
                "give angles and views left out with the TiltSeries "
                "(read_tilt_series(..., exclude_views=...)), not as separate arguments"
            )
        series = source
        if series.path is None:
            raise ValueError(
                "reconstruct_volume needs a tilt series read from a file (TiltSeries.path); "
                "for arrays in memory use tomoinpaint.recon.reconstruct"
            )
    else:
        series = tio.read_tilt_series(source, angles=angles, exclude_views=exclude_views)
    in_path = Path(series.path).resolve()
    fmt = tio.detect_format(in_path)
    n_tilts, ny_all, nx = (int(v) for v in series.shape)
    if n_tilts < MIN_TILTS:
        raise ValueError(
            f"{series.path} has {n_tilts} tilt(s)"
            f"{'' if series.views is None else ' besides the views left out'}; "
            f"a reconstruction needs at least {MIN_TILTS}"
        )
    check_not_input(out, in_path)
    y0, y1 = check_slices(slices, ny_all)
    slab = check_slab(thickness, z_shift, nx)
    native_slab = slab_native(method, slab, slab_only)
    prep_spec = tprep.check_prep(prep, series)
    ranges = [(a, min(a + chunk, y1)) for a in range(y0, y1, chunk)]
    plane = (nx, nx) if slab is None else (slab[1] - slab[0], nx)  # one slice as written
    shape = (y1 - y0, *plane)
    if mode != "distributed":  # a cluster's workers have their own memory
        check_chunk_memory(n_tilts, nx, min(chunk, y1 - y0), mode, workers, len(ranges))
    tprep.check_series_data(series, prep_spec, [method], {method: options})
    finals = [out, sidecar_path(out)] if sidecar else [out]
    resolved_options = {**method_defaults(method), **options}

    # 3. outputs refused now if they exist; written to hidden temporaries, renamed at the end
    # one writer per output: a second run waits for nothing and takes nothing of it
    with tio.atomic.output_lock(out):
        with tio.atomic_outputs(finals, overwrite=overwrite) as temps:
            plan = None
            if prep_spec is not None:
                if series.flats is not None and fmt != "hdf5":
                    raise ValueError(
                        f"prep reads the flat fields from a DXchange HDF5 input, not {fmt}"
                    )
                plan = tprep.plan_prep(series, prep_spec, y0, y1)
            angles_deg = np.asarray(series.angles_deg, dtype=np.float64)
            key_params = {
                "input": str(in_path),
                "input_id": input_identity(in_path),
                "format": fmt,
                "shape": [n_tilts, ny_all, nx],
                "angles_deg": angles_deg,
                # (only when some are left out: earlier runs' work directories keep their key)
                **({} if series.views is None else {"views": series.views.tolist()}),
                **({} if series.binning == 1 else {"binning": series.binning}),
                "method": method,
                "options": resolved_options,
                "device": dev,
                "slices": [y0, y1],
                **({} if slab is None else {"slab": list(slab)}),
                **({"slab_only": True} if slab_only else {}),
                "chunk": chunk,
                "prep": None if plan is None else vars(plan),
                "reconstruct_fn": reconstruct_fn or reconstruct,
                "versions": versions(),  # a new version may change results
            }
            root = work_root(work_dir, mode, out)
            if work_dir is None and mode != "distributed":
                prune_work_dirs(root)
            work = WorkDir(work_dir_for(out, root))
            job = ChunkJob(
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
                views=series.views,
                binning=series.binning,
                slab=slab,
                native_slab=native_slab,
            )

            with work.session(hash_params(key_params), key_params, resume=resume):
                remove_stale_temporaries(finals, keep=temps)
                done = work.finished(ranges, plane)
                finished = set(done)
                todo = [r for r in ranges if r not in finished]
                # before any computation: a full disk met later costs the work done
                try:
                    check_free_space(
                        {
                            out: int(np.prod(shape)) * 4 + 4096,
                            work.path: sum(b - a for a, b in todo) * plane[0] * nx * 4,
                        },
                        for_what=str(out),
                    )
                except OSError:
                    if not done:
                        work.remove()
                    raise
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
                # a cluster's size is its own: there tqdm's rate over wall-clock time stays
                at_once = 1 if mode == "synchronous" else workers
                time_left = None if mode == "distributed" else TimeLeft(at_once)
                bar = tqdm(
                    total=len(ranges),
                    desc=f"{method} ({chunk} slices/chunk)",
                    unit="chunk",
                    disable=None if progress is None else not progress,
                    postfix=None if time_left is None else "ETA ?",
                    bar_format=None if time_left is None else PROGRESS_FORMAT,
                )
                try:
                    with (
                        bar,
                        tio.open_volume_writer(
                            temps[0], shape, voxel_size=series.voxel_size, overwrite=True
                        ) as writer,
                    ):
                        assemble = Assembler(writer, work, y0, plane, bar, time_left)
                        for r in done:
                            assemble(*r)
                        if todo and mode == "distributed":
                            execute_distributed(job, todo, scheduler, assemble)
                        elif todo:
                            execute_local(job, todo, mode, workers, assemble)
                except BaseException as exc:
                    n_kept = len(work.finished(ranges, plane))
                    if n_kept == 0:  # nothing to resume from: leave nothing behind
                        work.remove()
                    else:
                        level = (
                            logging.WARNING if isinstance(exc, KeyboardInterrupt) else logging.INFO
                        )
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
                    # rows z0..z1-1 of each nx x nx slice (thickness, z shift), or None
                    "slab": None if slab is None else list(slab),
                    "slab_only": bool(slab_only),
                    "chunk": chunk,
                    "shape": list(shape),
                    "voxel_size": series.voxel_size,
                    "angles_deg": angles_deg.tolist(),
                    # the file's views (numbered from 1, as IMOD) when some were left out
                    "views_used": series.views_used(),
                    # detector pixels averaged into one along each axis (1: none)
                    "binning": series.binning,
                    "prep": None
                    if plan is None
                    else {
                        "rings": prep_spec.rings,
                        # detector pixels; the default scales with the width (prep.ring_window)
                        **({"ring_window": plan.ring_window} if plan.rings else {}),
                        "center": prep_spec.center,
                        "center_used": plan.center,
                        "backend": plan.backend,
                        # intensities without flat fields: the setting, each view's level
                        **(
                            {}
                            if plan.beam is None
                            else {"intensities": prep_spec.intensities, "beam": list(plan.beam)}
                        ),
                    },
                    "execution": {
                        "executor": mode,
                        "workers": workers,
                        "scheduler": scheduler_address(scheduler),
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
