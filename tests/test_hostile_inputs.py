"""Hostile inputs: every refusal is one ``Error:`` line, a non-zero exit, no file left,
and nothing the user had is changed (issue 13)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tomoinpaint.cli as cli
import tomoinpaint.io as tio
from tomoinpaint.geometry import validate_angles
from tomoinpaint.io.mrc import check_header

WBP = ("--method", "wbp")


def run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def assert_refused(result, *words, code=None):
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    assert "Traceback" not in result.output


def snapshot(d: Path) -> dict[str, bytes]:
    """Every file of a directory (hidden ones too) and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    d = tmp_path_factory.mktemp("series")
    r = run("simulate", d / "s.mrc", "--n", 16, "--ny", 2, "--step", 10)
    assert r.exit_code == 0, r.output
    return d / "s.mrc"


@pytest.fixture
def work(tmp_path, series):
    """A directory holding a copy of the tilt series and its angles."""
    for name in ("s.mrc", "s.tlt"):
        (tmp_path / name).write_bytes((series.parent / name).read_bytes())
    return tmp_path


def _mrc_with_header(work: Path, name: str, **fields) -> Path:
    """A copy of s.mrc with header words replaced: nx, ny, nz, mode, nsymbt."""
    raw = bytearray((work / "s.mrc").read_bytes())
    offsets = {"nx": 0, "ny": 4, "nz": 8, "mode": 12, "nsymbt": 92}
    for key, value in fields.items():
        raw[offsets[key] : offsets[key] + 4] = struct.pack("<i", value)
    p = work / name
    p.write_bytes(bytes(raw))
    (work / name).with_suffix(".tlt").write_bytes((work / "s.tlt").read_bytes())
    return p


# --------------------------------------------------------------------------- MRC headers
@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"nx": -5}, ["nx=-5", "positive"]),
        ({"nz": -1}, ["nz=-1", "positive"]),
        ({"ny": 0}, ["ny=0", "positive"]),
        ({"nx": 1_000_000}, ["truncated"]),
        ({"mode": 1}, ["longer than its header", "mode 1"]),
        ({"mode": 77}, ["not an mrc header"]),
        ({"nsymbt": -4}, ["extended header", "positive"]),
        ({"nsymbt": 1024}, ["truncated"]),
    ],
)
def test_corrupt_mrc_header(work, fields, words):
    p = _mrc_with_header(work, "bad.mrc", **fields)
    before = snapshot(work)
    assert_refused(run("reconstruct", *WBP, p, "-o", work / "v.mrc"), "bad.mrc", *words, code=1)
    assert snapshot(work) == before


def test_truncated_mrc(work):
    p = work / "cut.mrc"
    p.write_bytes((work / "s.mrc").read_bytes()[:-10])
    (work / "cut.tlt").write_bytes((work / "s.tlt").read_bytes())
    assert_refused(run("reconstruct", *WBP, p, "-o", work / "v.mrc"), "truncated", code=1)
    assert not (work / "v.mrc").exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nx=st.integers(-(2**31), 2**31 - 1),
    ny=st.integers(-(2**31), 2**31 - 1),
    nz=st.integers(-(2**31), 2**31 - 1),
    mode=st.sampled_from([0, 1, 2, 3, 4, 6, 12, 101, -1, 5, 2**20]),
    nsymbt=st.integers(-(2**31), 2**31 - 1),
)
def test_random_headers_are_refused_or_consistent(tmp_path_factory, nx, ny, nz, mode, nsymbt):
    """Any header: a ValueError naming the file, or a file whose size matches the header."""
    d = tmp_path_factory.mktemp("hdr")
    header = bytearray(1024)
    header[0:16] = struct.pack("<4i", nx, ny, nz, mode)
    header[92:96] = struct.pack("<i", nsymbt)
    p = d / "h.mrc"
    body = 4 * 16 * 2 * 3
    p.write_bytes(bytes(header) + bytes(body))
    bytes_per = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2}
    if mode == 101:
        needed = (nx + 1) // 2 * ny * nz
    else:
        needed = nx * ny * nz * bytes_per.get(mode, 0)
    describes_file = (
        (mode in bytes_per or mode == 101)
        and min(nx, ny, nz) > 0
        and nsymbt >= 0
        and nsymbt + needed == body
    )
    try:
        check_header(p)
    except ValueError as exc:
        assert "h.mrc" in str(exc) and not describes_file
    else:
        assert describes_file


