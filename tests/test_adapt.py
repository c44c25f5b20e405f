"""Self-supervised adaptation (issue 16): the losses, the pairs, determinism, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomoinpaint.adapt import (
    AdaptSettings,
    adapt,
    direction_angles,
    masked_fourier_loss,
    measured_direction_mask,
    rotate_slices,
)
from tomoinpaint.adapt.pairs import make_pairs, prepare_halves
from tomoinpaint.adapt.projection_loss import measured_projection_loss, project_image
from tomoinpaint.geometry import tilt_range
from tomoinpaint.project import forward_project
from tomoinpaint.sim import make_sample

N = 48
ANGLES = tilt_range(-60, 60, 3.0)
TINY = AdaptSettings(pairs_per_round=4, passes=1, batch_size=2)


def _disk(n: int) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    return (yy**2 + xx**2 < (n / 2 - 2) ** 2).astype(np.float32)


def test_each_frequency_is_measured_by_the_angle_its_direction_names():
    """A plane wave carries projection energy only at the angle direction_angles names."""
    n = 64
    f = np.fft.fftfreq(n)
    theta = direction_angles(n)
    scan = np.arange(0.0, 180.0, 1.0)
    for r, c in [(0, 5), (5, 0), (3, 3), (61, 4), (7, 60), (2, 9)]:
        wave = np.cos(2 * np.pi * (f[r] * np.arange(n)[:, None] + f[c] * np.arange(n)[None, :]))
        energy = (forward_project((wave * _disk(n)).astype(np.float32), scan) ** 2).sum(axis=1)
        seen = scan[np.argmax(energy)]
        gap = abs((seen - theta[r, c] + 90.0) % 180.0 - 90.0)
        assert gap <= 2.0, (r, c, seen, theta[r, c])


def test_the_mask_covers_the_measured_arc_and_not_the_wedge():
    mask = measured_direction_mask(64, ANGLES)
    theta = direction_angles(64)
    inside = np.isfinite(theta) & ((theta <= 58.0) | (theta >= 122.0))
    wedge = np.isfinite(theta) & (theta > 62.0) & (theta < 118.0)
    assert mask[inside].all() and not mask[wedge].any() and mask[0, 0]


def test_the_loss_ignores_changes_in_unmeasured_directions():
    rng = np.random.default_rng(0)
    mask = torch.from_numpy(measured_direction_mask(N, ANGLES))
    target = torch.from_numpy(rng.normal(size=(2, N, N)).astype(np.float32))
    pred = torch.from_numpy(rng.normal(size=(2, N, N)).astype(np.float32))
    # a change that lives in the missing wedge only (real: a Hermitian-symmetric spectrum)
    noise = torch.fft.fft2(torch.from_numpy(rng.normal(size=(2, N, N)).astype(np.float32)))
    hidden = torch.fft.ifft2(noise * (~mask)).real
    assert float(hidden.abs().max()) > 0.1
    base = masked_fourier_loss(pred, target, mask)
    assert float(masked_fourier_loss(pred + hidden, target, mask)) == pytest.approx(
        float(base), rel=1e-5
    )
    # ... and a change in measured directions does change it
    seen = torch.fft.ifft2(noise * mask).real
    assert float(masked_fourier_loss(pred + seen, target, mask)) > 1.1 * float(base)


def _wave_packets(rng, n: int, directions_deg) -> np.ndarray:
    """Gaussian-windowed plane waves whose Fourier directions the angles given measure.

    A window of ``n / 8`` px spreads each wave's spectrum over a few degrees
    only, so waves of directions far from the tilts stay out of them.
    """
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    window = np.exp(-(yy**2 + xx**2) / (2 * (n / 8) ** 2))
    image = np.zeros((n, n))
    for theta in np.radians(directions_deg):
        k = rng.uniform(0.12, 0.3)  # cycles per pixel
        phase = rng.uniform(0, 2 * np.pi)
        # projections at theta measure the line along (cos, -sin) in (column, row) frequency
        image += np.cos(2 * np.pi * k * (np.cos(theta) * xx - np.sin(theta) * yy) + phase)
    return (image * window).astype(np.float32)


def test_the_projection_loss_ignores_changes_in_unmeasured_directions():
    rng = np.random.default_rng(3)
    x = (make_sample("shapes", N // 2, rng) * _disk(N)).astype(np.float32)
    angles = [ANGLES, ANGLES + 20.0]  # a pair turned by 20°: its wedge turns with it
    pred = torch.from_numpy(np.stack([x, rotate_slices(x, 20.0)]))
    sinos = [
        forward_project(im.numpy(), a, kernel="linear") for im, a in zip(pred, angles, strict=True)
    ]
    # at the image whose projections they are, the loss is nil and so is its gradient
    exact = pred.clone().requires_grad_(True)
    loss = measured_projection_loss(exact, sinos, angles)
    loss.backward()
    assert float(loss.detach()) < 1e-8 and float(exact.grad.abs().max()) < 1e-4
    # waves in the middle of each one's wedge (90° and 110° +- 12°), and as strong ones
    # in measured directions
    hidden = np.stack([_wave_packets(rng, N, c + np.linspace(-12, 12, 5)) for c in (90, 110)])
    seen = np.stack([_wave_packets(rng, N, c + np.linspace(-12, 12, 5)) for c in (20, 160)])
    seen *= np.linalg.norm(hidden) / np.linalg.norm(seen)
    moved_seen = float(measured_projection_loss(pred + torch.from_numpy(seen), sinos, angles))
    moved_hidden = float(measured_projection_loss(pred + torch.from_numpy(hidden), sinos, angles))
    assert moved_seen > 1.0
    assert moved_hidden < 1e-2 * moved_seen, (moved_hidden, moved_seen)


def test_the_projection_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    pred = torch.from_numpy(rng.normal(size=(2, N, N)).astype(np.float32)).requires_grad_(True)
    sinos = [rng.normal(size=(ANGLES.size, N)).astype(np.float32) for _ in range(2)]
    angles = [ANGLES, ANGLES + 33.0]
    measured_projection_loss(pred, sinos, angles).backward()
    step = torch.from_numpy(rng.normal(size=(2, N, N)).astype(np.float32))
    h = 1e-2
    with torch.no_grad():
        up = measured_projection_loss(pred + h * step, sinos, angles)
        down = measured_projection_loss(pred - h * step, sinos, angles)
    numeric = float(up - down) / (2 * h)
    assert float((pred.grad * step).sum()) == pytest.approx(numeric, rel=1e-2)
    assert project_image(pred[0], ANGLES).shape == (ANGLES.size, N)


def test_pairs_meet_the_other_halfs_projections_at_their_angles():
    """The projections target and the image target describe one image, wedge turned or not."""
    from tomoinpaint.recon.joint import load_joint_model

    rng = np.random.default_rng(5)
    for angles in (ANGLES, tilt_range(-45.0, 69.0, 3.0)):  # the second one is aligned by 12°
        gt = np.stack([make_sample("shapes", N // 2, rng) for _ in range(2)]) * _disk(N)
        sino = forward_project(gt.astype(np.float32), angles)
        data = prepare_halves(load_joint_model(), sino, angles, device="cpu")
        # the same draws, so the same pairs, with either target
        pairs = make_pairs(data, np.random.default_rng(0), 3, device="cpu")
        image = make_pairs(data, np.random.default_rng(0), 3, device="cpu", target="image")
        assert np.array_equal(pairs["inputs"], image["inputs"])
        assert np.array_equal(pairs["phi"], image["phi"])
        assert "targets" not in pairs and "target_sinos" not in image

        def loss(images, p=pairs):
            return float(
                measured_projection_loss(
                    torch.from_numpy(images), p["target_sinos"], p["target_angles"]
                )
            )

        # the other half's TV image, turned, fits its measured projections closely
        assert loss(image["targets"]) < 0.02 * loss(np.zeros_like(image["targets"]))
        # and much better than the same images not turned by their pair's angle
        unturned = np.stack(
            [rotate_slices(t, -p) for t, p in zip(image["targets"], image["phi"], strict=True)]
        )
        assert loss(image["targets"]) < 0.2 * loss(unturned)


def test_rotation_turns_the_projection_angles_with_it():
    rng = np.random.default_rng(2)
    x = make_sample("shapes", N // 2, rng).astype(np.float32) * _disk(N)
    theta = np.array([10.0, 50.0, 100.0])
    p = forward_project(x, theta)
    q = forward_project(rotate_slices(x, 30.0), theta + 30.0)
    assert np.abs(p - q).max() < 0.05 * np.abs(p).max()


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(1)
    gt = np.stack([make_sample("shapes", N // 2, rng) for _ in range(2)]).astype(np.float32)
    return forward_project(gt * _disk(N), ANGLES)


def _weights(d):
    from safetensors.torch import load_file

    return load_file(str(d / "deartifact_tv.safetensors"))


def test_same_seed_same_weights_and_resume_reaches_them(series, tmp_path):
    a = adapt(series, ANGLES, tmp_path / "a", rounds=2, minutes=None, settings=TINY)
    assert a.rounds == 2 and len(a.losses) == 2
    b = adapt(series, ANGLES, tmp_path / "b", rounds=1, minutes=None, settings=TINY)
    assert b.rounds == 1
    b2 = adapt(series, ANGLES, tmp_path / "b", rounds=2, minutes=None, settings=TINY)
    assert b2.resumed_from == 1 and b2.rounds == 2 and b2.losses == a.losses
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # it learned something: the weights moved from the base
    from tomoinpaint.recon.joint import WEIGHTS_DIR

    base = _weights(WEIGHTS_DIR)
    assert any(not torch.equal(wa[k], base[k]) for k in wa)
    # the output is an ordinary weights directory whose card records the adaptation
    from tomoinpaint.methods import reconstruct
    from tomoinpaint.nn.weights import read_card

    card = read_card(tmp_path / "a" / "deartifact_tv.safetensors")
    info = card["metadata"]["adaptation"]
    assert info["rounds"] == 2 and len(info["data_fingerprint"]) == 16
    assert info["settings"]["pairs_per_round"] == 4
    # the card says the one size it was adapted at
    from tomoinpaint.recon.joint import load_joint_model

    adapted = load_joint_model(tmp_path / "a")
    assert adapted.tv_sizes == (adapted.tv_n,)
    rec = reconstruct(series[:1], ANGLES, "joint", model=str(tmp_path / "a"), iterations=20)
    assert rec.shape == (1, N, N) and np.isfinite(rec).all()


def test_adapting_at_another_size_makes_that_the_networks_size(series, tmp_path):
    """--size: the pairs are made at it, and joint then runs the prior there."""
    from tomoinpaint.nn.weights import read_card
    from tomoinpaint.recon.joint import load_joint_model
    from tomoinpaint.recon.joint.prior import network_prior, prior_image_size

    settings = AdaptSettings(pairs_per_round=2, passes=1, batch_size=2, size=64, tv_iterations=20)
    res = adapt(series, ANGLES, tmp_path / "m", rounds=1, minutes=None, settings=settings)
    assert res.tv_iterations == 20
    info = read_card(tmp_path / "m" / "deartifact_tv.safetensors")["metadata"]["adaptation"]
    assert info["pair_tv_iterations"] == 20 and info["settings"]["size"] == 64
    adapted = load_joint_model(tmp_path / "m")
    assert adapted.tv_n == 64 and adapted.tv_sizes == (64,)
    prior = network_prior(
        series[:1], ANGLES, model=adapted, source="tv", tv_iterations=5, flips=False
    )
    assert prior.model_n == 64
    # joint runs an adapted network at the size it was adapted at, clean data included,
    # where it runs the installed one at the input's width
    base = load_joint_model()
    assert adapted.adapted and not base.adapted
    assert prior_image_size(adapted, 256, "auto", noise=0.0) is None
    assert prior_image_size(base, 256, "auto", noise=0.0) == 256
    assert prior_image_size(adapted, 256, "input") == 256
    # by default, the network's own size and its training's TV iterations
    data = prepare_halves(load_joint_model(), series, ANGLES, device="cpu")
    assert data.n == load_joint_model().tv_n
    assert data.tv_iterations == load_joint_model().tv_iterations


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ({"size": 16}, "size must be an integer of at least 32, got 16"),
        ({"size": True}, "size must be an integer of at least 32, got True"),
        ({"tv_iterations": 0}, "tv_iterations must be an integer of at least 1, got 0"),
        ({"tv_iterations": True}, "tv_iterations must be an integer of at least 1, got True"),
        ({"tv_iterations": 2.5}, "tv_iterations must be an integer of at least 1, got 2.5"),
        ({"pairs_per_round": 0}, "pairs_per_round must be an integer of at least 1, got 0"),
        ({"passes": True}, "passes must be an integer of at least 1, got True"),
        ({"batch_size": 0}, "batch_size must be an integer of at least 1, got 0"),
        ({"seed": -1}, "seed must be an integer of at least 0, got -1"),
        ({"learning_rate": 0.0}, "learning_rate must be a positive number, got 0.0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a positive number, got nan"),
        ({"learning_rate": "1e-4"}, "learning_rate must be a positive number, got '1e-4'"),
    ],
)
def test_settings_it_cannot_use_are_refused(option, words):
    with pytest.raises(ValueError, match=words):
        AdaptSettings(**option)


def test_a_checkpoint_from_before_the_newer_settings_resumes(series, tmp_path):
    """Settings added since (tv_iterations, size) count as their defaults, which they were."""
    import json

    adapt(series, ANGLES, tmp_path / "m", rounds=1, minutes=None, settings=TINY)
    (ckpt,) = (tmp_path / "m" / "adapt-checkpoints").glob("ckpt-*.json")
    meta = json.loads(ckpt.read_text())
    for key in ("tv_iterations", "size"):
        del meta["identity"]["settings"][key]
    ckpt.write_text(json.dumps(meta))
    res = adapt(series, ANGLES, tmp_path / "m", rounds=2, minutes=None, settings=TINY)
    assert res.resumed_from == 1 and res.rounds == 2
    # other values of them are still other settings
    with pytest.raises(ValueError, match="holds an adaptation with other settings"):
        other = AdaptSettings(pairs_per_round=4, passes=1, batch_size=2, tv_iterations=10)
        adapt(series, ANGLES, tmp_path / "m", rounds=3, minutes=None, settings=other)


def test_other_data_in_the_output_directory_is_refused(series, tmp_path):
    adapt(series, ANGLES, tmp_path / "m", rounds=1, minutes=None, settings=TINY)
    with pytest.raises(ValueError, match="holds an adaptation with other data"):
        adapt(series[::-1].copy(), ANGLES, tmp_path / "m", rounds=2, minutes=None, settings=TINY)


@pytest.mark.parametrize(
    ("slices", "angles", "words"),
    [
        (1, ANGLES, "at least 2 slices, got 1"),
        (2, tilt_range(-60, 60, 15.0), "at least 12 tilts, got 9"),
    ],
)
def test_data_it_cannot_use_is_refused(slices, angles, words, tmp_path):
    sino = np.ones((slices, angles.size, N), np.float32)
    with pytest.raises(ValueError, match=words):
        adapt(sino, angles, tmp_path / "m", rounds=1, minutes=None)
    assert not (tmp_path / "m").exists()


def _cli(*args):
    from click.testing import CliRunner

    import tomoinpaint.cli as cli

    return CliRunner().invoke(cli.main, [str(a) for a in args])


def test_cli_adapts_and_reconstruct_uses_the_adapted_weights(tmp_path):
    import json

    series = tmp_path / "s.mrc"
    r = _cli("simulate", series, "--n", 32, "--ny", 2, "--step", 3, "--dose", "moderate")
    assert r.exit_code == 0, r.output
    model = tmp_path / "adapted"
    r = _cli("adapt", series, "-o", model, "--rounds", 1, "--pairs", 2)
    assert r.exit_code == 0, r.output
    assert "1 rounds" in r.stdout and f"--model {model}" in r.stdout
    r = _cli(
        "reconstruct",
        series,
        "-o",
        tmp_path / "v.mrc",
        "--method",
        "joint",
        "--model",
        model,
        "--iterations",
        10,
    )
    assert r.exit_code == 0, r.output
    side = json.loads((tmp_path / "v.mrc.json").read_text())
    assert str(model) in json.dumps(side)


def test_cli_refuses_too_few_tilts_in_one_line(tmp_path):
    r = _cli("simulate", tmp_path / "few.mrc", "--n", 32, "--ny", 2, "--step", 15)
    assert r.exit_code == 0, r.output
    r = _cli("adapt", tmp_path / "few.mrc", "-o", tmp_path / "m", "--rounds", 1)
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines() == [
        "Error: adapting splits the tilts into even and odd halves and needs at least 12 "
        "tilts, got 9"
    ]
    assert not (tmp_path / "m").exists()


def test_an_unknown_target_is_refused():
    with pytest.raises(ValueError, match="target must be one of projections, image, got 'tv'"):
        AdaptSettings(target="tv")


def test_adapt_chooses_the_clean_data_prior_size_on_the_data(series, tmp_path):
    """Clean data wider than the adapted size: both prior sizes scored, the better recorded."""
    import dataclasses

    from tomoinpaint.adapt.prior_size import CLEAN_PRIOR_SIZES, choose_clean_prior_size
    from tomoinpaint.nn.weights import read_card
    from tomoinpaint.recon.joint import load_joint_model
    from tomoinpaint.recon.joint.prior import prior_image_size
    from tomoinpaint.sim import poisson_dose

    settings = AdaptSettings(pairs_per_round=2, passes=1, batch_size=2, size=32, tv_iterations=5)
    said = []
    res = adapt(
        series, ANGLES, tmp_path / "m", rounds=1, minutes=None, settings=settings,
        progress=said.append,
    )  # fmt: skip
    assert res.size == 32 and "adapt: scoring joint's prior at 32 px and at 48 px" in said
    assert not any("timing" in line for line in said)  # no budget: nothing to reserve
    info = read_card(tmp_path / "m" / "deartifact_tv.safetensors")["metadata"]["adaptation"]
    scores = info["wedge_edge"]
    assert set(scores) == set(CLEAN_PRIOR_SIZES) and all(np.isfinite(list(scores.values())))
    assert res.clean_prior_size == info["clean_prior_size"] == min(scores, key=scores.get)
    adapted = load_joint_model(tmp_path / "m")
    assert adapted.clean_prior_size == res.clean_prior_size
    # joint follows the card on clean data, and runs the network's size on noisy data
    for size, expected in (("network", None), ("input", 48)):
        info = {**info, "clean_prior_size": size}
        card = {**adapted.cards["deartifact_tv"]}
        card["metadata"] = {**card["metadata"], "adaptation": info}
        model = dataclasses.replace(adapted, cards={**adapted.cards, "deartifact_tv": card})
        assert prior_image_size(model, 48, "auto", noise=0.0) == expected
        assert prior_image_size(model, 48, "auto", noise=1.0) is None
    # nothing to choose on noisy data, nor where the input is no wider than the network
    noisy = np.stack([poisson_dose(s, 50.0, np.random.default_rng(3)) for s in series])
    assert choose_clean_prior_size(tmp_path / "m", noisy, ANGLES, 32) is None
    assert choose_clean_prior_size(tmp_path / "m", series, ANGLES, 48) is None


def test_the_prior_size_choice_is_reserved_in_the_time_budget(series, tmp_path, monkeypatch):
    """With a budget on clean wide data, the choice's measured time is kept out of the rounds'."""
    import tomoinpaint.adapt.run as adapt_run
    from tomoinpaint.adapt.prior_size import choice_seconds
    from tomoinpaint.sim import poisson_dose

    seconds = choice_seconds(adapt_run.WEIGHTS_DIR, series, ANGLES)
    assert 0.0 < seconds < np.inf
    # a choice as slow as the whole budget leaves no time for any round: refused, nothing written
    monkeypatch.setattr(adapt_run, "choice_seconds", lambda *args, **kw: 60.0)
    settings = AdaptSettings(pairs_per_round=2, passes=1, batch_size=2, size=32, tv_iterations=5)
    said = []
    with pytest.raises(ValueError, match=r"budget of 1 min left no time for a round .*needs 60 s"):
        adapt(series, ANGLES, tmp_path / "m", minutes=1.0, settings=settings, progress=said.append)
    assert "adapt: timing the prior-size choice to reserve it in the budget" in said
    assert not (tmp_path / "m").exists()
    # noisy data have nothing to choose, so nothing is reserved: the rounds get the budget
    noisy = np.stack([poisson_dose(s, 50.0, np.random.default_rng(3)) for s in series])
    said = []
    res = adapt(noisy, ANGLES, tmp_path / "n", minutes=1.0, rounds=1, settings=settings,
                progress=said.append)  # fmt: skip
    assert res.rounds == 1 and res.clean_prior_size is None
    assert not any("timing" in line for line in said)
