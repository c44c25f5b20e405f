"""Training configs: typed, frozen, unknown keys refused at any level, YAML/JSON round trip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tomoinpaint.nn import InpainterConfig, UNetConfig
from tomoinpaint.train import (
    DataConfig,
    RecipeConfig,
    Stage2DataConfig,
    Stage2Proportions,
    TrainConfig,
    from_dict,
    load_config,
    save_config,
    to_dict,
)

CONFIGS = Path(__file__).resolve().parents[2] / "tomoinpaint" / "train" / "recipes"


def test_defaults_are_the_papers_table_2():
    c = TrainConfig()
    assert (c.epochs, c.batch_size, c.d_steps) == (30, 8, 1)
    assert (c.lr_g, c.lr_d, c.weight_decay_g, c.weight_decay_d) == (4e-4, 4e-4, 1e-4, 1e-4)
    assert c.betas_g == (0.9, 0.999) and c.rmsprop_alpha == 0.99 and c.rmsprop_momentum == 0
    assert [c.lr_g * f for f in c.warmup] == pytest.approx([1e-4, 2e-4, 4e-4])
    assert (c.decay_epochs, c.decay_factor, c.schedule_epochs) == ((20, 28), 0.1, 30)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.epochs = 3


@pytest.mark.parametrize(
    "cls, data, bad",
    [
        (TrainConfig, {"epochs": 3, "learning_rate": 1e-3}, "learning_rate"),
        (DataConfig, {"n": 32, "angle_step": 2}, "angle_step"),
        (Stage2DataConfig, {"proportions": {"wbp_wedge": 1, "fbp_wedge": 2}}, "fbp_wedge"),
        (RecipeConfig, {"stage1": {"stage": "inpaint", "epoch": 3}}, "epoch"),
        (RecipeConfig, {"stage2_data": {"source": {"seed": 2, "dose": "low"}}}, "dose"),
        (RecipeConfig, {"nmae": "x"}, "nmae"),
    ],
)
def test_unknown_keys_are_refused_and_named(cls, data, bad):
    with pytest.raises(ValueError, match=bad):
        from_dict(cls, data)


@pytest.mark.parametrize(
    "cls, data",
    [
        (TrainConfig, {"stage": "denoise"}),
        (TrainConfig, {"generator": "huge"}),
        (TrainConfig, {"generator": {"features": 8, "colour": 1}}),
        (TrainConfig, {"lr_g": -1.0}),
        (TrainConfig, {"adversarial": "wgan"}),
        (TrainConfig, {"epochs": 3, "snapshot_epochs": [4]}),
        (TrainConfig, {"decay_epochs": [28, 20]}),
        (DataConfig, {"families": ["faces"]}),
        (DataConfig, {"doses": ["ultra"]}),
        (DataConfig, {"wedge": [80.0, 85.0], "angles": [0.0, 60.0, 1.0]}),
        (DataConfig, {"layout": "rolled"}),
        (
            Stage2Proportions,
            {"wbp_wedge": 0, "wbp_complete": 0, "sart_wedge": 0, "wbp_inpainted": 0},
        ),
        (RecipeConfig, {"stage1": {"stage": "deartifact"}}),
        (RecipeConfig, {"data": {"n": 32}}),  # stage-2 source on another grid
    ],
)
def test_invalid_values_are_refused(cls, data):
    with pytest.raises(ValueError):
        from_dict(cls, data)


def test_networks_from_presets_or_dicts():
    c = TrainConfig(generator="tiny", discriminator={"features": 4, "n_down": 2})
    assert c.generator_config() == InpainterConfig.tiny()
    assert c.discriminator_config().features == 4
    d = TrainConfig(stage="deartifact", generator={"depth": 2, "base_features": 8, "norm": "none"})
    assert d.generator_config() == UNetConfig(depth=2, base_features=8, norm="none")


def test_round_trip_through_json_and_yaml(tmp_path):
    import yaml

    cfg = RecipeConfig(
        name="rt",
        stage1=TrainConfig(generator={"features": 8, "dilations": [2]}, snapshot_epochs=(3, 30)),
        stage2_data=Stage2DataConfig(
            proportions=Stage2Proportions(1, 2, 3, 4), checkpoints=("a.safetensors",)
        ),
    )
    d = to_dict(cfg)
    json.dumps(d)  # JSON-ready
    assert from_dict(RecipeConfig, json.loads(json.dumps(d))) == cfg
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(d))
    assert load_config(tmp_path / "c.yaml") == cfg
    save_config(cfg, tmp_path / "c.json")
    assert load_config(tmp_path / "c.json", RecipeConfig) == cfg
    (tmp_path / "t.yaml").write_text("epochs: 3\nbatch_size: 2\n")
    assert load_config(tmp_path / "t.yaml", TrainConfig).epochs == 3


def test_load_config_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "c.txt").write_text("{}")
    with pytest.raises(ValueError, match=".yaml"):
        load_config(tmp_path / "c.txt")
    (tmp_path / "bad.yaml").write_text("stage1:\n  foo: 1\n")
    with pytest.raises(ValueError, match="foo"):
        load_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml")))
def test_shipped_recipes_load(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name
    assert cfg.stage1.stage == "inpaint" and cfg.stage2.stage == "deartifact"
    angles, measured = cfg.data.model_grid()
    assert angles.size == measured.size and 0 < measured.sum() < measured.size


def test_options_added_later_are_omitted_at_their_default():
    """Runs recorded before tv_wedge/tv_iterations existed still compare equal."""
    d = to_dict(Stage2DataConfig())
    assert "tv_wedge" not in d["proportions"] and "tv_iterations" not in d
    assert from_dict(Stage2DataConfig, d) == Stage2DataConfig()
    changed = Stage2DataConfig(proportions=Stage2Proportions(tv_wedge=5.0), tv_iterations=50)
    d = to_dict(changed)
    assert d["proportions"]["tv_wedge"] == 5.0 and d["tv_iterations"] == 50
    assert from_dict(Stage2DataConfig, d) == changed


def test_tv_deartifact_sections():
    """stage2_tv_data/stage2_tv: optional, together, TV-style inputs only, same angles."""
    assert "stage2_tv" not in to_dict(RecipeConfig()) and "stage2_tv_data" not in to_dict(
        RecipeConfig()
    )
    tv_only = Stage2DataConfig(
        proportions=Stage2Proportions(0, 0, 0, 0, tv_wedge=1.0), tv_iterations=50
    )
    cfg = RecipeConfig(stage2_tv_data=tv_only, stage2_tv=TrainConfig(stage="deartifact"))
    d = to_dict(cfg)
    assert d["stage2_tv_data"]["tv_iterations"] == 50
    assert from_dict(RecipeConfig, d) == cfg
    assert from_dict(RecipeConfig, dict(d, stage2_tv=None, stage2_tv_data=None)) == RecipeConfig()
    with pytest.raises(ValueError, match="together"):
        RecipeConfig(stage2_tv_data=tv_only)
    with pytest.raises(ValueError, match="wbp_inpainted"):
        RecipeConfig(stage2_tv_data=Stage2DataConfig(), stage2_tv=TrainConfig(stage="deartifact"))
    with pytest.raises(ValueError, match="stage2_tv.stage"):
        RecipeConfig(stage2_tv_data=tv_only, stage2_tv=TrainConfig(stage="inpaint"))
    # another slice size is allowed (the network works at its own n) ...
    other_n = tv_only.replace(source=DataConfig(seed=1, n=32))
    RecipeConfig(stage2_tv_data=other_n, stage2_tv=TrainConfig(stage="deartifact"))
    # ... another angular grid, wedge or layout is not
    for change in ({"angles": (-90.0, 87.0, 3.0)}, {"wedge": (-60.0, 60.0)}, {"layout": "library"}):
        bad = tv_only.replace(source=DataConfig(seed=1, **change))
        with pytest.raises(ValueError, match="stage2_tv_data.source"):
            RecipeConfig(stage2_tv_data=bad, stage2_tv=TrainConfig(stage="deartifact"))
    # the paper's stage 2 keeps the stage-1 grid, slice size included
    with pytest.raises(ValueError, match="stage2_data.source"):
        RecipeConfig(stage2_data=Stage2DataConfig(source=DataConfig(seed=1, n=32)))


def test_extra_sizes_are_libraries_of_the_source_at_other_sizes():
    """extra_sizes: (n, n_samples, seed) each, a crop no larger than any size, own files."""
    src = DataConfig(library=("/run/library/stage2_tv.h5",), n=128, seed=1)
    cfg = Stage2DataConfig(source=src, extra_sizes=((256, 40, 3), (512, 8, 4)), crop=128)
    sources = cfg.sources()
    assert [(s.n, s.n_samples, s.seed) for s in sources] == [
        (128, src.n_samples, 1), (256, 40, 3), (512, 8, 4),
    ]  # fmt: skip
    assert sources[1].library == ("/run/library/stage2_tv_n256.h5",)
    assert all(s.families == src.families and s.wedge == src.wedge for s in sources)
    # YAML lists come back as the same config; left out of to_dict when unused
    assert from_dict(Stage2DataConfig, to_dict(cfg)) == cfg
    assert "extra_sizes" not in to_dict(Stage2DataConfig()) and "crop" not in to_dict(
        Stage2DataConfig()
    )
    Stage2DataConfig(source=src, extra_sizes=((256, 40, 3),))  # whole images: batched by size
    with pytest.raises(ValueError, match="larger than the smallest"):
        Stage2DataConfig(source=src, extra_sizes=((64, 40, 3),), crop=128)
    with pytest.raises(ValueError, match="extra_sizes"):
        Stage2DataConfig(source=src, extra_sizes=((256, 40),), crop=128)
