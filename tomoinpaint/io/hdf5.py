"""HDF5 files in the DXchange layout (APS / tomopy / dxchange).

A tilt series (projections) file holds::

    /exchange/data        (n_proj, ny, nx)  projections (attribute voxel_size, optional)
    /exchange/data_white  (n_flat, ny, nx)  flat fields (optional)
    /exchange/data_dark   (n_dark, ny, nx)  dark fields (optional)
    /exchange/theta       (n_proj,)         angles; degrees unless the attribute
                                            ``units`` says radians

A volume written by tomoinpaint is ``/exchange/data`` of shape ``(ny, nx, nx)``
with the attribute ``voxel_size`` (same unit as MRC: Å), as tomopy/dxchange
reconstructions are stored. Datasets are chunked; files are written
atomically. Projections are read lazily (:class:`H5Stack`): each indexing
opens the file, reads just the requested hyperslab and closes it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..geometry import validate_angles
from .angles import looks_like_radians
from .arrays import as_float32_stack, check_voxel_size
from .atomic import atomic_output
from .lazy import LazyStack
from .paths import check_input_path
from .safe_hdf5 import CheckedDataset, new_hdf5_file
from .writer import SlabWriter, check_volume_shape

__all__ = [
    "HDF5_SUFFIXES",
    "DATA",
    "FLATS",
    "DARKS",
    "THETA",
    "H5Stack",
    "DXchange",
    "read_dxchange",
    "read_hdf5_volume",
    "write_dxchange",
    "write_hdf5_volume",
    "open_hdf5_volume_writer",
]

logger = logging.getLogger(__name__)

#: File suffixes read and written as HDF5.
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".cxi")

DATA = "/exchange/data"
FLATS = "/exchange/data_white"
DARKS = "/exchange/data_dark"
THETA = "/exchange/theta"

_RADIANS = {"rad", "rads", "radian", "radians"}
_DEGREES = {"deg", "degs", "degree", "degrees", "°"}


class H5Stack(LazyStack):
    """A 3-D HDF5 dataset read on demand, without keeping the file open.

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file.
    name : str
        The dataset, e.g. ``"/exchange/data"``.

    Attributes
    ----------
    shape : tuple of int
    dtype : numpy.dtype
    path : pathlib.Path
    name : str
    """

    _applies_rest = True

    def __init__(self, path: str | os.PathLike, name: str):
        self.path = Path(path)
        self.name = name
        with h5py.File(self.path, "r") as f:
            ds = f[name]
            self.shape = tuple(int(v) for v in ds.shape)
            self.dtype = np.dtype(ds.dtype)

    def _read(self, index, rest: tuple) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            ds = f[self.name]
            if isinstance(index, slice):
                return ds[(index,) + rest]
            uniq, inverse = np.unique(index, return_inverse=True)
            if uniq[-1] - uniq[0] + 1 == uniq.size:
                block = ds[(slice(int(uniq[0]), int(uniq[-1]) + 1),) + rest]
            else:
                block = ds[(uniq.tolist(),) + rest]
            return block[inverse]


@dataclass(frozen=True)
class DXchange:
    """The contents of a DXchange projection file.

    Attributes
    ----------
    data : H5Stack or numpy.ndarray, shape (n_proj, ny, nx)
        Projections; an :class:`H5Stack` unless loaded.
    theta_deg : numpy.ndarray, shape (n_proj,), or None
        Angles in degrees (converted from radians when the file says so);
        None when the file has no ``/exchange/theta`` or it was not read.
    flats : numpy.ndarray, shape (n_flat, ny, nx), or None
    darks : numpy.ndarray, shape (n_dark, ny, nx), or None
    voxel_size : float or None
        The ``voxel_size`` attribute of the data set, if any.
    """

    data: H5Stack | np.ndarray
    theta_deg: np.ndarray | None
    flats: np.ndarray | None
    darks: np.ndarray | None
    voxel_size: float | None


def _attr_str(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _attr_str(value.reshape(-1)[0])
    return str(value).strip().lower()


def _read_theta(f: h5py.File, path: Path) -> np.ndarray | None:
    if THETA not in f:
        return None
    ds = f[THETA]
    theta = np.asarray(ds[()], dtype=np.float64).reshape(-1)
    units = ds.attrs.get("units")
    if units is None:
        if looks_like_radians(theta):  # refused as in angle files
            raise ValueError(
                f"{path}: {THETA} has no 'units' attribute and spans only "
                f"{theta.min():.3f}..{theta.max():.3f}: they look like radians; set its "
                "units attribute to 'radians' (or 'degrees'), or give the angles with --angles"
            )
        return theta
    u = _attr_str(units)
    if u in _RADIANS:
        return np.rad2deg(theta)
    if u in _DEGREES:
        return theta
    raise ValueError(f"{path}: {THETA} has unknown units {u!r} (expected degrees or radians)")


def _voxel_size_attr(ds) -> float | None:
    v = ds.attrs.get("voxel_size")
    if v is None:
        return None
    try:
        v = float(np.asarray(v).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        return None
    return v if np.isfinite(v) and v > 0 else None


def _read_fields(f: h5py.File, name: str, path: Path, frame_shape: tuple) -> np.ndarray | None:
    if name not in f:
        return None
    a = np.asarray(f[name][()])
    if a.ndim == 2:
        a = a[np.newaxis]
    if a.ndim != 3 or a.shape[1:] != frame_shape or a.shape[0] == 0:
        raise ValueError(
            f"{path}: {name} has shape {a.shape}, expected (n, {frame_shape[0]}, {frame_shape[1]})"
        )
    return a


def _open(path: str | os.PathLike) -> tuple[Path, h5py.File]:
    p = check_input_path(path)
    try:
        return p, h5py.File(p, "r")
    except OSError as exc:
        raise ValueError(f"cannot read {p} as HDF5: {exc}") from None


def _data_dataset(f: h5py.File, p: Path, dataset: str):
    if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
        raise ValueError(f"cannot read {p} as DXchange HDF5: no dataset {dataset}")
    return f[dataset]


def read_dxchange(
    path: str | os.PathLike,
    *,
    load: bool = False,
    theta: bool = True,
    dataset: str = DATA,
) -> DXchange:
    """Read a DXchange projection file.

    Parameters
    ----------
    path : str or os.PathLike
    load : bool
        Read the projections into memory (a numpy array) instead of returning
        a lazy :class:`H5Stack`.
    theta : bool
        Read ``/exchange/theta`` (set False when the angles come from
        elsewhere).
    dataset : str
        The projection dataset.

    Returns
    -------
    DXchange
        Projections (n_proj, ny, nx), angles in degrees, flats and darks.

    Raises
    ------
    ValueError
        If the file is missing, not HDF5, has no projection dataset, theta has
        unknown units, or flats/darks do not match the projection size.
    """
    p, f = _open(path)
    with f:
        ds = _data_dataset(f, p, dataset)
        if ds.ndim != 3:
            raise ValueError(f"{p}: {dataset} must be 3-D (n_proj, ny, nx), got shape {ds.shape}")
        frame = tuple(int(v) for v in ds.shape[1:])
        vs = _voxel_size_attr(ds)
        th = _read_theta(f, p) if theta else None
        flats = _read_fields(f, FLATS, p, frame)
        darks = _read_fields(f, DARKS, p, frame)
    data = H5Stack(p, dataset)
    if load:
        data = data.load()
    logger.debug("opened %s: %s %s, theta %s", p, data.shape, data.dtype, th is not None)
    return DXchange(data=data, theta_deg=th, flats=flats, darks=darks, voxel_size=vs)


def read_hdf5_volume(
    path: str | os.PathLike, *, dataset: str = DATA
) -> tuple[H5Stack, float | None]:
    """Open a volume (or image) dataset of an HDF5 file lazily.

    Parameters
    ----------
    path : str or os.PathLike
    dataset : str
        Default ``/exchange/data``.

    Returns
    -------
    volume : H5Stack, shape (ny, nx, nx)
        Lazy; ``volume.load()`` or ``np.asarray(volume)`` reads it.
    voxel_size : float or None
        The dataset's ``voxel_size`` attribute.

    Raises
    ------
    ValueError
        If the file is missing or unreadable, or the dataset is absent or not
        3-D.
    """
    p, f = _open(path)
    with f:
        ds = _data_dataset(f, p, dataset)
        if ds.ndim != 3:
            raise ValueError(f"{p}: {dataset} must be 3-D, got shape {ds.shape}")
        vs = _voxel_size_attr(ds)
    return H5Stack(p, dataset), vs


def _projection_chunks(shape) -> tuple[int, int, int]:
    """Chunks for (n_proj, ny, nx): a few projections by a few full rows, so
    that both one projection and the sinograms of a few rows read quickly."""
    n, ny, nx = shape
    return (min(n, 8), min(ny, 8), nx)


def _volume_chunks(shape) -> tuple[int, int, int]:
    """Chunks for (ny, nx, nx): one slice deep (slabs along axis 0 are written
    without rewriting chunks), at most 512 x 512 (1 MiB of float32)."""
    ny, n1, n2 = shape
    return (1, min(n1, 512), min(n2, 512))


def _early_allocation():
    """Dataset creation properties that place every chunk when the dataset is created.

    HDF5 otherwise places a chunk where the file ends when it is first
    written, so slabs written in completion order (workers, a resumed run)
    would give files whose bytes differ with the order. Early allocation
    without a fill write fixes the layout at no extra I/O.
    """
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    return dcpl


def _set_voxel_size(ds, voxel_size: float | None) -> None:
    if voxel_size is not None:
        ds.attrs["voxel_size"] = float(voxel_size)


def write_dxchange(
    path: str | os.PathLike,
    data,
    theta_deg,
    *,
    flats=None,
    darks=None,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write projections in the DXchange layout, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.h5`` path.
    data : array_like, shape (n_proj, ny, nx)
        Stored as float32 in ``/exchange/data`` (chunked).
    theta_deg : array_like, shape (n_proj,)
        Degrees, stored in ``/exchange/theta`` with ``units = "degrees"``.
    flats, darks : array_like, shape (n, ny, nx), optional
        Stored in ``/exchange/data_white`` and ``/exchange/data_dark``.
    voxel_size : float, optional
        Stored as the ``voxel_size`` attribute of the data.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        On wrong shapes, invalid or mismatched angles, or an existing output
        without ``overwrite``.
    """
    a = as_float32_stack(data, "projections")
    voxel_size = check_voxel_size(voxel_size)
    th = validate_angles(theta_deg, name="theta_deg")
    if th.size != a.shape[0]:
        raise ValueError(f"projections have {a.shape[0]} tilts but {th.size} angles were given")
    fields = {}
    for name, arr, what in ((FLATS, flats, "flats"), (DARKS, darks, "darks")):
        if arr is None:
            continue
        arr = as_float32_stack(arr, what)
        if arr.shape[1:] != a.shape[1:]:
            raise ValueError(
                f"{what} have shape {arr.shape}, projections have frames of {a.shape[1:]}"
            )
        fields[name] = arr
    with atomic_output(path, overwrite=overwrite) as tmp:
        with new_hdf5_file(tmp) as (f, _):
            f.create_dataset("implements", data="exchange")
            ds = f.create_dataset(DATA, data=a, chunks=_projection_chunks(a.shape))
            ds.attrs["axes"] = "theta:y:x"
            _set_voxel_size(ds, voxel_size)
            t = f.create_dataset(THETA, data=th)
            t.attrs["units"] = "degrees"
            for name, arr in fields.items():
                d = f.create_dataset(name, data=arr, chunks=_projection_chunks(arr.shape))
                d.attrs["axes"] = ("theta_white" if name == FLATS else "theta_dark") + ":y:x"
    logger.info("wrote projections %s to %s", a.shape, path)
    return Path(path)


