"""The adversarial trainer: paper schedule and optimisers, one real step, exact resume,
checkpoints without pickle, best weights and export."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch.utils.data import default_collate

from tomoinpaint.nn import load_model
from tomoinpaint.train import (
    DeartifactDataset,
    InpaintDataset,
    build_stage2_cache,
    build_trainer,
    decay_epochs,
    lr_factor,
    read_checkpoint,
    snapshot_path,
    split_indices,
)
from tomoinpaint.train.config import Stage2DataConfig, Stage2Proportions, TrainConfig

from .conftest import tiny_data, tiny_train


# --------------------------------------------------------------------------- schedule
def test_paper_schedule_values():
    c = TrainConfig()  # 30 epochs: 1e-4, 2e-4, 4e-4, ..., x0.1 at 20, x0.01 at 28
    lr = [c.lr_g * lr_factor(e, c) for e in range(30)]
    assert lr[:4] == pytest.approx([1e-4, 2e-4, 4e-4, 4e-4])
    assert lr[19] == pytest.approx(4e-4)
    assert lr[20] == pytest.approx(4e-5) and lr[27] == pytest.approx(4e-5)
    assert lr[28] == pytest.approx(4e-6) and lr[29] == pytest.approx(4e-6)


def test_schedule_scales_with_the_run_length():
    c = TrainConfig(epochs=15)  # decays at 2/3 and 28/30 of the run
    assert decay_epochs(c) == (10, 14)
    assert [lr_factor(e, c) for e in (0, 1, 2, 9, 10, 13, 14)] == pytest.approx(
        [0.25, 0.5, 1, 1, 0.1, 0.1, 0.01]
    )
    assert decay_epochs(TrainConfig(epochs=60)) == (40, 56)


def _stage1(library, tmp_path, name="run", resume=False, **kw):
    data = tiny_data(library)
    tr, va = split_indices(10, 2, 0)
    train = InpaintDataset(data, tr)
    val = InpaintDataset(data.replace(flips=False), va, with_ground_truth=True)
    return build_trainer(tiny_train(**kw), train, val, tmp_path / name, resume=resume)


def test_trainer_uses_the_paper_optimisers_and_sets_lr_per_epoch(library, tmp_path):
    t = _stage1(library, tmp_path, epochs=30, steps_per_epoch=1)
    assert isinstance(t.opt_g, torch.optim.Adam) and isinstance(t.opt_d, torch.optim.RMSprop)
    g, d = t.opt_g.param_groups[0], t.opt_d.param_groups[0]
    assert g["betas"] == (0.9, 0.999) and g["weight_decay"] == 1e-4
    assert d["alpha"] == 0.99 and d["weight_decay"] == 1e-4 and d["momentum"] == 0
    assert g["lr"] == pytest.approx(1e-4) and d["lr"] == pytest.approx(1e-4)
    t.fit(max_steps=3)  # three one-step epochs: the warm-up
    assert [h["lr_factor"] for h in t.history] == [0.25, 0.5, 1.0]
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(4e-4)


# --------------------------------------------------------------------------- one step
def _fixed_batch(ds, idx=(0, 1)):
    return default_collate([ds[i] for i in idx])


@pytest.mark.parametrize("gan_weight", [0.0, 5e-3])
def test_one_step_of_stage1_lowers_the_loss(library, tmp_path, gan_weight):
    t = _stage1(library, tmp_path, gan_weight=gan_weight)
    assert (t.discriminator is None) == (gan_weight == 0)
    batch = _fixed_batch(t.train_dataset)
    before = t.content_loss(batch)
    parts = t.train_step(batch)
    after = t.content_loss(batch)
    assert parts["mse"] == pytest.approx(before, rel=1e-5)
    assert after < before
    assert ("d_loss" in parts) == (gan_weight > 0)


@pytest.fixture(scope="module")
def stage2_cache(tmp_path_factory, library):
    path = tmp_path_factory.mktemp("s2") / "cache.h5"
    cfg = Stage2DataConfig(
        source=tiny_data(library),
        proportions=Stage2Proportions(1, 1, 1, 0),  # no stage-1 checkpoint needed
        sart_sweeps=2,
        device="cpu",
    )
    build_stage2_cache(path, cfg)
    return path


def test_one_step_of_stage2_lowers_the_loss(stage2_cache, tmp_path):
    tr, va = split_indices(10, 2, 0)
    train, val = (
        DeartifactDataset(stage2_cache, tr),
        DeartifactDataset(stage2_cache, va, flips=False),
    )
    t = build_trainer(tiny_train("deartifact", lr_g=1e-3), train, val, tmp_path / "s2")
    batch = _fixed_batch(train, (0, 1, 2, 3))
    before = t.content_loss(batch)
    t.train_step(batch)
    assert t.content_loss(batch) < before
    result = t.fit()
    assert result["status"] == "finished" and t.step == 6
    assert {"psnr", "ssim", "mse"} <= set(t.history[-1]["val"])


# --------------------------------------------------------------------------- resume
def _all_state(t):
    out = {f"G.{k}": v.clone() for k, v in t.generator.state_dict().items()}
    out.update({f"D.{k}": v.clone() for k, v in t.discriminator.state_dict().items()})
    for name, opt in (("og", t.opt_g), ("od", t.opt_d)):
        for pid, st in opt.state_dict()["state"].items():
            for k, v in st.items():
                out[f"{name}.{pid}.{k}"] = torch.as_tensor(v).clone()
    return out


@pytest.mark.parametrize("stop_at", [2, 4])
def test_resume_is_bit_exact(library, tmp_path, stop_at):
    full = _stage1(library, tmp_path, "full")
    assert full.fit()["status"] == "finished" and full.step == 6
    part = _stage1(library, tmp_path, "part")
    assert part.fit(max_steps=stop_at)["status"] == "stopped" and part.step == stop_at
    del part  # "interrupted"
    resumed = _stage1(library, tmp_path, "part", resume=True)
    assert resumed.step == stop_at
    assert resumed.fit()["status"] == "finished" and resumed.step == 6
    a, b = _all_state(full), _all_state(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [h["val"] for h in full.history] == [h["val"] for h in resumed.history]
    assert [h["train"] for h in full.history] == [h["train"] for h in resumed.history]
    # a finished run resumes to "finished" without training
    again = _stage1(library, tmp_path, "part", resume=True)
    assert again.fit()["status"] == "finished" and again.step == 6


def test_resume_refuses_another_config(library, tmp_path):
    _stage1(library, tmp_path, "r").fit(max_steps=1)
    with pytest.raises(ValueError, match="lr_g"):
        _stage1(library, tmp_path, "r", resume=True, lr_g=1e-3)
    ok = _stage1(library, tmp_path, "r", resume=True, checkpoint_every_steps=1)  # harmless change
    assert ok.step == 1


def test_without_resume_a_run_starts_from_scratch(library, tmp_path):
    _stage1(library, tmp_path, "s").fit(max_steps=2)
    assert _stage1(library, tmp_path, "s").step == 0


# --------------------------------------------------------------------------- files
def test_checkpoints_hold_no_pickle(library, tmp_path, monkeypatch):
    t = _stage1(library, tmp_path, "ck", checkpoint_every_steps=1, keep_checkpoints=2)
    t.fit(max_steps=4)
    run = tmp_path / "ck"
    names = sorted(p.name for p in run.iterdir() if p.is_file())
    assert "latest.json" in names and "config.json" in names
    ckpts = sorted(run.glob("ckpt-*.safetensors"))
    assert [p.stem for p in ckpts] == ["ckpt-00000003", "ckpt-00000004"]  # older ones pruned
    for p in run.rglob("*"):
        if p.is_file():
            assert p.suffix in (".json", ".safetensors"), p
            head = p.read_bytes()[:4]
            assert head[:1] != b"\x80" and head != b"PK\x03\x04", p  # no pickle, no torch zip
            if p.suffix == ".json":
                json.loads(p.read_text())
            else:
                with safe_open(p, framework="pt") as f:
                    assert len(list(f.keys())) > 0
    tensors = load_file(ckpts[-1])
    meta = json.loads(ckpts[-1].with_suffix(".json").read_text())
    assert meta["step"] == 4 and meta["train_config"]["seed"] == 0
    assert any(k.startswith("opt_g.state.") for k in tensors)
    assert any(k.startswith("opt_d.state.") for k in tensors)
    assert "rng.torch" in tensors and "generator.conv_first.weight" in tensors

    # resuming never unpickles
    def boom(*a, **k):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(torch, "load", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    resumed = _stage1(library, tmp_path, "ck", resume=True, checkpoint_every_steps=1)
    assert resumed.step == 4
    read_checkpoint(run)


def test_checksum_mismatch_is_refused(library, tmp_path):
    t = _stage1(library, tmp_path, "cs")
    path = t.save_checkpoint()
    st = path.with_suffix(".safetensors")
    data = bytearray(st.read_bytes())
    data[-1] ^= 0xFF
    st.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        read_checkpoint(path)


def test_best_weights_snapshots_and_export(library, tmp_path):
    t = _stage1(library, tmp_path, "ex", snapshot_epochs=(1, 2))
    t.fit()
    run = tmp_path / "ex"
    assert snapshot_path(run, 1).is_file() and snapshot_path(run, 2).is_file()
    model, card = load_model(run / "best.safetensors")
    assert card["metadata"]["best"]["metric"] == "wbp_psnr"
    history = json.loads((run / "history.json").read_text())
    best_val = max(h["val"]["wbp_psnr"] for h in history)
    assert card["metadata"]["best"]["value"] == pytest.approx(best_val)
    out = t.export(tmp_path / "w" / "inpainter.safetensors", metadata={"grid": {"n": 32}})
    model2, card2 = load_model(out)
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k])
    meta = card2["metadata"]
    assert meta["steps"] == 6 and meta["stage"] == "inpaint" and meta["grid"] == {"n": 32}
    assert meta["train_config"]["epochs"] == 2 and "wbp_psnr" in meta["validation"]
    assert len(meta["history"]) == 2
    last = t.export(tmp_path / "w" / "last.safetensors", which="last")
    m3, _ = load_model(last)
    for k, v in t.generator.state_dict().items():
        assert torch.equal(v, m3.state_dict()[k])


def test_validation_reports_sinogram_and_wbp_metrics(library, tmp_path):
    t = _stage1(library, tmp_path, "v")
    m = t.validate()
    assert {"mse", "psnr", "ssim", "wbp_psnr", "wbp_ssim", "wbp_wedge_psnr"} <= set(m)
    # the untrained inpainter returns the zero-filled wedge: its WBP is the wedge WBP
    assert m["wbp_psnr"] == pytest.approx(m["wbp_wedge_psnr"], abs=1e-3)
    assert np.isfinite(list(m.values())).all()


def test_deadline_stops_cleanly_at_a_checkpoint(library, tmp_path):
    import time

    t = _stage1(library, tmp_path, "dl")
    assert t.fit(deadline=time.time())["status"] == "stopped"
    assert t.step == 1
    resumed = _stage1(library, tmp_path, "dl", resume=True)
    assert resumed.step == 1 and resumed.fit()["status"] == "finished" and resumed.step == 6


def test_a_generator_can_start_from_a_model_file(stage2_cache, tmp_path):
    """init_generator: fine-tuning starts from the file's weights, recorded by checksum."""
    from tomoinpaint.nn import save_model

    tr, va = split_indices(10, 2, 0)
    train, val = DeartifactDataset(stage2_cache, tr), DeartifactDataset(stage2_cache, va)
    first = build_trainer(tiny_train("deartifact", seed=1), train, val, tmp_path / "a")
    with torch.no_grad():
        for p in first.generator.parameters():
            p.add_(0.01)  # weights no seed would give
    start = save_model(first.generator, tmp_path / "start.safetensors")
    cfg = tiny_train("deartifact", init_generator=str(start))
    t = build_trainer(cfg, train, val, tmp_path / "b")
    want = first.generator.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in t.generator.state_dict().items())
    assert t.metadata["init_generator"]["sha256"] == _sha256(start)
    plain = build_trainer(tiny_train("deartifact"), train, val, tmp_path / "c")
    assert any(not torch.equal(v, want[k]) for k, v in plain.generator.state_dict().items())
    with pytest.raises(ValueError, match="does not exist"):
        build_trainer(
            tiny_train("deartifact", init_generator=str(tmp_path / "none.safetensors")),
            train, val, tmp_path / "d",
        )  # fmt: skip
    other = tiny_train("deartifact", generator={"depth": 2, "base_features": 4})
    wrong = build_trainer(other, train, val, tmp_path / "e").generator
    wrong_file = save_model(wrong, tmp_path / "wrong.safetensors")
    with pytest.raises(ValueError, match="does not fit"):
        build_trainer(
            tiny_train("deartifact", init_generator=str(wrong_file)), train, val, tmp_path / "f"
        )


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(open(path, "rb").read()).hexdigest()
