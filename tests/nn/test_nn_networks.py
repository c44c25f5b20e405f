"""Shapes, invariants and one real training step of the tomoinpaint.nn networks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn as nn

from tomoinpaint.nn import (
    RRDB,
    DeartifactDiscriminator,
    DiscriminatorConfig,
    DualPathDiscriminator,
    GeneratorLoss,
    InpainterConfig,
    InpaintGenerator,
    ResidualDenseBlock,
    UNetConfig,
    UNetGenerator,
    build,
    describe,
    make_inpaint_input,
    mse_loss,
)


def _randomize_last(model: nn.Module) -> None:
    """The generators' last conv starts at zero (identity); make it non-trivial."""
    last = model.conv_last if isinstance(model, InpaintGenerator) else model.out
    with torch.no_grad():
        last.weight.normal_(0.0, 0.3)
        last.bias.normal_(0.0, 0.3)


def _wedge_input(sino: torch.Tensor, missing: slice) -> tuple[torch.Tensor, torch.Tensor]:
    measured = torch.ones(sino.shape[-2], dtype=torch.bool)
    measured[missing] = False
    return make_inpaint_input(sino, measured), measured


# ----------------------------------------------------------------------------- blocks
def test_residual_dense_block_structure_and_scaling():
    rdb = ResidualDenseBlock(features=8, growth=4, residual_scale=0.2)
    assert [c.in_channels for c in rdb.convs] == [8, 12, 16, 20, 24]
    assert [c.out_channels for c in rdb.convs] == [4, 4, 4, 4, 8]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in rdb.modules())
    x = torch.randn(2, 8, 7, 9)
    y = rdb(x)
    assert y.shape == x.shape
    # the residual branch is scaled by exactly 0.2: compare with the same weights, scale 1
    unscaled = ResidualDenseBlock(features=8, growth=4, residual_scale=1.0)
    unscaled.load_state_dict(rdb.state_dict())
    torch.testing.assert_close(y - x, 0.2 * (unscaled(x) - x), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(y, x)


def test_rrdb_is_three_dense_blocks_with_scaled_residual():
    rrdb = RRDB(features=8, growth=4, residual_scale=0.2)
    assert len(rrdb.rdbs) == 3 and all(isinstance(b, ResidualDenseBlock) for b in rrdb.rdbs)
    x = torch.randn(1, 8, 6, 5)
    expected = x + 0.2 * rrdb.rdbs[2](rrdb.rdbs[1](rrdb.rdbs[0](x)))
    torch.testing.assert_close(rrdb(x), expected)


# ----------------------------------------------------------------------------- inpainter
@pytest.mark.parametrize("shape", [(2, 45, 32), (1, 24, 32), (1, 17, 9), (1, 3, 1)])
def test_inpainter_output_shape(shape):
    model = InpaintGenerator(InpainterConfig.tiny())
    b, h, w = shape
    x, _ = _wedge_input(torch.randn(b, h, w), slice(h // 3, 2 * h // 3))
    assert model(x).shape == (b, 1, h, w)


def test_inpainter_has_no_pooling_upsampling_or_norm_and_is_dilated():
    model = build("inpainter", "tiny")
    kinds = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.Upsample)
    kinds += (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.ConvTranspose2d)
    assert not any(isinstance(m, kinds) for m in model.modules())
    dil = sorted({m.dilation for m in model.modules() if isinstance(m, nn.Conv2d)})
    assert dil == [(1, 1), (2, 2), (4, 4)]
    assert len(model.trunk) == InpainterConfig.tiny().n_rrdb


def test_inpainter_keeps_measured_rows_bit_exact(smooth_sinograms):
    model = InpaintGenerator(InpainterConfig.tiny())
    _randomize_last(model)
    sino = smooth_sinograms(2, 45, 32) * 1.2345678
    x, measured = _wedge_input(sino, slice(30, 45))  # missing wedge at the end of the range
    measured[3] = False  # and one isolated missing row
    x = make_inpaint_input(sino, measured)
    out = model(x)
    assert torch.equal(out[:, 0][:, measured], sino[:, 0][:, measured])
    # the missing rows are predicted (not left at zero, not copied)
    assert (out[:, 0][:, ~measured].abs() > 0).all()
    # without keep_measured the network changes measured rows: the test above can fail
    free = InpaintGenerator(dataclasses.replace(InpainterConfig.tiny(), keep_measured=False))
    free.load_state_dict(model.state_dict())
    assert not torch.equal(free(x)[:, 0][:, measured], sino[:, 0][:, measured])


def test_inpainter_ignores_values_left_in_missing_rows():
    model = InpaintGenerator(InpainterConfig.tiny())
    _randomize_last(model)
    x, measured = _wedge_input(torch.randn(1, 20, 16), slice(5, 12))
    dirty = x.clone()
    dirty[:, 0, ~measured] = 1e6
    assert torch.equal(model(dirty), model(x))


def test_inpainter_untrained_returns_zero_filled_input():
    model = InpaintGenerator(InpainterConfig.tiny())
    x, _ = _wedge_input(torch.randn(1, 20, 16), slice(5, 12))
    assert torch.equal(model(x), x[:, :1])


def test_inpainter_receptive_field_matches_formula():
    cfg = InpainterConfig.tiny()
    model = InpaintGenerator(cfg)
    _randomize_last(model)
    rf = model.receptive_field()
    assert rf == 1 + 2 * (4 + 15 * cfg.n_rrdb + sum(cfg.dilations))
    h = rf + 10
    x = torch.zeros(1, 2, h, 3, requires_grad=True)  # all rows missing: nothing is kept
    model(x)[0, 0, h // 2, 1].backward()
    rows = (x.grad[0, 1].abs().sum(dim=1) > 0).nonzero().ravel()
    assert rows.numel() == rf and int(rows[0]) == h // 2 - rf // 2


def test_inpainter_rejects_bad_input():
    model = InpaintGenerator(InpainterConfig.tiny())
    with pytest.raises(ValueError, match="2, n_angles, n_det"):
        model(torch.zeros(1, 1, 8, 8))
    x = torch.zeros(1, 2, 8, 8)
    x[:, 1] = 0.5
    with pytest.raises(ValueError, match="only 0 and 1"):
        model(x)


def test_make_inpaint_input():
    sino = torch.arange(12.0).reshape(1, 4, 3) + 1
    x = make_inpaint_input(sino, torch.tensor([1, 0, 1, 0]))
    assert x.shape == (1, 2, 4, 3)
    assert torch.equal(x[0, 0, [0, 2]], sino[0, [0, 2]])
    assert torch.equal(x[0, 0, [1, 3]], torch.zeros(2, 3))
    assert torch.equal(x[0, 1, :, 0], torch.tensor([1.0, 0, 1, 0]))
    assert torch.equal(make_inpaint_input(sino[:, None], torch.tensor([1, 0, 1, 0]) > 0), x)
    with pytest.raises(ValueError, match="measured must have shape"):
        make_inpaint_input(sino, torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="only 0 and 1"):
        make_inpaint_input(sino, torch.tensor([1.0, 0.5, 1, 0]))


# ----------------------------------------------------------------------------- U-Net
@pytest.mark.parametrize("norm", ["none", "batch", "group"])
@pytest.mark.parametrize("shape", [(1, 30, 30), (2, 31, 17), (1, 5, 3), (1, 1, 2)])
def test_unet_output_size_equals_input_size(norm, shape):
    model = UNetGenerator(UNetConfig(depth=2, base_features=4, norm=norm))
    _randomize_last(model)
    b, h, w = shape
    if norm == "batch" and b * h * w < 16:
        model.eval()  # batch norm cannot take statistics of one value per channel
    x = torch.randn(b, 1, h, w)
    y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all() and not torch.equal(y, x)


def test_unet_structure_and_identity_at_init():
    cfg = UNetConfig.tiny()
    model = UNetGenerator(cfg)
    assert len(model.down) == cfg.depth and len(model.up) == cfg.depth
    assert model.bottleneck[0].out_channels == cfg.base_features * 2**cfg.depth
    x = torch.randn(1, 1, 30, 30)
    assert torch.equal(model(x), x)  # residual output, zero-initialised correction


def test_unet_padding_is_cropped_back_consistently():
    """A size that needs padding gives the same result as padding by hand and cropping."""
    model = UNetGenerator(UNetConfig(depth=2, base_features=4, norm="none"))
    _randomize_last(model)
    x = torch.randn(1, 1, 30, 29)  # padded to 32 x 32: rows (1, 1), cols (1, 2)
    padded = nn.functional.pad(x, (1, 2, 1, 1), mode="reflect")
    ref = model(padded)[..., 1:31, 1:30] - padded[..., 1:31, 1:30] + x
    torch.testing.assert_close(model(x), ref)


def test_unet_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        UNetGenerator(UNetConfig.tiny())(torch.zeros(1, 2, 8, 8))


# ----------------------------------------------------------------------------- discriminators
def test_dual_path_discriminator_patch_map_shape_and_layers():
    cfg = DiscriminatorConfig.tiny("inpaint")
    disc = DualPathDiscriminator(cfg)
    cond = torch.randn(2, 2, 45, 32)
    sample = torch.randn(2, 1, 45, 32)
    out = disc(cond, sample)
    assert out.shape == (2, 1, 45 // 2**cfg.n_down, 32 // 2**cfg.n_down)
    stem = disc.net.stem[0]
    assert stem.kernel_size == (3, 7) and stem.in_channels == 3
    norms = [m for m in disc.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.num_groups == 4 for m in norms)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in disc.modules())
    assert {m.dilation for m in disc.net.slow.modules() if isinstance(m, nn.Conv2d)} >= {
        (2, 2),
        (4, 4),
    }
    assert {m.dilation for m in disc.net.fast.modules() if isinstance(m, nn.Conv2d)} == {(1, 1)}
    # conditional: the score depends on the condition, not only the sample
    assert not torch.equal(disc(torch.randn_like(cond), sample), out)


def test_paper_discriminator_has_64_features():
    disc = DualPathDiscriminator(DiscriminatorConfig.paper("inpaint"))
    assert disc.net.stem[0].out_channels == 64
    out = disc(torch.randn(1, 2, 24, 32), torch.randn(1, 1, 24, 32))
    assert out.shape == (1, 1, 3, 4)


def test_deartifact_discriminator_shape_and_layers():
    cfg = DiscriminatorConfig.tiny("deartifact")
    disc = DeartifactDiscriminator(cfg)
    out = disc(torch.randn(2, 1, 30, 30), torch.randn(2, 1, 30, 30))
    assert out.shape == (2, 1, 30 // 2 ** (cfg.n_down + 1), 30 // 2 ** (cfg.n_down + 1))
    assert any(isinstance(m, nn.BatchNorm2d) for m in disc.modules())
    assert not any(isinstance(m, nn.GroupNorm) for m in disc.modules())
    assert isinstance(disc.net.pool, nn.MaxPool2d)
    assert {m.dilation for m in disc.net.slow.modules() if isinstance(m, nn.Conv2d)} == {
        (2, 2),
        (1, 1),
    }


def test_discriminators_reject_bad_inputs():
    disc = DualPathDiscriminator(DiscriminatorConfig.tiny("inpaint"))
    with pytest.raises(ValueError, match="condition"):
        disc(torch.randn(1, 1, 16, 16), torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="differ"):
        disc(torch.randn(1, 2, 16, 16), torch.randn(1, 1, 16, 15))
    with pytest.raises(ValueError, match="too small"):
        disc(torch.randn(1, 2, 3, 16), torch.randn(1, 1, 3, 16))
    with pytest.raises(ValueError, match="too small"):
        DeartifactDiscriminator(DiscriminatorConfig.tiny("deartifact"))(
            torch.randn(1, 1, 6, 6), torch.randn(1, 1, 6, 6)
        )


def test_describe_mentions_class_and_parameter_count():
    model = build("inpainter", "tiny")
    text = describe(model)
    n = sum(p.numel() for p in model.parameters())
    assert "InpaintGenerator" in text and f"{n:,}" in text and "receptive field" in text
    assert "net.slow" in describe(build("inpaint_disc", "tiny"))


# ----------------------------------------------------------------------------- training steps
def _train(model, inputs, target, steps, lr=2e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = mse_loss(model(inputs), target)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        losses.append(float(mse_loss(model(inputs), target)))
    return losses


def test_inpainter_adam_steps_lower_the_mse(smooth_sinograms):
    target = smooth_sinograms(2, 24, 32, seed=1)
    x, measured = _wedge_input(target, slice(8, 16))
    model = InpaintGenerator(InpainterConfig.tiny())
    losses = _train(model, x, target, steps=3)
    assert losses[-1] < losses[0]
    assert losses[-1] < 0.98 * losses[0]
    # measured rows stayed exact through training
    with torch.no_grad():
        assert torch.equal(model(x)[:, 0][:, measured], target[:, 0][:, measured])


def test_unet_adam_steps_lower_the_mse(smooth_sinograms):
    target = smooth_sinograms(2, 30, 30, seed=2)
    streaks = 0.3 * torch.sin(torch.arange(30.0) * 1.3)[None, None, :, None]
    inputs = target + streaks
    model = UNetGenerator(UNetConfig.tiny())
    losses = _train(model, inputs, target, steps=3)
    assert losses[-1] < 0.98 * losses[0]


def test_one_adversarial_step_updates_generator_and_discriminator(smooth_sinograms):
    target = smooth_sinograms(1, 24, 32)
    x, _ = _wedge_input(target, slice(8, 16))
    gen = InpaintGenerator(InpainterConfig.tiny())
    _randomize_last(gen)
    disc = DualPathDiscriminator(DiscriminatorConfig.tiny("inpaint"))
    objective = GeneratorLoss(gan_weight=1e-2, adversarial="rlsgan")
    fake = gen(x)
    d_loss = objective.discriminator_loss(disc(x, target), disc(x, fake.detach()))
    d_loss.backward()
    assert all(p.grad is not None for p in disc.parameters())
    assert all(p.grad is None for p in gen.parameters())
    disc.zero_grad()
    total, parts = objective(fake, target, d_fake=disc(x, fake), d_real=disc(x, target).detach())
    total.backward()
    assert parts["adversarial"] > 0 and parts["total"] > parts["mse"]
    assert gen.conv_first.weight.grad is not None and gen.conv_first.weight.grad.abs().sum() > 0
