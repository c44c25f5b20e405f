"""Natural images and CT slices from files that installed packages ship.

No download happens: natural images are read from ``skimage/data/`` and CT
slices from pydicom's ``pydicom/data/test_files/``. Each image is returned as
a float32 ``(n, n)`` array in [0, 1], masked to the reconstruction circle (the
inscribed disk), because in parallel-beam tomography the object must lie in
the field of view at every angle.

Fixed train/test split (by source file)
---------------------------------------
Held-out test images never appear in the training library (BENCHMARKS.md,
"Held-out data"): the split is by *file*, fixed below, and
:func:`natural_image` / :func:`ct_slice` only draw from the requested split.

Natural images (scikit-image ``data/``):

* train: astronaut.png, brick.png, cell.png, chelsea.png, coffee.png,
  coins.png, grass.png, horse.png, hubble_deep_field.jpg, ihc.png, moon.png,
  motorcycle_left.png, motorcycle_right.png (a stereo pair of one scene: kept
  together), retina.jpg, text.png
* test: camera.png, gravel.png, page.png, rocket.jpg
* not used: phantom.png (Shepp–Logan, see :func:`.phantoms.shepp_logan`),
  chessboard_*.png, color.png, logo.png (synthetic), clock_motion.png
  (motion-blurred), microaneurysms.png (102 px), multipage*.tif,
  lfw_subset.npy (25 px faces).

CT slices (pydicom ``data/test_files/``; the only CT files there with a
usable image — the ``dicomdirtests`` CT images are 16 x 16 pixels):

* train: 693_J2KI.dcm (512², head; JPEG 2000, decoded through Pillow),
  CT_small.dcm (128², thorax/spine, uncompressed)
* test: J2K_pixelrep_mismatch.dcm (512², head; JPEG 2000)

With so few CT files, variety comes from random square crops (a random
fraction of the slice), random rotations and, later, :mod:`.augment`. CT
numbers are converted to attenuation-like values by clipping to a window of
Hounsfield units and scaling it linearly to [0, 1] (air -> 0).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

import numpy as np

from ._util import as_rng, check_size, circle_mask

__all__ = [
    "NATURAL_SPLITS",
    "CT_SPLITS",
    "SPLITS",
    "image_sources",
    "load_natural",
    "load_ct",
    "natural_image",
    "ct_slice",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "test")

NATURAL_SPLITS: dict[str, tuple[str, ...]] = {
    "train": (
        "astronaut.png",
        "brick.png",
        "cell.png",
        "chelsea.png",
        "coffee.png",
        "coins.png",
        "grass.png",
        "horse.png",
        "hubble_deep_field.jpg",
        "ihc.png",
        "moon.png",
        "motorcycle_left.png",
        "motorcycle_right.png",
        "retina.jpg",
        "text.png",
    ),
    "test": ("camera.png", "gravel.png", "page.png", "rocket.jpg"),
}

CT_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("693_J2KI.dcm", "CT_small.dcm"),
    "test": ("J2K_pixelrep_mismatch.dcm",),
}

#: Default Hounsfield window mapped to [0, 1].
CT_WINDOW = (-1000.0, 2000.0)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    return split


def image_sources(kind: str, split: str) -> tuple[str, ...]:
    """The source files of one split.

    Parameters
    ----------
    kind : {"natural", "ct"}
    split : {"train", "test"}

    Returns
    -------
    tuple of str
        File names (natural: in ``skimage/data``; ct: in
        ``pydicom/data/test_files``).
    """
    _check_split(split)
    if kind == "natural":
        return NATURAL_SPLITS[split]
    if kind == "ct":
        return CT_SPLITS[split]
    raise ValueError(f"unknown image kind {kind!r}; choose 'natural' or 'ct'")


def _natural_path(name: str) -> str:
    from skimage import data

    return os.path.join(data.data_dir, name)


def _ct_path(name: str) -> str:
    import pydicom

    return os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", name)


@lru_cache(maxsize=32)
def load_natural(name: str) -> np.ndarray:
    """One natural image from ``skimage/data``, grayscale, scaled to [0, 1].

    Parameters
    ----------
    name : str
        A file of :data:`NATURAL_SPLITS`.

    Returns
    -------
    numpy.ndarray, shape (h, w), float32, read-only (cached)
    """
    from skimage import color, io

    known = NATURAL_SPLITS["train"] + NATURAL_SPLITS["test"]
    if name not in known:
        raise ValueError(f"unknown natural image {name!r}; choose from {', '.join(known)}")
    path = _natural_path(name)
    if not os.path.exists(path):
        raise ValueError(f"natural image {name!r} is not installed at {path}")
    a = io.imread(path)
    if a.ndim == 3:
        if a.shape[-1] == 4:  # RGBA: composite on white, as displayed
            alpha = a[..., 3:4] / 255.0
            a = a[..., :3] * alpha + 255.0 * (1 - alpha)
        a = color.rgb2gray(np.asarray(a[..., :3], dtype=np.float64))
    a = np.asarray(a, dtype=np.float64)
    lo, hi = a.min(), a.max()
    a = ((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)).astype(np.float32)
    a.setflags(write=False)
    return a


@lru_cache(maxsize=8)
def load_ct(name: str, window=CT_WINDOW) -> np.ndarray:
    """One CT slice from pydicom's test files, as attenuation in [0, 1].

    Parameters
    ----------
    name : str
        A file of :data:`CT_SPLITS`.
    window : (float, float)
        Hounsfield window ``(low, high)`` mapped linearly to [0, 1].

    Returns
    -------
    numpy.ndarray, shape (h, w), float32, read-only (cached)
    """
    import pydicom

    known = CT_SPLITS["train"] + CT_SPLITS["test"]
    if name not in known:
        raise ValueError(f"unknown CT file {name!r}; choose from {', '.join(known)}")
    lo, hi = float(window[0]), float(window[1])
    if not hi > lo:
        raise ValueError(f"window must be (low, high) with high > low, got {window!r}")
    path = _ct_path(name)
    try:
        ds = pydicom.dcmread(path)
        raw = ds.pixel_array
    except Exception as exc:  # missing file or no JPEG 2000 decoder
        raise ValueError(f"cannot read CT file {name!r} at {path}: {exc}") from exc
    hu = raw.astype(np.float64) * float(ds.get("RescaleSlope", 1.0)) + float(
        ds.get("RescaleIntercept", 0.0)
    )
    a = ((np.clip(hu, lo, hi) - lo) / (hi - lo)).astype(np.float32)
    a.setflags(write=False)
    return a


def _crop_rotate(
    src: np.ndarray, n: int, rng: np.random.Generator, crop_range, rotate: bool
) -> np.ndarray:
    """Random square crop, random rotation about its centre, resize, mask."""
    from skimage.transform import resize
    from skimage.transform import rotate as sk_rotate

    lo, hi = float(crop_range[0]), float(crop_range[1])
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"crop_range must satisfy 0 < low <= high <= 1, got {crop_range!r}")
    h, w = src.shape
    side = max(2, int(round(min(h, w) * rng.uniform(lo, hi))))
    r0 = int(rng.integers(0, h - side + 1))
    c0 = int(rng.integers(0, w - side + 1))
    angle = float(rng.uniform(0, 360)) if rotate else 0.0
    crop = np.asarray(src[r0 : r0 + side, c0 : c0 + side], dtype=np.float64)
    if angle:
        # only the inscribed disk is kept, and it is rotation invariant, so
        # the undefined corners of the rotated square never show
        crop = sk_rotate(crop, angle, order=1, mode="constant", cval=0.0)
    if crop.shape != (n, n):
        crop = resize(crop, (n, n), order=1, anti_aliasing=side > n)
    img = np.clip(crop, 0.0, 1.0) * circle_mask(n)
    return img.astype(np.float32)


def _pick(kind: str, split: str, name: str | None, rng: np.random.Generator) -> str:
    files = image_sources(kind, split)
    if name is None:
        return files[int(rng.integers(len(files)))]
    if name not in files:
        raise ValueError(
            f"{kind} image {name!r} is not in the {split!r} split; it holds {', '.join(files)}"
        )
    return name


def natural_image(
    n: int,
    rng,
    split: str = "train",
    *,
    name: str | None = None,
    crop_range=(0.4, 1.0),
    rotate: bool = True,
) -> np.ndarray:
    """A random grayscale natural image of one split.

    Parameters
    ----------
    n : int
        Output size.
    rng : numpy.random.Generator or int
    split : {"train", "test"}
        Draw only from this split's files (see the module notes).
    name : str, optional
        Use this file (it must belong to ``split``) instead of a random one.
    crop_range : (float, float)
        Side of the random square crop as a fraction of the image's shorter
        side.
    rotate : bool
        Rotate the crop by a random angle (0–360°).

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
        Values in [0, 1], zero outside the inscribed circle.
    """
    n = check_size(n)
    rng = as_rng(rng)
    _check_split(split)
    f = _pick("natural", split, name, rng)
    return _crop_rotate(load_natural(f), n, rng, crop_range, rotate)


def ct_slice(
    n: int,
    rng,
    split: str = "train",
    *,
    name: str | None = None,
    crop_range=(0.5, 1.0),
    rotate: bool = True,
    window=CT_WINDOW,
) -> np.ndarray:
    """A random CT slice (crop/rotation of a shipped DICOM) of one split.

    Parameters
    ----------
    n : int
        Output size.
    rng : numpy.random.Generator or int
    split : {"train", "test"}
    name : str, optional
        Use this file (it must belong to ``split``).
    crop_range : (float, float)
        Side of the random square crop as a fraction of the slice.
    rotate : bool
        Rotate the crop by a random angle (0–360°).
    window : (float, float)
        Hounsfield window mapped to [0, 1].

    Returns
    -------
    numpy.ndarray, shape (n, n), float32
        Values in [0, 1], zero outside the inscribed circle.
    """
    n = check_size(n)
    rng = as_rng(rng)
    _check_split(split)
    f = _pick("ct", split, name, rng)
    return _crop_rotate(load_ct(f, tuple(window)), n, rng, crop_range, rotate)
