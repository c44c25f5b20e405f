"""Stage-2 cache (paper, Table 3): proportions, the four kinds, resume; stage-2 dataset."""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest
import torch

from tomoinpaint.nn import InpainterConfig, InpaintGenerator, save_model
from tomoinpaint.nn.grid import image_scale
from tomoinpaint.nn.inference import run_inpainter
from tomoinpaint.recon import sart, tv, wbp
from tomoinpaint.train import (
    STAGE2_KINDS,
    DeartifactDataset,
    Library,
    Stage2DataConfig,
    Stage2Proportions,
    build_stage2_cache,
    stage2_cache_complete,
    stage2_counts,
)

from .conftest import N, tiny_data


@pytest.fixture(scope="module")
def stage1_checkpoints(tmp_path_factory):
    """Two different tiny inpainters saved as model files."""
    d = tmp_path_factory.mktemp("ckpts")
    paths = []
    for k in range(2):
        torch.manual_seed(k)
        g = InpaintGenerator(InpainterConfig.tiny())
        with torch.no_grad():
            g.conv_last.weight.normal_(0.0, 0.05)  # a non-trivial inpainting
        paths.append(str(save_model(g, d / f"g{k}.safetensors")))
    return tuple(paths)


#: The paper's mix plus TV inputs, so that every kind occurs in the 10-sample cache.
PROPORTIONS = Stage2Proportions(tv_wedge=7500.0)


def _config(library, ckpts, **kw):
    base = dict(
        source=tiny_data(library),
        checkpoints=ckpts,
        sart_sweeps=3,
        tv_iterations=20,
        proportions=PROPORTIONS,
        device="cpu",
    )
    base.update(kw)
    return Stage2DataConfig(**base)


def _read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in ("input", "target", "scale", "kind", "checkpoint", "done")}


@pytest.fixture(scope="module")
def cache(tmp_path_factory, library, stage1_checkpoints):
    path = tmp_path_factory.mktemp("cache") / "stage2.h5"
    assert build_stage2_cache(path, _config(library, stage1_checkpoints, batch_size=3))
    return path


def test_counts_follow_the_proportions():
    paper = Stage2Proportions()  # 10,000 / 7,500 / 7,500 / 20,000
    assert stage2_counts(45000, paper) == dict(
        zip(STAGE2_KINDS, (10000, 7500, 7500, 20000, 0), strict=True)
    )
    for n in (1, 7, 10, 101):
        c = stage2_counts(n, paper)
        assert sum(c.values()) == n
        for k, f in paper.fractions().items():
            assert abs(c[k] - f * n) < 1
    assert stage2_counts(10, Stage2Proportions(1, 0, 1, 2))["wbp_complete"] == 0


def test_cache_has_the_configured_proportions_and_kinds(cache, library, stage1_checkpoints):
    d = _read(cache)
    assert stage2_cache_complete(cache) and d["done"].all()
    counts = {k: int((d["kind"] == i).sum()) for i, k in enumerate(STAGE2_KINDS)}
    assert counts == stage2_counts(10, PROPORTIONS)
    assert all(v > 0 for v in counts.values())
    inp = d["kind"] == STAGE2_KINDS.index("wbp_inpainted")
    assert set(d["checkpoint"][inp]) == {0, 1}  # several stage-1 checkpoints
    assert (d["checkpoint"][~inp] == -1).all()
    # another proportion, another split
    other = _read_counts(library, stage1_checkpoints, Stage2Proportions(0, 1, 0, 1))
    assert other == {
        "wbp_wedge": 0, "wbp_complete": 5, "sart_wedge": 0, "wbp_inpainted": 5, "tv_wedge": 0,
    }  # fmt: skip


def _read_counts(library, ckpts, props):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as t:
        p = Path(t) / "c.h5"
        build_stage2_cache(p, _config(library, ckpts, proportions=props, sart_sweeps=1))
        k = _read(p)["kind"]
    return {name: int((k == i).sum()) for i, name in enumerate(STAGE2_KINDS)}


