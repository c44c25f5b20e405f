"""Library builder: deterministic under any chunking/scheduler, atomic, wedge rows."""

import json

import h5py
import numpy as np
import pytest

from tomoinpaint.geometry import missing_wedge, tilt_range, wedge_mask
from tomoinpaint.sim import library as lib

ANGLES = tilt_range(-90.0, 87.0, 3.0)  # 60 angles
KW = dict(
    n_samples=6, n=16, full_angles=ANGLES, doses=("noise-free", "low", "moderate"), progress=False
)


def _read(path):
    with h5py.File(path, "r") as f:
        data = {k: (f[k].asstr()[()] if f[k].dtype.kind == "O" else f[k][()]) for k in f}
        return data, dict(f.attrs)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if a[k].dtype.kind == "O":
            assert list(a[k]) == list(b[k]), k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("lib") / "ref.h5"
    lib.build_library(path, seed=5, chunk=6, scheduler="synchronous", **KW)
    return _read(path)


@pytest.mark.parametrize("scheduler, chunk", [("threads", 2), ("synchronous", 4), ("processes", 3)])
def test_identical_for_any_chunk_and_scheduler(tmp_path, reference, scheduler, chunk):
    path = lib.build_library(
        tmp_path / "lib.h5", seed=5, chunk=chunk, scheduler=scheduler, num_workers=2, **KW
    )
    _assert_same(_read(path)[0], reference[0])


def test_seed_changes_the_data(tmp_path, reference):
    data, _ = _read(lib.build_library(tmp_path / "other.h5", seed=6, scheduler="synchronous", **KW))
    assert not np.array_equal(data["ground_truth"], reference[0]["ground_truth"])


def test_contents_and_wedge_rows(reference):
    data, attrs = reference
    N, A, n = KW["n_samples"], ANGLES.size, KW["n"]
    assert data["sinogram"].shape == data["sinogram_wedge"].shape == (N, A, n)
    assert data["ground_truth"].shape == (N, n, n)
    mask = data["mask"]
    np.testing.assert_array_equal(mask, wedge_mask(ANGLES, -67.5, 67.5))
    np.testing.assert_array_equal(data["angles"], ANGLES)
    assert not data["sinogram_wedge"][:, ~mask].any()
    np.testing.assert_array_equal(data["sinogram_wedge"][:, mask], data["sinogram"][:, mask])
    assert set(data["family"]) <= {"shapes", "natural", "ct"}
    assert set(data["dose"]) <= {"noise-free", "low", "moderate"}
    clean = data["dose"] == "noise-free"
    np.testing.assert_array_equal(data["sinogram"][clean], data["sinogram_clean"][clean])
    assert np.isnan(data["mu"][clean]).all() and (data["mu"][~clean] > 0).all()
    assert (data["ground_truth"] >= 0).all()
    assert attrs["seed"] == 5 and attrs["n"] == n and attrs["supersample"] == 2
    np.testing.assert_allclose(attrs["wedge"], missing_wedge(ANGLES[mask]))
    assert attrs["wedge"][2] == pytest.approx(45.0)  # measured -66..66 at 3 degree steps
    config = json.loads(attrs["config"])
    assert config["n_samples"] == N and config["doses"] == ["noise-free", "low", "moderate"]


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "lib.h5"
    path.write_bytes(b"precious")
    with pytest.raises(lib.LibraryExistsError, match="exists"):
        lib.build_library(path, seed=0, scheduler="synchronous", **KW)
    assert path.read_bytes() == b"precious"
    assert isinstance(lib.LibraryExistsError("x"), ValueError)
    lib.build_library(
        path, seed=0, scheduler="synchronous", overwrite=True, **{**KW, "n_samples": 1}
    )
    assert h5py.is_hdf5(path)


def test_no_partial_file_on_failure(tmp_path, monkeypatch):
    def boom(config, start, stop):
        if start >= 2:
            raise RuntimeError("simulated failure")
        return real(config, start, stop)

    real = lib.simulate_samples
    monkeypatch.setattr(lib, "simulate_samples", boom)
    with pytest.raises(RuntimeError, match="simulated failure"):
        lib.build_library(tmp_path / "lib.h5", seed=0, chunk=2, scheduler="synchronous", **KW)
    assert list(tmp_path.iterdir()) == []


def test_sample_rng_matches_seedsequence_spawn():
    children = np.random.SeedSequence(9).spawn(3)
    for i, child in enumerate(children):
        assert lib.sample_rng(9, i).random() == np.random.default_rng(child).random()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"families": ("dogs",)}, "dogs"),
        ({"doses": ("ultra",)}, "ultra"),
        ({"scheduler": "mpi"}, "mpi"),
        ({"tilt_min": 100.0, "tilt_max": 120.0}, "measures none"),
        ({"chunk": 0}, "chunk"),
        ({"split": "val"}, "val"),
    ],
)
def test_bad_options_rejected_before_work(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        lib.build_library(tmp_path / "lib.h5", **{**KW, **options})
    assert list(tmp_path.iterdir()) == []
