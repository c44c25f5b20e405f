"""The whole-volume Dask pipeline: equal to the plain loop, resumable, atomic, distributed."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import tifffile
from click.testing import CliRunner

import tomoinpaint
import tomoinpaint.cli as cli
import tomoinpaint.io as tio
from tomoinpaint import prep as tprep
from tomoinpaint.io.binning import bin_images, bin_volume_rows
from tomoinpaint.io.hdf5 import write_dxchange
from tomoinpaint.methods import DEEP_METHODS, METHODS, method_options, reconstruct
from tomoinpaint.nn.cache import cached_model
from tomoinpaint.resume import WorkDir, WorkDirBusyError, prune_work_dirs, work_dir_for
from tomoinpaint.volume import Prep, reconstruct_volume
from tomoinpaint.volume.execution import TimeLeft

N, NY = 32, 6
ROOT = Path(__file__).resolve().parents[1]
TOOTH = Path(tomoinpaint.__file__).parent / "data" / "tooth.h5"
#: The CLI's default method becomes auto once weights are installed: named where it matters.
WBP = ["--method", "wbp"]
FAST = {"sart": {"sweeps": 3}, "sirt": {"iterations": 20}, "tv": {"iterations": 20}}


def files_in(d: Path) -> list[str]:
    """Every entry of a directory, hidden (temporary) files included."""
    return sorted(p.name for p in d.iterdir())


def plain_loop(path, method="wbp", options=None, rows=None) -> np.ndarray:
    """The reference: one slice at a time, no Dask, no chunks."""
    s = tio.read_tilt_series(path)
    y0, y1 = rows or (0, s.shape[1])
    return np.stack(
        [
            reconstruct(
                s.sinograms(y, y + 1), s.angles_deg, method, device="cpu", **(options or {})
            )[0]
            for y in range(y0, y1)
        ]
    )


class Counting:
    """A reconstruct_fn that counts its calls and can fail at a given call."""

    def __init__(self, fail_at: int | None = None, exc=RuntimeError):
        self.calls, self.fail_at, self.exc = 0, fail_at, exc

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise self.exc(f"boom in call {self.calls}")
        return reconstruct(*args, **kwargs)


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    """sim.mrc (31, 6, 32) + sim.tlt."""
    d = tmp_path_factory.mktemp("sim")
    r = CliRunner().invoke(
        cli.main, ["simulate", str(d / "sim.mrc"), "--n", N, "--ny", NY, "--step", 4]
    )
    assert r.exit_code == 0, r.output
    return d / "sim.mrc"


@pytest.fixture
def out(tmp_path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture
def work(tmp_path) -> Path:
    return tmp_path / "work"


def recon(sim, dst, work, **kw):
    kw.setdefault("device", "cpu")
    return reconstruct_volume(sim, dst, work_dir=work, **kw)


# ------------------------------------------------------------------------- equal to a plain loop


@pytest.mark.parametrize(
    ("executor", "workers"), [("synchronous", 1), ("threads", 2), ("processes", 2)]
)
def test_equals_plain_loop(sim, out, work, executor, workers):
    ref = plain_loop(sim, "sart", FAST["sart"])
    dst = out / "v.mrc"
    res = recon(
        sim, dst, work, method="sart", options=FAST["sart"], chunk=4, workers=workers,
        executor=executor,
    )  # fmt: skip
    np.testing.assert_array_equal(tio.read_volume(dst)[0], ref)
    assert res.chunks == 2 and res.chunks_reused == 0 and res.shape == (NY, N, N)
    assert files_in(out) == ["v.mrc", "v.mrc.json"]
    assert not work.exists() or files_in(work) == []  # the work directory is gone
    meta = json.loads((out / "v.mrc.json").read_text())
    assert meta["execution"]["executor"] == executor and meta["execution"]["workers"] == workers
    assert meta["options"]["sweeps"] == 3 and meta["method"] == "sart"


@pytest.mark.parametrize("executor", ["synchronous", "threads"])
def test_finished_chunks_are_not_kept_in_memory(sim, out, work, executor):
    """Memory is bounded by the chunk: a written chunk's block is released at once."""
    import gc
    import weakref

    alive_counts, refs = [], []

    def tracking(*args, **kwargs):
        gc.collect()
        alive_counts.append(sum(r() is not None for r in refs))
        vol = reconstruct(*args, **kwargs).astype(np.float32)
        refs.append(weakref.ref(vol))
        return vol

    recon(sim, out / "v.h5", work, method="wbp", chunk=1, executor=executor,
          workers=1 if executor == "synchronous" else 2, reconstruct_fn=tracking)  # fmt: skip
    assert len(alive_counts) == NY
    # at most the blocks of the chunks still being handed to the writer (one per worker)
    assert max(alive_counts) <= 2, alive_counts


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_chunk_invariant(sim, out, work, method, tiny_weights):
    opts = dict(FAST.get(method, {}))
    if method in DEEP_METHODS:
        opts["model"] = str(tiny_weights)
    ref = plain_loop(sim, method, opts)
    recon(sim, out / "v.h5", work, method=method, options=opts, chunk=4)
    vol = tio.read_volume(out / "v.h5")[0]
    if method in DEEP_METHODS:  # a batch of 4 slices per network pass vs one at a time
        np.testing.assert_allclose(vol, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    else:
        np.testing.assert_array_equal(vol, ref)


def test_deep_method_in_worker_processes(sim, out, work, tiny_weights):
    """Each worker process loads the model (once) and batches its chunk's slices."""
    opts = {"model": str(tiny_weights), "iterations": 10}
    ref = plain_loop(sim, "joint", opts)
    recon(sim, out / "v.h5", work, method="joint", options=opts, chunk=3, workers=2,
          executor="processes")  # fmt: skip
    vol = tio.read_volume(out / "v.h5")[0]
    np.testing.assert_allclose(vol, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_formats_slices_and_inputs(sim, tmp_path, out, work):
    ref = plain_loop(sim)
    s = tio.read_tilt_series(sim)
    h5 = tmp_path / "sim.h5"
    tio.write_tilt_series(h5, np.asarray(s.data), s.angles_deg)
    recon(h5, out / "a.tif", work, slices=(1, 5), chunk=3)
    np.testing.assert_array_equal(tio.read_volume(out / "a.tif")[0], ref[1:5])
    recon(s, out / "b.mrc", work, slices=slice(2, 6), chunk=1)  # a TiltSeries
    np.testing.assert_array_equal(tio.read_volume(out / "b.mrc")[0], ref[2:6])
    # a directory of single-image TIFF files: read one image at a time
    d = tmp_path / "tilts"
    d.mkdir()
    for i, img in enumerate(np.asarray(s.data)):
        tifffile.imwrite(d / f"tilt_{i:03d}.tif", img)
    recon(d, out / "c.h5", work, angles=s.angles_deg, chunk=4)
    np.testing.assert_array_equal(tio.read_volume(out / "c.h5")[0], ref)
    assert files_in(out) == ["a.tif", "a.tif.json", "b.mrc", "b.mrc.json", "c.h5", "c.h5.json"]


# --------------------------------------------------------------------------- dask.distributed


def test_local_cluster_threads(sim, out):
    from distributed import LocalCluster

    ref = plain_loop(sim, "sirt", FAST["sirt"])
    with LocalCluster(
        n_workers=1,
        processes=False,
        threads_per_worker=2,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    ) as cluster:
        res = reconstruct_volume(
            sim, out / "v.mrc", method="sirt", options=FAST["sirt"], chunk=2,
            scheduler=cluster.scheduler_address, device="cpu",
        )  # fmt: skip
    np.testing.assert_array_equal(tio.read_volume(out / "v.mrc")[0], ref)
    assert res.config["execution"]["scheduler"].startswith("tcp://127.0.0.1:")
    # a cluster run keeps its chunks beside the output; gone once complete
    assert files_in(out) == ["v.mrc", "v.mrc.json"]


@pytest.mark.slow
def test_local_cluster_two_processes(sim, out):
    from distributed import Client, LocalCluster

    ref = plain_loop(sim, "sart", FAST["sart"])
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        reconstruct_volume(
            sim, out / "v.mrc", method="sart", options=FAST["sart"], chunk=1, scheduler=client
        )
    np.testing.assert_array_equal(tio.read_volume(out / "v.mrc")[0], ref)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.slow
def test_cli_against_separate_scheduler_and_worker(sim, out, tmp_path):
    """``--scheduler tcp://127.0.0.1:PORT`` with ``dask scheduler`` / ``dask worker`` processes."""
    from distributed import Client

    dask_cli = Path(sys.executable).parent / "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = [open(tmp_path / f"{n}.log", "w") for n in ("scheduler", "worker")]  # noqa: SIM115
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    dask_cli,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-dashboard",
                ],
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )  # fmt: skip
        )
        procs.append(
            subprocess.Popen(
                [
                    dask_cli,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--no-dashboard",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                ],
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )  # fmt: skip
        )
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=90)
        r = CliRunner().invoke(
            cli.main,
            ["reconstruct", str(sim), "-o", str(out / "v.mrc"), "--method", "sart",
             "--sweeps", "3", "--chunk", "2", "--scheduler", address, "--device", "cpu"],
        )  # fmt: skip
        assert r.exit_code == 0, (r.output, (tmp_path / "worker.log").read_text()[-2000:])
    finally:
        for p in reversed(procs):
            _stop(p)
        for f in logs:
            f.close()
    np.testing.assert_array_equal(
        tio.read_volume(out / "v.mrc")[0], plain_loop(sim, "sart", FAST["sart"])
    )
    meta = json.loads((out / "v.mrc.json").read_text())
    assert meta["execution"]["scheduler"] == address
    assert files_in(out) == ["v.mrc", "v.mrc.json"]


