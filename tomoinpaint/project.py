"""ASTRA projector: forward and back projection in the tomoinpaint convention.

The only module that talks to ASTRA's projector objects directly (the
reconstruction algorithms in :mod:`tomoinpaint.recon` borrow its ids). Angles
are converted from degrees to radians here and nowhere else.

CUDA is used when ``device`` is "cuda", or "auto" and ``astra.use_cuda()`` is
true; otherwise ASTRA's 2D CPU projectors. Every ASTRA object created is freed
when the :class:`Projector` is closed (it is a context manager), so loops over
thousands of slices do not leak.

:class:`MatrixProjector` is the same CPU operator stored as a sparse matrix,
for iterative solvers on stacks of slices; :func:`open_projector` chooses.

Size: one module because :class:`Projector` and :class:`MatrixProjector` are
two implementations of one interface over the same ASTRA geometry objects,
and the matrix is built from a :class:`Projector`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import astra
import astra.experimental  # direct 3D projections (StackProjector3D, CUDA)
import numpy as np

from .geometry import Geometry
from .memory import available_memory, gib, worker_memory_left

__all__ = [
    "Projector",
    "MatrixProjector",
    "StackProjector3D",
    "open_projector",
    "stack_projector_orientation",
    "projection_matrix",
    "projection_blocks",
    "matrix_threads",
    "matrix_memory_share",
    "matrix_memory_room",
    "largest_matrix_slice",
    "resolve_device",
    "cuda_available",
    "forward_project",
    "back_project",
]

log = logging.getLogger(__name__)

KERNELS = ("linear", "strip", "line")
DEVICES = ("auto", "cpu", "cuda")


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether ASTRA can run its CUDA algorithms on this machine."""
    try:
        return bool(astra.use_cuda())
    except Exception:  # noqa: BLE001 - any failure means no usable GPU
        return False


def resolve_device(device: str = "auto") -> str:
    """Turn ``"auto" | "cpu" | "cuda"`` into ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        For an unknown name, or "cuda" on a machine without a usable GPU.
    """
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise ValueError(
            "device 'cuda' requested but ASTRA finds no usable CUDA GPU on this machine"
        )
    return device


def _checked(a, shape: tuple[int, int], what: str) -> np.ndarray:
    """``a`` as contiguous float32, refused unless its last two axes are ``shape``."""
    x = np.ascontiguousarray(a, dtype=np.float32)
    if x.shape[-2:] != tuple(shape):
        raise ValueError(f"{what} has shape {x.shape}, projector expects {tuple(shape)}")
    return x


