"""The two-step deep model (Ding et al., Sci. Rep. 2019) and the project's joint pipeline.

Four methods, each with the signature of every other method
(``method(sino, angles_deg, *, ..., device)``, a sinogram or a stack of them,
any tilt angles, any detector width, any intensity units):

``inpaint``
    The inpainting GAN fills the missing wedge; WBP of the measured
    projections plus the inpainted ones (the paper's Fig. 13 ablation).
``deartifact``
    The de-artifact U-Net applied to the WBP of the measured projections
    (the other Fig. 13 ablation).
``paper``
    Inpaint -> WBP -> de-artifact, as published.
``joint``
    The networks' estimate made consistent with the measurements: TV (PDHG,
    :func:`tomoinpaint.recon.tv`) started from the network image, on the
    measured projections at full weight plus the network's projections at
    the missing angles (and, for the "tv" prior, at the measured ones: a
    second estimate of them) at weight ``prior_weight``, with the TV weight that
    TV alone would use on the measured data. By default the network image is
    the de-artifact network applied to TV (``prior_source="tv"``), averaged
    over the image flips that keep the measured angles
    (:func:`symmetric_flips`), and the prior weight follows the noise level
    (:func:`auto_prior_weight`): chosen
    on validation data by ``benchmarks/joint_tuning.py``.

The model grid
--------------
The networks were trained on one angular grid and slice size, recorded in
their model card (``metadata.grid``: ``n``, ``angles_deg``, the half turn
centred on the trained wedge). A sinogram is moved onto it by
:func:`to_model_grid`: the detector is resampled to ``n`` pixels (line
integrals converted to model-pixel units, so images keep the input's units),
and each grid angle θ is filled from the measured angle θ - 180 m (detector
flipped for odd m) by linear interpolation between the nearest tilts, if it
lies within the measured tilt range. Grid angles outside it are the missing
wedge the inpainter fills. The de-artifact network for TV inputs (the
``joint`` prior) may have been trained at another slice size (its card's
``grid.n``, :attr:`JointModel.tv_n`) on the same angles: its TV runs on the
grid at that size. Network images are resampled back to the input's
detector width. Measured projections are never altered: ``inpaint`` and
``joint`` use them as given; only missing angles come from the network.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry import Geometry, validate_angles
from ..project import Projector, forward_project
from .common import as_geometry, check_positive_int
from .tv import TV_WEIGHT_PER_NOISE, operator_norm, scale_and_weight, tv, tv_solve
from .wbp import wbp

__all__ = [
    "JointModel",
    "WEIGHTS_DIR",
    "WEIGHT_FILES",
    "weights_available",
    "load_joint_model",
    "to_model_grid",
    "resample_detector",
    "inpaint",
    "deartifact",
    "paper",
    "joint",
    "NetworkPrior",
    "network_prior",
    "edge_error",
    "symmetric_flips",
    "data_consistency",
    "JOINT_PRIOR_WEIGHT",
    "JOINT_ITERATIONS",
]

log = logging.getLogger(__name__)

#: The shipped weights (``pipelines/train_weights.py --install`` writes them).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: File names of the two generators inside a weights directory.
WEIGHT_FILES = {"inpainter": "inpainter.safetensors", "deartifact": "deartifact.safetensors"}
#: Optional: a de-artifact network trained on TV inputs (the "tv" prior's network).
TV_DEARTIFACT_FILE = "deartifact_tv.safetensors"
#: Data-term weight of the network's projections in ``joint`` (measured ones: 1);
#: "auto": :func:`auto_prior_weight`.
JOINT_PRIOR_WEIGHT = "auto"
#: Relative noise (std / image scale, as TV's weight rule measures it) at which
#: the network's projections are weighted like a measurement (weight 1).
PRIOR_NOISE_MATCH = 0.3
#: Smallest automatic prior weight (noise-free data).
PRIOR_WEIGHT_MIN = 0.03
#: Largest automatic prior weight (low dose: the network's projections count up
#: to a hundred times a measured one; on validation data a larger clip changed
#: nothing and 10 lost up to 0.04 dB, ``benchmarks/results/joint_tuning.md``).
PRIOR_WEIGHT_MAX = 100.0
#: Where ``network_prior`` takes its image and projections from.
PRIOR_SOURCES = ("paper", "tv")
#: ``joint``'s prior source.
JOINT_PRIOR_SOURCE = "tv"
#: Detector pixels at which inpainted projections are compared (None: the model's size).
JOINT_PRIOR_RESOLUTION = None
#: PDHG iterations of ``joint``'s data-consistency step (it starts from the network output).
JOINT_ITERATIONS = 500
#: Average the "tv" prior's network over the image flips that keep the measured
#: angles (:func:`symmetric_flips`): +0.1 to +0.7 dB on validation data
#: (``benchmarks/results/joint_tuning.md``), for 4 network passes instead of 1.
JOINT_PRIOR_FLIPS = True
#: Also weigh the network's projections at the *measured* angles against the
#: measurements (same weight as at the missing angles, see ``data_consistency``):
#: on validation data the worst family's low-dose gain over the better of SART and
#: TV rose from +1.11 to +1.31 dB and the mean from +1.79 to +1.86
#: (``benchmarks/results/joint_tuning.md``), at no extra cost.
JOINT_MEASURED_PRIOR = True


# --------------------------------------------------------------------------- the model
@dataclass(frozen=True, eq=False)
class JointModel:
    """Both generators and the grid they were trained on.

    Attributes
    ----------
    inpainter, deartifact : torch.nn.Module
        Stage-1 and stage-2 generators, in eval mode on ``device``.
    angles_deg : numpy.ndarray, shape (n_grid,)
        The model's angular grid (degrees, increasing, a half turn).
    trained_measured : numpy.ndarray of bool, shape (n_grid,)
        Rows measured during training (the trained wedge is the rest).
    n : int
        Slice size (and detector width) of the model.
    wbp_filter : str
        Ramp filter of the WBP the de-artifact network was trained on.
    deartifact_tv : torch.nn.Module or None
        The de-artifact network for TV inputs, if the weights have one
        (else the "tv" prior uses ``deartifact``).
    tv_iterations : int
        PDHG iterations of the TV inputs the network of the "tv" prior was
        trained on (``tv_wedge``).
    tv_n : int or None
        Slice size the network of the "tv" prior works at (None: ``n``); its
        angular grid is always ``angles_deg``.
    device : torch.device
    source : str
        Where the weights came from.
    """

    inpainter: object
    deartifact: object
    angles_deg: np.ndarray
    trained_measured: np.ndarray
    n: int
    wbp_filter: str
    device: object
    source: str
    cards: dict = field(default_factory=dict, repr=False)
    tv_iterations: int = 300
    deartifact_tv: object = None
    tv_n: int | None = None


def _weights_dir(model) -> Path:
    return WEIGHTS_DIR if model is None else Path(model)


def weights_available(model: str | os.PathLike | None = None) -> bool:
    """Whether ``model`` (default: the shipped weights) holds both generators."""
    d = _weights_dir(model)
    return all((d / f).is_file() for f in WEIGHT_FILES.values())


def _torch_device(device: str):
    import torch

    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch finds no CUDA GPU")
        return torch.device("cuda")
    if device not in ("auto", "cpu"):
        raise ValueError(f"unknown device {device!r}; choose one of auto, cpu, cuda")
    return torch.device("cpu")


def load_joint_model(model: str | os.PathLike | None = None, device: str = "cpu") -> JointModel:
    """Load both generators of a weights directory, without executing pickled code.

    Parameters
    ----------
    model : str or path-like, optional
        Directory with ``inpainter.safetensors`` and ``deartifact.safetensors``
        (and their JSON model cards); default :data:`WEIGHTS_DIR`.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    JointModel

    Raises
    ------
    FileNotFoundError
        If a generator is missing (one line, saying how to get weights).
    ValueError
        For a file that is not safetensors, a bad model card, or two
        generators trained on different grids.
    """
    from ..nn import load_model

    d = _weights_dir(model)
    missing = [f for f in WEIGHT_FILES.values() if not (d / f).is_file()]
    if missing:
        how = (
            "train them with 'python pipelines/train_weights.py --install'"
            if model is None
            else "give a directory written by pipelines/train_weights.py (OUT/weights)"
        )
        raise FileNotFoundError(f"no model weights {', '.join(missing)} in {str(d)!r}: {how}")
    dev = _torch_device(device)
    g1, card1 = load_model(d / WEIGHT_FILES["inpainter"], device=dev)
    g2, card2 = load_model(d / WEIGHT_FILES["deartifact"], device=dev)
    grid = card1.get("metadata", {}).get("grid")
    if not grid or "angles_deg" not in grid or "n" not in grid:
        raise ValueError(f"the model card of {str(d / WEIGHT_FILES['inpainter'])!r} has no grid")
    _check_same_grid(card2, grid, d)
    stage2 = card2.get("metadata", {}).get("data_recipe", {}).get("stage2", {})
    cards = {"inpainter": card1, "deartifact": card2}
    g3, tv_n = None, None
    tv_stage2 = stage2
    if (d / TV_DEARTIFACT_FILE).is_file():
        g3, card3 = load_model(d / TV_DEARTIFACT_FILE, device=dev)
        _check_same_grid(card3, grid, d, same_n=False)
        tv_n = int(card3.get("metadata", {}).get("grid", {}).get("n", grid["n"]))
        tv_stage2 = card3.get("metadata", {}).get("data_recipe", {}).get("stage2", {})
        cards["deartifact_tv"] = card3
    return JointModel(
        inpainter=g1,
        deartifact=g2,
        angles_deg=np.asarray(grid["angles_deg"], dtype=np.float64),
        trained_measured=np.asarray(grid.get("measured", []), dtype=bool),
        n=int(grid["n"]),
        wbp_filter=str(stage2.get("wbp_filter", "ram-lak")),
        device=dev,
        source=str(d),
        cards=cards,
        tv_iterations=int(tv_stage2.get("tv_iterations", 300)),
        deartifact_tv=g3,
        tv_n=tv_n,
    )


def _check_same_grid(card: dict, grid: dict, d: Path, *, same_n: bool = True) -> None:
    """Refuse a generator whose model card records another grid than ``grid``.

    ``same_n=False``: only the angular grid must match (the slice size may differ).
    """
    other = card.get("metadata", {}).get("grid")
    if other and (
        (same_n and other["n"] != grid["n"]) or other["angles_deg"] != grid["angles_deg"]
    ):
        raise ValueError(f"the generators in {str(d)!r} were trained on different grids")


def _model(model, device: str) -> JointModel:
    """The model, loaded once per process (the volume pipeline's cache)."""
    from ..volume import cached_model

    if isinstance(model, JointModel):
        return model
    return cached_model(load_joint_model, model, str(device))


# --------------------------------------------------------------------------- regridding
def _resize(x: np.ndarray, tail: tuple[int, ...]) -> np.ndarray:
    """Resample the last ``len(tail)`` axes of ``x`` to ``tail``, keeping values.

    Linear interpolation on pixel centres (:func:`skimage.transform.resize`),
    smoothed against aliasing when shrinking; leading axes are kept as they are.
    """
    from skimage.transform import resize

    x = np.asarray(x, dtype=np.float32)
    head = x.shape[: x.ndim - len(tail)]
    if x.shape[len(head) :] == tuple(tail):
        return x.copy()
    flat = x.reshape((-1,) + x.shape[len(head) :])
    out = resize(
        flat,
        (flat.shape[0],) + tuple(tail),
        order=1,
        mode="edge",
        anti_aliasing=tail[-1] < x.shape[-1],
        preserve_range=True,
    )
    return out.astype(np.float32).reshape(head + tuple(tail))


def resample_detector(sino: np.ndarray, n: int) -> np.ndarray:
    """Resample the last axis (detector) of ``sino`` to ``n`` pixels, keeping values.

    Linear interpolation on pixel centres; when shrinking, the data are first
    smoothed against aliasing (:func:`skimage.transform.resize`).

    Parameters
    ----------
    sino : numpy.ndarray, shape (..., n_det)
    n : int

    Returns
    -------
    numpy.ndarray, float32, shape (..., n)
    """
    return _resize(sino, (n,))


def _resize_images(images: np.ndarray, n: int) -> np.ndarray:
    """(..., m, m) -> (..., n, n), values kept (bilinear; smoothed when shrinking)."""
    return _resize(images, (n, n))


def to_model_grid(sino, angles_deg, grid_deg, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Move sinogram(s) onto a model's angular grid and detector width.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
        Measured tilt angles, degrees, any order and spacing.
    grid_deg : array_like, shape (n_grid,)
        The model's grid (a half turn, degrees).
    n : int
        The model's detector width.

    Returns
    -------
    grid_sino : numpy.ndarray, float32, shape (n_grid, n) or (n_slices, n_grid, n)
        Line integrals in model-pixel units (input / ``factor``); zero on
        rows outside the measured range.
    covered : numpy.ndarray of bool, shape (n_grid,)
        Grid rows inside the measured tilt range (the others are missing).
    factor : float
        ``n_det / n``: model pixel size in input pixels.
    """
    a = validate_angles(angles_deg)
    s = np.asarray(sino, dtype=np.float32)
    if s.ndim not in (2, 3) or s.shape[-2] != a.size:
        raise ValueError(
            f"sinogram of shape {s.shape} does not match {a.size} angles: need "
            "(n_angles, n_det) or (n_slices, n_angles, n_det)"
        )
    order = np.argsort(a)
    a = a[order]
    factor = s.shape[-1] / float(n)
    s = resample_detector(s[..., order, :], n) / np.float32(factor)
    # Half a typical step of slack at both ends of the tilt range.
    tol = 0.5 * float(np.median(np.diff(a))) if a.size > 1 else 0.0
    tol += 1e-6
    grid = np.asarray(grid_deg, dtype=np.float64)
    out = np.zeros(s.shape[:-2] + (grid.size, n), dtype=np.float32)
    covered = np.zeros(grid.size, dtype=bool)
    for j, theta in enumerate(grid):
        for m in (0, 1, -1, 2, -2):
            phi = theta - 180.0 * m
            if a[0] - tol <= phi <= a[-1] + tol:
                break
        else:
            continue
        phi = float(np.clip(phi, a[0], a[-1]))
        k = int(np.clip(np.searchsorted(a, phi), 1, max(a.size - 1, 1)))
        if a.size == 1:
            row = s[..., 0, :]
        else:
            t = (phi - a[k - 1]) / (a[k] - a[k - 1])
            row = (1.0 - t) * s[..., k - 1, :] + t * s[..., k, :]
        out[..., j, :] = row[..., ::-1] if m % 2 else row
        covered[j] = True
    if not covered.any():
        raise ValueError("no angle of the model grid lies within the measured tilt range")
    return out, covered, factor


# --------------------------------------------------------------------------- steps
@dataclass
class _Steps:
    """Intermediate results of the pipeline for a stack of slices."""

    grid_sino: np.ndarray  # (B, n_grid, n) model units, measured rows only
    covered: np.ndarray  # (n_grid,)
    factor: float
    full: np.ndarray | None = None  # (B, n_grid, n) inpainted


def _prepare(m: JointModel, s: np.ndarray, angles, n: int | None = None) -> _Steps:
    """The data on the model grid, at ``n`` detector pixels (default: the model's)."""
    grid_sino, covered, factor = to_model_grid(s, angles, m.angles_deg, m.n if n is None else n)
    return _Steps(grid_sino, covered, factor)


def _inpaint_grid(m: JointModel, st: _Steps, batch_size: int) -> np.ndarray:
    from ..train.datasets import run_inpainter

    if st.full is None:
        st.full = run_inpainter(
            m.inpainter, st.grid_sino, st.covered, batch_size=batch_size, device=m.device
        )
        # Covered rows are the (regridded) measurements, exactly.
        st.full[:, st.covered] = st.grid_sino[:, st.covered]
    return st.full


def _deartifact_grid(
    m: JointModel, st: _Steps, images: np.ndarray, batch_size: int, net=None
) -> np.ndarray:
    """The de-artifact network (``net``, default ``m.deartifact``) on model-grid images."""
    from ..train.datasets import run_deartifact, sinogram_scale

    net = m.deartifact if net is None else net
    scales = np.atleast_1d(sinogram_scale(st.grid_sino, st.covered))
    return run_deartifact(net, images, scales, batch_size=batch_size, device=m.device)


def symmetric_flips(angles_deg, covered) -> list[tuple[int, ...]]:
    """Image flips (axes of a ``(B, n, n)`` stack) under which the measured angles stay measured.

    A reflection of the slice about either image axis sends a parallel
    projection at angle θ to one at -θ (mod 180°, detector reversed); a half
    turn (both flips) sends it to itself. So the half turn keeps any angle
    set, and the single flips keep one that is symmetric about 0° (mod 180°),
    such as every symmetric tilt range. For those flips, TV of the flipped
    data is the flipped TV image: the de-artifact network may be run on the
    flipped image and its output flipped back.

    Parameters
    ----------
    angles_deg : numpy.ndarray, shape (n_grid,)
    covered : numpy.ndarray of bool, shape (n_grid,)
        The measured grid angles.

    Returns
    -------
    list of tuple of int
        ``()`` (identity) first, then ``(-2, -1)``, then ``(-2,)`` and
        ``(-1,)`` if the measured set is mirror-symmetric.
    """
    flips = [(), (-2, -1)]
    a = np.asarray(angles_deg, np.float64)[np.asarray(covered, bool)]
    if a.size and np.all(_nearest_gap(-a, a, 180.0) < 1e-6):
        flips += [(-2,), (-1,)]
    return flips


def _nearest_gap(angles_deg, others_deg, period: float) -> np.ndarray:
    """Distance (degrees, modulo ``period``) from each angle to the nearest of ``others_deg``.

    Returns
    -------
    numpy.ndarray, shape (n_angles,)
    """
    a = np.asarray(angles_deg, np.float64)[:, None]
    b = np.asarray(others_deg, np.float64)[None, :]
    half = 0.5 * period
    return np.abs(np.mod(a - b + half, period) - half).min(axis=1)


def _deartifact_flipped(
    m: JointModel, st: _Steps, images: np.ndarray, batch_size: int, net, flips
) -> np.ndarray:
    """The mean of the network's outputs over ``flips`` (each flipped back)."""
    outs = [
        np.flip(_deartifact_grid(m, st, np.flip(images, f).copy(), batch_size, net), f)
        for f in flips
    ]
    return np.mean(outs, axis=0, dtype=np.float64).astype(np.float32)


def _to_input_units(rows: np.ndarray, st: _Steps, n_det: int) -> np.ndarray:
    """Model-grid projections (..., n) -> the input's detector width and units."""
    return resample_detector(rows, n_det) * np.float32(st.factor)


def _missing_rows(m: JointModel, st: _Steps, n_det: int) -> tuple[np.ndarray, np.ndarray]:
    """Inpainted projections outside the measured range, in input units: (angles, rows)."""
    miss = ~st.covered
    return m.angles_deg[miss], _to_input_units(st.full[:, miss], st, n_det)


def _stack(sino, angles_deg):
    geom = as_geometry(angles_deg, sino)
    s = geom.check_sinogram(sino)
    return geom, (s[None] if s.ndim == 2 else s), s.ndim == 2


def _paper_images(m, st, n_det, batch_size, device):
    full = _inpaint_grid(m, st, batch_size)
    rec = wbp(full, m.angles_deg, filter=m.wbp_filter, device=device)
    rec = rec.reshape(full.shape[0], m.n, m.n)
    return _resize_images(_deartifact_grid(m, st, rec, batch_size), n_det)


# --------------------------------------------------------------------------- methods
def inpaint(
    sino,
    angles_deg,
    *,
    model=None,
    filter: str = "ram-lak",
    batch_size: int = 16,
    device: str = "auto",
) -> np.ndarray:
    """Inpaint the missing wedge, then WBP of measured + inpainted projections.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    model : str, path-like or JointModel, optional
        Weights directory (default: the shipped weights).
    filter : str
        WBP ramp filter.
    batch_size : int
        Slices per network forward pass.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    numpy.ndarray, float32, shape (n_det, n_det) or (n_slices, n_det, n_det)
    """
    geom, s, single = _stack(sino, angles_deg)
    m = _model(model, device)
    st = _prepare(m, s, geom.angles_deg)
    _inpaint_grid(m, st, check_positive_int(batch_size, "batch_size"))
    extra_angles, extra = _missing_rows(m, st, geom.n_det)
    angles = np.concatenate([geom.angles_deg, extra_angles])
    rec = wbp(np.concatenate([s, extra], axis=1), angles, filter=filter, device=device)
    out = rec.reshape(s.shape[0], geom.n_det, geom.n_det)
    return out[0] if single else out


def deartifact(
    sino, angles_deg, *, model=None, batch_size: int = 16, device: str = "auto"
) -> np.ndarray:
    """The de-artifact network applied to the WBP of the measured projections.

    The WBP is made on the model's grid and size (as in training) and the
    result resampled to the input's detector width. Parameters and returns as
    :func:`inpaint` (without ``filter``: the model's training filter is used).
    """
    geom, s, single = _stack(sino, angles_deg)
    m = _model(model, device)
    st = _prepare(m, s, geom.angles_deg)
    rec = wbp(
        st.grid_sino[:, st.covered], m.angles_deg[st.covered], filter=m.wbp_filter, device=device
    ).reshape(s.shape[0], m.n, m.n)
    out = _resize_images(
        _deartifact_grid(m, st, rec, check_positive_int(batch_size, "batch_size")), geom.n_det
    )
    return out[0] if single else out


def paper(
    sino, angles_deg, *, model=None, batch_size: int = 16, device: str = "auto"
) -> np.ndarray:
    """The published two-step pipeline: inpaint -> WBP -> de-artifact.

    Runs on the model's grid and size; the image is resampled to the input's
    detector width. Parameters and returns as :func:`deartifact`.
    """
    geom, s, single = _stack(sino, angles_deg)
    m = _model(model, device)
    st = _prepare(m, s, geom.angles_deg)
    out = _paper_images(m, st, geom.n_det, check_positive_int(batch_size, "batch_size"), device)
    return out[0] if single else out


def _detector_blur(n_det: int, n: int) -> np.ndarray:
    """Matrix of resampling a row to ``n`` pixels and back: ``row @ M``, shape (n_det, n_det)."""
    return resample_detector(resample_detector(np.eye(n_det, dtype=np.float32), n), n_det)


class _BlurredRows:
    """A projector whose rows ``rows`` are seen through a detector blur ``row @ blur``."""

    def __init__(self, P, rows: np.ndarray, blur: np.ndarray):
        self.P, self.rows, self.blur = P, rows, blur
        self.geometry, self.vol_shape = P.geometry, P.vol_shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.P.forward(x)
        y[self.rows] = y[self.rows] @ self.blur
        return y

    def back(self, y: np.ndarray) -> np.ndarray:
        y = np.array(y, dtype=np.float32, copy=True)
        y[self.rows] = y[self.rows] @ self.blur.T
        return self.P.back(y)


@dataclass(frozen=True)
class NetworkPrior:
    """What the networks say about a stack of slices, in the input's units.

    Attributes
    ----------
    image : numpy.ndarray, shape (n_slices, n_det, n_det)
        The paper pipeline's slices (inpaint -> WBP -> de-artifact), resampled.
    angles_deg : numpy.ndarray, shape (n_missing,)
        Model-grid angles outside the measured tilt range.
    rows : numpy.ndarray, shape (n_slices, n_missing, n_det)
        The inpainted projections at those angles.
    model_n : int
        Detector width of the networks: ``rows`` hold no detail finer than
        ``n_det / model_n`` input pixels.
    edge_error : numpy.ndarray, shape (n_slices,), optional
        How well the inpainter predicts measured projections it is not shown
        (:func:`edge_error`): relative RMS error, noise included.
    measured_rows : numpy.ndarray, shape (n_slices, n_angles, n_det), optional
        The network image's projections at the measured angles (same
        resolution as ``rows``): a second, noise-free but biased estimate of
        the measurements.
    """

    image: np.ndarray
    angles_deg: np.ndarray
    rows: np.ndarray
    #: detector width the networks worked at (the rows' true resolution)
    model_n: int
    #: per slice, relative error of the inpainter on held-out measured rows (or None)
    edge_error: np.ndarray | None = None
    #: (n_slices, n_angles, n_det): the network image's projections at the
    #: measured angles, in the sinogram's row order and units (or None)
    measured_rows: np.ndarray | None = None


def edge_error(
    m: JointModel, grid_sino: np.ndarray, covered: np.ndarray, *, rows: int = 3, batch_size=16
) -> np.ndarray:
    """Relative error of the inpainter on measured rows it is made to inpaint.

    The ``rows`` measured rows on each side of the missing band are hidden,
    inpainted and compared with their measurements: a per-slice check of how
    far to trust the inpainted projections (the error deeper in the wedge is
    larger). Noise in the measurements is included.

    Parameters
    ----------
    m : JointModel
    grid_sino : numpy.ndarray, shape (B, n_grid, n)
        Regridded sinograms (:func:`to_model_grid`).
    covered : numpy.ndarray of bool, shape (n_grid,)
    rows : int
        Measured rows hidden on each side.
    batch_size : int

    Returns
    -------
    numpy.ndarray, shape (B,)
        ``||inpainted - measured|| / ||measured||`` over the hidden rows.
    """
    from ..train.datasets import run_inpainter

    idx = np.flatnonzero(covered)
    miss = np.flatnonzero(~covered)
    if idx.size <= 2 * rows or not miss.size:
        return np.full(grid_sino.shape[0], np.nan)
    # the covered rows closest (in row order, i.e. angle) to the band, on each side
    before, after = idx[idx < miss.min()], idx[idx > miss.max()]
    hidden = np.concatenate([before[-rows:], after[:rows]])
    mask = covered.copy()
    mask[hidden] = False
    full = run_inpainter(m.inpainter, grid_sino, mask, batch_size=batch_size, device=m.device)
    diff = np.linalg.norm((full[:, hidden] - grid_sino[:, hidden]).reshape(len(full), -1), axis=1)
    ref = np.linalg.norm(grid_sino[:, hidden].reshape(len(full), -1), axis=1)
    return diff / np.maximum(ref, 1e-30)


def network_prior(
    sino,
    angles_deg,
    *,
    model=None,
    source: str = "paper",
    flips: bool = JOINT_PRIOR_FLIPS,
    batch_size: int = 16,
    device: str = "auto",
) -> NetworkPrior:
    """Run the networks once: an image and projections for the missing angles.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    model, batch_size, device
        As in :func:`joint`.
    source : {"paper", "tv"}
        "paper": the paper pipeline's image and the inpainter's projections;
        "tv": the de-artifact network for TV inputs (``deartifact_tv`` of
        the weights, else the paper's) applied to TV of the measured
        projections on the model grid, and that image's projections at the
        missing angles.
    flips : bool
        "tv" only: average the network over the flips of
        :func:`symmetric_flips` (the paper pipeline stays as published).

    Returns
    -------
    NetworkPrior
        Always with a leading slice axis.
    """
    if source not in PRIOR_SOURCES:
        raise ValueError(f"source must be one of {', '.join(PRIOR_SOURCES)}, got {source!r}")
    batch_size = check_positive_int(batch_size, "batch_size")
    geom, s, _ = _stack(sino, angles_deg)
    m = _model(model, device)
    st = _prepare(m, s, geom.angles_deg)
    if source == "paper":
        image = _paper_images(m, st, geom.n_det, batch_size, device)
        extra_angles, extra = _missing_rows(m, st, geom.n_det)
        err = edge_error(m, st.grid_sino, st.covered, batch_size=batch_size)
        return NetworkPrior(image, extra_angles, extra, m.n, err)
    # TV and its network at the network's own slice size, on the model's angles
    n_tv = m.n if m.tv_n is None else m.tv_n
    st_tv = st if n_tv == m.n else _prepare(m, s, geom.angles_deg, n_tv)
    cov = st_tv.covered
    rec = tv(st_tv.grid_sino[:, cov], m.angles_deg[cov], iterations=m.tv_iterations, device=device)
    net = m.deartifact if m.deartifact_tv is None else m.deartifact_tv
    flipset = symmetric_flips(m.angles_deg, cov) if flips else [()]
    small = _deartifact_flipped(m, st_tv, rec.reshape(-1, n_tv, n_tv), batch_size, net, flipset)
    extra_angles = m.angles_deg[~cov]
    both = np.concatenate([extra_angles, geom.angles_deg])
    rows = forward_project(np.maximum(small, 0.0), both, kernel="linear", device=device)
    rows = _to_input_units(rows.reshape(small.shape[0], both.size, n_tv), st_tv, geom.n_det)
    k = extra_angles.size
    return NetworkPrior(
        _resize_images(small, geom.n_det), extra_angles, rows[:, :k], n_tv,
        measured_rows=rows[:, k:],
    )  # fmt: skip


def auto_prior_weight(tv_weight: float, maximum: float | None = None) -> float:
    """The prior weight ``joint`` uses for data whose TV weight is ``tv_weight``.

    Inverse-variance weighting: the network's projections are treated as
    measurements of a fixed relative error, so their weight relative to the
    measured ones grows with the measurements' noise variance,
    ``(sigma_rel / PRIOR_NOISE_MATCH)**2`` clipped to [``PRIOR_WEIGHT_MIN``,
    ``PRIOR_WEIGHT_MAX``]. ``sigma_rel`` is read off TV's noise-adaptive
    weight (``tv_weight / TV_WEIGHT_PER_NOISE``; at least 0.18 since TV's
    weight has a floor). On validation data with the depth-4 128-px TV
    network and the flip-averaged prior (``benchmarks/results/joint_tuning.md``,
    4 samples per family) this rule (0.36 noise-free, about 1-10 at moderate
    and 15-100 at low dose) beat every fixed weight: mean +1.79 dB over the
    better of SART and TV, its worst family +1.11 dB noise-free and at low
    dose; fixed weights 0.1 to 100 gave +1.42 to +1.68.

    Parameters
    ----------
    tv_weight : float
        :func:`tomoinpaint.recon.tv.default_weight` of the sinogram.
    maximum : float, optional
        Upper clip instead of ``PRIOR_WEIGHT_MAX`` (for tuning it).

    Returns
    -------
    float
        In [``PRIOR_WEIGHT_MIN``, ``maximum``].
    """
    top = PRIOR_WEIGHT_MAX if maximum is None else float(maximum)
    sigma_rel = float(tv_weight) / TV_WEIGHT_PER_NOISE
    return float(np.clip((sigma_rel / PRIOR_NOISE_MATCH) ** 2, PRIOR_WEIGHT_MIN, top))


def check_prior_weight(prior_weight) -> None:
    """Raise ValueError unless ``prior_weight`` is "auto" or a positive finite number."""
    if prior_weight == "auto":
        return
    try:
        ok = bool(np.isfinite(float(prior_weight)) and float(prior_weight) > 0.0)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"prior_weight must be 'auto' or a positive number, got {prior_weight!r}")


def _opposite_rows(measured_deg: np.ndarray, taken_deg: np.ndarray) -> np.ndarray:
    """Which measured angles θ have θ + 180° free (mod 360°) among ``taken_deg``.

    Returns
    -------
    numpy.ndarray of bool, shape (n_measured,)
    """
    return _nearest_gap(np.asarray(measured_deg, np.float64) + 180.0, taken_deg, 360.0) > 1e-6


def data_consistency(
    sino,
    angles_deg,
    prior: NetworkPrior,
    *,
    prior_weight: float | str = JOINT_PRIOR_WEIGHT,
    iterations: int = JOINT_ITERATIONS,
    weight="auto",
    start: str = "prior",
    blur_prior: bool = True,
    prior_resolution: int | None = JOINT_PRIOR_RESOLUTION,
    measured_prior: bool = JOINT_MEASURED_PRIOR,
    device: str = "auto",
    _merge: bool | None = None,
) -> np.ndarray:
    """TV on the measured projections plus the prior's, started from the prior's image.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    prior : NetworkPrior
        From :func:`network_prior` on the same data.
    prior_weight, iterations, weight
        As in :func:`joint`.
    start : {"prior", "zero"}
        Starting image of the PDHG iterations.
    blur_prior : bool
        Compare the prior's projections with the image's at the networks'
        resolution (both blurred by the detector resampling to
        ``prior.model_n`` and back), so the prior constrains only the detail
        the networks resolve; the measured projections keep full resolution.
    prior_resolution : int, optional
        Compare at this many detector pixels instead, if fewer than the
        networks' (trust only coarser detail of the prior).
    measured_prior : bool
        Also compare the image with ``prior.measured_rows`` at the measured
        angles, with the same weight as the missing rows: two estimates of
        those projections, weighted by inverse variance, so noisy data lean
        on the network and clean data on the measurements. The rows are
        passed at θ + 180° with the detector reversed (the same line
        integrals; the geometry allows no repeated angle); a measured angle
        whose opposite is measured too gets none. Where the prior is compared
        at full resolution (no blur), the two estimates are merged instead,
        the same least-squares problem without extra rows: ``(y + w p) / (1 + w)``
        with weight ``1 + w``.
    device : {"auto", "cpu", "cuda"}
    _merge : bool, optional
        Force (True) or forbid (False) the merged form (for tests).

    Returns
    -------
    numpy.ndarray, float32, shape (n_slices, n_det, n_det)
    """
    check_prior_weight(prior_weight)
    if start not in ("prior", "zero"):
        raise ValueError(f"start must be 'prior' or 'zero', got {start!r}")
    iterations = check_positive_int(iterations, "iterations")
    geom, s, _ = _stack(sino, angles_deg)
    angles = np.concatenate([geom.angles_deg, prior.angles_deg])
    blur = None
    n_blur = prior.model_n if prior_resolution is None else min(prior.model_n, prior_resolution)
    if blur_prior and n_blur < geom.n_det:
        blur = _detector_blur(geom.n_det, n_blur)
    prior_rows = prior.rows
    use_measured = measured_prior and prior.measured_rows is not None
    merge = use_measured and (blur is None if _merge is None else _merge)
    if use_measured and not merge:
        opposite = _opposite_rows(geom.angles_deg, angles)
        angles = np.concatenate([angles, geom.angles_deg[opposite] + 180.0])
        prior_rows = np.concatenate([prior_rows, prior.measured_rows[:, opposite, ::-1]], axis=1)
    is_prior = np.arange(angles.size) >= geom.angles_deg.size
    out = np.empty((s.shape[0], geom.n_det, geom.n_det), np.float32)
    # TV's weight is lam * a^2 * scale of the measured data alone (a: the
    # operator norm, scale: the image scale), so that the prior rows change the
    # data term only, not how strongly TV regularises.
    norm = operator_norm(geom.angles_deg, geom.n_det, device=device)
    with (
        Projector(Geometry(angles, geom.n_det), kernel="linear", device=device) as P,
        Projector(geom, kernel="linear", device=device) as P_measured,
    ):
        op = P if blur is None else _BlurredRows(P, is_prior, blur)
        for k in range(s.shape[0]):
            scale, lam_auto = scale_and_weight(P_measured, s[k])
            lam = lam_auto if weight == "auto" else float(weight)
            pw = auto_prior_weight(lam_auto) if prior_weight == "auto" else float(prior_weight)
            measured, w_measured = s[k], 1.0
            if merge:
                # |Ax - y|^2 + pw |Ax - p|^2 = (1 + pw) |Ax - (y + pw p) / (1 + pw)|^2 + const
                measured = (s[k] + pw * prior.measured_rows[k]) / np.float32(1.0 + pw)
                w_measured = 1.0 + pw
            w = np.where(is_prior, np.float32(pw), np.float32(w_measured))
            # The rows are already the networks' rows resampled up (blur = up o down),
            # i.e. in the blurred operator's range: they are compared as they are.
            out[k] = tv_solve(
                op,
                np.concatenate([measured, prior_rows[k]]),
                weight=lam,
                iterations=iterations,
                x0=prior.image[k] if start == "prior" else None,
                row_weights=w,
                norm=norm,
                scale=scale if scale > 0 else None,
            )
    return out


def joint(
    sino,
    angles_deg,
    *,
    model=None,
    prior_weight: float | str = JOINT_PRIOR_WEIGHT,
    iterations: int = JOINT_ITERATIONS,
    weight="auto",
    prior_source: str = JOINT_PRIOR_SOURCE,
    batch_size: int = 16,
    device: str = "auto",
) -> np.ndarray:
    """The deep model made consistent with the measurements (the default deep method).

    1. :func:`network_prior` gives an image and projections for the missing
       angles (``prior_source="tv"``, the default: the TV de-artifact network
       on TV of the measured data, reprojected; ``"paper"``: the paper
       pipeline's image and the inpainted projections).
    2. :func:`data_consistency`: TV-regularised least squares on the measured
       projections (weight 1) plus the prior's (weight ``prior_weight``,
       compared at the networks' resolution) at the missing angles and, for
       the "tv" prior, at the measured ones too (so noisy measurements lean
       on the network, clean ones dominate it), started from that image,
       ``iterations`` PDHG steps. The measurements themselves are never
       altered: they stay a term of the fit.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    angles_deg : array_like, shape (n_angles,)
    model : str, path-like or JointModel, optional
        Weights directory (default: the shipped weights).
    prior_weight : "auto" or float
        Data-term weight of the network's projections (at the missing angles
        and, with the "tv" prior, at the measured ones), a positive number
        (1: as a measured projection); "auto": :func:`auto_prior_weight` of
        each slice's noise.
    iterations : int
        PDHG iterations of the data-consistency step.
    weight : "auto" or float
        TV weight on the measured data as in :func:`tomoinpaint.recon.tv`
        ("auto": the noise-adaptive default of TV for these data).
    prior_source : {"paper", "tv"}
        Where the networks' image and missing projections come from
        (:func:`network_prior`).
    batch_size : int
        Slices per network forward pass.
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    numpy.ndarray, float32, shape (n_det, n_det) or (n_slices, n_det, n_det)
        In the units of the input.
    """
    check_prior_weight(prior_weight)  # before the networks run
    geom, s, single = _stack(sino, angles_deg)
    prior = network_prior(
        s, geom.angles_deg, model=model, source=prior_source, batch_size=batch_size, device=device
    )
    out = data_consistency(
        s,
        geom.angles_deg,
        prior,
        prior_weight=prior_weight,
        iterations=iterations,
        weight=weight,
        device=device,
    )
    return out[0] if single else out