# --------------------------------------------------------------------------- resume and atomicity


def test_resume_after_failure(sim, tmp_path, out, work):
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    opts = FAST["sart"]
    recon(sim, ref_dir / "v.h5", tmp_path / "w0", method="sart", options=opts, chunk=1)

    fn = Counting(fail_at=3)
    with pytest.raises(RuntimeError, match="boom in call 3"):
        recon(sim, out / "v.h5", work, method="sart", options=opts, chunk=1, reconstruct_fn=fn)
    assert files_in(out) == []  # nothing at (or beside) the output path
    wd = work_dir_for(out / "v.h5", work)
    chunks = sorted(p.name for p in wd.glob("chunk-*.npy"))
    assert chunks == ["chunk-000000-000001.npy", "chunk-000001-000002.npy"]

    fn.fail_at = None
    fn.calls = 0
    res = recon(sim, out / "v.h5", work, method="sart", options=opts, chunk=1, reconstruct_fn=fn)
    assert fn.calls == NY - 2 and res.chunks_reused == 2
    assert (out / "v.h5").read_bytes() == (ref_dir / "v.h5").read_bytes()
    assert files_in(out) == ["v.h5", "v.h5.json"] and not wd.exists()


def test_failure_before_any_chunk_leaves_nothing(sim, out, work):
    with pytest.raises(ValueError, match="boom in call 1"):
        recon(sim, out / "v.mrc", work, reconstruct_fn=Counting(fail_at=1, exc=ValueError))
    assert files_in(out) == [] and files_in(work) == []


