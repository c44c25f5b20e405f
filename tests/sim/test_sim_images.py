"""Natural images and CT slices: held-out split, range, field of view."""

import numpy as np
import pytest

from tomoinpaint.sim import images
from tomoinpaint.sim._util import circle_mask


@pytest.mark.parametrize("splits", [images.NATURAL_SPLITS, images.CT_SPLITS])
def test_train_and_test_share_no_source(splits):
    assert set(splits) == {"train", "test"}
    assert splits["train"] and splits["test"]
    assert not set(splits["train"]) & set(splits["test"])


def test_stereo_pair_stays_in_one_split():
    train = images.NATURAL_SPLITS["train"]
    assert ("motorcycle_left.png" in train) == ("motorcycle_right.png" in train)


@pytest.mark.parametrize("kind, loader", [("natural", "load_natural"), ("ct", "load_ct")])
def test_random_draws_only_use_their_split(monkeypatch, kind, loader):
    seen = []
    real = getattr(images, loader)

    def spy(name, *args):
        seen.append(name)
        return real(name, *args)

    monkeypatch.setattr(images, loader, spy)
    draw = images.natural_image if kind == "natural" else images.ct_slice
    for split in ("train", "test"):
        seen.clear()
        for seed in range(12):
            draw(8, seed, split)
        assert set(seen) <= set(images.image_sources(kind, split))


def test_named_file_must_belong_to_split():
    with pytest.raises(ValueError, match="not in the 'test' split"):
        images.natural_image(16, 0, "test", name="astronaut.png")
    with pytest.raises(ValueError, match="split"):
        images.ct_slice(16, 0, "validation")


@pytest.mark.parametrize("kind", ["natural", "ct"])
def test_every_source_file_loads(kind):
    load = images.load_natural if kind == "natural" else images.load_ct
    for split in ("train", "test"):
        for name in images.image_sources(kind, split):
            a = load(name)
            assert a.ndim == 2 and min(a.shape) >= 100
            assert a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1 and a.max() > 0


@pytest.mark.parametrize("draw", [images.natural_image, images.ct_slice])
@pytest.mark.parametrize("split", ["train", "test"])
def test_image_range_circle_determinism(draw, split):
    n = 32
    a = draw(n, np.random.default_rng(5), split)
    assert a.shape == (n, n) and a.dtype == np.float32
    assert 0 <= a.min() and a.max() <= 1 and a.max() > 0
    assert not a[~circle_mask(n)].any()
    np.testing.assert_array_equal(a, draw(n, np.random.default_rng(5), split))
    assert not np.array_equal(a, draw(n, np.random.default_rng(6), split))