def test_each_kind_is_the_reconstruction_it_claims(cache, library, stage1_checkpoints):
    from tomoinpaint.nn import load_model

    d = _read(cache)
    lib = Library(library, tiny_data(library))
    angles, mask = lib.angles, lib.mask
    models = [load_model(p)[0] for p in stage1_checkpoints]
    for i in range(10):
        sino = lib.read(i, "sinogram")
        np.testing.assert_array_equal(d["target"][i], lib.read(i, "ground_truth"))
        kind = STAGE2_KINDS[d["kind"][i]]
        if kind == "wbp_wedge":
            want = wbp(sino[mask], angles[mask])
        elif kind == "wbp_complete":
            want = wbp(sino, angles)
        elif kind == "sart_wedge":
            want = sart(sino[mask], angles[mask], sweeps=3, seed=i)
        elif kind == "tv_wedge":
            want = tv(sino[mask], angles[mask], iterations=20)
        else:
            full = run_inpainter(models[d["checkpoint"][i]], sino[None], mask)[0]
            assert not np.allclose(full[~mask], 0)  # really inpainted
            want = wbp(full, angles)
        np.testing.assert_allclose(d["input"][i], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_cache_resumes_and_refuses_another_config(tmp_path, cache, library, stage1_checkpoints):
    ref = _read(cache)
    path = tmp_path / "c.h5"
    cfg = _config(library, stage1_checkpoints, batch_size=3)
    assert build_stage2_cache(path, cfg, deadline=time.time() - 1) is False  # one block only
    part = _read(path)
    assert part["done"].sum() == 3 and not stage2_cache_complete(path)
    assert build_stage2_cache(path, cfg)
    full = _read(path)
    for k in ref:
        np.testing.assert_array_equal(full[k], ref[k], err_msg=k)
    with pytest.raises(ValueError, match="another config"):
        build_stage2_cache(path, cfg.replace(sart_sweeps=4))
    assert build_stage2_cache(path, cfg.replace(sart_sweeps=4), overwrite=True)
    with pytest.raises(ValueError, match="checkpoints is empty"):
        build_stage2_cache(tmp_path / "d.h5", cfg.replace(checkpoints=()))


def test_stage2_dataset_normalisation_and_flips(cache):
    d = _read(cache)
    ds = DeartifactDataset(cache, flips=False)
    assert len(ds) == 10
    for i in range(10):
        item = ds[i]
        assert item["input"].shape == item["target"].shape == (1, N, N)
        sc = image_scale(d["scale"][i], N)
        np.testing.assert_allclose(
            item["input"][0].numpy() * sc, d["input"][i], rtol=1e-6, atol=1e-7
        )
        np.testing.assert_allclose(
            item["target"][0].numpy() * sc, d["target"][i], rtol=1e-6, atol=1e-7
        )
        assert int(item["kind"]) == d["kind"][i]
    aug = DeartifactDataset(cache)
    ops = {int(aug[(0, s)]["flip"]) for s in range(30)}
    assert ops == {0, 1, 2, 3}
    only = DeartifactDataset(cache, kinds=["wbp_inpainted"])
    assert len(only) == int((d["kind"] == 3).sum())


def test_crop_windows_follow_the_augmentation_seed(cache):
    """Crops: centre without a seed, a seeded position with one, the flip unchanged."""
    whole = DeartifactDataset(cache, flips=True)
    cropped = DeartifactDataset(cache, flips=True, crop=16)
    centre = cropped[3]["input"][0].numpy()
    assert centre.shape == (16, 16)
    np.testing.assert_array_equal(centre, whole[3]["input"][0].numpy()[8:24, 8:24])
    seen = set()
    for seed in range(20):
        a, b = cropped[(3, seed)], whole[(3, seed)]
        assert int(a["flip"]) == int(b["flip"])  # the crop draws from its own stream
        full, win = b["input"][0].numpy(), a["input"][0].numpy()
        hits = [
            (r, c)
            for r in range(N - 16 + 1)
            for c in range(N - 16 + 1)
            if np.array_equal(full[r : r + 16, c : c + 16], win)
        ]
        assert hits, "the window is not a part of the whole image"
        seen.add(hits[0])
        np.testing.assert_array_equal(win, cropped[(3, seed)]["input"][0].numpy())
    assert len(seen) > 5  # positions vary with the seed
    with pytest.raises(ValueError, match="crop"):
        DeartifactDataset(cache, crop=N + 1)


def test_concat_samples_maps_keys_to_their_dataset(cache):
    from tomoinpaint.train import ConcatSamples

    a = DeartifactDataset(cache, [0, 1, 2], crop=16)
    b = DeartifactDataset(cache, [5, 6], crop=16)
    both = ConcatSamples([a, b])
    assert len(both) == 5
    assert int(both[3]["index"]) == 5 and int(both[4]["index"]) == 6
    assert int(both[(1, 9)]["index"]) == 1
    np.testing.assert_array_equal(both[(4, 11)]["input"], b[(1, 11)]["input"])
    with pytest.raises(IndexError):
        both[5]


def test_images_of_several_sizes_are_batched_one_size_at_a_time(cache):
    from tomoinpaint.train import ConcatSamples
    from tomoinpaint.train.trainer import GroupedEpochBatchSampler

    same = ConcatSamples([DeartifactDataset(cache, [0, 1]), DeartifactDataset(cache, [2, 3])])
    assert same.batch_groups(4) is None  # one size: ordinary batches
    small = DeartifactDataset(cache, [0, 1, 2, 3, 4, 5], crop=16)
    whole = DeartifactDataset(cache, [6, 7, 8, 9])
    both = ConcatSamples([small, whole])
    # 4 images of 16 px per batch, so 1 of 32 px: about the same pixels per step
    assert both.batch_groups(4) == [(0, 6, 4), (6, 10, 1)]

    sampler = GroupedEpochBatchSampler(both.batch_groups(4), seed=3, epoch=2, steps=30)
    batches = list(sampler)
    assert len(batches) == 30
    for batch in batches:
        idx = [i for i, _ in batch]
        assert (
            all(i < 6 for i in idx)
            and len(idx) == 4
            or all(i >= 6 for i in idx)
            and (len(idx) == 1)
        )
        items = [both[key] for key in batch]
        assert len({tuple(it["input"].shape) for it in items}) == 1
    assert {len(b) for b in batches} == {1, 4}  # both sizes are drawn
    seeds = [s for b in batches for _, s in b]
    assert len(set(seeds)) == len(seeds)
    # the same epoch again, and resumed at step 5, gives the same batches
    assert list(GroupedEpochBatchSampler(both.batch_groups(4), 3, 2, 30)) == batches
    assert list(GroupedEpochBatchSampler(both.batch_groups(4), 3, 2, 30, start=5)) == batches[5:]
    assert list(GroupedEpochBatchSampler(both.batch_groups(4), 3, 3, 30)) != batches