def test_stale_or_unwanted_work_dir_is_discarded(sim, out, work, caplog):
    caplog.set_level(logging.INFO, logger="tomoinpaint")
    fn = Counting(fail_at=3)
    with pytest.raises(RuntimeError):
        recon(sim, out / "v.mrc", work, chunk=1, reconstruct_fn=fn)
    # other parameters: the two finished chunks are stale
    fn.fail_at, fn.calls = None, 0
    recon(sim, out / "v.mrc", work, chunk=1, options={"filter": "hann"}, reconstruct_fn=fn)
    assert fn.calls == NY
    assert "discarding 2 finished chunk(s)" in caplog.text
    np.testing.assert_array_equal(
        tio.read_volume(out / "v.mrc")[0], plain_loop(sim, options={"filter": "hann"})
    )
    # same parameters, resume=False: start over
    (out / "v.mrc").unlink()
    (out / "v.mrc.json").unlink()
    fn.fail_at, fn.calls = 4, 0
    with pytest.raises(RuntimeError):
        recon(sim, out / "v.mrc", work, chunk=1, reconstruct_fn=fn)
    fn.fail_at, fn.calls = None, 0
    res = recon(sim, out / "v.mrc", work, chunk=1, reconstruct_fn=fn, resume=False)
    assert fn.calls == NY and res.chunks_reused == 0
    assert "resuming is off" in caplog.text


def test_damaged_chunk_is_recomputed(sim, out, work):
    fn = Counting(fail_at=4)
    with pytest.raises(RuntimeError):
        recon(sim, out / "v.mrc", work, chunk=1, reconstruct_fn=fn)
    wd = work_dir_for(out / "v.mrc", work)
    p = wd / "chunk-000001-000002.npy"
    p.write_bytes(p.read_bytes()[:100])  # truncated, e.g. by a crash of the machine
    (wd / ".chunk-000003-000004.tmp-0000abcd.npy").write_bytes(b"partial")  # a killed writer's
    fn.fail_at, fn.calls = None, 0
    res = recon(sim, out / "v.mrc", work, chunk=1, reconstruct_fn=fn)
    assert res.chunks_reused == 2 and fn.calls == NY - 2
    np.testing.assert_array_equal(tio.read_volume(out / "v.mrc")[0], plain_loop(sim))


def test_existing_output_refused_before_any_work(sim, out, work):
    (out / "v.mrc").write_bytes(b"keep me")
    fn = Counting()
    with pytest.raises(tio.OutputExistsError, match="exists"):
        recon(sim, out / "v.mrc", work, reconstruct_fn=fn)
    assert fn.calls == 0 and not work.exists()
    assert (out / "v.mrc").read_bytes() == b"keep me"
    res = recon(sim, out / "v.mrc", work, overwrite=True)
    assert res.shape == (NY, N, N) and (out / "v.mrc").stat().st_size > 1000


def test_concurrent_run_is_refused(sim, out, work):
    wd = WorkDir(work_dir_for(out / "v.mrc", work))
    with wd.session("somebody-else", {}), pytest.raises(WorkDirBusyError, match="another run"):
        recon(sim, out / "v.mrc", work)
    assert files_in(out) == []


def test_prune_abandoned_work_dirs(tmp_path):
    root = tmp_path / "root"
    old, new, foreign = root / "old", root / "new", root / "foreign"
    for d in (old, new, foreign):
        d.mkdir(parents=True)
        (d / "chunk-000000-000001.npy").write_bytes(b"x")
    for d in (old, new):
        (d / "manifest.json").write_text("{}")
    # the auto choice kept beside a work directory goes when as old; other files stay
    side_old, side_new, other = root / "old.auto.json", root / "new.auto.json", root / "x.json"
    for f in (side_old, side_new, other):
        f.write_text("{}")
    past = time.time() - 40 * 86400
    for p in (*old.iterdir(), *foreign.iterdir(), side_old, other):
        os.utime(p, (past, past))
    assert prune_work_dirs(root, max_age_days=30) == 1
    assert files_in(root) == ["foreign", "new", "new.auto.json", "x.json"]


