"""Tests for tomoinpaint.nn.config: presets, validation, dict round trips, builders."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tomoinpaint.nn import (
    BUILDERS,
    CONFIG_CLASSES,
    PRESETS,
    DiscriminatorConfig,
    InpainterConfig,
    UNetConfig,
    build,
    config_from_dict,
    count_parameters,
)


@pytest.mark.parametrize("cls", [InpainterConfig, UNetConfig, DiscriminatorConfig])
def test_from_dict_refuses_unknown_keys(cls):
    data = cls.tiny().to_dict()
    data["bogus"] = 1
    data["features_"] = 2
    with pytest.raises(ValueError, match=r"unknown key\(s\).*'bogus'.*'features_'"):
        cls.from_dict(data)


@pytest.mark.parametrize("arch", sorted(PRESETS))
@pytest.mark.parametrize("preset", ["paper", "default", "tiny"])
def test_json_round_trip(arch, preset):
    cfg = PRESETS[arch][preset]
    assert isinstance(cfg, CONFIG_CLASSES[arch])
    back = config_from_dict(arch, json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and type(back) is type(cfg)


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        InpainterConfig.tiny().features = 3


def test_paper_numbers():
    inp = InpainterConfig.paper()
    assert (inp.features, inp.growth, inp.n_rrdb, inp.residual_scale) == (64, 32, 23, 0.2)
    assert inp.keep_measured and len(inp.dilations) >= 1
    disc = DiscriminatorConfig.paper("inpaint")
    assert disc.features == 64 and disc.norm_groups == 4
    assert disc.first_kernel[0] != disc.first_kernel[1]  # asymmetric for sinograms
    assert (disc.cond_channels, disc.sample_channels) == (2, 1)
    de = DiscriminatorConfig.paper("deartifact")
    assert de.features == 64 and de.slow_dilations == (2,) and de.cond_channels == 1
    unet = UNetConfig.paper()
    assert (unet.depth, unet.base_features) == (4, 64)


def test_default_is_small_and_tiny_is_tiny():
    d = InpainterConfig.default()
    assert 16 <= d.features <= 24 and 2 <= d.n_rrdb <= 3
    assert UNetConfig.default() == UNetConfig(depth=3, base_features=16, norm="group")
    for arch in BUILDERS:
        assert count_parameters(build(arch, "tiny")) < 50_000
        assert count_parameters(build(arch, "default")) < 1_000_000


def test_paper_inpainter_size_is_esrgan_like():
    # ESRGAN's RRDBNet (x4) has 16,697,987 parameters; ours drops its two up-sampling
    # convs, takes 2 instead of 3 input channels, gives 1 output channel and adds
    # one dilated 64->64 conv.
    up = 64 * 64 * 9 + 64
    in_diff = 64 * 9  # one input channel fewer
    out_diff = 2 * (64 * 9 + 1)  # two output channels fewer
    expected = 16_697_987 - 2 * up - in_diff - out_diff + up
    with torch.device("meta"):
        model = build("inpainter", "paper")
    assert count_parameters(model) == expected


@pytest.mark.parametrize(
    ("cls", "bad"),
    [
        (InpainterConfig, {"features": 0}),
        (InpainterConfig, {"features": 8.0}),
        (InpainterConfig, {"dilations": (2, 0)}),
        (InpainterConfig, {"residual_scale": 0.0}),
        (InpainterConfig, {"keep_measured": "yes"}),
        (UNetConfig, {"norm": "layer"}),
        (UNetConfig, {"depth": 0}),
        (UNetConfig, {"norm": "group", "base_features": 6}),
        (DiscriminatorConfig, {"first_kernel": (4, 7)}),
        (DiscriminatorConfig, {"first_kernel": (3, 5, 7)}),
        (DiscriminatorConfig, {"features": 10, "norm_groups": 4}),
        (DiscriminatorConfig, {"slow_dilations": ()}),
    ],
)
def test_invalid_values_are_refused(cls, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        cls.from_dict({**cls.tiny().to_dict(), **bad})


def test_builders_and_build():
    assert set(BUILDERS) == {"inpainter", "unet", "inpaint_disc", "deartifact_disc"}
    for arch, builder in BUILDERS.items():
        model = builder(PRESETS[arch]["tiny"])
        assert model.config == PRESETS[arch]["tiny"]
        assert type(build(arch, "tiny")) is type(model)
        assert build(arch, PRESETS[arch]["tiny"].to_dict()).config == model.config
    with pytest.raises(ValueError, match="unknown architecture 'vit'"):
        build("vit", "tiny")
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        build("unet", "huge")
    with pytest.raises(ValueError, match="needs a UNetConfig"):
        build("unet", InpainterConfig.tiny())
    with pytest.raises(ValueError, match="kind"):
        DiscriminatorConfig.tiny("sinogram")
