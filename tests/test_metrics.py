"""Tests for tomoinpaint.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tomoinpaint import metrics


@pytest.fixture
def ref():
    rng = np.random.default_rng(0)
    img = np.zeros((32, 40))
    img[8:24, 10:30] = 2.0
    img += 0.5 * rng.random(img.shape)  # range about [0, 2.5]
    return img


def test_identical_images(ref):
    assert metrics.psnr(ref, ref) == math.inf
    assert metrics.ssim(ref, ref) == pytest.approx(1.0)
    assert metrics.rmse(ref, ref) == 0.0
    out = metrics.compare(ref, ref.copy())
    assert set(out) == {"psnr", "ssim", "rmse"}
    assert out["psnr"] == math.inf and out["ssim"] == pytest.approx(1.0) and out["rmse"] == 0.0


def test_psnr_and_rmse_match_hand_computation(ref):
    rng = np.random.default_rng(1)
    err = 0.1 * rng.standard_normal(ref.shape)
    img = ref + err
    mse = np.mean(err**2)
    rng_ref = ref.max() - ref.min()
    expected = 10 * np.log10(rng_ref**2 / mse)
    assert metrics.psnr(ref, img) == pytest.approx(expected, rel=1e-10)
    assert metrics.rmse(ref, img) == pytest.approx(np.sqrt(mse), rel=1e-10)
    # RMSE is in reference units: scaling both images scales it
    assert metrics.rmse(3 * ref, 3 * img) == pytest.approx(3 * np.sqrt(mse), rel=1e-10)
    # a constant offset of c gives RMSE |c| and PSNR 20 log10(range / c)
    assert metrics.rmse(ref, ref - 0.25) == pytest.approx(0.25)
    assert metrics.psnr(ref, ref + 0.25) == pytest.approx(20 * np.log10(rng_ref / 0.25))


def test_default_range_is_reference_not_image(ref):
    img = ref + 0.1
    img[0, 0] = 100.0  # a huge outlier in the image must not change the range
    mse = np.mean((img - ref) ** 2)
    expected = 10 * np.log10((ref.max() - ref.min()) ** 2 / mse)
    assert metrics.psnr(ref, img) == pytest.approx(expected)
    # nor does the argument order give the same value
    assert metrics.psnr(img, ref) != pytest.approx(expected)


def test_data_range_changes_psnr_as_expected(ref):
    img = ref + 0.05
    p_default = metrics.psnr(ref, img)
    p1 = metrics.psnr(ref, img, data_range=1.0)
    p10 = metrics.psnr(ref, img, data_range=10.0)
    assert p10 - p1 == pytest.approx(20.0)  # x10 range -> +20 dB
    assert p1 == pytest.approx(10 * np.log10(1.0 / 0.05**2))
    rng_ref = ref.max() - ref.min()
    assert p_default == pytest.approx(metrics.psnr(ref, img, data_range=rng_ref))
    # SSIM depends on the range through its stabilising constants (C ~ range**2):
    # a larger range hides the same error more
    noisy = ref + np.random.default_rng(2).normal(0, 0.3, ref.shape)
    assert metrics.ssim(ref, noisy, data_range=100.0) > metrics.ssim(ref, noisy, data_range=1.0)


def test_ssim_decreases_with_noise(ref):
    rng = np.random.default_rng(3)
    n = rng.standard_normal(ref.shape)
    s_small = metrics.ssim(ref, ref + 0.05 * n)
    s_large = metrics.ssim(ref, ref + 0.5 * n)
    assert 1.0 > s_small > s_large


def test_3d_is_mean_over_slices(ref):
    rng = np.random.default_rng(4)
    stack_ref = np.stack([ref, 2 * ref + 1.0, ref[::-1]])
    stack_img = stack_ref + 0.1 * rng.standard_normal(stack_ref.shape)
    for name in ("psnr", "ssim"):
        fn = getattr(metrics, name)
        per = [fn(r, m) for r, m in zip(stack_ref, stack_img, strict=True)]
        assert fn(stack_ref, stack_img) == pytest.approx(np.mean(per))
        per_dr = [fn(r, m, data_range=4.0) for r, m in zip(stack_ref, stack_img, strict=True)]
        assert fn(stack_ref, stack_img, data_range=4.0) == pytest.approx(np.mean(per_dr))
    per_rmse = [metrics.rmse(r, m) for r, m in zip(stack_ref, stack_img, strict=True)]
    assert metrics.rmse(stack_ref, stack_img) == pytest.approx(np.mean(per_rmse))
    out = metrics.compare(stack_ref, stack_img)
    assert out["psnr"] == pytest.approx(metrics.psnr(stack_ref, stack_img))
    assert out["ssim"] == pytest.approx(metrics.ssim(stack_ref, stack_img))
    assert out["rmse"] == pytest.approx(metrics.rmse(stack_ref, stack_img))


def test_integer_inputs_use_reference_range():
    ref = np.arange(100, dtype=np.uint8).reshape(10, 10)
    img = ref.copy()
    img[0, 0] += 3
    # range 99, not the dtype range 255
    assert metrics.psnr(ref, img) == pytest.approx(10 * np.log10(99**2 / (9 / 100)))


def test_shape_mismatch_names_both_shapes(ref):
    with pytest.raises(ValueError, match=r"\(32, 40\).*\(32, 39\)"):
        metrics.psnr(ref, ref[:, :-1])
    with pytest.raises(ValueError, match="shape"):
        metrics.compare(ref, ref.T)


@pytest.mark.parametrize("fn", [metrics.psnr, metrics.ssim, metrics.rmse, metrics.compare])
def test_nan_refused(ref, fn):
    bad = ref.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fn(ref, bad)
    with pytest.raises(ValueError, match="NaN"):
        fn(bad, ref)


def test_constant_reference_needs_data_range():
    ref = np.full((16, 16), 3.0)
    img = ref + 0.1
    for fn in (metrics.psnr, metrics.ssim, metrics.compare):
        with pytest.raises(ValueError, match="constant"):
            fn(ref, img)
    assert metrics.psnr(ref, img, data_range=1.0) == pytest.approx(20.0)
    # RMSE does not need a range
    assert metrics.rmse(ref, img) == pytest.approx(0.1)
    # one constant slice in a stack is named
    stack = np.stack([np.arange(256.0).reshape(16, 16), ref])
    with pytest.raises(ValueError, match="slice 1"):
        metrics.psnr(stack, stack + 1)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan, "wide"])
def test_bad_data_range(ref, bad):
    with pytest.raises(ValueError, match="data_range"):
        metrics.psnr(ref, ref + 0.1, data_range=bad)


def test_bad_dimensions_and_types(ref):
    with pytest.raises(ValueError, match="2-D"):
        metrics.psnr(ref[0], ref[0])
    with pytest.raises(ValueError, match="2-D"):
        metrics.rmse(ref[None, None], ref[None, None])
    with pytest.raises(ValueError, match="real"):
        metrics.rmse(ref + 1j, ref)
    with pytest.raises(ValueError, match="infinite"):
        metrics.rmse(ref, np.full_like(ref, np.inf))
    with pytest.raises(ValueError, match="7x7"):
        metrics.ssim(ref[:5, :5], ref[:5, :5])