def _wait_for(predicate, proc, timeout: float, watch: Path) -> None:
    """Poll until ``predicate()``; the output path must never exist meanwhile."""
    end = time.monotonic() + timeout
    while not predicate():
        assert not watch.exists(), "the output appeared before the run was complete"
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@pytest.mark.slow
def test_kill_9_then_same_command_gives_identical_file(sim, tmp_path):
    """A real ``kill -9`` of the CLI mid-run, then the same command: the same file.

    HDF5 output, compared byte for byte (an MRC file's header holds mrcfile's
    creation time, so two MRC runs differ in that label only).
    """
    args = ["--method", "tv", "--iterations", "1500", "--chunk", "1", "--device", "cpu"]
    work = tmp_path / "work"
    out = tmp_path / "out"
    ref = tmp_path / "ref"
    out.mkdir()
    ref.mkdir()
    cmd = [sys.executable, "-m", "tomoinpaint", "-v", "reconstruct", str(sim), *args]
    dst = out / "v.h5"
    wd = work_dir_for(dst, work)

    # killed while 2 worker processes compute; resumed (and compared) with 1 worker
    first = [*cmd, "-o", str(dst), "--work-dir", str(work), "--workers", "2"]
    proc = subprocess.Popen(first, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(list(wd.glob("chunk-*.npy"))) >= 2, proc, 120, dst)
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "worker processes outlived the killed client"
    done = len(list(wd.glob("chunk-*.npy")))
    assert 2 <= done < NY, done
    assert not dst.exists() and not (out / "v.h5.json").exists()

    # the same command again: resumes, and the output appears only complete
    proc = subprocess.Popen(
        [*cmd, "-o", str(dst), "--work-dir", str(work)], stderr=subprocess.PIPE, text=True
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"resuming from {done} finished chunk(s)" in err
    assert files_in(out) == ["v.h5", "v.h5.json"]  # stale temporaries removed too
    assert not wd.exists()

    r = subprocess.run([*cmd, "-o", str(ref / "v.h5")], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() == (ref / "v.h5").read_bytes()


# --------------------------------------------------------------------------- DXchange preprocessing


@pytest.fixture(scope="module")
def dxchange(tmp_path_factory, sim) -> Path:
    """Raw counts of the simulated series, off centre by 2 px, with flats, darks and a stripe."""
    d = tmp_path_factory.mktemp("dx")
    p = np.asarray(tio.read_tilt_series(sim).data, dtype=np.float64)
    angles = tio.read_angle_file(sim.with_suffix(".tlt"))
    mu = 1.0 / p.max()
    i0, dark = 5000.0, 100.0
    counts = np.full_like(p, i0)
    counts[..., 2:] = i0 * np.exp(-mu * p[..., :-2])
    counts[:, :, 9] *= 0.97  # a detector column with a different gain: a ring
    rng = np.random.default_rng(0)
    flats = i0 + dark + rng.normal(0, 5, (3, NY, N))
    darks = dark + rng.normal(0, 1, (2, NY, N))
    path = d / "raw.h5"
    write_dxchange(path, counts + dark, angles, flats=flats, darks=darks)
    return path


@pytest.mark.parametrize("center", ["auto", 17.5])
def test_prep_per_chunk_equals_prep_of_whole(dxchange, out, work, center):
    s = tio.read_tilt_series(dxchange)
    sino, c_used = tprep.preprocess(s.load(), s.flats, s.darks, s.angles_deg, center=center)
    ref = reconstruct(sino.transpose(1, 0, 2), s.angles_deg, "wbp", device="cpu")
    res = recon(dxchange, out / "v.h5", work, chunk=4, prep=Prep(center=center))
    np.testing.assert_array_equal(tio.read_volume(out / "v.h5")[0], ref)
    assert res.config["prep"]["center_used"] == pytest.approx(c_used)
    assert res.config["prep"]["rings"] is True


def test_prep_rows_only_and_tooth(out, work):
    s = tio.read_tilt_series(TOOTH)
    sino, c_used = tprep.preprocess(s.load(), s.flats, s.darks, s.angles_deg)
    ref = reconstruct(sino.transpose(1, 0, 2), s.angles_deg, "wbp", device="cpu")
    res = recon(TOOTH, out / "t.mrc", work, chunk=1)  # prep on: the file has flats
    np.testing.assert_array_equal(tio.read_volume(out / "t.mrc")[0], ref)
    assert res.config["prep"]["center_used"] == pytest.approx(c_used)
    assert c_used == pytest.approx(295.0, abs=2.0)


# --------------------------------------------------------------------------- options, hooks, CLI


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"executor": "cluster"}, ["executor", "cluster"]),
        ({"executor": "synchronous", "workers": 2}, ["synchronous", "workers=2"]),
        ({"scheduler": "tcp://127.0.0.1:1", "workers": 2}, ["workers", "scheduler"]),
        ({"chunk": 0}, ["chunk"]),
        ({"workers": 0}, ["workers"]),
        ({"options": {"sweeps": 3}}, ["sweeps", "wbp"]),
        ({"method": "magic"}, ["magic"]),
        ({"prep": Prep(center=1000.0)}, ["center", "detector"]),  # line integrals: centre
        ({"slices": (4, 9)}, ["slices"]),
        ({"device": "tpu"}, ["device", "tpu"]),
    ],
)
def test_bad_arguments_refused_before_any_work(sim, out, work, kwargs, words):
    with pytest.raises(ValueError) as info:
        recon(sim, out / "v.mrc", work, **kwargs)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert files_in(out) == [] and not work.exists()


def test_cached_model_loads_once():
    calls = []

    def load(weights, device):
        calls.append((weights, device))
        return object()

    a = cached_model(load, "w.safetensors", "cpu")
    assert cached_model(load, Path("w.safetensors"), "cpu") is a
    assert cached_model(load, "w.safetensors", "cuda") is not a
    assert calls == [("w.safetensors", "cpu"), ("w.safetensors", "cuda")]


def test_cached_model_reloads_weights_rewritten_in_place(tmp_path):
    # adapt writes its weights into a directory a process may already have
    # reconstructed with: the cache must not keep serving the old network
    calls = []

    def load(weights, device):
        calls.append(weights)
        return object()

    d = tmp_path / "adapted"
    d.mkdir()
    (d / "net.safetensors").write_bytes(b"round 1")
    (d / "net.json").write_text("{}")
    a = cached_model(load, d, "cpu")
    assert cached_model(load, d, "cpu") is a
    (d / "net.safetensors").write_bytes(b"round 2, longer")
    b = cached_model(load, d, "cpu")
    assert b is not a
    assert cached_model(load, d, "cpu") is b
    assert calls == [str(d), str(d)]