class _ClosesAstraObjects:
    """Context manager over ``close()``, which also runs when the object is collected."""

    def close(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class Projector(_ClosesAstraObjects):
    """2D parallel-beam projector over ASTRA, for one geometry.

    Parameters
    ----------
    geometry : Geometry
        Angles (degrees) and detector width ``n_det``.
    kernel : {"linear", "strip", "line"}
        CPU projection kernel: "linear" (Joseph, interpolating), "strip"
        (area-integrating: exact pixel/ray-strip overlap) or "line". The CUDA
        projector has its own (interpolating) kernel; with ``kernel="strip"``
        it super-samples the detector 4× to approximate area integration.
    device : {"auto", "cpu", "cuda"}
    supersample : int
        Volume grid refinement: the image is ``(n_det*s, n_det*s)`` pixels of
        size ``1/s`` over the same field of view. Line integrals stay in units
        of *detector* pixels. Used to simulate data from a finer grid.
    rows : (int, int), optional
        Only rows ``z0..z1-1`` of the ``n_det x n_det`` image (a slab across
        the beam at 0°): the image is ``(z1 - z0, n_det)``, the same pixels
        the whole image has there. Back-projection is pixel by pixel, so WBP
        of the slab is the whole slice's there; a projection of it sees
        nothing outside the slab, so SART, SIRT and TV on it put everything
        inside (a support constraint, their ``slab`` option). ASTRA
        steps along each ray in float32 from the edge of the image it is
        given, so values differ slightly from the whole image's
        (``benchmarks/results/slab_speed.md``).

    Notes
    -----
    Use as a context manager, or call :meth:`close`. ``forward`` and ``back``
    are adjoint up to float32 rounding (CPU kernels); ``back`` is the plain
    transpose (no angular weight).
    """

    backend = "astra"
    #: Slices a solver hands it at once (it projects them one by one anyway).
    stack = 1

    def __init__(
        self,
        geometry: Geometry,
        *,
        kernel: str = "linear",
        device: str = "auto",
        supersample: int = 1,
        rows: tuple[int, int] | None = None,
    ):
        if kernel not in KERNELS:
            raise ValueError(
                f"unknown projector kernel {kernel!r}; choose one of {', '.join(KERNELS)}"
            )
        if int(supersample) != supersample or supersample < 1:
            raise ValueError(f"supersample must be a positive integer, got {supersample}")
        self.geometry = geometry
        self.kernel = kernel
        self.device = resolve_device(device)
        self.supersample = int(supersample)
        n, s = geometry.n_det, self.supersample
        half = n / 2.0
        if rows is None:
            self.vol_shape = (n * s, n * s)
            self.vol_geom = astra.create_vol_geom(n * s, n * s, -half, half, -half, half)
        else:
            z0, z1 = (int(v) for v in rows)
            if s != 1 or not 0 <= z0 < z1 <= n:
                raise ValueError(
                    f"rows must be a range within 0..{n} without supersampling, got {rows}"
                )
            # rows z0..z1-1 of the n x n image: ASTRA's row 0 is the top, y = +n/2
            self.vol_shape = (z1 - z0, n)
            self.vol_geom = astra.create_vol_geom(z1 - z0, n, -half, half, half - z1, half - z0)
        self.proj_geom = astra.create_proj_geom("parallel", 1.0, n, geometry.angles_rad)
        self._ids: list[tuple[str, int]] = []
        if self.device == "cuda":
            self.projector_id = astra.create_projector("cuda", self.proj_geom, self.vol_geom)
        else:
            self.projector_id = astra.create_projector(kernel, self.proj_geom, self.vol_geom)
        self._ids.append(("projector", self.projector_id))
        self.vol_id = self._data("-vol", self.vol_geom)
        self.sino_id = self._data("-sino", self.proj_geom)
        self._closed = False

    # -- ASTRA object bookkeeping -------------------------------------------
    def _data(self, kind: str, geom) -> int:
        did = astra.data2d.create(kind, geom, 0.0)
        self._ids.append(("data", did))
        return did

    def new_volume_id(self) -> int:
        """A fresh zero ASTRA volume owned (and freed) by this projector."""
        return self._data("-vol", self.vol_geom)

    def new_sinogram_id(self) -> int:
        """A fresh zero ASTRA sinogram owned (and freed) by this projector."""
        return self._data("-sino", self.proj_geom)

    def close(self) -> None:
        """Free every ASTRA object this projector created."""
        if getattr(self, "_closed", True):
            return
        for kind, oid in reversed(self._ids):
            if kind == "data":
                astra.data2d.delete(oid)
            else:
                astra.projector.delete(oid)
        self._ids.clear()
        self._closed = True

    # -- algorithms ------------------------------------------------------------
    def run_algorithm(
        self,
        name: str,
        iterations: int = 1,
        *,
        options: dict | None = None,
        vol_id: int | None = None,
        sino_id: int | None = None,
    ) -> None:
        """Run an ASTRA 2D algorithm on this projector's data objects.

        Parameters
        ----------
        name : str
            CPU name ("FP", "BP", "SART", "SIRT", ...); "_CUDA" is appended on
            the CUDA device.
        iterations : int
        options : dict, optional
            ASTRA ``option`` entries.
        vol_id, sino_id : int, optional
            Data objects to use instead of the projector's own.
        """
        if self._closed:
            raise RuntimeError("projector is closed")
        vol_id = self.vol_id if vol_id is None else vol_id
        sino_id = self.sino_id if sino_id is None else sino_id
        cuda = self.device == "cuda"
        cfg = astra.astra_dict(name + "_CUDA" if cuda else name)
        if name == "FP":
            cfg["VolumeDataId"], cfg["ProjectionDataId"] = vol_id, sino_id
        else:
            cfg["ReconstructionDataId"], cfg["ProjectionDataId"] = vol_id, sino_id
        if cuda:
            opts = dict(options or {})
            if self.kernel == "strip" and name == "FP":
                opts.setdefault("DetectorSuperSampling", 4)
            if self.supersample > 1 and name in ("FP", "BP"):
                opts.setdefault("VolumeSuperSampling", 1)
            cfg["option"] = opts
        else:
            cfg["ProjectorId"] = self.projector_id
            if options:
                cfg["option"] = dict(options)
        alg = astra.algorithm.create(cfg)
        try:
            astra.algorithm.run(alg, iterations)
        finally:
            astra.algorithm.delete(alg)

    def forward(self, image) -> np.ndarray:
        """Project an image, or a stack of images one by one.

        Parameters
        ----------
        image : array_like, shape ``vol_shape`` = (n_det*s, n_det*s), or (..., *vol_shape)

        Returns
        -------
        numpy.ndarray, shape (n_angles, n_det) or (..., n_angles, n_det), float32
            Line integrals in detector-pixel units.
        """
        img = _checked(image, self.vol_shape, "image")
        if img.ndim > 2:
            flat = img.reshape(-1, *self.vol_shape)
            out = np.stack([self.forward(x) for x in flat])
            return out.reshape(img.shape[:-2] + self.geometry.sino_shape)
        astra.data2d.store(self.vol_id, img)
        self.run_algorithm("FP")
        return astra.data2d.get(self.sino_id)

    def back(self, sino) -> np.ndarray:
        """Back-project a sinogram, or a stack one by one (the transpose of :meth:`forward`).

        Parameters
        ----------
        sino : array_like, shape (n_angles, n_det) or (..., n_angles, n_det)

        Returns
        -------
        numpy.ndarray, shape ``vol_shape`` or (..., *vol_shape), float32
        """
        s = _checked(sino, self.geometry.sino_shape, "sinogram")
        if s.ndim > 2:
            flat = s.reshape(-1, *self.geometry.sino_shape)
            out = np.stack([self.back(y) for y in flat])
            return out.reshape(s.shape[:-2] + self.vol_shape)
        astra.data2d.store(self.sino_id, s)
        astra.data2d.store(self.vol_id, 0.0)
        self.run_algorithm("BP")
        return astra.data2d.get(self.vol_id)


def forward_project(
    image, angles_deg, *, kernel: str = "strip", device: str = "auto", supersample: int = 1
) -> np.ndarray:
    """Project one image or a stack of images.

    Parameters
    ----------
    image : array_like, shape (N, N) or (n_slices, N, N)
        ``N = n_det * supersample``.
    angles_deg : array_like, shape (n_angles,)
    kernel, device, supersample
        See :class:`Projector`.

    Returns
    -------
    numpy.ndarray, shape (n_angles, n_det) or (n_slices, n_angles, n_det)
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim not in (2, 3) or img.shape[-1] != img.shape[-2]:
        raise ValueError(f"image must be square (N, N) or a stack (n, N, N), got shape {img.shape}")
    if img.shape[-1] % supersample:
        raise ValueError(
            f"image width {img.shape[-1]} is not a multiple of supersample={supersample}"
        )
    geom = Geometry(angles_deg, img.shape[-1] // supersample)
    with Projector(geom, kernel=kernel, device=device, supersample=supersample) as P:
        if img.ndim == 2:
            return P.forward(img)
        return np.stack([P.forward(s) for s in img])


def back_project(sino, angles_deg, *, kernel: str = "linear", device: str = "auto") -> np.ndarray:
    """Unweighted back-projection of one sinogram or a stack.

    Parameters
    ----------
    sino : array_like, shape (n_angles, n_det) or (n_slices, n_angles, n_det)

    Returns
    -------
    numpy.ndarray, shape (n_det, n_det) or (n_slices, n_det, n_det)
    """
    s = np.asarray(sino)
    geom = Geometry(angles_deg, s.shape[-1])
    s = geom.check_sinogram(s)
    with Projector(geom, kernel=kernel, device=device) as P:
        if s.ndim == 2:
            return P.back(s)
        return np.stack([P.back(x) for x in s])


#: Projector backends of :func:`open_projector`.
PROJECTOR_BACKENDS = ("auto", "matrix", "astra", "astra3d")

#: Largest projection matrix (bytes of values and column indices, as
#: :func:`matrix_bytes_estimate` counts them) that :func:`open_projector` builds;
#: larger geometries use ASTRA slice by slice. 16 GiB takes 2048² slices from up
#: to 240 tilts where the memory holds them (a quarter of it: 32 GiB or more
#: available). Measured at 121 tilts (``benchmarks/results/tv_real_size.md``,
#: ``tv_real_size_2048.md``): TV runs 8.2x faster than through ASTRA at 1024²
#: (a 1.55 GiB matrix, built in 29 s) and 4.8x at 2048² (6.2 GiB, 125 s).
MATRIX_MAX_BYTES = 16 << 30


class MatrixProjector:
    """ASTRA's CPU projector as a sparse matrix: a whole chunk of slices per product.

    ASTRA's 2D CPU projector works one slice at a time on one core, and
    iterative solvers (TV) spend nearly all their time in it. The same
    operator stored as a CSR matrix ``A`` (built once per geometry by ASTRA
    itself, :func:`astra.projector.matrix`) projects a stack of slices in one
    sparse product, which reads the matrix once per stack instead of once per
    slice, and the product is split into row blocks run on all cores (scipy
    releases the GIL). ``benchmarks/results/method_speed.md`` has the
    measured speed-ups of TV.

    Parameters
    ----------
    geometry : Geometry
    blocks : tuple of scipy.sparse.csr_matrix, float32
        Consecutive row blocks of ``A`` (shape (n_angles * n_det, n_det**2)
        together), from :func:`projection_blocks`.
    kernel : str
    forward_blocks : tuple of scipy.sparse.csc_matrix, optional
        The same blocks column-major (:func:`forward_blocks`), for faster
        forward products at twice the memory; default: ``blocks``.
    rows : (int, int), optional
        The rows of the slice the matrix was built for (:class:`Projector`'s
        ``rows``): the image is then ``(z1 - z0, n_det)``.

    Notes
    -----
    ``forward`` and ``back`` take one image / sinogram or a stack with
    leading axes, like :class:`Projector`'s; ``back`` is ``A.T`` (the exact
    adjoint, summed over the blocks). Nothing needs closing; it is a context
    manager for symmetry with :class:`Projector`.
    """

    device = "cpu"
    supersample = 1
    backend = "matrix"
    #: Slices a solver hands it at once: the product reads the matrix once per
    #: stack (measured gain levels off past 8 at 128² and 512²).
    stack = 8

    def __init__(
        self,
        geometry: Geometry,
        blocks,
        kernel: str = "linear",
        forward_blocks=None,
        rows: tuple[int, int] | None = None,
    ):
        self.geometry = geometry
        self.kernel = kernel
        self.blocks = tuple(blocks)
        self.forward_blocks = self.blocks if forward_blocks is None else tuple(forward_blocks)
        self._starts = np.cumsum([0] + [b.shape[0] for b in self.blocks])
        n = geometry.n_det
        self.vol_shape = (n, n) if rows is None else (rows[1] - rows[0], n)
        if self.blocks[0].shape[1] != self.vol_shape[0] * self.vol_shape[1]:
            raise ValueError(
                f"the matrix has {self.blocks[0].shape[1]} columns, not the pixels of a "
                f"{self.vol_shape} image"
            )

    def __enter__(self) -> MatrixProjector:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        """Nothing to free (the matrix is shared through a cache)."""

    def forward(self, image) -> np.ndarray:
        """Project an image or a stack, shape (..., *vol_shape) -> (..., n_angles, n_det)."""
        x = _checked(image, self.vol_shape, "image")
        lead = x.shape[:-2]
        flat = x.reshape(-1, self.vol_shape[0] * self.vol_shape[1])
        parts = _map(lambda b: _products(b, flat), self.forward_blocks)
        y = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        return y.reshape(lead + self.geometry.sino_shape)

    def back(self, sino) -> np.ndarray:
        """Back-project a sinogram or a stack, shape (..., n_angles, n_det) -> (..., *vol_shape)."""
        y = _checked(sino, self.geometry.sino_shape, "sinogram")
        lead = y.shape[:-2]
        flat = y.reshape(-1, self.geometry.sino_shape[0] * self.geometry.sino_shape[1])
        s = self._starts
        parts = _map(
            lambda i: _products(self.blocks[i].T, flat[:, s[i] : s[i + 1]]), range(len(self.blocks))
        )
        x = parts[0]
        for part in parts[1:]:
            x += part
        return x.reshape(lead + self.vol_shape)


class StackProjector3D(_ClosesAstraObjects):
    """ASTRA's 3D CUDA parallel-beam projector over a stack of 2D slices.

    A stack of ``S`` slices (S, n, n) is a 3D volume whose slice axis is
    the tilt axis, and its sinograms (S, n_angles, n_det) are ASTRA's 3D
    projection data (detector rows, angles, columns) of a ``parallel3d``
    geometry with the same angles: one GPU call projects the whole stack,
    where :class:`Projector` makes one 2D call per slice. Data pass between
    host and GPU once per call (ASTRA's ``direct_FP3D``/``direct_BP3D`` on
    numpy arrays).

    The ASTRA objects for a stack size are made on first use and kept
    (the last :data:`_STACK_SIZES_KEPT` sizes) until :meth:`close`.

    Parameters
    ----------
    geometry : Geometry
    kernel : str
        Recorded only: the CUDA projector has its own interpolating kernel
        (as :class:`Projector` on CUDA with ``kernel="linear"``).
    flip_rows, flip_det : bool
        Reverse the image rows / detector columns on the way in and out,
        should ASTRA's 3D axes run opposite to its 2D ones
        (:func:`stack_projector_orientation` finds out).

    Notes
    -----
    Not yet executed on the machines this project is developed on (no GPU):
    :func:`open_projector` uses it only with the orientation
    :func:`stack_projector_orientation` found to reproduce the 2D CUDA
    projector on this GPU, and ``tests/test_project.py`` compares it with the
    CPU projector where a GPU is present.
    """

    device = "cuda"
    supersample = 1
    backend = "astra3d"
    #: A solver may hand it this many slices at once.
    stack = 32

    def __init__(
        self,
        geometry: Geometry,
        kernel: str = "linear",
        *,
        flip_rows: bool = False,
        flip_det: bool = False,
    ):
        self.geometry = geometry
        self.kernel = kernel
        self.flip_rows, self.flip_det = bool(flip_rows), bool(flip_det)
        n = geometry.n_det
        self.vol_shape = (n, n)
        self._objects: dict[int, int] = {}

    def _projector(self, n_slices: int) -> int:
        if n_slices not in self._objects:
            while len(self._objects) >= _STACK_SIZES_KEPT:
                self._free(next(iter(self._objects)))
            n, angles = self.geometry.n_det, self.geometry.angles_rad
            vol_geom = astra.create_vol_geom(n, n, n_slices)
            proj_geom = astra.create_proj_geom("parallel3d", 1.0, 1.0, n_slices, n, angles)
            pid = astra.create_projector("cuda3d", proj_geom, vol_geom)
            self._objects[n_slices] = pid
        return self._objects[n_slices]

    def _free(self, n_slices: int) -> None:
        astra.projector3d.delete(self._objects.pop(n_slices))

    def close(self) -> None:
        """Free the ASTRA objects."""
        for k in list(self._objects):
            self._free(k)

    def forward(self, image) -> np.ndarray:
        """Project an image or a stack, shape (..., *vol_shape) -> (..., n_angles, n_det)."""
        x = _checked(image, self.vol_shape, "image")
        lead = x.shape[:-2]
        vol = x.reshape(-1, *self.vol_shape)
        vol = np.ascontiguousarray(vol[:, ::-1] if self.flip_rows else vol)
        out = np.zeros((vol.shape[0],) + self.geometry.sino_shape, np.float32)
        astra.experimental.direct_FP3D(self._projector(vol.shape[0]), vol, out)
        if self.flip_det:
            out = out[..., ::-1]
        return np.ascontiguousarray(out).reshape(lead + self.geometry.sino_shape)

    def back(self, sino) -> np.ndarray:
        """Back-project a sinogram or a stack, shape (..., n_angles, n_det) -> (..., *vol_shape)."""
        y = _checked(sino, self.geometry.sino_shape, "sinogram")
        lead = y.shape[:-2]
        proj = y.reshape(-1, *self.geometry.sino_shape)
        proj = np.ascontiguousarray(proj[..., ::-1] if self.flip_det else proj)
        out = np.zeros((proj.shape[0],) + self.vol_shape, np.float32)
        astra.experimental.direct_BP3D(self._projector(proj.shape[0]), out, proj)
        if self.flip_rows:
            out = out[:, ::-1]
        return np.ascontiguousarray(out).reshape(lead + self.vol_shape)


#: Stack sizes whose ASTRA 3D objects a :class:`StackProjector3D` keeps.
_STACK_SIZES_KEPT = 2


@lru_cache(maxsize=1)
def stack_projector_orientation() -> dict | None:
    """How :class:`StackProjector3D` reproduces the 2D CUDA projector on this GPU, if it can.

    Checked once per process on an asymmetric test image at a few angles
    (forward and back projection, each way of flipping the image rows and
    detector columns), so that an orientation or scaling difference between
    ASTRA's 2D and 3D geometries can never change results silently.

    Returns
    -------
    dict or None
        ``flip_rows``/``flip_det`` for :class:`StackProjector3D`; None when
        there is no GPU or no orientation agrees within 2 % (solvers then
        stay on the 2D projector, slice by slice).
    """
    if not cuda_available():
        return None
    n = 32
    yy, xx = np.mgrid[:n, :n]
    img = ((xx - 9) ** 2 + (yy - 20) ** 2 < 30).astype(np.float32)
    img += ((xx > 18) & (xx < 27) & (yy > 4) & (yy < 11)).astype(np.float32) * 0.5
    geom = Geometry(np.array([-60.0, -17.0, 0.0, 33.0, 75.0]), n)
    stack = np.stack([img, img.T.copy()])
    try:
        with Projector(geom, device="cuda") as P2:
            fp2 = P2.forward(stack)
            bp2 = P2.back(fp2)
        for flips in ((False, False), (True, False), (False, True), (True, True)):
            with StackProjector3D(geom, flip_rows=flips[0], flip_det=flips[1]) as P3:
                fp3, bp3 = P3.forward(stack), P3.back(fp2)
            if (
                np.abs(fp3 - fp2).max() <= 0.02 * np.abs(fp2).max()
                and np.abs(bp3 - bp2).max() <= 0.02 * np.abs(bp2).max()
            ):
                return {"flip_rows": flips[0], "flip_det": flips[1]}
    except Exception as exc:  # noqa: BLE001 - any failure: keep the 2D path
        log.warning("ASTRA's 3D CUDA projector is unusable here (%s); using the 2D one", exc)
        return None
    log.warning("ASTRA's 3D CUDA projector differs from the 2D one here; using the 2D one")
    return None


#: From this many vectors on, one sparse product with all of them beats a loop
#: of single products (scipy's multi-vector kernel is slower per vector below).
_MULTI_VECTOR_MIN = 4


def _products(matrix, rows: np.ndarray) -> np.ndarray:
    """``rows @ matrix.T`` for a stack of vectors ``rows`` (k, m): shape (k, matrix.shape[0])."""
    if rows.shape[0] < _MULTI_VECTOR_MIN:
        return np.stack([np.asarray(matrix @ r, dtype=np.float32) for r in rows])
    out = np.asarray(matrix @ rows.T, dtype=np.float32)
    return np.ascontiguousarray(out.T)


def matrix_threads() -> int:
    """Threads the matrix products run on: ``$TOMOINPAINT_THREADS``, else the usable cores."""
    env = os.environ.get("TOMOINPAINT_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"TOMOINPAINT_THREADS must be an integer, got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: Row blocks of a projection matrix. Fixed, not the thread count, so that the
#: back projection sums its partial results in the same order on any machine
#: and with any number of workers: results do not depend on them.
MATRIX_BLOCKS = 4

_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _map(fn, items) -> list:
    """``[fn(x) for x in items]``, on a thread pool when there are several items."""
    items = list(items)
    if len(items) == 1:
        return [fn(items[0])]
    global _POOL
    # a pool inherited through fork() has no threads: each process makes its own
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(matrix_threads()))
    return list(_POOL[1].map(fn, items))


def _matrix_copies_that_fit(geometry: Geometry, rows: tuple[int, int] | None = None) -> int:
    """How many copies of the geometry's matrix (0, 1 or 2) fit: each at most
    :data:`MATRIX_MAX_BYTES`, all together within :func:`matrix_memory_room`."""
    n_rows = None if rows is None else rows[1] - rows[0]
    need = matrix_bytes_estimate(geometry.angles_deg.size, geometry.n_det, n_rows)
    if need > MATRIX_MAX_BYTES:
        return 0
    room = matrix_memory_room()
    return 2 if room is None else min(2, room // max(need, 1))


@lru_cache(maxsize=16)
def _say_matrix_does_not_fit(n_angles: int, n_det: int, n_rows: int) -> None:
    """Log, once per geometry and process, that iterative solvers take the slow path."""
    need = matrix_bytes_estimate(n_angles, n_det, n_rows)
    log.info(
        "the projection matrix of %d x %d slices from %d tilts would take %s, more than "
        "the %s it may have here: iterative solvers (TV, joint) project through ASTRA "
        "slice by slice, 5-15x slower (benchmarks/results/tv_real_size.md); "
        "--thickness with --slab-only, fewer --workers, more memory or a GPU avoid that",
        n_rows,
        n_det,
        n_angles,
        gib(need),
        gib(_largest_matrix_bytes()),
    )


def matrix_memory_room(cached: int = 0) -> int | None:
    """Bytes this process may give its projection matrices: a quarter of the available
    memory (counting ``cached`` bytes of matrices it holds as available), shared out
    between local worker processes (:func:`matrix_memory_share`), and within a
    dask.distributed worker's memory limit; None where nothing is known."""
    avail = available_memory()
    room = None if avail is None else (avail + cached) // 4 // matrix_memory_share()
    left = worker_memory_left()
    if left is not None:
        room = (left + cached) // 4 if room is None else min(room, (left + cached) // 4)
    return room