def write_hdf5_volume(
    path: str | os.PathLike,
    volume,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a volume to ``/exchange/data`` of an HDF5 file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
    volume : array_like, shape (ny, nx, nx) or (ny, nx)
        Stored as float32, chunked; a 2-D image as ``(1, ny, nx)``.
    voxel_size : float, optional
        Stored as the ``voxel_size`` attribute.
    overwrite : bool

    Returns
    -------
    pathlib.Path
    """
    a = as_float32_stack(volume, "volume", allow_2d=True)
    voxel_size = check_voxel_size(voxel_size)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with new_hdf5_file(tmp) as (f, _):
            f.create_dataset("implements", data="exchange")
            ds = f.create_dataset(DATA, data=a, chunks=_volume_chunks(a.shape))
            _set_voxel_size(ds, voxel_size)
    logger.info("wrote volume %s to %s", a.shape, path)
    return Path(path)


@contextlib.contextmanager
def open_hdf5_volume_writer(
    path: str | os.PathLike,
    shape,
    *,
    voxel_size: float | None = None,
    overwrite: bool = False,
) -> Iterator[SlabWriter]:
    """Write a large HDF5 volume slab by slab into a chunked dataset.

    Parameters
    ----------
    path : str or os.PathLike
    shape : tuple of int
        ``(ny, nx, nx)``.
    voxel_size : float, optional
    overwrite : bool

    Yields
    ------
    SlabWriter
        ``w[y0:y1] = block`` writes slices (in any order) into
        ``/exchange/data`` of a temporary file, moved onto ``path`` on a
        clean exit once every slice was written.
    """
    shape = check_volume_shape(shape)
    voxel_size = check_voxel_size(voxel_size)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with new_hdf5_file(tmp) as (f, raw):
            f.create_dataset("implements", data="exchange")
            ds = f.create_dataset(
                DATA,
                shape=shape,
                dtype=np.float32,
                chunks=_volume_chunks(shape),
                dcpl=_early_allocation(),
            )
            _set_voxel_size(ds, voxel_size)
            writer = SlabWriter(CheckedDataset(ds, raw), shape)
            yield writer
            writer.check_complete(path)
    logger.info("wrote volume %s to %s", shape, path)
