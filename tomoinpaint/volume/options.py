"""The volume pipeline's public types and the checks of its arguments (before any work)."""

from __future__ import annotations

import inspect
import logging
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError
from ..memory import available_memory, check_memory
from ..methods import DEEP_METHODS, METHODS, SLAB_EXACT, check_options, method_options
from ..recon.joint import weights_available
from ..resume import default_work_root

__all__ = [
    "EXECUTORS",
    "VolumeResult",
    "method_defaults",
    "sidecar_path",
    "check_int",
    "check_method",
    "resolve_executor",
    "check_slices",
    "check_slab",
    "slab_native",
    "check_chunk_memory",
]

logger = logging.getLogger(__name__)

#: Ways to run the chunks on this machine (``scheduler=`` runs them on a cluster).
EXECUTORS = ("auto", "synchronous", "threads", "processes")


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


def method_defaults(method: str) -> dict:
    """Default values of a method's keyword options (the JSON-friendly ones).

    Parameters
    ----------
    method : str
        A key of :data:`tomoinpaint.recon.METHODS`.

    Returns
    -------
    dict
        Option name -> default, without ``x0``, ``slab`` (the pipeline's
        ``thickness``) and array-valued defaults.
    """
    params = inspect.signature(METHODS[method]).parameters
    out = {}
    for name in method_options(method):
        default = params[name].default
        if name in ("x0", "slab") or default is inspect.Parameter.empty:
            continue
        if isinstance(default, (str, int, float, bool)) or default is None:
            out[name] = default
    return out


def sidecar_path(output: str | os.PathLike) -> Path:
    """``OUTPUT.json`` beside ``OUTPUT`` (the full name plus ``.json``)."""
    p = Path(output)
    return p.with_name(p.name + ".json")


def check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_method(method: str, options: dict | None) -> dict:
    """The method's options, checked; a deep method's weights must exist.

    A ``model`` directory is made absolute (workers may run elsewhere).
    """
    options = check_options(method, options)
    if method in DEEP_METHODS:
        if options.get("model") is not None:
            options["model"] = str(Path(options["model"]).resolve())
        if not weights_available(options.get("model")):
            where = options.get("model") or "the installed package (tomoinpaint/weights)"
            raise OptionError(
                f"{{method}} {method} needs trained weights, and {where} has none: train them "
                "with 'python pipelines/train_weights.py --install' or give {model} DIR",
                "method",
                "model",
            )
    return options


#: Address of a dask.distributed scheduler: PROTOCOL://HOST[:PORT].
_SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/:]+(:\d{1,5})?/?$")


def check_not_input(output: Path, input_path: Path) -> None:
    """Refuse an output that is the input (the same file, a hard link, a symlink to it).

    A TIFF directory input also refuses outputs inside it.
    """
    out = Path(output)
    if os.path.lexists(out):
        try:
            same = os.path.samefile(out, input_path)
        except OSError:
            same = False
        if same:
            raise ValueError(f"output {out} is the input {input_path}: choose another output")
    if input_path.is_dir() and out.resolve().parent == input_path.resolve():
        raise ValueError(f"output {out} lies in the input directory {input_path}")


def check_scheduler(scheduler) -> None:
    """Refuse a scheduler address that is not PROTOCOL://HOST[:PORT] (before connecting)."""
    if isinstance(scheduler, str) and not _SCHEDULER_ADDRESS.match(scheduler):
        raise OptionError(
            f"{{scheduler}} must be an address such as tcp://HOST:8786, got {scheduler!r}",
            "scheduler",
        )


def check_execution(chunk, workers, executor: str, scheduler) -> tuple[int, int, str]:
    """Check how a volume is to be run, before any work: ``(chunk, workers, mode)``.

    ``mode`` is what :func:`resolve_executor` makes of ``executor``. Callers
    with work to do before :func:`~.run.reconstruct_volume` (``--method
    auto`` scores candidates) call this first, so that bad options are
    refused before that work, not after it.
    """
    chunk = check_int(chunk, "chunk")
    workers = check_int(workers, "workers")
    return chunk, workers, resolve_executor(executor, workers, scheduler)


def work_root(work_dir, mode: str, output) -> Path:
    """The directory holding the output's work directory (:func:`~tomoinpaint.resume.work_dir_for`).

    ``work_dir`` if given; beside the output on a cluster (``mode``
    "distributed": every worker must reach it); else the user cache
    (:func:`~tomoinpaint.resume.default_work_root`).
    """
    if work_dir is not None:
        return Path(work_dir).expanduser()
    if mode == "distributed":
        return Path(output).resolve().parent
    return default_work_root()


def resolve_executor(executor: str, workers: int, scheduler) -> str:
    check_scheduler(scheduler)
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if scheduler is not None:
        if executor != "auto":
            raise OptionError(
                f"{{executor}} {executor} does not apply with a {{scheduler}}: "
                "the cluster runs the chunks",
                "executor",
                "scheduler",
            )
        if workers != 1:
            raise OptionError(
                "{workers} does not apply with a {scheduler}: the cluster's workers run the chunks",
                "workers",
                "scheduler",
            )
        return "distributed"
    if executor == "auto":
        return "synchronous" if workers == 1 else "processes"
    if executor == "synchronous" and workers != 1:
        raise OptionError(
            f"{{executor}} 'synchronous' runs one chunk at a time, got {{workers}}={workers}",
            "executor",
            "workers",
        )
    return executor