@pytest.mark.parametrize(("dims", "mode"), [((16, 2, 3), 2), ((16, 4, 3), 6), ((128, 2, 3), 101)])
def test_headers_that_describe_the_file_are_accepted(tmp_path, dims, mode):
    header = bytearray(1024)
    header[0:16] = struct.pack("<4i", *dims, mode)
    p = tmp_path / "ok.mrc"
    p.write_bytes(bytes(header) + bytes(4 * 16 * 2 * 3))
    check_header(p)


# --------------------------------------------------------------------------- paths
def test_output_that_is_the_input_is_refused(work):
    before = snapshot(work)
    for extra in ((), ("--overwrite",)):
        r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "s.mrc", *extra)
        assert_refused(r, "is the input", code=1)
    os.link(work / "s.mrc", work / "hard.mrc")
    (work / "soft.mrc").symlink_to(work / "s.mrc")
    for alias in ("hard.mrc", "soft.mrc"):
        r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / alias, "--overwrite")
        assert_refused(r, "is the input", code=1)
    assert (work / "s.mrc").read_bytes() == before["s.mrc"]


def test_output_below_a_file(work):
    r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "s.tlt" / "v.mrc")
    assert_refused(r, "s.tlt is a file", code=1)


def test_fifo_and_symlink_loop_inputs(work):
    os.mkfifo(work / "f.mrc")
    assert_refused(run("reconstruct", *WBP, work / "f.mrc", "-o", work / "v.mrc"), "FIFO")
    (work / "loop.mrc").symlink_to(work / "loop.mrc")
    r = run("reconstruct", *WBP, work / "loop.mrc", "-o", work / "v.mrc")
    assert_refused(r, "symbolic link", "loop")
    (work / "gone.mrc").symlink_to(work / "nowhere.mrc")
    assert_refused(run("reconstruct", *WBP, work / "gone.mrc", "-o", work / "v.mrc"), "dangling")
    assert not (work / "v.mrc").exists()


def test_directory_as_angle_file(work):
    (work / "angles").mkdir()
    r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "v.mrc", "--angles", work / "angles")
    assert_refused(r, "angle file", "directory")


# --------------------------------------------------------------------------- memory
def test_tiny_file_asking_for_a_huge_volume_is_refused_before_allocating(tmp_path):
    """3 tilts of one 300 000-pixel row (3.6 MB) reconstruct into 670 GiB per slice."""
    tio.write_tilt_series(tmp_path / "wide.mrc", np.zeros((3, 1, 300_000), np.float32),
                          np.array([-60.0, 0.0, 60.0]))  # fmt: skip
    before = snapshot(tmp_path)
    for extra in ((), ("--workers", 2), ("--method", "sirt")):
        r = run("reconstruct", *WBP, tmp_path / "wide.mrc", "-o", tmp_path / "v.mrc", *extra)
        assert_refused(r, "300000 x 300000", "GiB of memory", "--scheduler", code=1)
    assert snapshot(tmp_path) == before


def test_simulation_too_large_for_memory(tmp_path):
    r = run("simulate", tmp_path / "s.mrc", "--n", 40_000, "--ny", 4)
    assert_refused(r, "40000 x 40000", "GiB of memory", "--n", "--ny", code=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("mode", "workers", "available", "words"),
    [
        ("synchronous", 1, 10 * 2**20, ["64-slice chunks", "use chunk 4 (or less)"]),
        ("processes", 4, 20 * 2**20, ["on 4 workers", "use chunk 3 (or less), or fewer workers"]),
        ("processes", 4, 4 * 2**20, ["use workers 1 and chunk 1"]),
        ("synchronous", 1, 2 * 2**20, ["even one slice does not fit", "scheduler"]),
    ],
)
def test_chunk_memory_advice(mode, workers, available, words):
    """512 x 512 slices from 128 tilts: 1.25 MiB per slice and worker, plus 1 MiB per
    slice of the chunk being written."""
    from tomoinpaint.errors import OptionError
    from tomoinpaint.volume.options import check_chunk_memory

    with pytest.raises(OptionError) as info:
        check_chunk_memory(128, 512, 64, mode, workers, 8, available=available)
    assert not info.value.usage
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    check_chunk_memory(128, 512, 4, "synchronous", 1, 8, available=10 * 2**20)  # fits


