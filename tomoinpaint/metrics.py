"""Image-quality metrics: PSNR, SSIM and RMSE with an explicit data range.

All metrics follow the project's benchmark protocol (``BENCHMARKS.md``):

* PSNR and SSIM are scikit-image's
  :func:`skimage.metrics.peak_signal_noise_ratio` and
  :func:`skimage.metrics.structural_similarity`, computed on the **whole 2-D
  slice** (scikit-image defaults: 7×7 uniform window for SSIM).
* ``data_range`` defaults to ``max - min`` of the **reference** (ground-truth)
  slice and is always passed to scikit-image explicitly, so the result never
  depends on the dtype of the images.
* RMSE is in the units of the reference.

Three-dimensional inputs ``(n_slices, ny, nx)`` are evaluated slice by slice
along axis 0 and the **mean over slices** is returned. Without an explicit
``data_range`` each slice uses the range of its own reference slice (as the
protocol's "max − min of the ground-truth slice"). A slice that is reproduced
exactly contributes an infinite PSNR, so the mean PSNR is then ``inf``.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["psnr", "ssim", "rmse", "compare"]

# scikit-image's default SSIM window is 7x7: every slice must be at least that large.
_SSIM_MIN_SIZE = 7


def _as_real_array(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real-valued, got dtype {arr.dtype}")
    try:
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be a 2-D slice (ny, nx) or a 3-D stack (n_slices, ny, nx), "
            f"got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    n_nan = int(np.count_nonzero(np.isnan(arr)))
    if n_nan:
        raise ValueError(f"{name} contains {n_nan} NaN value(s)")
    n_inf = int(np.count_nonzero(np.isinf(arr)))
    if n_inf:
        raise ValueError(f"{name} contains {n_inf} infinite value(s)")
    return arr


def _validate_pair(reference, image) -> tuple[np.ndarray, np.ndarray]:
    ref = _as_real_array(reference, "reference")
    img = _as_real_array(image, "image")
    if ref.shape != img.shape:
        raise ValueError(
            f"reference and image must have the same shape: "
            f"reference {ref.shape} vs image {img.shape}"
        )
    return ref, img


def _slices(arr: np.ndarray) -> np.ndarray:
    """View a 2-D slice or 3-D stack as a stack of 2-D slices."""
    return arr[np.newaxis] if arr.ndim == 2 else arr


def _ranges(ref: np.ndarray, data_range) -> list[float]:
    """Data range for each slice of ``ref`` (explicit value, or reference max - min)."""
    stack = _slices(ref)
    if data_range is not None:
        try:
            dr = float(data_range)
        except (TypeError, ValueError):
            raise ValueError(f"data_range must be a positive number, got {data_range!r}") from None
        if not np.isfinite(dr) or dr <= 0:
            raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
        return [dr] * stack.shape[0]
    out = []
    for i, sl in enumerate(stack):
        dr = float(sl.max() - sl.min())
        if dr <= 0:
            where = "reference" if ref.ndim == 2 else f"reference slice {i}"
            raise ValueError(
                f"{where} is constant (value {float(sl.flat[0])!r}), so its data range is 0; "
                "pass data_range explicitly"
            )
        out.append(dr)
    return out


def _psnr(ref: np.ndarray, img: np.ndarray, ranges: list[float]) -> float:
    vals = []
    # skimage returns inf (with a divide-by-zero warning) when the images are identical.
    with np.errstate(divide="ignore"):
        for r, m, dr in zip(_slices(ref), _slices(img), ranges, strict=True):
            vals.append(float(peak_signal_noise_ratio(r, m, data_range=dr)))
    return float(np.mean(vals))


def _ssim(ref: np.ndarray, img: np.ndarray, ranges: list[float]) -> float:
    ny, nx = ref.shape[-2:]
    if min(ny, nx) < _SSIM_MIN_SIZE:
        raise ValueError(
            f"SSIM needs slices of at least {_SSIM_MIN_SIZE}x{_SSIM_MIN_SIZE} pixels "
            f"(scikit-image's default window), got slices of shape {(ny, nx)}"
        )
    vals = [
        float(structural_similarity(r, m, data_range=dr))
        for r, m, dr in zip(_slices(ref), _slices(img), ranges, strict=True)
    ]
    return float(np.mean(vals))


def _rmse(ref: np.ndarray, img: np.ndarray) -> float:
    diff = _slices(img) - _slices(ref)
    per_slice = np.sqrt(np.mean(diff * diff, axis=(1, 2)))
    return float(np.mean(per_slice))


def psnr(reference, image, *, data_range=None) -> float:
    """Peak signal-to-noise ratio of ``image`` against ``reference``, in dB.

    ``10 * log10(data_range**2 / mse)``, via
    :func:`skimage.metrics.peak_signal_noise_ratio`.

    Parameters
    ----------
    reference : array_like, shape (ny, nx) or (n_slices, ny, nx)
        Ground truth.
    image : array_like, same shape as ``reference``
        Image to evaluate.
    data_range : float, optional
        Peak-to-peak range of the signal. Default: ``max - min`` of the
        reference (per slice for 3-D input).

    Returns
    -------
    float
        PSNR in dB; ``inf`` when the images are identical. For 3-D input, the
        mean of the per-slice values along axis 0.

    Raises
    ------
    ValueError
        On a shape mismatch, NaN/inf values, non-2-D/3-D input, a
        non-positive ``data_range``, or a constant reference without
        ``data_range``.
    """
    ref, img = _validate_pair(reference, image)
    return _psnr(ref, img, _ranges(ref, data_range))


def ssim(reference, image, *, data_range=None) -> float:
    """Structural similarity of ``image`` against ``reference``.

    :func:`skimage.metrics.structural_similarity` with its default 7×7
    uniform window, on the whole slice.

    Parameters
    ----------
    reference : array_like, shape (ny, nx) or (n_slices, ny, nx)
        Ground truth; every slice must be at least 7×7.
    image : array_like, same shape as ``reference``
        Image to evaluate.
    data_range : float, optional
        Peak-to-peak range of the signal. Default: ``max - min`` of the
        reference (per slice for 3-D input).

    Returns
    -------
    float
        Mean SSIM, 1.0 for identical images. For 3-D input, the mean of the
        per-slice values along axis 0.

    Raises
    ------
    ValueError
        As :func:`psnr`, and when a slice is smaller than 7×7.
    """
    ref, img = _validate_pair(reference, image)
    return _ssim(ref, img, _ranges(ref, data_range))


def rmse(reference, image) -> float:
    """Root-mean-square error of ``image`` against ``reference``.

    Parameters
    ----------
    reference : array_like, shape (ny, nx) or (n_slices, ny, nx)
        Ground truth.
    image : array_like, same shape as ``reference``
        Image to evaluate.

    Returns
    -------
    float
        ``sqrt(mean((image - reference)**2))`` in the units of the reference.
        For 3-D input, the mean of the per-slice RMSE along axis 0.

    Raises
    ------
    ValueError
        On a shape mismatch, NaN/inf values or non-2-D/3-D input.
    """
    ref, img = _validate_pair(reference, image)
    return _rmse(ref, img)


def compare(reference, image, *, data_range=None) -> dict[str, float]:
    """All metrics at once: PSNR, SSIM and RMSE.

    Parameters
    ----------
    reference : array_like, shape (ny, nx) or (n_slices, ny, nx)
        Ground truth.
    image : array_like, same shape as ``reference``
        Image to evaluate.
    data_range : float, optional
        Passed to :func:`psnr` and :func:`ssim`; default ``max - min`` of the
        reference (per slice for 3-D input).

    Returns
    -------
    dict
        ``{"psnr": float, "ssim": float, "rmse": float}``; 3-D inputs give
        means over slices along axis 0.

    Raises
    ------
    ValueError
        As :func:`psnr` and :func:`ssim`.
    """
    ref, img = _validate_pair(reference, image)
    ranges = _ranges(ref, data_range)
    return {
        "psnr": _psnr(ref, img, ranges),
        "ssim": _ssim(ref, img, ranges),
        "rmse": _rmse(ref, img),
    }
