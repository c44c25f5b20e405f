"""The ``tomoinpaint`` command line: thin commands over library functions.

Commands (each named after the library function it wraps)
---------------------------------------------------------
``tomoinpaint reconstruct INPUT -o OUTPUT``
    Tilt series (MRC, TIFF, DXchange HDF5) -> volume ``(ny, n, n)``, chunk by
    chunk with :func:`tomoinpaint.volume.reconstruct_volume` (Dask: local
    processes/threads or a ``dask.distributed`` cluster; resumable), with
    per-chunk preprocessing for DXchange data with flat fields.
``tomoinpaint simulate OUTPUT``
    Phantom volume -> simulated tilt series + ``.tlt`` + ground truth
    (:func:`tomoinpaint.sim.phantom_volume`,
    :func:`tomoinpaint.sim.simulate_tilt_series`).
``tomoinpaint benchmark INPUT -o REPORT_DIR``
    Every method on sample slices of a measured series, scored without
    ground truth (:func:`tomoinpaint.score.report.benchmark_series`).
``tomoinpaint info``
    Versions, GPU support, preprocessing backend and methods.

Errors
------
A ``ValueError`` or ``OSError`` raised by the library becomes one line
``Error: <message>`` on stderr and exit status 1; usage errors (unknown
option, bad choice) are one line too, with exit status 2; Ctrl-C exits with
status 130. Outputs are written atomically (temporary file, then rename), so a
failed or interrupted command leaves no output and no temporary file behind.
``-v`` shows progress messages, ``-vv`` debug messages and tracebacks.

Size: one module because the commands are one click group whose option
declarations are most of its length; the work is in the library functions
each command calls.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import signal
import sys
from pathlib import Path

import click
import numpy as np

from . import io as tio
from . import prep as tprep
from .adapt import AdaptSettings, adapt
from .errors import OptionError
from .methods import METHODS, method_options, parse_method_spec, reconstruct
from .nn.weights import read_card
from .project import DEVICES, cuda_available, largest_matrix_slice, resolve_device
from .provenance import versions
from .recon import FILTERS
from .recon.filters import check_filter
from .recon.joint import (
    PRIOR_SIZES,
    WEIGHT_FILES,
    WEIGHTS_DIR,
    check_prior_weight,
    weights_available,
)
from .resume import work_dir_for
from .score.auto import auto_candidates, choose_method, default_method
from .score.auto_resume import (
    choice_file,
    choice_key,
    forget_choice,
    remember_choice,
    remembered_choice,
)
from .score.report import benchmark_series, read_sinograms, sample_rows, write_report
from .sim import simulate
from .sim.phantoms import VOLUME_FAMILIES
from .train.recipe import DEFAULT_RECIPE, EXIT_STOPPED, execute
from .volume import (
    EXECUTORS,
    Prep,
    check_execution,
    method_defaults,
    reconstruct_volume,
    sidecar_path,
    work_root,
)

__all__ = ["main", "reconstruct_volume", "versions"]

logger = logging.getLogger(__name__)

#: Distributions whose versions ``info`` reports and every JSON sidecar records.

#: CLI option (click parameter name) -> keyword option of the reconstruction methods.
METHOD_OPTION_FLAGS = {
    "filter": ("--filter", "filter"),
    "sweeps": ("--sweeps", "sweeps"),
    "iterations": ("--iterations", "iterations"),
    "relaxation": ("--relaxation", "relaxation"),
    "tv_weight": ("--tv-weight", "weight"),
    "step_ratio": ("--step-ratio", "step_ratio"),
    "model": ("--model", "model"),
    "prior_weight": ("--prior-weight", "prior_weight"),
    "prior_size": ("--prior-size", "prior_size"),
    "batch_size": ("--batch-size", "batch_size"),
}


#: Slices reconstructed (and written) at a time by default.
DEFAULT_CHUNK = 8
#: Slices ``--method auto`` scores its candidates on.
AUTO_SAMPLE = 2


# --------------------------------------------------------------------------- error handling


def _one_line(message: str) -> str:
    """Collapse a (possibly multi-line) message onto one line."""
    return " ".join(str(message).split())


class _OneLineGroup(click.Group):
    """A click group whose errors are always a single ``Error: ...`` line.

    click prints the usage block before a usage error; here a usage error is
    one line (with a ``--help`` hint) and exit status 2, a library error one
    line and exit status 1, Ctrl-C ``Aborted!`` and exit status 130.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            with _terminate_cleanly():
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {_one_line(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(130)
        except _Terminated:
            click.echo("Terminated: temporary files removed; the same command resumes", err=True)
            sys.exit(128 + signal.SIGTERM)
        sys.exit(rv if isinstance(rv, int) else 0)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every clean-up on the way out runs."""


@contextlib.contextmanager
def _terminate_cleanly():
    """While a command runs, SIGTERM unwinds like Ctrl-C.

    A batch system or ``kill`` sends SIGTERM; by default it ends the process
    at once and leaves the hidden temporary output behind. Here it raises
    :class:`_Terminated`: atomic outputs remove their temporaries, finished
    chunks stay in the work directory for resume. The previous handler is
    restored afterwards (the command may run inside another program).
    """

    def handler(signum, frame):
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _library_errors(fn):
    """Turn library errors into one-line CLI errors.

    An :class:`~tomoinpaint.errors.OptionError` names the command's flags and
    exits with status 2 (usage); another ``ValueError`` or an ``OSError`` exits
    with status 1.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except OptionError as exc:  # named options: shown as this command's flags
            logger.debug("traceback of the error:", exc_info=True)
            message = _one_line(exc.render(_flag))
            if exc.usage:  # a bad option or combination: a usage error (exit 2)
                raise click.UsageError(message, click.get_current_context(silent=True)) from exc
            raise click.ClickException(message) from exc
        except (ValueError, OSError) as exc:
            logger.debug("traceback of the error:", exc_info=True)
            raise click.ClickException(_one_line(str(exc)) or type(exc).__name__) from exc

    return wrapper


def _flag(name: str) -> str:
    """The flag of the current command that sets the library parameter ``name``."""
    for flag, kw in METHOD_OPTION_FLAGS.values():
        if kw == name:
            return flag
    ctx = click.get_current_context(silent=True)
    for param in ctx.command.params if ctx is not None else ():
        if isinstance(param, click.Option) and param.name == name:
            return max(param.opts, key=len)
    return "--" + name.replace("_", "-")


class _ClickLogHandler(logging.Handler):
    """Log records to the *current* stderr (click.echo), so CliRunner captures them."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    pkg = logging.getLogger("tomoinpaint")
    handler = next((h for h in pkg.handlers if isinstance(h, _ClickLogHandler)), None)
    if handler is None:
        handler = _ClickLogHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        pkg.addHandler(handler)
        pkg.propagate = False
    pkg.setLevel(level)


# --------------------------------------------------------------------------- helpers


def _parse_slices(text: str | None, ny: int) -> tuple[int, int]:
    """``"Y0:Y1"`` (either end optional) or ``"Y"`` -> ``(y0, y1)`` within ``[0, ny]``."""
    if text is None:
        return 0, ny
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            y0 = int(a) if a.strip() else 0
            y1 = int(b) if b.strip() else ny
        else:
            y0 = int(text)
            y1 = y0 + 1
    except ValueError:
        raise ValueError(f"--slices must be Y0:Y1 (integers), got {text!r}") from None
    if not 0 <= y0 < y1 <= ny:
        raise ValueError(
            f"--slices {text} is outside the {ny} detector rows of the input "
            f"(need 0 <= Y0 < Y1 <= {ny})"
        )
    return y0, y1


def _method_defaults(method: str) -> dict:
    """Default values of a method's keyword options (JSON-friendly ones)."""
    return method_defaults(method)


def _defaults_help(option: str) -> str:
    """Default of a method keyword option, per method that has it (for --help)."""
    found = [(m, _method_defaults(m).get(option)) for m in METHODS if option in method_options(m)]
    values = {v for _, v in found}
    if len(values) == 1:
        return str(values.pop())
    return ", ".join(f"{m}: {v}" for m, v in found)


def _sidecar_path(output: Path) -> Path:
    """``OUTPUT.json`` beside ``OUTPUT`` (the full name plus ``.json``)."""
    return sidecar_path(output)


# --------------------------------------------------------------------------- parameter types


class _AutoOrFloat(click.ParamType):
    """``auto`` or a floating-point number."""

    name = "auto|FLOAT"

    def convert(self, value, param, ctx):
        if value == "auto":
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is neither 'auto' nor a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class _FiniteFloatRange(click.FloatRange):
    """A click float range that also refuses NaN (which compares false with any bound)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _check_filter(ctx, param, value):
    if value is None:
        return None
    try:
        return check_filter(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _check_auto_or_positive(ctx, param, value):
    if value is None or value == "auto":
        return value
    if not np.isfinite(value) or value <= 0:
        raise click.BadParameter(f"must be 'auto' or a positive number, got {value}", ctx, param)
    return value


def _check_prior_weight(ctx, param, value):
    if value is None:
        return value
    try:
        check_prior_weight(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return value


# --------------------------------------------------------------------------- the group


@click.group(cls=_OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v", "--verbose", count=True, help="Show progress messages (-v) or debug output (-vv)."
)
@click.version_option(package_name="tomoinpaint", prog_name="tomoinpaint")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """tomoinpaint: limited-angle (missing-wedge) tomography.

    Reconstruct tilt series with classical methods (WBP, SART, SIRT, TV) or the
    deep model (joint: inpainting and de-artifact networks made consistent with
    the data), compare them on your own data without ground truth (benchmark),
    fine-tune the deep model on it (adapt), train the networks and simulate test
    data. Run 'tomoinpaint COMMAND --help' for a command's options.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    _setup_logging(verbose)


#: ``--exclude`` of reconstruct, benchmark and adapt: IMOD tilt's EXCLUDELIST.
exclude_option = click.option(
    "--exclude",
    "exclude",
    default=None,
    metavar="LIST",
    help="Views to leave out, numbered from 1 in file order as IMOD's tilt numbers them "
    "(EXCLUDELIST), e.g. 1,4-6,40; the angle file still lists every view.",
)

#: ``--bin`` of reconstruct, benchmark and adapt: IMOD newstack's -bin.
bin_option = click.option(
    "--bin",
    "binning",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Average each N x N block of detector pixels first, as IMOD's newstack -bin "
    "(flat fields alike): the volume is (ny/N, nx/N, nx/N) with N times the voxel size, and "
    "--slices, --thickness, --z-shift and --center count binned pixels.",
)

intensities_option = click.option(
    "--intensities",
    type=_AutoOrFloat(),
    default=None,
    metavar="auto|I0",
    help="INPUT holds intensities without flat fields (bright field, dense matter dark; or "
    "transmission): use -log(I / I0), I0 each view's open-beam level, estimated ('auto') "
    "or given (1 for transmission) [default: INPUT holds line integrals].",
)


def _prep_with_intensities(prep, intensities, series):
    """The ``prep`` setting of benchmark and adapt, with ``--intensities`` when given.

    Without ``--prep``, intensities are only converted (no centring); with it
    they are also centred, as line integrals would be.
    """
    if intensities is None:
        return prep
    spec = (
        Prep(intensities=intensities)
        if prep
        else Prep(rings=False, center=None, intensities=intensities)
    )
    return tprep.check_prep(spec, series)


def _read_series(input_path: str, angles_file: str | None, exclude: str | None, binning: int = 1):
    """The tilt series INPUT with its angles, less the ``--exclude`` views, binned by ``--bin``."""
    try:
        series = tio.read_tilt_series_excluding(input_path, exclude, angles=angles_file)
    except tio.ViewListError as exc:
        raise click.BadParameter(str(exc), param_hint="--exclude") from None
    try:
        return series.binned(binning)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--bin") from None


# --------------------------------------------------------------------------- reconstruct


@main.command("reconstruct")
@click.argument("input_path", metavar="INPUT")
@click.option(
    "-o",
    "--output",
    required=True,
    help="Output volume (ny, n, n), or (ny, THICKNESS, n); format by suffix: .mrc/.rec, .h5, .tif.",
)
@click.option(
    "--angles",
    "angles_file",
    default=None,
    help="Tilt-angle file (.tlt/.rawtlt, degrees). Default: INPUT's .tlt/.rawtlt "
    "beside it, or /exchange/theta of an HDF5 file.",
)
@exclude_option
@bin_option
@click.option(
    "--method",
    type=click.Choice([*METHODS, "auto"]),
    default=default_method,
    help="Reconstruction method: classical (wbp, sart, sirt, tv) or the deep model "
    "(joint = inpaint + de-artifact + data consistency; paper = as published; inpaint, "
    "deartifact = one stage); auto = joint unless tv or another prior weight clearly and "
    "materially better predicts projections held out of two sample slices "
    "[default: auto when weights are installed, else wbp].",
)
@click.option(
    "--filter",
    "filter",
    default=None,
    callback=_check_filter,
    help=f"Ramp filter: {', '.join(FILTERS)} [default: {_defaults_help('filter')}].",
)
@click.option(
    "--sweeps",
    type=click.IntRange(min=1),
    default=None,
    help=f"Sweeps over all projections [default: {_defaults_help('sweeps')}].",
)
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    default=None,
    help=f"Iterations [default: {_defaults_help('iterations')}].",
)
@click.option(
    "--relaxation",
    type=_FiniteFloatRange(0.0, 2.0, min_open=True),
    default=None,
    help=f"Step length in (0, 2] [default: {_defaults_help('relaxation')}].",
)
@click.option(
    "--tv-weight",
    type=_AutoOrFloat(),
    default=None,
    callback=_check_auto_or_positive,
    help=f"TV weight: 'auto' (noise-adaptive) or a number [default: {_defaults_help('weight')}].",
)
@click.option(
    "--step-ratio",
    type=_AutoOrFloat(),
    default=None,
    callback=_check_auto_or_positive,
    help="TV's PDHG dual-to-primal step ratio (how fast it converges, not to what): 'auto' "
    "grows it with the noise and the width, several times faster on noisy slices from "
    f"256 px on [default: {_defaults_help('step_ratio')}].",
)
@click.option(
    "--model",
    default=None,
    metavar="DIR",
    help="Weights directory of the deep methods (inpainter.safetensors, "
    "deartifact.safetensors) [default: the installed weights].",
)
@click.option(
    "--prior-weight",
    type=_AutoOrFloat(),
    default=None,
    callback=_check_prior_weight,
    help=f"joint: data weight of the network's projections, at the missing and at the measured "
    f"angles (a measurement: 1), a positive number or 'auto' (follows the noise level at "
    f"the prior's resolution) "
    f"[default: {_defaults_help('prior_weight')}].",
)
@click.option(
    "--prior-size",
    type=click.Choice(PRIOR_SIZES),
    default=None,
    help="joint: run the prior's TV and network at the network's training size ('network', "
    "then resampled) or at the input's detector width ('input': the prior keeps the input's "
    "resolution; slower), or 'auto': the input's width for clean data, the network's for "
    "noisy data (for weights written by adapt, on clean data what adapt chose) "
    f"[default: {_defaults_help('prior_size')}].",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help=f"Deep methods: slices per network pass [default: {_defaults_help('batch_size')}].",
)
@click.option(
    "--device",
    type=click.Choice(list(DEVICES)),
    default="auto",
    show_default=True,
    help="ASTRA and torch device.",
)
@click.option(
    "--slices",
    default=None,
    metavar="Y0:Y1",
    help="Reconstruct only detector rows Y0..Y1-1 [default: all].",
)
@click.option(
    "--thickness",
    type=click.IntRange(min=1),
    default=None,
    help="Keep THICKNESS pixels of each slice along the beam at 0° tilt, centred (IMOD "
    "tilt's THICKNESS): the volume is (ny, THICKNESS, n) [default: n].",
)
@click.option(
    "--z-shift",
    type=float,
    default=0.0,
    show_default=True,
    help="Move the --thickness slab's centre by this many pixels, towards higher rows of "
    "each slice (the z of IMOD tilt's SHIFT).",
)
@click.option(
    "--slab-only",
    is_flag=True,
    help="SART/SIRT/TV: reconstruct inside the --thickness slab only, as IMOD's SIRT does "
    "(faster; much sharper when the specimen lies inside the slab, much worse when it "
    "does not) [default: whole slices, the slab cut out].",
)
@click.option(
    "--chunk",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK,
    show_default=True,
    help="Slices reconstructed and written at a time.",
)
@click.option(
    "--prep/--no-prep",
    default=None,
    help="Flat/dark normalisation and minus-log (with INPUT's flat fields), ring removal "
    "and centring; without flat fields INPUT's projections are line integrals and get "
    "only centring (and ring removal with --rings) [default: on when INPUT has flat fields].",
)
@click.option(
    "--center",
    type=_AutoOrFloat(),
    default=None,
    help="Rotation-axis column for --prep: 'auto' (estimated) or a number [default: auto].",
)
@click.option(
    "--rings/--no-rings",
    default=None,
    help="Ring (stripe) removal during --prep [default: on for raw counts with flat fields, "
    "off for line integrals].",
)
@click.option(
    "--ring-window",
    type=click.IntRange(min=3),
    default=None,
    metavar="PX",
    help="Window of the ring filter, detector pixels (odd) [default: about 1% of the "
    "detector width, at least 3: 7 at 640 px, 21 at 2048].",
)
@intensities_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local workers reconstructing chunks in parallel (processes unless --executor threads).",
)
@click.option(
    "--executor",
    type=click.Choice(list(EXECUTORS)),
    default="auto",
    show_default=True,
    help="How local workers run: auto = synchronous for 1 worker, processes for more.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the chunks on a dask.distributed cluster (tcp://HOST:PORT); INPUT and the "
    "output directory must be reachable from its workers.",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue an interrupted run of the same command from its finished chunks "
    "(--no-resume starts over).",
)
@click.option(
    "--work-dir",
    default=None,
    metavar="DIR",
    help="Where finished chunks are kept until the output is complete (needs room for the "
    "volume) [default: $TOMOINPAINT_WORK_DIR or ~/.cache/tomoinpaint/partial; with "
    "--scheduler: beside the output].",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar over chunks (done/total, rate, ETA) [default: on a terminal].",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.pass_context
@_library_errors
def reconstruct_cmd(
    ctx: click.Context,
    input_path: str,
    output: str,
    angles_file: str | None,
    exclude: str | None,
    binning: int,
    method: str,
    device: str,
    slices: str | None,
    thickness: int | None,
    z_shift: float,
    slab_only: bool,
    chunk: int,
    prep: bool | None,
    center,
    rings: bool | None,
    ring_window: int | None,
    intensities,
    workers: int,
    executor: str,
    scheduler: str | None,
    resume: bool,
    work_dir: str | None,
    progress: bool | None,
    overwrite: bool,
    **method_flags,
) -> None:
    """Reconstruct a tilt series INPUT into a volume.

    INPUT is an MRC, TIFF or DXchange HDF5 tilt series (n_tilts, ny, nx); slice
    y of the output volume (ny, nx, nx) is reconstructed from the sinogram of
    detector row y. Only the options of the chosen method may be given.

    Rows are processed in chunks of --chunk slices (by --workers local
    processes, or on a cluster with --scheduler) and the output appears only
    when complete. An interrupted run (Ctrl-C, kill) started again with the
    same command continues from its finished chunks.
    """
    # 1. method options: only those of the chosen method, and only if given
    allowed = ("model",) if method == "auto" else method_options(method)
    options = {}
    for name, value in method_flags.items():
        if value is None:
            continue
        flag, kw = METHOD_OPTION_FLAGS[name]
        if kw not in allowed:
            valid = [f for f, k in METHOD_OPTION_FLAGS.values() if k in allowed]
            named = ctx.get_parameter_source("method") != click.core.ParameterSource.DEFAULT
            raise click.UsageError(
                f"option {flag} does not apply to --method {method}"
                + ("" if named else ", the default")
                + f" (its options: {', '.join(valid) or 'none'})"
                + ("" if named else "; name the method, e.g. --method joint"),
                ctx,
            )
        options[kw] = value

    # 2. the method's weights, workers and scheduler are checked by reconstruct_volume

    # 3. output path and device (on a cluster, each worker resolves "auto" itself)
    out = Path(output)
    tio.detect_format(out, for_writing=True)
    sidecar = _sidecar_path(out)
    dev = device if scheduler is not None else resolve_device(device)

    # 4. input, angles, views, rows
    series = _read_series(input_path, angles_file, exclude, binning)
    n_tilts, ny_all, nx = series.shape
    y0, y1 = _parse_slices(slices, ny_all)
    prep_spec = False
    if tprep.check_prep(prep, series) is None:  # default: on when the input has flat fields
        if center is not None:
            raise click.UsageError("option --center only applies with --prep", ctx)
        if rings is not None:
            raise click.UsageError("option --rings/--no-rings only applies with --prep", ctx)
        if ring_window is not None:
            raise click.UsageError("option --ring-window only applies with --prep", ctx)
        if intensities is not None:  # converted only, not centred
            prep_spec = Prep(
                rings=False, center=None, backend=tprep.backend("auto"), intensities=intensities
            )
    else:
        center = "auto" if center is None else center
        rings = "auto" if rings is None else rings
        try:  # Prep's own check, as a usage error
            tprep.check_ring_window(ring_window)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--ring-window") from None
        prep_spec = Prep(
            rings=rings,
            center=center,
            backend=tprep.backend("auto"),
            intensities=intensities,
            ring_window=ring_window,
        )
    if prep_spec:
        # e.g. --intensities for a series with flat fields
        if not tprep.check_prep(prep_spec, series).rings and ring_window is not None:
            raise click.UsageError(
                "option --ring-window applies when rings are removed (--rings; the default "
                "for raw counts with flat fields)",
                ctx,
            )
    auto = None
    if method == "auto":
        # what would be refused later is refused before the candidates are scored
        if slab_only:  # none of auto's candidates reconstructs inside a slab
            raise click.UsageError(
                "--slab-only applies to --method sart, sirt or tv (and wbp), not to auto", ctx
            )
        tprep.check_series_data(series, prep_spec or None, [method])
        for target in (out, sidecar):
            tio.atomic.check_target(target, overwrite)
        mode = check_execution(chunk, workers, executor, scheduler)[2]
        remembered = choice_file(work_dir_for(out, work_root(work_dir, mode, out)))
        auto = _choose_automatically(
            series, y0, y1, prep_spec, options.get("model"), dev, remembered, resume
        )
        method, options = auto.method, auto.options
    logger.info(
        "reconstruct %s (%d tilts, rows %d..%d of %d, %d px) with %s %s on %s",
        input_path,
        n_tilts,
        y0,
        y1 - 1,
        ny_all,
        nx,
        method,
        options,
        dev,
    )

    # 5. everything is valid: the volume and its JSON appear together, when complete
    metadata = {
        "command": "tomoinpaint reconstruct",
        "options_given": options,
        "angles_file": None if angles_file is None else str(Path(angles_file).resolve()),
        "exclude": exclude,
        "versions": versions(),
    }
    if auto is not None:
        metadata["auto"] = auto.to_dict()
    result = reconstruct_volume(
        series,
        out,
        method=method,
        options=options,
        chunk=chunk,
        workers=workers,
        executor=executor,
        scheduler=scheduler,
        device=dev,
        slices=(y0, y1),
        thickness=thickness,
        z_shift=z_shift,
        slab_only=slab_only,
        prep=prep_spec,
        overwrite=overwrite,
        resume=resume,
        work_dir=work_dir,
        progress=progress,
        metadata=metadata,
        reconstruct_fn=reconstruct,  # looked up here, so it can be instrumented
    )
    if auto is not None:
        forget_choice(remembered)  # the volume is complete: nothing left to resume
    reused = ""
    if result.chunks_reused:
        reused = f", {result.chunks_reused} of {result.chunks} chunks resumed"
    chosen = ""
    if auto is not None and auto.reused:
        chosen = ", chosen by auto for the interrupted run"
    elif auto is not None:
        share = auto.seconds / max(result.seconds, 1e-9)
        chosen = f", chosen by auto in {auto.seconds:.0f} s = {share:.0%} of the reconstruction"
    click.echo(f"wrote {out} {result.shape} ({method}{reused}{chosen}) and {sidecar.name}")


def _choose_automatically(
    series, y0: int, y1: int, prep_spec, model, device: str, remembered: Path, reuse: bool
):
    """``--method auto``: score the candidates on sample rows of ``y0..y1``; the choice.

    The choice is kept in ``remembered`` until the volume is complete, and an
    interrupted run resumed with the same command (``reuse``) takes it from
    there instead of scoring again.
    """
    rows = y0 + sample_rows(y1 - y0, AUTO_SAMPLE)
    prep = prep_spec if prep_spec else None
    sino = read_sinograms(series, rows, prep)
    candidates = auto_candidates(model)
    key = choice_key(sino, series.angles_deg, candidates)
    choice = remembered_choice(remembered, key) if reuse else None
    if choice is not None:
        options = f" {choice.options}" if choice.options else ""
        again = "the interrupted run's choice, not scored again"
        click.echo(f"auto: {choice.method}{options} ({again})", err=True)
        return choice
    choice = choose_method(
        sino,
        series.angles_deg,
        candidates,
        rows=rows,
        device=device,
        progress=lambda msg: logger.info("%s", msg),
    )
    remember_choice(remembered, key, choice)
    for sc in choice.scores:
        logger.info("auto: %s %s wedge edge %.4g", sc["method"], sc["options"], sc["wedge_edge"])
    how = (
        f"not scored: {choice.rule['skipped']}"
        if "skipped" in choice.rule
        else f"scored in {choice.seconds:.0f} s"
    )
    options = f" {choice.options}" if choice.options else ""
    click.echo(f"auto: {choice.method}{options} ({how})", err=True)
    return choice


# --------------------------------------------------------------------------- benchmark


def _parse_methods(text: str) -> list[str]:
    """``--methods``: comma-separated names or ``METHOD:OPTION=VALUE`` entries, each checked."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise click.BadParameter(f"no method; choose from {', '.join(METHODS)}", "--methods")
    for name in names:
        try:
            parse_method_spec(name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--methods") from None
    return list(dict.fromkeys(names))


@main.command("benchmark")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", "out_dir", required=True, help="Report directory (created).")
@click.option("--angles", "angles_file", default=None, help="Tilt-angle file (as reconstruct).")
@exclude_option
@bin_option
@click.option(
    "--methods",
    default=None,
    help="Comma-separated methods, each also as METHOD:OPTION=VALUE[:...] to compare settings "
    "(e.g. tv,tv:step_ratio=10,tv:iterations=2000) [default: wbp,sart,tv and joint when "
    "weights are installed].",
)
@click.option(
    "--reference",
    default=None,
    help="Reference volume (ny, nx, nx) to compare with; with --bin, also the full-size one.",
)
@click.option(
    "--sample",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Evenly spaced slices to benchmark.",
)
@click.option("--slices", default=None, help="Benchmark rows Y0:Y1 instead of a sample.")
@click.option(
    "--prep/--no-prep",
    default=None,
    help="Preprocess as reconstruct --prep does [default: when the input has flat fields].",
)
@intensities_option
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing report directory's files.")
@click.pass_context
@_library_errors
def benchmark_cmd(
    ctx: click.Context,
    input_path: str,
    out_dir: str,
    angles_file: str | None,
    exclude: str | None,
    binning: int,
    methods: str | None,
    reference: str | None,
    sample: int,
    slices: str | None,
    prep: bool | None,
    intensities,
    device: str,
    overwrite: bool,
) -> None:
    """Compare reconstruction methods on a tilt series INPUT, without ground truth.

    Sample slices are reconstructed by every method (timed) and scored by
    predicting measured projections held out of the reconstruction (the
    outermost tilts, and every 4th tilt) and by the even/odd-tilt Fourier ring
    correlation; with --reference, also by PSNR/SSIM against that volume.
    Writes report.md, report.json and PNG figures into the --output directory.
    """
    names = (
        _parse_methods(methods)
        if methods
        else (["wbp", "sart", "tv"] + (["joint"] if weights_available() else []))
    )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a directory")
    if (out / "report.md").exists() and not overwrite:
        raise ValueError(f"{out / 'report.md'} exists (pass --overwrite to replace it)")
    series = _read_series(input_path, angles_file, exclude, binning)
    rows = None if slices is None else _parse_slices(slices, series.shape[1])
    report, images = benchmark_series(
        series,
        names,
        reference=reference,
        sample=sample,
        rows=rows,
        prep=_prep_with_intensities(prep, intensities, series),
        device=resolve_device(device),
        progress=lambda msg: click.echo(msg, err=True),
    )
    command = "tomoinpaint " + " ".join(sys.argv[1:]) if sys.argv[1:] else "tomoinpaint benchmark"
    md = write_report(report, images, out, command=command)
    click.echo(f"wrote {md}: best without ground truth: {report.best}")


# --------------------------------------------------------------------------- adapt


@main.command("adapt")
@click.argument("input_path", metavar="INPUT")
@click.option(
    "-o", "--output", "out_dir", required=True,
    help="Weights directory to write (then: reconstruct --model DIR).",
)  # fmt: skip
@click.option("--angles", "angles_file", default=None, help="Tilt-angle file (as reconstruct).")
@exclude_option
@bin_option
@click.option("--model", default=None, help="Base weights [default: the installed weights].")
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Time budget; no round starts that would end after it (on clean data it also "
    "holds choosing joint's prior size after training, timed on one slice first).",
)
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Stop after N rounds.")
@click.option(
    "--sample",
    type=click.IntRange(2, 4096),
    default=16,
    show_default=True,
    help="Evenly spaced slices to learn from.",
)
@click.option("--slices", default=None, help="Learn from rows Y0:Y1 instead of a sample.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed."
)
@click.option(
    "--pairs",
    type=click.IntRange(min=1),
    default=AdaptSettings.pairs_per_round,
    show_default=True,
    help="Training pairs drawn per round.",
)
@click.option(
    "--prep/--no-prep",
    default=None,
    help="Preprocess as reconstruct --prep does [default: when the input has flat fields].",
)
@intensities_option
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--overwrite", is_flag=True, help="Start afresh in an existing directory.")
@_library_errors
def adapt_cmd(
    input_path, out_dir, angles_file, exclude, binning, model, minutes, rounds, sample, slices,
    seed, pairs, prep, intensities, device, overwrite,
):  # fmt: skip
    """Fine-tune the deep model on a tilt series INPUT, without ground truth.

    Pairs are made from the data alone (IsoNet/DeepDeWedge-style, in 2D):
    reconstructions from the even and from the odd tilts, rotated so that
    measured directions fall into the missing wedge; the network of joint's
    prior learns to restore them, scored by its image's projections against
    the other half's measured projections (only where the data were measured).
    Run the same command again to continue an interrupted adaptation.
    """
    series = _read_series(input_path, angles_file, exclude, binning)
    ny = series.shape[1]
    rows = sample_rows(ny, sample, None if slices is None else _parse_slices(slices, ny))
    prep_spec = tprep.check_prep(_prep_with_intensities(prep, intensities, series), series)
    # adapting trains joint's network, which learned non-negative images
    tprep.check_series_data(series, prep_spec, ["joint"])
    sino = read_sinograms(series, rows, prep_spec)
    result = adapt(
        sino,
        series.angles_deg,
        out_dir,
        model=model,
        minutes=minutes,
        rounds=rounds,
        settings=AdaptSettings(seed=seed, pairs_per_round=pairs),
        overwrite=overwrite,
        device=resolve_device(device),
        progress=lambda msg: click.echo(msg, err=True),
    )
    first = f"{result.losses[0]:.4g} -> {result.losses[-1]:.4g}" if result.losses else "none"
    resumed = f", resumed after round {result.resumed_from}" if result.resumed_from else ""
    if result.clean_prior_size is not None:
        where = "the input's width" if result.clean_prior_size == "input" else "its own size"
        click.echo(f"adapt: on clean data joint will run the prior at {where}", err=True)
    click.echo(
        f"wrote {result.out_dir}: {result.rounds} rounds (loss {first}{resumed}) in "
        f"{result.seconds:.0f} s; use it with: tomoinpaint reconstruct {input_path} "
        + (f"--bin {binning} " if binning != 1 else "")
        + f"--model {result.out_dir}"
    )


# --------------------------------------------------------------------------- simulate


def _parse_dose(dose: str):
    """A dose name stays a name; anything else is I0 (validated by the library)."""
    try:
        return float(dose)
    except ValueError:
        return dose


@main.command("simulate")
@click.argument("output")
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=8),
    default=128,
    show_default=True,
    help="Detector pixels; slices are n x n.",
)
@click.option(
    "--ny",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Slices along the tilt axis.",
)
@click.option(
    "--family",
    type=click.Choice(list(VOLUME_FAMILIES)),
    default="shapes",
    show_default=True,
    help="Phantom family.",
)
@click.option("--tilt-min", type=float, default=None, help="First tilt, degrees [default: -60].")
@click.option("--tilt-max", type=float, default=None, help="Last tilt, degrees [default: 60].")
@click.option("--step", type=float, default=2.0, show_default=True, help="Tilt step, degrees.")
@click.option(
    "--wedge",
    type=float,
    default=None,
    metavar="DEG",
    help="Missing wedge in degrees instead of --tilt-min/--tilt-max: tilts within +-(90 - DEG/2).",
)
@click.option(
    "--dose",
    default="noise-free",
    show_default=True,
    help="noise-free, moderate (I0 = 20000), low (2000), very-low (1000), or the incident "
    "counts I0 per pixel.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--voxel-size", type=float, default=None, help="Voxel size in Å.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@_library_errors
def simulate_cmd(
    output, n, ny, family, tilt_min, tilt_max, step, wedge, dose, seed, voxel_size, overwrite
):
    """Simulate a tilt series OUTPUT of a phantom, with its ground truth.

    Writes OUTPUT (n_tilts, ny, n) with its angles in OUTPUT's .tlt beside it
    (MRC, TIFF; HDF5 keeps them inside) and the ground-truth volume
    OUTPUT_gt (ny, n, n), all together. The phantom is drawn on a 2x finer
    grid and projected with an area-integrating kernel (no "inverse crime").
    """
    result = simulate(
        output,
        n=n,
        ny=ny,
        family=family,
        tilt_min=tilt_min,
        tilt_max=tilt_max,
        step=step,
        wedge=wedge,
        dose=_parse_dose(dose),
        seed=seed,
        voxel_size=voxel_size,
        overwrite=overwrite,
    )
    a = result.angles_deg
    click.echo(
        f"wrote {result.paths[0]} {result.shape} ({a.size} tilts {a.min():g}..{a.max():g} deg), "
        f"{' and '.join(p.name for p in result.paths[1:])}"
    )


# --------------------------------------------------------------------------- info


def _torch_cuda() -> str:
    try:
        import torch  # optional here: `info` reports a broken torch install instead of failing
    except Exception as exc:  # noqa: BLE001 - report, never fail
        return f"unavailable ({type(exc).__name__})"
    return "yes" if torch.cuda.is_available() else "no"


# --------------------------------------------------------------------------- train


@main.command("train")
@click.argument("stages", type=click.Choice(["joint", "inpaint", "deartifact"]), default="joint")
@click.option(
    "--config",
    "config",
    default=DEFAULT_RECIPE,
    show_default=True,
    help=f"Recipe: a shipped one ({DEFAULT_RECIPE}: the shipped weights' from scratch, their "
    "TV network then fine-tuned by joint_tv150_cellular_ft; tiny, default, linear_fill, "
    "joint_tv, joint_tv150, paper, ...) or a YAML/JSON file (see tomoinpaint/train/recipes/).",
)
@click.option(
    "--out",
    default="runs/train_weights",
    show_default=True,
    metavar="DIR",
    help="Run directory: libraries, checkpoints, logs, weights. The same command again "
    "resumes there.",
)
@click.option(
    "--time-budget",
    type=_FiniteFloatRange(min=0.0),
    default=None,
    metavar="MINUTES",
    help="Stop cleanly at a checkpoint after this long (exit status 75; run again to resume).",
)
@click.option(
    "--device",
    type=click.Choice(list(DEVICES)),
    default=None,
    help="Override the recipe's device [default: the recipe's, usually auto].",
)
@click.option(
    "--install",
    "install_weights",
    is_flag=True,
    help="When finished (joint), copy the weights into the package: the new default model.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars [default: on a terminal].",
)
@click.pass_context
@_library_errors
def train_cmd(ctx, stages, config, out, time_budget, device, install_weights, progress) -> None:
    """Train the deep model's STAGES (joint = both, inpaint, deartifact) by a recipe.

    Simulates the training libraries, trains the inpainting GAN and/or the
    de-artifact GAN with checkpoints, and writes OUT/weights (safetensors with
    model cards) for 'reconstruct --model OUT/weights'. Interrupted runs resume
    from their last checkpoint when the same command is run again.
    """
    pkg = logging.getLogger("tomoinpaint")
    if pkg.level > logging.INFO or pkg.level == logging.NOTSET:
        pkg.setLevel(logging.INFO)  # training is long: always report epochs
    Path(out).mkdir(parents=True, exist_ok=True)
    log_file = logging.FileHandler(Path(out) / "train.log")
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    pkg.addHandler(log_file)
    try:
        code = execute(
            config,
            out,
            stages=stages,
            time_budget=time_budget,
            device=device,
            install_weights=install_weights,
            progress=progress,
        )
    finally:
        pkg.removeHandler(log_file)
        log_file.close()
    if code == EXIT_STOPPED:
        click.echo(f"stopped by --time-budget; run the same command again to continue in {out}")
        ctx.exit(code)
    click.echo(f"finished: {out}")


@main.command("info")
def info_cmd() -> None:
    """Versions, GPU support, preprocessing backend and reconstruction methods."""
    rows = [(name, v or "not installed") for name, v in versions().items()]
    rows.append(("ASTRA CUDA", "yes" if cuda_available() else "no"))
    rows.append(("torch CUDA", _torch_cuda()))
    try:
        backend = tprep.backend("auto")
    except ValueError as exc:
        backend = f"none ({_one_line(str(exc))})"
    rows.append(("prep backend", backend))
    rows.append(("methods", ", ".join(METHODS)))
    rows.append(
        (
            "CPU matrix",
            f"TV and joint project with a sparse matrix up to {largest_matrix_slice(121)} px "
            "slices from 121 tilts here (a quarter of the free memory, shared by --workers); wider "
            "ones through ASTRA slice by slice, 5-15x slower (--slab-only or a GPU help)",
        )
    )
    if weights_available():
        grid = (
            read_card(WEIGHTS_DIR / WEIGHT_FILES["inpainter"]).get("metadata", {}).get("grid", {})
        )
        rows.append(
            (
                "deep model",
                f"installed in {WEIGHTS_DIR} ({grid.get('n')} px grid, "
                f"{len(grid.get('angles_deg', []))} angles); default method {default_method()}",
            )
        )
    else:
        rows.append(("deep model", "no weights installed (use --model DIR); default method wbp"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="tomoinpaint")