# --------------------------------------------------------------------------- angles
def test_fewer_than_three_tilts(work):
    data = tio.read_tilt_series(work / "s.mrc").data
    # one tilt: an MRC of one section reads as a single image
    for k, words in ((1, ["3-D"]), (2, ["2 tilt", "at least 3"])):
        tio.write_tilt_series(work / f"t{k}.mrc", np.asarray(data[:k]), np.arange(k) * 5.0)
        r = run("reconstruct", *WBP, work / f"t{k}.mrc", "-o", work / f"v{k}.mrc")
        assert_refused(r, *words, code=1)
        assert not (work / f"v{k}.mrc").exists()


def test_duplicate_angles_reported_as_written():
    with pytest.raises(ValueError, match=r"-3 \(index 0\), -3 \(index 4\)"):
        validate_angles([-3.0, 10.0, 20.0, 30.0, -3.0])
    with pytest.raises(ValueError, match=r"-90 \(index 0\), 270 \(index 1\)"):
        validate_angles([-90.0, 270.0, 0.0])


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize("address", ["not a url", "tcp://", "http://head:8786", "tcp://a b:1"])
def test_scheduler_address_checked_before_connecting(work, address):
    r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "v.mrc", "--scheduler", address)
    assert_refused(r, "--scheduler", code=2)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--tilt-min", "nan"], ["--tilt-min", "finite"]),
        (["--tilt-max", "inf"], ["--tilt-max", "finite"]),
        (["--step", "1e-9"], ["--step", "tilts"]),
        (["--step", "nan"], ["--step"]),
        (["--wedge", "nan"], ["--wedge"]),
        (["--tilt-min", "30", "--tilt-max", "-30"], ["--tilt-max", "--tilt-min"]),
        (["--voxel-size", "nan"], ["--voxel-size"]),
    ],
)
def test_simulate_numeric_options(tmp_path, args, words):
    assert_refused(run("simulate", tmp_path / "s.mrc", *args), *words, code=2)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_byte_identical_after_refusals(work):
    (work / "v.mrc").write_bytes(b"precious")
    r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "v.mrc")
    assert_refused(r, "exists")
    r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "v.mrc", "--scheduler", "x")
    assert_refused(r, "--scheduler")
    assert (work / "v.mrc").read_bytes() == b"precious"


# --------------------------------------------------------------------------- weights
def test_model_card_asking_for_a_huge_network_is_refused_before_building(tmp_path):
    """The card's architecture is checked against the stored shapes before a network is
    built: a U-Net of 20000 base features (tens of GB) is refused without being allocated."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from tomoinpaint.nn import build, load_model, save_model
    from tomoinpaint.nn.weights import _EMBEDDED_KEY

    p = tmp_path / "deartifact.safetensors"
    save_model(build("unet", "tiny"), p)
    with safe_open(str(p), framework="pt") as f:
        meta = dict(f.metadata())
    card = json.loads(meta[_EMBEDDED_KEY])
    card["config"]["base_features"] = 20000
    meta[_EMBEDDED_KEY] = json.dumps(card)
    save_file(load_file(p), p, metadata=meta)
    p.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match="do not match architecture 'unet'.*shape mismatch"):
        load_model(p)


def test_angle_file_in_radians_is_refused(work):
    a = np.deg2rad(np.loadtxt(work / "s.tlt"))
    np.savetxt(work / "rad.tlt", a)
    r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "v.mrc", "--angles", work / "rad.tlt")
    assert_refused(r, "radians", "rad.tlt", code=1)
    assert not (work / "v.mrc").exists()


@pytest.mark.parametrize("fields", ["swapped", "equal"])
def test_impossible_flat_and_dark_fields(tmp_path, fields):
    from tomoinpaint.io.hdf5 import write_dxchange

    rng = np.random.default_rng(0)
    proj = rng.uniform(200, 900, (6, 3, 16)).astype(np.float32)
    flats = np.full((2, 3, 16), 1000.0, np.float32)
    darks = np.full((2, 3, 16), 10.0, np.float32)
    if fields == "swapped":
        flats, darks = darks, flats
    else:
        darks = flats.copy()
    write_dxchange(tmp_path / "scan.h5", proj, np.linspace(0, 150, 6), flats=flats, darks=darks)
    r = run("reconstruct", *WBP, tmp_path / "scan.h5", "-o", tmp_path / "v.h5", "--center", "7.5")
    assert_refused(r, "flat fields", "dark fields", code=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.h5"]


# --------------------------------------------------------------------------- signals
def test_sigterm_leaves_no_temporary_and_the_same_command_resumes(tmp_path, series):
    """SIGTERM (a batch system's stop) mid-run: exit 143, no hidden temporary beside the
    output, finished chunks kept; the same command then finishes the volume."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    out.mkdir()
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "tomoinpaint", "reconstruct", str(series), "-o",
           str(out / "v.mrc"), "--method", "tv", "--iterations", "3000", "--chunk", "1",
           "--device", "cpu", "--work-dir", str(work)]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(work.rglob("chunk-*.npy")):
            assert proc.poll() is None and time.monotonic() < deadline, "no chunk finished"
            time.sleep(0.1)
        assert [p.name for p in out.iterdir()]  # the hidden temporary output exists
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "Terminated" in err
    assert list(out.iterdir()) == []
    assert list(work.rglob("chunk-*.npy"))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["v.mrc", "v.mrc.json"]


