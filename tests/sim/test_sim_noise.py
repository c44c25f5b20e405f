"""Beer–Lambert dose (BENCHMARKS.md "Dose") and Gaussian noise."""

import numpy as np
import pytest

from tomoinpaint.sim import noise


@pytest.fixture(scope="module")
def sino():
    # a smooth, sinogram-like array: a disc's chord lengths at all angles
    t = np.linspace(-1, 1, 24)
    row = 20.0 * np.sqrt(np.clip(0.6**2 - t**2, 0, None))
    return np.tile(row, (10, 1)).astype(np.float32)


def test_dose_levels():
    assert noise.DOSE_LEVELS == {
        "noise-free": None,
        "moderate": 20000,
        "low": 2000,
        "very-low": 1000,
    }
    assert noise.resolve_dose("low") == 2000.0
    assert noise.resolve_dose("noise-free") is None and noise.resolve_dose(None) is None


def test_mu_rule_gives_35_percent_at_the_max_ray(sino):
    mu = noise.dose_mu(sino)
    assert np.exp(-mu * sino.max()) == pytest.approx(0.35, rel=1e-12)
    _, used = noise.poisson_dose(sino, 1e12, 0, return_mu=True)
    assert used == pytest.approx(mu)


def test_poisson_dose_is_unbiased_on_average(sino):
    rng = np.random.default_rng(0)
    draws = np.stack([noise.poisson_dose(sino, "moderate", rng) for _ in range(400)])
    err = np.abs(draws.mean(0) - sino).max() / sino.max()
    assert err < 0.01
    assert draws.std(0).max() > 0  # it is noisy


def test_lower_dose_larger_error(sino):
    def rmse(i0):
        rng = np.random.default_rng(1)
        d = np.stack([noise.poisson_dose(sino, i0, rng) for _ in range(50)])
        return np.sqrt(((d - sino) ** 2).mean())

    low, moderate = rmse("low"), rmse("moderate")
    assert low > 2.5 * moderate > 0  # sqrt(10) in theory


def test_high_dose_converges(sino):
    d = noise.poisson_dose(sino, 1e12, 0)
    np.testing.assert_allclose(d, sino, atol=1e-3 * sino.max())


def test_noise_free_returns_copy(sino):
    out = noise.poisson_dose(sino, None, None)
    np.testing.assert_array_equal(out, sino)
    assert out is not sino and out.dtype == np.float32


def test_zero_count_floor():
    p = np.full((2, 3), 100.0)
    i0, mu = 5.0, 1.0  # expected counts 5 e^-100: every ray records 0
    d = noise.poisson_dose(p, i0, 0, mu=mu)
    assert np.isfinite(d).all()
    np.testing.assert_allclose(d, np.log(i0) / mu, rtol=1e-6)


def test_stack_shares_one_mu(sino):
    stack = np.stack([sino, 0.5 * sino])
    _, mu = noise.poisson_dose(stack, "low", 0, return_mu=True)
    assert mu == pytest.approx(noise.dose_mu(sino))


def test_deterministic(sino):
    a = noise.poisson_dose(sino, "low", np.random.default_rng(9))
    b = noise.poisson_dose(sino, "low", np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)


def test_gaussian_noise(sino):
    big = np.zeros((200, 200), np.float32)
    d = noise.gaussian_noise(big, 0.1, 0)
    assert d.std() == pytest.approx(0.1, rel=0.05)
    r = noise.gaussian_noise(sino, 0.01, 0, relative=True)
    assert (r - sino).std() == pytest.approx(0.01 * sino.max(), rel=0.2)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: noise.poisson_dose(s, "ultra", 0), "ultra"),
        (lambda s: noise.poisson_dose(s, -5, 0), "-5"),
        (lambda s: noise.poisson_dose(s, 100, None), "rng"),
        (lambda s: noise.poisson_dose(np.zeros_like(s), 100, 0), "positive line integral"),
        (lambda s: noise.poisson_dose(s * np.nan, 100, 0), "NaN"),
        (lambda s: noise.poisson_dose(s, 100, 0, mu=0), "mu"),
        (lambda s: noise.gaussian_noise(s, -1, 0), "sigma"),
    ],
)
def test_bad_inputs(sino, call, match):
    with pytest.raises(ValueError, match=match):
        call(sino)