def check_slices(slices, ny: int) -> tuple[int, int]:
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


def check_slab(thickness, z_shift, nx: int) -> tuple[int, int] | None:
    """The rows ``(z0, z1)`` of each ``nx x nx`` slice kept in the volume (IMOD tilt's
    THICKNESS and the z of its SHIFT), or None to keep the whole slice.

    Parameters
    ----------
    thickness : int or None
        Pixels kept along the slice's axis 0, the beam direction at 0° tilt
        (the specimen's thickness for a slab); None: ``nx``.
    z_shift : float
        Moves the kept rows' centre from the slice's centre by this many
        pixels, towards higher row indices.
    nx : int
        The slice's width.

    Raises
    ------
    ValueError
        If the thickness is not a whole number in 1..nx, or the rows would
        leave the slice.
    """
    if thickness is None and not z_shift:
        return None
    t = nx if thickness is None else thickness
    if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 1 <= t <= nx:
        raise ValueError(f"thickness must be a whole number of pixels in 1..{nx}, got {t!r}")
    z0 = int(round((nx - int(t)) / 2.0 + float(z_shift)))
    if z0 < 0 or z0 + int(t) > nx:
        raise ValueError(
            f"a {t}-pixel slab shifted by {z_shift:g} leaves the {nx}-pixel slice "
            f"(rows {z0}..{z0 + int(t) - 1}); the shift may be at most "
            f"{(nx - int(t)) // 2} pixels either way"
        )
    return z0, z0 + int(t)


def slab_native(method: str, slab, slab_only: bool) -> bool:
    """Whether ``method`` computes only the slab (its ``slab`` option) rather than whole slices.

    Methods in :data:`~tomoinpaint.methods.SLAB_EXACT` (WBP) always do: the slab's
    pixels are the whole slice's there. SART, SIRT and TV do only with ``slab_only``,
    which makes the slab a support constraint.

    Raises
    ------
    ValueError
        ``slab_only`` without a slab, or for a method that has no ``slab`` option.
    """
    takes = "slab" in method_options(method)
    if slab_only:
        if slab is None:
            raise ValueError("slab_only needs a thickness: the slab to reconstruct inside")
        if not takes:
            able = ", ".join(m for m in METHODS if "slab" in method_options(m))
            raise ValueError(
                f"slab_only applies to {able}; {method} reconstructs whole slices "
                "(its slab is cut from them)"
            )
    return slab is not None and takes and (method in SLAB_EXACT or slab_only)


def check_chunk_memory(
    n_tilts: int,
    nx: int,
    chunk: int,
    mode: str,
    workers: int,
    n_chunks: int,
    *,
    available: int | None = None,
) -> None:
    """Refuse chunks that cannot fit in this machine's memory, before any work.

    Parameters
    ----------
    n_tilts, nx : int
        The tilt series' size: a slice is reconstructed from ``n_tilts x nx``
        values into ``nx x nx``.
    chunk : int
        Slices per task.
    mode : str
        The resolved executor (``"synchronous"`` runs one chunk at a time).
    workers : int
        Local workers.
    n_chunks : int
        Number of chunks (no more run at once).
    available : int, optional
        Bytes of memory available; default
        :func:`~tomoinpaint.memory.available_memory`.

    Raises
    ------
    OptionError
        (exit status 1) naming the memory needed and available, and the
        ``chunk`` (or ``workers``) that would fit.

    Notes
    -----
    The need counted is a lower bound: each running task holds its chunk's
    rows and slices as float32, and the main process one finished chunk while
    writing it. Methods need more (filters, iterates, networks), so a run
    passing this check may still be short; one failing it cannot succeed.
    """
    parallel = 1 if mode == "synchronous" else max(1, min(workers, n_chunks))
    per_slice = 4 * (n_tilts * nx + nx * nx)  # one worker's rows and slice
    assembled = 4 * nx * nx  # per slice of the chunk being written
    need_per_chunk_slice = parallel * per_slice + assembled
    if available is None:
        available = available_memory()
    if available is None:
        return
    fits = available // need_per_chunk_slice
    if fits >= chunk:
        return
    on = f" on {parallel} workers" if parallel > 1 else ""
    what = f"reconstructing {chunk}-slice chunks of {nx} x {nx} from {n_tilts} tilts{on}"
    if fits >= 1:
        advice, options = f"use {{chunk}} {fits} (or less)", ("chunk",)
        if parallel > 1:
            advice += ", or fewer {workers}"
            options += ("workers",)
    elif parallel > 1 and available >= per_slice + assembled:
        advice, options = "use {workers} 1 and {chunk} 1", ("workers", "chunk")
    else:
        advice, options = (
            "even one slice does not fit: run it on a cluster ({scheduler})",
            ("scheduler",),
        )
    check_memory(chunk * need_per_chunk_slice, what, advice, *options, available=available)