def test_write_errors_name_the_users_output_not_the_temporary(tmp_path):
    """An OSError about the hidden temporary (permission denied, disk full) names the output."""
    import errno

    out = tmp_path / "r.mrc"
    for err in (errno.EACCES, errno.ENOSPC):
        with pytest.raises(OSError) as info, tio.atomic_output(out) as tmp:
            raise OSError(err, os.strerror(err), str(tmp))
        assert info.value.errno == err
        assert str(out) in str(info.value) and ".tmp-" not in str(info.value)
        assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- full disks
def _can_mount_in_a_namespace() -> bool:
    """Whether ``unshare -rm`` (an unprivileged user + mount namespace) may mount a tmpfs."""
    import shutil
    import subprocess

    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt || "
         "mount -t tmpfs -o size=64k tmpfs /tmp"],
        capture_output=True,
    )  # fmt: skip
    return r.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """Run a shell command with a real 100 KiB tmpfs mounted on ``tmp_path / "small"``.

    The tmpfs lives in a private user + mount namespace (``unshare -rm``), so
    no privilege is needed; the command runs inside it and sees the mount,
    which disappears with it. Skipped where namespaces are not allowed.
    Returns ``(mount_point, run)``; ``run(cmd)`` gives the CompletedProcess.
    """
    import shlex
    import subprocess
    import sys

    if not _can_mount_in_a_namespace():
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    d = tmp_path / "small"
    d.mkdir()

    def run_inside(cmd: str, size: str = "100k"):
        mount = f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(d))}"
        env = {**os.environ, "PY": sys.executable}
        return subprocess.run(["unshare", "-rm", "sh", "-c", f"{mount} && {cmd}"],
                              capture_output=True, text=True, env=env)  # fmt: skip

    return d, run_inside


def _cli(*args) -> str:
    """A shell command line running the CLI under this interpreter."""
    import shlex

    return '"$PY" -m tomoinpaint ' + " ".join(shlex.quote(str(a)) for a in args)


def _one_error_line(stderr: str, *words) -> None:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])


def _then_list(cmd: str, directory: Path) -> str:
    """``cmd``, then ``@@`` and the directory's entries on stdout; exits with cmd's code."""
    import shlex

    return f"{cmd}; rc=$?; echo @@; ls -A {shlex.quote(str(directory))}; exit $rc"


def _listing(stdout: str) -> list[str]:
    return stdout.rsplit("@@", 1)[1].split()


def test_full_disk_is_refused_before_any_work(small_disk, tmp_path, series):
    disk, inside = small_disk
    work = tmp_path / "work"
    big = tmp_path / "big.mrc"
    assert run("simulate", big, "--n", 64, "--ny", 16, "--step", 10).exit_code == 0
    ok = inside(_then_list(_cli("reconstruct", *WBP, series, "-o", disk / "ok.mrc",
                                "--work-dir", work), disk))  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert _listing(ok.stdout) == ["ok.mrc", "ok.mrc.json"]  # a 2 x 16 x 16 volume fits
    for out in ("v.mrc", "v.h5", "v.tif"):
        r = inside(_then_list(_cli("reconstruct", *WBP, big, "-o", disk / out,
                                   "--work-dir", work), disk))  # fmt: skip
        assert r.returncode == 1, r.stderr
        _one_error_line(r.stderr, "not enough disk space", out)
        assert _listing(r.stdout) == []
    r = inside(_then_list(_cli("simulate", disk / "s.mrc", "--n", 128, "--ny", 16), disk))
    assert r.returncode == 1
    _one_error_line(r.stderr, "not enough disk space", "s.mrc")
    assert _listing(r.stdout) == []
    assert not any(work.rglob("*.npy")) and not any(p.is_dir() for p in work.iterdir())


