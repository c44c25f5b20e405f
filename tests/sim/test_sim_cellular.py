"""The "cellular" library family: 2D cellular sections."""

import numpy as np
import pytest

from tomoinpaint.sim import FAMILIES, LIBRARY_FAMILIES, LibraryConfig, cellular_image, make_sample
from tomoinpaint.sim._util import grid_coords


def test_cellular_image_is_a_disk_of_cell_densities():
    img = cellular_image(128, 0)
    x, z = grid_coords(128)
    assert img.shape == (128, 128) and img.dtype == np.float32
    assert img.min() >= 0.0
    assert not img[np.hypot(x, z) >= 0.95].any()  # nothing outside the disk
    assert (img > 0).mean() > 0.1  # a cell, not an empty field


def test_cellular_images_hold_membranes_particles_and_beads():
    images = [cellular_image(128, seed) for seed in range(12)]
    # beads (2-4) are several times denser than membranes and particles (<= 1.2)
    assert any(im.max() >= 2.0 for im in images)
    assert any(0 < im.max() <= 1.2 for im in images)  # some sections have no bead
    # many distinct small bright objects: more distinct densities than the 3 paper-like values
    assert all(len(np.unique(im)) > 20 for im in images)


def test_cellular_image_is_reproducible_and_varies_with_the_seed():
    np.testing.assert_array_equal(cellular_image(96, 7), cellular_image(96, 7))
    assert not np.array_equal(cellular_image(96, 7), cellular_image(96, 8))


def test_one_seed_draws_the_same_section_at_every_size():
    small = cellular_image(64, 3)
    large = cellular_image(128, 3)
    coarse = large.reshape(64, 2, 64, 2).mean(axis=(1, 3))
    # the same objects: the 2x block mean of the large image correlates with the small one
    assert np.corrcoef(small.ravel(), coarse.ravel())[0, 1] > 0.8


def test_make_sample_draws_cellular_sections():
    img = make_sample("cellular", 32, 5, supersample=2)
    assert img.shape == (64, 64) and img.max() > 0


def test_libraries_accept_the_family_and_keep_the_papers_default():
    assert "cellular" in LIBRARY_FAMILIES and "cellular" not in FAMILIES
    assert LibraryConfig(n_samples=4, n=16).families == FAMILIES
    assert "cellular" in LibraryConfig(n_samples=4, n=16, families=("cellular", "ct")).families
    with pytest.raises(ValueError, match="unknown famil"):
        LibraryConfig(n_samples=4, n=16, families=("cells",))


def test_training_configs_accept_the_family_and_the_shipped_recipe_uses_it():
    from tomoinpaint.train.config import DataConfig, load_config
    from tomoinpaint.train.recipe import RECIPES

    assert DataConfig(families=("cellular",)).families == ("cellular",)
    with pytest.raises(ValueError, match="families"):
        DataConfig(families=("cells",))
    ft = load_config(RECIPES["joint_tv150_cellular_ft"])
    assert "cellular" in ft.stage2_tv_data.source.families
    assert ft.stage2_tv.init_generator.endswith("deartifact_tv.safetensors")
