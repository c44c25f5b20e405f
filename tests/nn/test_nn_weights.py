"""Tests for tomoinpaint.nn.weights: safetensors round trips, model cards, no unpickling."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from tomoinpaint.nn import (
    BUILDERS,
    InpainterConfig,
    build,
    card_path_for,
    load_model,
    read_card,
    save_model,
)


class _Payload:
    """Unpickling this object creates ``marker`` (stands for arbitrary code execution)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _inputs(arch: str) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(3)
    if arch == "inpainter":
        x = torch.randn(2, 2, 45, 32, generator=g)
        x[:, 1] = (torch.arange(45) % 4 != 0).float()[:, None]
        return (x,)
    if arch == "unet":
        return (torch.randn(2, 1, 30, 30, generator=g),)
    if arch == "inpaint_disc":
        return torch.randn(2, 2, 45, 32, generator=g), torch.randn(2, 1, 45, 32, generator=g)
    return torch.randn(2, 1, 30, 30, generator=g), torch.randn(2, 1, 30, 30, generator=g)


def _perturb(model: torch.nn.Module, arch: str) -> None:
    """Move every parameter and batch-norm statistic off its initial value."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.train()
    with torch.no_grad():
        model(*_inputs(arch))  # updates batch-norm running statistics
    model.eval()


@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_round_trip_gives_identical_outputs(arch, tmp_path):
    model = build(arch, "tiny")
    _perturb(model, arch)
    meta = {
        "angles_deg": np.linspace(-67.5, 67.5, 46),
        "recipe": {"epochs": 30, "lr": 4e-4},
        "steps": 123,
        "metrics": {"psnr": 27.46},
    }
    path = save_model(model, tmp_path / "sub" / f"{arch}.safetensors", metadata=meta)
    assert path.is_file() and card_path_for(path).is_file()
    card = json.loads(card_path_for(path).read_text())
    assert card["architecture"] == arch and card["config"] == model.config.to_dict()
    assert card["metadata"]["angles_deg"][0] == -67.5 and card["metadata"]["steps"] == 123
    assert card["n_parameters"] == sum(p.numel() for p in model.parameters())

    loaded, card2 = load_model(path)
    assert card2 == card and not loaded.training
    assert loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded(*_inputs(arch)), model(*_inputs(arch)))
    ref = model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())


def test_embedded_card_suffices(tmp_path):
    model = build("unet", "tiny")
    _perturb(model, "unet")
    path = save_model(model, tmp_path / "u.safetensors", metadata={"note": "x"})
    card_path_for(path).unlink()
    loaded, card = load_model(path)
    assert card["architecture"] == "unet" and card["metadata"] == {"note": "x"}
    x = _inputs("unet")[0]
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_card_describing_another_model_is_refused(tmp_path):
    model = build("inpainter", "tiny")
    wrong = InpainterConfig(features=12, growth=4, n_rrdb=1, dilations=(2, 4))
    path = save_model(model, tmp_path / "m.safetensors", config=wrong)
    with pytest.raises(ValueError, match="shape mismatch"):
        load_model(path)
    fewer = InpainterConfig(features=8, growth=4, n_rrdb=1, dilations=(2,))
    path = save_model(model, tmp_path / "f.safetensors", config=fewer)
    with pytest.raises(ValueError, match="unexpected tensor"):
        load_model(path)


def test_edited_or_mismatched_cards_are_refused(tmp_path):
    a = save_model(build("inpainter", "tiny"), tmp_path / "a.safetensors")
    b = save_model(build("unet", "tiny"), tmp_path / "b.safetensors")
    card = json.loads(card_path_for(a).read_text())

    card["config"]["bogus"] = 1
    card_path_for(a).write_text(json.dumps(card))
    with pytest.raises(ValueError, match="bogus"):
        load_model(a)

    del card["config"]["bogus"]
    card["config"]["features"] = 16
    card_path_for(a).write_text(json.dumps(card))
    with pytest.raises(ValueError, match="disagrees"):
        load_model(a)

    card["config"]["features"] = 8
    card["architecture"] = "transformer"
    card_path_for(a).write_text(json.dumps(card))
    with pytest.raises(ValueError, match="unknown architecture"):
        load_model(a)

    shutil.copy(b, a)  # the weights no longer belong to a's card
    card["architecture"] = "inpainter"
    card_path_for(a).write_text(json.dumps(card))
    with pytest.raises(ValueError, match="SHA-256"):
        load_model(a)


def test_save_validation(tmp_path):
    model = build("inpainter", "tiny")
    with pytest.raises(ValueError, match=r"\.safetensors"):
        save_model(model, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="not JSON serialisable"):
        save_model(model, tmp_path / "m.safetensors", metadata={"obj": object()})
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    with pytest.raises(ValueError, match="cannot infer the architecture"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "l.safetensors")
    with pytest.raises(ValueError, match="needs a InpainterConfig|needs an? InpainterConfig"):
        save_model(model, tmp_path / "m.safetensors", architecture="inpainter", config="tiny")


def test_payload_really_executes_when_unpickled(tmp_path):
    """Control: the payload used below does run code when unpickled."""
    marker = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize(
    "writer",
    ["torch_zip", "torch_legacy", "pickle_protocol_2", "pickle_protocol_5", "pickle_protocol_0"],
)
@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".pth", ".ckpt", ".pkl"])
def test_pickle_files_are_refused_without_executing(tmp_path, writer, suffix):
    marker = tmp_path / "pwned"
    payload = {"conv.weight": _Payload(marker)}
    path = tmp_path / f"model{suffix}"
    if writer == "torch_zip":
        torch.save(payload, path)
    elif writer == "torch_legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=int(writer[-1]))
    # a card beside it, valid in every respect, must not make any difference
    card_path_for(path).write_text(
        json.dumps(
            {
                "format": "tomoinpaint.model-card",
                "format_version": 1,
                "architecture": "inpainter",
                "config": InpainterConfig.tiny().to_dict(),
            }
        )
    )
    with pytest.raises(ValueError, match="pickle|zip|not a safetensors"):
        load_model(path)
    with pytest.raises(ValueError, match="pickle|zip|not a safetensors"):
        read_card(path)
    assert not marker.exists()


def test_safetensors_content_with_pickle_suffix_is_refused(tmp_path):
    path = save_model(build("unet", "tiny"), tmp_path / "u.safetensors")
    renamed = tmp_path / "u.pth"
    shutil.copy(path, renamed)
    with pytest.raises(ValueError, match=r"\.pth files are pickles"):
        load_model(renamed)


def test_garbage_and_missing_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ValueError, match="safetensors"):
        load_model(bad)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_model(empty)