def largest_matrix_slice(n_angles: int) -> int:
    """Widest slice (pixels) whose projection matrix from ``n_angles`` tilts this process
    would build (:func:`open_projector`'s rule, one copy); 0 when none would fit.

    For ``tomoinpaint info``: wider slices run iterative solvers through ASTRA.
    """
    # the estimate grows as the square of the width: n² times that of a 1-px slice
    per_pixel = matrix_bytes_estimate(max(int(n_angles), 1), 1)
    return math.isqrt(_largest_matrix_bytes() // per_pixel)


def _largest_matrix_bytes() -> int:
    """The most one matrix may take here: :data:`MATRIX_MAX_BYTES`, within
    :func:`matrix_memory_room`."""
    room = matrix_memory_room()
    return MATRIX_MAX_BYTES if room is None else min(MATRIX_MAX_BYTES, room)


def matrix_memory_share() -> int:
    """Processes that share this machine's memory for their projection matrices:
    ``$TOMOINPAINT_WORKERS`` (set in the volume pipeline's local worker processes,
    which all build their own at about the same time), else 1."""
    env = os.environ.get("TOMOINPAINT_WORKERS")
    try:
        return max(1, int(env)) if env else 1
    except ValueError:
        return 1


def matrix_bytes_estimate(n_angles: int, n_det: int, n_rows: int | None = None) -> int:
    """Bytes a linear-kernel projection matrix takes (2 entries per ray and pixel column),
    for an image of ``n_rows`` rows (default ``n_det``: the whole slice)."""
    return 2 * n_angles * n_det * (n_det if n_rows is None else n_rows) * 8


def projection_matrix(angles, n_det: int, kernel: str = "linear", rows=None):
    """The CPU projector of a geometry as a float32 CSR matrix.

    Parameters
    ----------
    angles : sequence of float
        Degrees.
    n_det : int
    kernel : {"linear", "strip", "line"}
    rows : (int, int), optional
        Only these rows of the slice (:class:`Projector`'s ``rows``).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_angles * n_det, n_rows * n_det)
        Row ``a * n_det + d`` is ray ``d`` of projection ``a``; column
        ``i * n_det + j`` is pixel ``(i, j)``, as :class:`Projector` orders them.
        ``n_rows`` is ``n_det``, or ``z1 - z0`` with ``rows``.
    """
    geom = Geometry(np.asarray(angles), n_det)
    with Projector(geom, kernel=kernel, device="cpu", rows=rows) as P:
        mid = astra.projector.matrix(P.projector_id)
        try:
            a = astra.matrix.get(mid)
        finally:
            astra.matrix.delete(mid)
    a = a.astype(np.float32).tocsr()
    a.indices = a.indices.astype(np.int32, copy=False)
    a.indptr = a.indptr.astype(np.int64 if a.nnz >= 2**31 else np.int32, copy=False)
    return a


#: Most bytes of projection matrices one process keeps cached (all geometries and
#: both layouts together); the least recently used go first. Within it, the cached
#: matrices together keep to the process's share of a quarter of the memory, as
#: each does when it is built (:func:`open_projector`): many geometries in turn
#: (``--method auto``'s hold-out scoring) do not pile up.
MATRIX_CACHE_BYTES = 2 * MATRIX_MAX_BYTES

_MATRIX_CACHE: OrderedDict = OrderedDict()


def _blocks_bytes(blocks) -> int:
    return sum(b.data.nbytes + b.indices.nbytes + b.indptr.nbytes for b in blocks)


def _matrix_cached(build):
    """Cache ``build``'s matrix blocks by their arguments within :data:`MATRIX_CACHE_BYTES`
    (shared by every function it wraps); ``cache_clear()`` empties the cache."""

    signature = inspect.signature(build)

    @functools.wraps(build)
    def cached(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()  # f(a, b) and f(a, b, default) are one entry
        key = (build.__name__, *bound.arguments.values())
        if key in _MATRIX_CACHE:
            _MATRIX_CACHE.move_to_end(key)
            return _MATRIX_CACHE[key][0]
        value = build(*args, **kwargs)
        _MATRIX_CACHE[key] = (value, _blocks_bytes(value))
        cached_bytes = sum(size for _, size in _MATRIX_CACHE.values())
        room = matrix_memory_room(cached=cached_bytes)  # as if none were cached
        budget = MATRIX_CACHE_BYTES if room is None else min(MATRIX_CACHE_BYTES, room)
        while len(_MATRIX_CACHE) > 1 and cached_bytes > budget:
            cached_bytes -= _MATRIX_CACHE.popitem(last=False)[1][1]
        return value

    cached.cache_clear = _MATRIX_CACHE.clear
    return cached


@_matrix_cached
def forward_blocks(angles: tuple, n_det: int, kernel: str = "linear", parts: int = 1, rows=None):
    """:func:`projection_blocks` stored column-major (CSC), for forward products (cached).

    scipy's column-major product scatters each pixel's few entries into a
    small output and runs 2.0-2.1x faster than the row-major one at 128² to
    512² (``benchmarks/results/cpu_kernels.md``); the back projection is
    already column-major, as the transpose of the row-major blocks. Both sum
    each ray over the pixels in the same (ascending) order, so the two give
    identical results.

    Returns
    -------
    tuple of scipy.sparse.csc_matrix
    """
    out = []
    for block in projection_blocks(angles, n_det, kernel, parts, rows):
        c = block.tocsc()
        c.indices = c.indices.astype(np.int32, copy=False)
        out.append(c)
    return tuple(out)


@_matrix_cached
def projection_blocks(angles: tuple, n_det: int, kernel: str = "linear", parts: int = 1, rows=None):
    """:func:`projection_matrix` in ``parts`` row blocks of whole projections (cached).

    ``rows`` is a tuple ``(z0, z1)`` or None, as in :func:`projection_matrix`.
    Each block is built by ASTRA from its own projections (a projection's
    rays do not depend on the others: the entries are the whole matrix's),
    so building never holds more than the blocks and one block's copies: a
    process building the 1.55 GiB matrix of 1024² slices and 121 tilts peaks
    at 2.7 GiB instead of 5.7 GiB (``benchmarks/results/tv_real_size.md``).

    Returns
    -------
    tuple of scipy.sparse.csr_matrix
    """
    n_angles = len(angles)
    parts = max(1, min(int(parts), n_angles))
    cuts = [round(k * n_angles / parts) for k in range(parts + 1)]
    return tuple(
        projection_matrix(angles[cuts[k] : cuts[k + 1]], n_det, kernel, rows) for k in range(parts)
    )


def open_projector(
    geometry: Geometry,
    *,
    kernel: str = "linear",
    device: str = "auto",
    backend: str = "auto",
    rows: tuple[int, int] | None = None,
):
    """The fastest projector for stacks of slices of a geometry.

    Parameters
    ----------
    geometry : Geometry
    kernel : {"linear", "strip", "line"}
    device : {"auto", "cpu", "cuda"}
    backend : {"auto", "matrix", "astra", "astra3d"}
        "matrix": a :class:`MatrixProjector` (CPU only); "astra": a
        :class:`Projector` (slice by slice); "astra3d": a
        :class:`StackProjector3D` (CUDA only, a stack per call); "auto": on
        the CPU the matrix when it takes at most :data:`MATRIX_MAX_BYTES`
        and a quarter of the available memory, shared out between local
        worker processes (and a second, column-major copy for the forward
        products when two fit), else ASTRA; on CUDA the 3D
        stack projector for the "linear" kernel when
        :func:`stack_projector_orientation` finds it reproduces the 2D one,
        else ASTRA 2D.
    rows : (int, int), optional
        Only rows ``z0..z1-1`` of each slice (:class:`Projector`'s ``rows``):
        images are ``(z1 - z0, n_det)``. The matrix is that much smaller, so
        it fits at sizes where the whole slice's does not. Not with "astra3d"
        ("auto" on CUDA then takes ASTRA 2D).

    Returns
    -------
    MatrixProjector, StackProjector3D or Projector
        Its ``stack`` attribute says how many slices a solver should hand it
        at once (1: slice by slice).
        Use as a context manager.
    """
    if backend not in PROJECTOR_BACKENDS:
        raise ValueError(
            f"unknown projector backend {backend!r}; choose {', '.join(PROJECTOR_BACKENDS)}"
        )
    dev = resolve_device(device)
    if backend == "matrix" and dev == "cuda":
        raise ValueError("the matrix projector runs on the CPU; use backend='astra' with CUDA")
    if backend == "astra3d" and dev != "cuda":
        raise ValueError("the 3D stack projector needs CUDA; use backend='matrix' on the CPU")
    if backend == "astra3d" and rows is not None:
        raise ValueError("the 3D stack projector takes whole slices; use backend='astra' for rows")
    rows = None if rows is None else (int(rows[0]), int(rows[1]))
    copies = None
    if backend == "auto" and dev == "cuda":
        # the interpolating CUDA kernel is "linear"'s; other kernels stay 2D
        use_3d = kernel == "linear" and rows is None
        orientation = stack_projector_orientation() if use_3d else None
        backend = "astra3d" if orientation is not None else "astra"
    elif backend == "auto":
        copies = _matrix_copies_that_fit(geometry, rows)
        backend = "matrix" if copies >= 1 else "astra"
        if copies == 0:
            n_rows = geometry.n_det if rows is None else rows[1] - rows[0]
            _say_matrix_does_not_fit(geometry.angles_deg.size, geometry.n_det, n_rows)
    if backend == "matrix":
        copies = _matrix_copies_that_fit(geometry, rows) if copies is None else copies
        key = tuple(np.asarray(geometry.angles_deg, float).tolist())
        blocks = projection_blocks(key, geometry.n_det, kernel, MATRIX_BLOCKS, rows)
        columns = None
        if copies >= 2:  # the faster forward products' own copy
            columns = forward_blocks(key, geometry.n_det, kernel, MATRIX_BLOCKS, rows)
        return MatrixProjector(geometry, blocks, kernel, forward_blocks=columns, rows=rows)
    if backend == "astra3d":
        return StackProjector3D(geometry, kernel, **(stack_projector_orientation() or {}))
    return Projector(geometry, kernel=kernel, device=dev, rows=rows)