def test_progress_bar(sim, out, work, capsys):
    recon(sim, out / "v.mrc", work, chunk=2, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "chunk" in err and "ETA" in err


def test_progress_bar_counts_resumed_chunks_once(sim, out, work, capsys):
    fn = Counting(fail_at=2)
    with pytest.raises(RuntimeError):
        recon(sim, out / "v.mrc", work, chunk=2, reconstruct_fn=fn)
    capsys.readouterr()
    fn.fail_at = None
    res = recon(sim, out / "v.mrc", work, chunk=2, reconstruct_fn=fn, progress=True)
    assert res.chunks_reused == 1
    counts = re.findall(r"\| (\d+)/\S* \[", capsys.readouterr().err)
    assert counts and max(int(c) for c in counts) == 3


def test_time_left_from_the_last_chunks_per_worker():
    now = [0.0]
    left = TimeLeft(workers=2, clock=lambda: now[0])
    assert left.estimate(5) is None and left.text(5) == "ETA ?"
    left.started("a")
    left.started("b")
    now[0] = 30.0
    left.add(30.0, "a")  # a first chunk that also paid the worker's start-up
    left.started("c")
    # b has run 30 s of its 30: done now; c and 2 queued share 2 workers: 30 + 30
    assert left.estimate(4) == pytest.approx(60.0)
    now[0] = 40.0
    left.add(40.0, "b")
    left.started("d")
    now[0] = 50.0
    left.add(20.0, "c")  # the start-up is out of the last two chunks: 30 s per chunk
    left.started("e")
    # d has run 10 s (20 left), e none (30 left), one more queued after d: 20 + 30
    assert left.estimate(3) == pytest.approx(50.0)
    assert left.estimate(2) == pytest.approx(30.0)  # d and e: the later one
    assert left.estimate(0) == 0.0
    assert left.text(3).startswith("ETA 00:50, 30.0 s/chunk")
    # without start times (another scheduler): chunks left shared out, as by rounds
    plain = TimeLeft(workers=2)
    plain.add(10.0)
    assert plain.estimate(4) == pytest.approx(20.0) and plain.estimate(1) == pytest.approx(10.0)


def test_cli_workers_and_options(sim, out, work):
    run = CliRunner().invoke
    r = run(
        cli.main,
        ["reconstruct", str(sim), "-o", str(out / "v.mrc"), *WBP, "--workers", "2", "--executor",
         "threads", "--chunk", "2", "--work-dir", str(work)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(tio.read_volume(out / "v.mrc")[0], plain_loop(sim))
    for extra, word in [
        (["--executor", "synchronous", "--workers", "2"], "synchronous"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers"),
        (["--scheduler", "tcp://127.0.0.1:1", "--executor", "threads"], "--executor"),
    ]:
        r = run(cli.main, ["reconstruct", str(sim), "-o", str(out / "w.mrc"), *WBP, *extra])
        assert r.exit_code == 2 and word in r.stderr, r.output
    assert files_in(out) == ["v.mrc", "v.mrc.json"]


def test_cli_no_resume(sim, out, work, monkeypatch):
    fn = Counting(fail_at=2)
    monkeypatch.setattr(cli, "reconstruct", fn)
    argv = ["reconstruct", str(sim), "-o", str(out / "v.mrc"), *WBP, "--chunk", "2"]
    argv += ["--work-dir", str(work)]
    r = CliRunner().invoke(cli.main, argv)
    assert r.exit_code == 1 and files_in(out) == []
    fn.fail_at, fn.calls = None, 0
    r = CliRunner().invoke(cli.main, argv)
    assert r.exit_code == 0 and fn.calls == 2 and "1 of 3 chunks resumed" in r.stdout
    (out / "v.mrc").unlink()
    (out / "v.mrc.json").unlink()
    fn.fail_at, fn.calls = 3, 0
    assert CliRunner().invoke(cli.main, argv).exit_code == 1
    fn.fail_at, fn.calls = None, 0
    r = CliRunner().invoke(cli.main, [*argv, "--no-resume"])
    assert r.exit_code == 0 and fn.calls == 3


def test_cli_exclude_equals_the_series_with_those_views_deleted(sim, out, work, tmp_path):
    """``--exclude`` (IMOD's EXCLUDELIST, numbered from 1) reconstructs what the file with
    those views and their angles deleted gives, in worker processes too; the sidecar says
    which views were used, and a resume never mixes chunks of another exclusion."""
    s = tio.read_tilt_series(sim)
    keep = np.setdiff1d(np.arange(s.n_tilts), [0, 9, 10, 11])
    cut = tmp_path / "cut.mrc"
    tio.write_tilt_series(cut, s.load()[keep], s.angles_deg[keep])
    ref = plain_loop(cut, "sart", FAST["sart"])
    assert not np.array_equal(ref, plain_loop(sim, "sart", FAST["sart"]))
    argv = ["reconstruct", str(sim), "-o", str(out / "v.mrc"), "--method", "sart",
            "--sweeps", "3", "--chunk", "2", "--work-dir", str(work)]  # fmt: skip
    r = CliRunner().invoke(cli.main, [*argv, "--exclude", "1,10-12", "--workers", "2"])
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(tio.read_volume(out / "v.mrc")[0], ref)
    meta = json.loads((out / "v.mrc.json").read_text())
    assert meta["views_used"] == "2-9,13-31" and meta["exclude"] == "1,10-12"
    assert len(meta["angles_deg"]) == keep.size

    # interrupted with one exclusion, run again with another: nothing of the first is reused
    fn = Counting(fail_at=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "reconstruct", fn)
        r = CliRunner().invoke(cli.main, [*argv[:2], "-o", str(out / "w.mrc"), *argv[4:],
                                          "--exclude", "5"])  # fmt: skip
        assert r.exit_code == 1
        fn.fail_at, fn.calls = None, 0
        r = CliRunner().invoke(cli.main, [*argv[:2], "-o", str(out / "w.mrc"), *argv[4:],
                                          "--exclude", "1,10-12"])  # fmt: skip
    assert r.exit_code == 0 and fn.calls == 3 and "resumed" not in r.stdout
    np.testing.assert_array_equal(tio.read_volume(out / "w.mrc")[0], ref)

    r = CliRunner().invoke(cli.main, [*argv, "--exclude", "3-40", "--overwrite"])
    assert r.exit_code == 2 and "view 40 does not exist" in r.stderr, r.output
    r = CliRunner().invoke(cli.main, [*argv, "--exclude", "2-30", "--overwrite"])
    assert r.exit_code == 1 and "besides the views left out" in r.stderr, r.output


def test_cli_bin_equals_the_binned_file_reconstructed(sim, out, work, tmp_path):
    """``--bin 2`` (IMOD's newstack -bin) reconstructs what the file binned beforehand
    gives, with views excluded and in worker processes too; the volume has twice the
    voxel size, the sidecar and the benchmark report say the binning, and a binning the
    detector cannot take is refused in one line before anything is written."""
    s = tio.read_tilt_series(sim)
    src = tmp_path / "vs.mrc"
    tio.write_tilt_series(src, s.load(), s.angles_deg, voxel_size=3.0)
    keep = np.setdiff1d(np.arange(s.n_tilts), [4])
    binned = tmp_path / "binned.mrc"
    tio.write_tilt_series(binned, bin_images(s.load()[keep], 2), s.angles_deg[keep])
    ref = plain_loop(binned, "sart", FAST["sart"])
    assert ref.shape == (NY // 2, N // 2, N // 2)
    argv = ["reconstruct", str(src), "--method", "sart", "--sweeps", "3", "--chunk", "1",
            "--work-dir", str(work)]  # fmt: skip
    r = CliRunner().invoke(
        cli.main, [*argv, "-o", str(out / "v.mrc"), "--bin", "2", "--exclude", "5",
                   "--workers", "2"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    vol, voxel = tio.read_volume(out / "v.mrc")
    np.testing.assert_array_equal(vol, ref)
    assert voxel == pytest.approx(6.0)
    meta = json.loads((out / "v.mrc.json").read_text())
    assert meta["binning"] == 2 and meta["voxel_size"] == pytest.approx(6.0)

    r = CliRunner().invoke(
        cli.main,
        ["benchmark", str(src), "-o", str(out / "bench"), "--methods", "wbp,sart", "--bin", "2"],
    )
    assert r.exit_code == 0, r.output
    report = (out / "bench" / "report.md").read_text()
    assert "**binning**: 2" in report and f"({s.n_tilts} x {NY // 2} x {N // 2})" in report

    r = CliRunner().invoke(cli.main, [*argv, "-o", str(out / "w.mrc"), "--bin", "5"])
    assert r.exit_code == 2 and "binning 5 leaves 6 x 1 pixels of the 32 x 6" in r.stderr
    assert not (out / "w.mrc").exists() and not (out / "w.mrc.json").exists()


def test_benchmark_bin_bins_a_full_size_reference(sim, out, tmp_path):
    """``benchmark --bin 2 --reference`` takes the reference of the full-size series and
    bins it as the series (block means, times 2: a binned reconstruction's values are per
    binned voxel): the scores equal those against the reference binned beforehand; a
    reference of neither size is refused in one line naming both."""
    full = plain_loop(sim, "sart", FAST["sart"])
    assert full.shape == (NY, N, N)
    tio.write_volume(tmp_path / "full.mrc", full)
    tio.write_volume(tmp_path / "binned.mrc", 2.0 * bin_volume_rows(full, 2, range(NY // 2)))
    argv = ["benchmark", str(sim), "--methods", "wbp", "--bin", "2", "--sample", "3"]
    scores = []
    for name in ("full", "binned"):
        r = CliRunner().invoke(
            cli.main, [*argv, "-o", str(out / name), "--reference", str(tmp_path / f"{name}.mrc")]
        )
        assert r.exit_code == 0, r.output
        scores.append(json.loads((out / name / "report.json").read_text())["reference"]["wbp"])
    assert scores[0]["psnr"] == pytest.approx(scores[1]["psnr"], abs=1e-4)
    assert scores[0]["ssim"] == pytest.approx(scores[1]["ssim"], abs=1e-6)
    # a reference without the factor of 2 would score far lower: the units are checked
    tio.write_volume(tmp_path / "means.mrc", bin_volume_rows(full, 2, range(NY // 2)))
    r = CliRunner().invoke(
        cli.main, [*argv, "-o", str(out / "means"), "--reference", str(tmp_path / "means.mrc")]
    )
    assert r.exit_code == 0, r.output
    means = json.loads((out / "means" / "report.json").read_text())["reference"]["wbp"]
    assert means["psnr"] < scores[0]["psnr"] - 3.0
    tio.write_volume(tmp_path / "odd.mrc", full[:, :30, :30])
    r = CliRunner().invoke(
        cli.main, [*argv, "-o", str(out / "odd"), "--reference", str(tmp_path / "odd.mrc")]
    )
    assert r.exit_code != 0
    need = f"({NY // 2}, {N // 2}, {N // 2}), or ({NY}, {N}, {N}) before binning by 2"
    assert f"has shape ({NY}, 30, 30); the series needs {need}" in r.stderr
    assert not (out / "odd").exists()


def test_cli_bin_on_raw_counts_bins_the_flat_fields_as_the_projections(out, work):
    """Raw counts with flat fields, binned: counts, flats and darks are averaged alike
    before the minus-log (a binned readout), in the chunk tasks as in memory; the rotation
    axis is found on the binned detector."""
    s = tio.read_tilt_series(TOOTH).binned(2)
    sino, c_used = tprep.preprocess(s.load(), s.flats, s.darks, s.angles_deg)
    ref = reconstruct(sino.transpose(1, 0, 2), s.angles_deg, "wbp", device="cpu")
    r = CliRunner().invoke(
        cli.main,
        ["reconstruct", str(TOOTH), "-o", str(out / "t.mrc"), *WBP, "--bin", "2",
         "--work-dir", str(work)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    vol = tio.read_volume(out / "t.mrc")[0]
    assert vol.shape == (1, 320, 320)
    np.testing.assert_allclose(vol, ref, rtol=0, atol=1e-6 * float(np.abs(ref).max()))
    meta = json.loads((out / "t.mrc.json").read_text())
    assert meta["prep"]["center_used"] == pytest.approx(c_used)
    assert c_used == pytest.approx(295.0 / 2, abs=1.0)  # the unbinned axis, halved


@pytest.mark.parametrize("suffix", [".mrc", ".h5"])
def test_thickness_keeps_a_slab_of_every_slice(sim, out, work, suffix):
    """``--thickness``/``--z-shift`` (IMOD tilt's THICKNESS and SHIFT z): the volume holds
    rows z0..z1-1 of every slice the whole reconstruction gives, in worker processes too;
    a slab that leaves the slice is refused before any work; resume keys on the slab."""
    ref = plain_loop(sim, "sart", FAST["sart"])  # (6, 32, 32)
    argv = ["reconstruct", str(sim), "--method", "sart", "--sweeps", "3", "--chunk", "2",
            "--work-dir", str(work), "--thickness", "10", "--z-shift", "3"]  # fmt: skip
    dst = out / f"v{suffix}"
    r = CliRunner().invoke(cli.main, [*argv, "-o", str(dst), "--workers", "2"])
    assert r.exit_code == 0, r.output
    vol = tio.read_volume(dst)[0]
    assert vol.shape == (6, 10, 32)  # rows 14..23: (32 - 10) / 2 + 3
    np.testing.assert_array_equal(vol, ref[:, 14:24, :])
    meta = json.loads(Path(f"{dst}.json").read_text())
    assert meta["slab"] == [14, 24] and meta["shape"] == [6, 10, 32]

    # interrupted with another slab, then this one: nothing of the other is reused
    fn = Counting(fail_at=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "reconstruct", fn)
        other = [*argv[:-2], "--z-shift", "-3", "-o", str(out / "w.mrc")]
        assert CliRunner().invoke(cli.main, other).exit_code == 1
        fn.fail_at, fn.calls = None, 0
        r = CliRunner().invoke(cli.main, [*argv, "-o", str(out / "w.mrc")])
    assert r.exit_code == 0 and fn.calls == 3 and "resumed" not in r.stdout
    np.testing.assert_array_equal(tio.read_volume(out / "w.mrc")[0], ref[:, 14:24, :])

    before = files_in(out)
    for extra, words in [
        (["--thickness", "33"], "1..32"),
        (["--thickness", "10", "--z-shift", "12"], "leaves the 32-pixel slice"),
        (["--z-shift", "1"], "leaves the 32-pixel slice"),  # the whole slice cannot move
    ]:
        r = CliRunner().invoke(cli.main, [*argv[:-4], *extra, "-o", str(out / "x.mrc")])
        assert r.exit_code == 1 and words in r.stderr, r.output
    assert files_in(out) == before


def test_thickness_with_wbp_back_projects_only_the_slab(sim, out, work):
    """WBP computes a slab by itself (pixel by pixel): the same rows as the whole slice, from
    a method call that returned only them; a slab given as the method's option is refused."""
    shapes = []

    def recording(*args, **kwargs):
        image = reconstruct(*args, **kwargs)
        shapes.append(image.shape)
        return image

    res = recon(sim, out / "v.mrc", work, method="wbp", chunk=3, thickness=10, z_shift=3,
                reconstruct_fn=recording)  # fmt: skip
    ref = plain_loop(sim)
    np.testing.assert_allclose(tio.read_volume(out / "v.mrc")[0], ref[:, 14:24],
                               atol=1e-5 * np.abs(ref).max())  # fmt: skip
    assert shapes == [(3, 10, 32), (3, 10, 32)]
    assert res.config["slab"] == [14, 24] and "slab" not in res.config["options"]
    with pytest.raises(ValueError, match="thickness= and z_shift="):
        recon(sim, out / "w.mrc", work, method="wbp", options={"slab": (0, 4)})
    assert files_in(out) == ["v.mrc", "v.mrc.json"]


@pytest.mark.parametrize("method", ["sart", "tv"])
def test_slab_only_reconstructs_inside_the_slab(sim, out, work, method):
    """``--slab-only``: SART and TV compute inside the slab (a support constraint), in chunks
    as in one call; refused without a thickness, for a method without a slab, and for auto."""
    shapes = []

    def recording(*args, **kwargs):
        image = reconstruct(*args, **kwargs)
        shapes.append(image.shape)
        return image

    res = recon(sim, out / "v.mrc", work, method=method, options=FAST[method], chunk=3,
                thickness=10, z_shift=3, slab_only=True, reconstruct_fn=recording)  # fmt: skip
    s = tio.read_tilt_series(sim)
    want = reconstruct(np.asarray(s.sinograms(0, 6)), s.angles_deg, method, device="cpu",
                       slab=(14, 24), **FAST[method])  # fmt: skip
    np.testing.assert_array_equal(tio.read_volume(out / "v.mrc")[0], want)
    assert shapes == [(3, 10, 32), (3, 10, 32)] and res.config["slab_only"] is True
    assert not np.allclose(want, plain_loop(sim, method, FAST[method])[:, 14:24])

    for kw, words in [
        ({"method": "sart"}, "needs a thickness"),
        ({"method": "joint", "thickness": 10}, "joint reconstructs whole slices"),
    ]:
        with pytest.raises(ValueError, match=words):
            recon(sim, out / "w.mrc", work, slab_only=True, **kw)
    r = CliRunner().invoke(cli.main, ["reconstruct", str(sim), "-o", str(out / "w.mrc"),
                                      "--thickness", "10", "--slab-only"])  # fmt: skip
    assert r.exit_code == 2 and "not to auto" in r.stderr, r.output
    assert files_in(out) == ["v.mrc", "v.mrc.json"]


# --------------------------------------------------------------------------- pipelines


def _script(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pipeline_et_tilt_series(sim, out, work, tmp_path):
    r = _script("et_tilt_series.py", "--help")
    assert r.returncode == 0 and "--workers" in r.stdout
    cfg = tmp_path / "et.json"
    cfg.write_text(json.dumps({"method": "sirt", "options": {"iterations": 20}, "chunk": 4}))
    r = _script(
        "et_tilt_series.py", sim, "-o", out / "v.mrc", "--config", cfg, "--work-dir", work,
        "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(
        tio.read_volume(out / "v.mrc")[0], plain_loop(sim, "sirt", FAST["sirt"])
    )
    meta = json.loads((out / "v.mrc.json").read_text())
    assert meta["pipeline"]["recipe"] == "et_tilt_series"
    assert meta["pipeline"]["config"]["options"] == {"iterations": 20}
    cfg.write_text(json.dumps({"methd": "sirt"}))
    r = _script("et_tilt_series.py", sim, "-o", out / "w.mrc", "--config", cfg)
    assert r.returncode == 2 and "unknown key(s) methd" in r.stderr

    # bad views left out and a slab kept, as IMOD's EXCLUDELIST and THICKNESS / SHIFT
    s = tio.read_tilt_series(sim)
    keep = np.setdiff1d(np.arange(s.n_tilts), [0, 9, 10, 11])
    tio.write_tilt_series(tmp_path / "cut.mrc", s.load()[keep], s.angles_deg[keep])
    ref = plain_loop(tmp_path / "cut.mrc", "sart", FAST["sart"])[:, 14:24]
    r = _script(
        "et_tilt_series.py", sim, "-o", out / "slab.mrc", "--method", "sart", "--sweeps", 3,
        "--exclude", "1,10-12", "--thickness", 10, "--z-shift", 3, "--work-dir", work,
        "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(tio.read_volume(out / "slab.mrc")[0], ref)
    r = _script("et_tilt_series.py", sim, "-o", out / "x.mrc", "--exclude", "0")
    assert r.returncode == 1 and "view 0 does not exist" in r.stderr


def test_pipeline_facility_hdf5_on_tooth(out, work):
    r = _script("facility_hdf5.py", "--help")
    assert r.returncode == 0 and "--center" in r.stdout
    r = _script(
        "facility_hdf5.py", TOOTH, "-o", out / "t.h5", "--slices", "1:2", "--work-dir", work,
        "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "t.h5.json").read_text())
    assert meta["pipeline"]["recipe"] == "facility_hdf5"
    assert meta["prep"]["center_used"] == pytest.approx(295.0, abs=2.0)
    vol = tio.read_volume(out / "t.h5")[0]
    assert vol.shape == (1, 640, 640)
    assert vol[0, 250:350, 250:350].mean() > 10 * abs(vol[0, :60, :60].mean())
    assert method_options("wbp")  # the recipe's default method exists
    assert meta["prep"]["ring_window"] == 7  # about 1 % of the 640-px detector
    r = _script(
        "facility_hdf5.py", TOOTH, "-o", out / "w.h5", "--slices", "1:2", "--work-dir", work,
        "--device", "cpu", "--ring-window", "21",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "w.h5.json").read_text())["prep"]["ring_window"] == 21
    r = _script("facility_hdf5.py", TOOTH, "-o", out / "x.h5", "--ring-window", "4")
    assert r.returncode != 0 and "ring window must be an odd number" in r.stderr
    assert not (out / "x.h5").exists()


@pytest.mark.slow
def test_worker_killed_mid_chunk_on_a_real_cluster(sim, out, tmp_path):
    """A dask.distributed worker process dies while computing a chunk: the scheduler reruns
    the chunk elsewhere and the volume equals an uninterrupted one."""
    from distributed import Client, LocalCluster

    marker = tmp_path / "killed"

    # A closure, not a module-level function: plain pickle cannot take it, so distributed
    # sends it by value (cloudpickle). A module-level one would go by reference to
    # `tests.test_volume`, which the workers can import only when the suite runs from the
    # repository root (`python -m pytest`); under plain `pytest` they could not, died on
    # every task, and the scheduler waited for workers forever.
    def kill_worker_once(*args, **kwargs):
        """Reconstruct, except that the first call kills its worker process (as an OOM kill)."""
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return reconstruct(*args, **kwargs)

    ref = plain_loop(sim, "sart", FAST["sart"])
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        reconstruct_volume(
            sim, out / "v.mrc", method="sart", options=FAST["sart"], chunk=1, scheduler=client,
            reconstruct_fn=kill_worker_once,
        )  # fmt: skip
    assert marker.exists()  # a worker did die
    np.testing.assert_array_equal(tio.read_volume(out / "v.mrc")[0], ref)
    assert files_in(out) == ["v.mrc", "v.mrc.json"]
