"""Tests for tomoinpaint.nn.losses: minima, hand-computed values and gradient signs."""

from __future__ import annotations

import pytest
import torch

from tomoinpaint.nn import (
    ADVERSARIAL_LOSSES,
    GeneratorLoss,
    lsgan_d_loss,
    lsgan_g_loss,
    mse_loss,
    rlsgan_d_loss,
    rlsgan_g_loss,
)


def _full(value: float, shape=(2, 1, 3, 4), grad: bool = False) -> torch.Tensor:
    return torch.full(shape, value, requires_grad=grad)


def _grads(loss_fn, d_real, d_fake):
    d_real, d_fake = d_real.requires_grad_(), d_fake.requires_grad_()
    loss = loss_fn(d_real, d_fake)
    loss.backward()
    return loss, d_real.grad, d_fake.grad


def test_mse_loss():
    a = torch.randn(2, 1, 5, 6)
    assert float(mse_loss(a, a)) == 0.0
    assert float(mse_loss(a, a + 0.5)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="differ in shape"):
        mse_loss(a, a[..., :5])


def test_registry_names():
    assert set(ADVERSARIAL_LOSSES) == {"lsgan", "rlsgan"}
    assert ADVERSARIAL_LOSSES["lsgan"].d_loss is lsgan_d_loss
    assert ADVERSARIAL_LOSSES["rlsgan"].g_loss is rlsgan_g_loss


def test_lsgan_minima_and_values():
    assert float(lsgan_d_loss(_full(1.0), _full(0.0))) == 0.0
    assert float(lsgan_g_loss(_full(0.0), _full(1.0))) == 0.0
    # hand values: D = 1/2 (0.5^2) + 1/2 (0.5^2); G = 1/2 (0.5^2)
    assert float(lsgan_d_loss(_full(0.5), _full(0.5))) == pytest.approx(0.25)
    assert float(lsgan_g_loss(_full(0.5), _full(0.5))) == pytest.approx(0.125)


def test_lsgan_gradient_signs():
    # D should raise real scores below 1 and lower fake scores above 0
    _, g_real, g_fake = _grads(lsgan_d_loss, _full(0.3), _full(0.4))
    assert (g_real < 0).all() and (g_fake > 0).all()
    # G should raise fake scores below 1; d_real plays no role
    _, g_real, g_fake = _grads(lsgan_g_loss, _full(0.3), _full(0.4))
    assert (g_fake < 0).all() and g_real is None


def test_rlsgan_minima_and_shift_invariance():
    for shift in (0.0, 3.0):
        assert float(rlsgan_d_loss(_full(0.5 + shift), _full(-0.5 + shift))) == pytest.approx(0)
        assert float(rlsgan_g_loss(_full(-0.5 + shift), _full(0.5 + shift))) == pytest.approx(0)
    # equal scores: no preference either way
    assert float(rlsgan_d_loss(_full(7.0), _full(7.0))) == pytest.approx(1.0)
    # and it is relativistic: LSGAN is not shift invariant
    assert float(lsgan_d_loss(_full(3.5), _full(2.5))) > 1.0


def test_rlsgan_hand_value():
    d_real = torch.tensor([1.0, 2.0])
    d_fake = torch.tensor([0.0, 1.0])
    # r = d_real - 0.5 = [0.5, 1.5]; f = d_fake - 1.5 = [-1.5, -0.5]
    assert float(rlsgan_d_loss(d_real, d_fake)) == pytest.approx(0.5 * 0.25 + 0.5 * 0.25)
    assert float(rlsgan_g_loss(d_real, d_fake)) == pytest.approx(
        0.5 * (2.5**2 + 1.5**2) / 2 + 0.5 * (1.5**2 + 2.5**2) / 2
    )


def test_rlsgan_gradient_signs():
    _, g_real, g_fake = _grads(rlsgan_d_loss, _full(0.0), _full(0.0))
    assert (g_real < 0).all() and (g_fake > 0).all()
    _, g_real, g_fake = _grads(rlsgan_g_loss, _full(0.0), _full(0.0))
    assert (g_fake < 0).all() and (g_real > 0).all()


def test_generator_loss_without_gan_needs_no_discriminator():
    out, target = torch.randn(1, 1, 6, 5, requires_grad=True), torch.randn(1, 1, 6, 5)
    objective = GeneratorLoss(gan_weight=0.0)
    assert not objective.needs_discriminator
    total, parts = objective(out, target)
    assert torch.equal(total, mse_loss(out, target))
    assert parts == {
        "mse": pytest.approx(float(total.detach())),
        "adversarial": 0.0,
        "total": parts["mse"],
    }
    total.backward()
    assert out.grad is not None
    with pytest.raises(ValueError, match="no discriminator"):
        objective.discriminator_loss(_full(1.0), _full(0.0))


@pytest.mark.parametrize("name", ["lsgan", "rlsgan"])
def test_generator_loss_composition(name):
    out, target = torch.randn(1, 1, 6, 5), torch.randn(1, 1, 6, 5)
    d_fake, d_real = torch.randn(1, 1, 3, 2), torch.randn(1, 1, 3, 2)
    objective = GeneratorLoss(gan_weight=0.05, adversarial=name)
    total, parts = objective(out, target, d_fake=d_fake, d_real=d_real)
    adv = ADVERSARIAL_LOSSES[name].g_loss(d_real, d_fake)
    torch.testing.assert_close(total, mse_loss(out, target) + 0.05 * adv)
    assert parts["adversarial"] == pytest.approx(float(adv))
    torch.testing.assert_close(
        objective.discriminator_loss(d_real, d_fake),
        ADVERSARIAL_LOSSES[name].d_loss(d_real, d_fake),
    )


def test_generator_loss_validation():
    out = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="d_fake"):
        GeneratorLoss(gan_weight=0.1)(out, out)
    with pytest.raises(ValueError, match="needs d_real"):
        GeneratorLoss(gan_weight=0.1, adversarial="rlsgan")(out, out, d_fake=out)
    # LSGAN's generator term needs no real scores
    total, _ = GeneratorLoss(gan_weight=0.1, adversarial="lsgan")(out, out, d_fake=out)
    assert float(total) == pytest.approx(0.1 * 0.5)
    with pytest.raises(ValueError, match="unknown adversarial loss 'wgan'"):
        GeneratorLoss(gan_weight=0.1, adversarial="wgan")
    with pytest.raises(ValueError, match="gan_weight"):
        GeneratorLoss(gan_weight=-1.0)
    with pytest.raises(ValueError, match="gan_weight"):
        GeneratorLoss(gan_weight=float("nan"))