_FILL_DISK = """
import os


def fill_disk(disk):
    \"\"\"Write a file in disk until the file system is full.\"\"\"
    fd = os.open(os.path.join(disk, "filler"), os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError:
        os.close(fd)
"""

_FILL_THEN_WRITE = (
    _FILL_DISK
    + """
import os, sys
import numpy as np
from tomoinpaint import io as tio
disk, out = sys.argv[1], sys.argv[2]
try:
    with tio.open_volume_writer(out, (8, 64, 64)) as w:
        w[0:2] = np.ones((2, 64, 64))
        fill_disk(disk)  # another program fills the disk while the volume is being written
        w[2:8] = np.ones((6, 64, 64))
except OSError as exc:
    print(exc.errno, exc.strerror, file=sys.stderr)
print(*sorted(os.listdir(disk)))
"""
)


@pytest.mark.parametrize("suffix", [".mrc", ".tif", ".h5"])
def test_disk_filling_up_mid_write_is_an_error_not_a_crash(small_disk, suffix):
    """The writers use no memory map (a store into a mapped page of a full disk is a
    SIGBUS) and HDF5 never sees the failed write (its handle then crashes the
    interpreter): the process lives, says ENOSPC naming the output, and leaves
    only the other program's file."""
    import errno
    import shlex

    disk, inside = small_disk
    out = disk / f"v{suffix}"
    script = shlex.quote(_FILL_THEN_WRITE)
    r = inside(f'"$PY" -c {script} {shlex.quote(str(disk))} {shlex.quote(str(out))}', "512k")
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stderr.strip() == f"{errno.ENOSPC} cannot write {out}: {os.strerror(errno.ENOSPC)}"
    assert r.stdout.split() == ["filler"]


_FILL_WORK_DIR_MID_RUN = (
    _FILL_DISK
    + """
import os, sys
from tomoinpaint.methods import reconstruct
from tomoinpaint.volume import reconstruct_volume
disk, series, out = sys.argv[1:4]
calls = []
def filling(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # another program fills the work directory's disk mid-run
        fill_disk(disk)
    return reconstruct(*args, **kwargs)
try:
    reconstruct_volume(series, out, method="wbp", chunk=2, work_dir=disk, reconstruct_fn=filling)
except OSError as exc:
    print(exc.errno, exc.strerror, file=sys.stderr)
print(*sorted(os.listdir(disk)), "|", *sorted(os.listdir(os.path.dirname(out))))
"""
)


def test_work_directory_filling_up_mid_run_names_the_chunk_once(small_disk, tmp_path):
    """The message names the chunk that could not be saved (once, not wrapped in the
    output's temporaries); the output directory is left empty and the finished
    chunk stays for a resume."""
    import errno
    import shlex

    disk, inside = small_disk
    assert run("simulate", tmp_path / "s.mrc", "--n", 64, "--ny", 8, "--step", 10).exit_code == 0
    (tmp_path / "o").mkdir()
    args = " ".join(shlex.quote(str(a)) for a in (disk, tmp_path / "s.mrc", tmp_path / "o/v.mrc"))
    r = inside(f'"$PY" -c {shlex.quote(_FILL_WORK_DIR_MID_RUN)} {args}', "200k")
    assert r.returncode == 0, r.stderr
    code, message = r.stderr.strip().split(" ", 1)
    assert int(code) == errno.ENOSPC
    assert message.startswith(f"cannot write {disk}/v.mrc-") and message.count("cannot write") == 1
    assert message.endswith("chunk-000002-000004.npy: No space left on device"), message
    work_dirs, outputs = r.stdout.split("|")
    assert work_dirs.split()[0] == "filler" and len(work_dirs.split()) == 2
    assert outputs.split() == []


def test_disk_full_while_writing_names_the_output(tmp_path):
    """ENOSPC without a path (a library's write) still names the output, and leaves nothing."""
    import errno

    out = tmp_path / "v.mrc"
    with pytest.raises(OSError, match="cannot write .*v.mrc") as info, tio.atomic_output(out) as t:
        t.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert info.value.errno == errno.ENOSPC and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- concurrent runs
def test_second_run_to_the_same_output_leaves_the_first_alone(work, tmp_path_factory):
    """While one run writes an output (it holds the output's lock), a second run to the same
    output, with another work directory, is refused and touches none of its files."""
    live_temp = work / ".v.tmp-0123abcd.mrc"
    with tio.atomic.output_lock(work / "v.mrc"):
        live_temp.write_bytes(b"the first run's output, half written")
        r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "v.mrc",
                "--work-dir", tmp_path_factory.mktemp("other"))  # fmt: skip
        assert_refused(r, "another run is writing", "v.mrc", code=1)
        assert live_temp.read_bytes() == b"the first run's output, half written"
    # the first run died (its lock is gone): its temporary is a leftover, removed by the next
    wd = tmp_path_factory.mktemp("w")
    r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "v.mrc", "--work-dir", wd)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in work.iterdir()) == ["s.mrc", "s.tlt", "v.mrc", "v.mrc.json"]


# --------------------------------------------------------------------------- resume
class _FailAfter:
    """A reconstruct function that fails at its ``n``-th call (to interrupt a run)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, *args, **kwargs):
        from tomoinpaint.methods import reconstruct

        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("interrupted")
        return reconstruct(*args, **kwargs)


def test_resume_is_keyed_by_content_not_size_and_mtime(tmp_path):
    """Input replaced by other data of the same size, mtime restored, between an interrupt
    and the resume: nothing of the old data is reused."""
    from tomoinpaint.volume import reconstruct_volume

    src, other = tmp_path / "a.mrc", tmp_path / "b.mrc"
    for p, seed in ((src, 1), (other, 2)):
        assert run("simulate", p, "--n", 16, "--ny", 4, "--step", 10, "--seed", seed).exit_code == 0
    work = tmp_path / "work"
    kw = {"method": "wbp", "chunk": 1, "work_dir": work}
    with pytest.raises(RuntimeError):
        reconstruct_volume(src, tmp_path / "v.mrc", reconstruct_fn=_FailAfter(3), **kw)
    assert len(list(work.rglob("chunk-*.npy"))) == 2
    st = src.stat()
    src.write_bytes(other.read_bytes())  # same size: same shape and header layout
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    res = reconstruct_volume(src, tmp_path / "v.mrc", **kw)
    assert res.chunks_reused == 0
    fresh = reconstruct_volume(other, tmp_path / "fresh.mrc", method="wbp", work_dir=work)
    np.testing.assert_array_equal(
        tio.read_volume(tmp_path / "v.mrc")[0], tio.read_volume(fresh.output)[0]
    )


# --------------------------------------------------------------------------- more options
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--chunk", "0"], ["--chunk"]),
        (["--chunk", "-3"], ["--chunk"]),
        (["--workers", "0"], ["--workers"]),
        (["--method", "sart", "--sweeps", "0"], ["--sweeps"]),
        (["--method", "sirt", "--iterations", "-1"], ["--iterations"]),
        (["--method", "sart", "--relaxation", "nan"], ["--relaxation"]),
        (["--method", "sart", "--relaxation", "0"], ["--relaxation"]),
        (["--method", "tv", "--tv-weight", "nan"], ["--tv-weight"]),
        (["--method", "tv", "--tv-weight", "inf"], ["--tv-weight"]),
        (["--method", "tv", "--tv-weight", "0"], ["--tv-weight"]),
        (["--method", "joint", "--prior-weight", "-1"], ["--prior-weight"]),
        (["--method", "joint", "--prior-weight", "nan"], ["--prior-weight"]),
        (["--method", "joint", "--batch-size", "0"], ["--batch-size"]),
        (["--filter", "nonsense"], ["nonsense"]),
        (["--device", "tpu"], ["--device"]),
        (["--executor", "gpu"], ["--executor"]),
        (["--executor", "threads", "--scheduler", "tcp://h:1"], ["--executor", "--scheduler"]),
        (["--workers", "2", "--executor", "synchronous"], ["--executor", "--workers"]),
        (["--center", "nan"], ["--center"]),
    ],
)
def test_reconstruct_numeric_and_choice_options(work, args, words):
    r = run("reconstruct", work / "s.mrc", "-o", work / "v.mrc", *args)
    assert_refused(r, *words, code=2)
    assert not (work / "v.mrc").exists()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["no angles"]),
        ("\n\n", ["no angles"]),
        ("abc\n", ["not a number", "line 1"]),
        ("1\n2\nx\n", ["line 3"]),
        ("nan\n1\n2\n", ["non-finite"]),
        ("inf\n1\n2\n", ["non-finite"]),
        ("-3\n10\n-3\n", ["duplicate", "-3 (index 0)"]),
        ("0\n360\n10\n", ["duplicate"]),
        ("-1.2\n0\n1.2\n", ["radians"]),
        ("1e400\n0\n1\n", ["non-finite"]),
    ],
)
def test_bad_angle_files(work, text, words):
    (work / "bad.tlt").write_text(text)
    r = run("reconstruct", *WBP, work / "s.mrc", "-o", work / "v.mrc", "--angles", work / "bad.tlt")
    assert_refused(r, "bad.tlt", *words, code=1)
    assert not (work / "v.mrc").exists()


# --------------------------------------------------------------------------- geometry
@pytest.mark.parametrize(
    "angles",
    [np.arange(0.0, 360.0, 5.0), np.arange(-30.0, 150.1, 5.0), np.arange(-90.0, 270.0, 2.0)],
)
def test_opposite_views_share_their_direction_weight(angles):
    """360-degree scans and ranges whose ends are 180 degrees apart: WBP equals the
    half-turn WBP (views at θ and θ+180 measure the same line integrals)."""
    from tomoinpaint.geometry import angular_weights
    from tomoinpaint.project import forward_project
    from tomoinpaint.recon import wbp
    from tomoinpaint.sim import shepp_logan

    w = angular_weights(angles)
    assert w.min() > 0 and np.isclose(w.sum(), np.pi)
    img = shepp_logan(48).astype(np.float32)
    half = np.unique(np.mod(angles, 180.0))
    ref = wbp(forward_project(img, half), half)
    rec = wbp(forward_project(img, angles), angles)
    assert np.abs(rec - ref).max() < 1e-3 * np.abs(ref).max()


def _transformed_series(d: Path, transform) -> Path:
    """A series that benchmark and adapt would take, with its projections transformed."""
    import mrcfile

    r = run("simulate", d / "s.mrc", "--n", 16, "--ny", 4, "--step", 3)
    assert r.exit_code == 0, r.output
    data = mrcfile.read(d / "s.mrc")
    mrcfile.write(d / "s.mrc", transform(np.asarray(data, np.float32)), overwrite=True)
    (d / "s_gt.mrc").unlink()
    return d / "s.mrc"


@pytest.mark.parametrize(
    "transform, words",
    [
        (lambda p: -p, ["mostly negative", "invert"]),
        (lambda p: p - p.mean(axis=(1, 2), keepdims=True), ["balanced around zero"]),
    ],
    ids=["inverted-contrast", "zero-mean-images"],
)
@pytest.mark.parametrize(
    "command",
    [("reconstruct", "--method", "tv"), ("reconstruct",), ("benchmark",), ("adapt",)],
    ids=["reconstruct-tv", "reconstruct-auto", "benchmark", "adapt"],
)
def test_projections_that_are_not_attenuation_like_are_refused(tmp_path, transform, words, command):
    # non-negative methods would clip such data to a few specks and say nothing
    series = _transformed_series(tmp_path, transform)
    before = snapshot(tmp_path)
    out = tmp_path / ("out" if command[0] in ("benchmark", "adapt") else "out.mrc")
    assert_refused(run(command[0], series, "-o", out, *command[1:]), *words, "--method wbp")
    assert snapshot(tmp_path) == before and not out.exists()
    # WBP is linear: it reconstructs any contrast
    r = run("reconstruct", series, "-o", tmp_path / "wbp.mrc", *WBP)
    assert r.exit_code == 0, r.output


def test_mass_balance_tells_attenuation_like_data_from_inverted_and_zero_mean(monkeypatch):
    from tomoinpaint.prep import contrast, mass_balance
    from tomoinpaint.prep.contrast import MIN_BALANCE
    from tomoinpaint.sim import make_sample, poisson_dose, simulate_sinogram

    rng = np.random.default_rng(0)
    sino, _ = simulate_sinogram(make_sample("shapes", 64, rng), np.arange(-60.0, 61.0, 3.0))
    low = poisson_dose(sino, 100, rng)  # below the lowest dose the methods are tuned on
    for p in (sino, low):
        stack = p[:, None, :]  # (n_tilts, 1, n_det)
        assert mass_balance(stack) > 0.5
        assert mass_balance(-stack) < -0.5
        assert abs(mass_balance(stack - stack.mean(axis=(1, 2), keepdims=True))) < MIN_BALANCE
    # read in blocks of rows: the same balance as all at once
    monkeypatch.setattr(contrast, "_BLOCK_VALUES", 20)
    stack = low.reshape(low.shape[0], 8, -1)
    n = stack.shape[0]
    assert mass_balance(stack, n) == pytest.approx(stack.sum() / np.abs(stack).sum(), rel=1e-9)
    assert np.isnan(mass_balance(np.zeros((3, 2, 4))))  # nothing to misread: not refused


def test_library_reconstruct_volume_refuses_inverted_contrast_too(tmp_path):
    from tomoinpaint.volume import reconstruct_volume

    series = _transformed_series(tmp_path, lambda p: -p)
    with pytest.raises(ValueError, match="mostly negative"):
        reconstruct_volume(series, tmp_path / "v.mrc", method="sirt")
    assert not (tmp_path / "v.mrc").exists()
    reconstruct_volume(series, tmp_path / "v.mrc", method="sirt", options={"nonnegative": False})
    assert (tmp_path / "v.mrc").exists()


def _blank_fifth(projections: np.ndarray) -> np.ndarray:
    """The series with its fifth view blank (zeros), as a failed exposure leaves it."""
    out = projections.copy()
    out[4] = 0.0
    return out


@pytest.mark.parametrize(
    "command",
    [("reconstruct", "--method", "wbp"), ("reconstruct",), ("benchmark",), ("adapt",)],
    ids=["reconstruct-wbp", "reconstruct-auto", "benchmark", "adapt"],
)
def test_a_blank_view_is_refused_by_number(tmp_path, command):
    # a failed exposure filled with zeros costs every method several dB, silently
    series = _transformed_series(tmp_path, _blank_fifth)
    before = snapshot(tmp_path)
    out = tmp_path / ("out" if command[0] in ("benchmark", "adapt") else "out.mrc")
    r = run(command[0], series, "-o", out, *command[1:])
    assert_refused(r, "view 5 (-48 deg): constant 0", "-exclude 5")
    assert snapshot(tmp_path) == before and not out.exists()


@pytest.mark.parametrize(
    "command",
    [("reconstruct", "--method", "wbp"), ("reconstruct",), ("benchmark",),
     ("adapt", "--rounds", "1", "--pairs", "2")],
    ids=["reconstruct-wbp", "reconstruct-auto", "benchmark", "adapt"],
)  # fmt: skip
def test_a_blank_view_left_out_with_exclude_is_no_longer_refused(tmp_path, command):
    # the refusal's own advice works: --exclude takes the view out of every command
    series = _transformed_series(tmp_path, _blank_fifth)
    out = tmp_path / ("out" if command[0] in ("benchmark", "adapt") else "out.mrc")
    r = run(command[0], series, "-o", out, *command[1:], "--exclude", "1")
    # views named by their number in the file, with the ones left out already
    assert_refused(r, "view 5 (-48 deg): constant 0", "add 5 to the views left out")
    r = run(command[0], series, "-o", out, *command[1:], "--exclude", "1,5")
    assert r.exit_code == 0, r.output
    assert out.exists()
    if command[0] == "benchmark":
        assert "(views 2-4,6-41 of the file)" in (out / "report.md").read_text()


def test_suspect_views_are_blank_or_far_off_their_neighbours_only():
    from tomoinpaint.prep.views import suspect_views
    from tomoinpaint.sim import make_sample, poisson_dose, simulate_sinogram

    rng = np.random.default_rng(1)
    angles = np.arange(-60.0, 61.0, 3.0)
    sino, _ = simulate_sinogram(make_sample("shapes", 64, rng), angles)
    for p in (sino, poisson_dose(sino, 100, rng)):
        assert suspect_views(p[:, None, :], angles) == {}
    assert suspect_views(rng.normal(0.0, 1.0, (41, 3, 64)), angles) == {}  # rows of air
    bad = sino[:, None, :].copy()
    bad[7] = 0.0
    bad[30] *= 10.0
    found = suspect_views(bad, angles)
    assert set(found) == {7, 30} and found[7] == "constant 0" and "10x" in found[30]
    tooth = tio.read_tilt_series(Path(cli.__file__).parent / "data" / "tooth.h5")
    assert suspect_views(tooth.data, tooth.angles_deg) == {}  # a real scan's raw counts
