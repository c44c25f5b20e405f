"""Tests for open_volume_writer: slab-by-slab output, committed only when complete."""

from __future__ import annotations

import os

import mrcfile
import numpy as np
import pytest

import tomoinpaint.io as tio

SUFFIXES = [".mrc", ".h5", ".tif"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_slabs_in_any_order_roundtrip(tmp_path, volume, suffix):
    out = tmp_path / f"vol{suffix}"
    with tio.open_volume_writer(out, volume.shape, voxel_size=1.5) as w:
        assert w.shape == volume.shape
        assert not out.exists()  # nothing at the final path until complete
        w[3:4] = volume[3:4].astype(np.float64)
        w[0:2] = volume[0:2]
        w[2] = volume[2]
    vol, vs = tio.read_volume(out)
    np.testing.assert_array_equal(vol, volume)
    assert vs == pytest.approx(1.5)
    assert os.listdir(tmp_path) == [out.name]


@pytest.mark.parametrize("suffix", [".h5", ".tif"])
def test_file_bytes_do_not_depend_on_slab_order(tmp_path, volume, suffix):
    """Workers and resumed runs write slabs as they finish: the file must not show it.

    (MRC is left out: mrcfile puts its creation time in the header label.)
    """
    paths = []
    for name, order in (("up", range(volume.shape[0])), ("shuffled", [2, 0, 3, 1, 4, 5, 6, 7])):
        paths.append(tmp_path / f"{name}{suffix}")
        with tio.open_volume_writer(paths[-1], volume.shape) as w:
            for y in [y for y in order if y < volume.shape[0]]:
                w[y : y + 1] = volume[y : y + 1]
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_mrc_header_statistics(tmp_path, volume):
    out = tmp_path / "vol.mrc"
    with tio.open_volume_writer(out, volume.shape) as w:
        for y in range(volume.shape[0]):
            w[y : y + 1] = volume[y : y + 1]
    with mrcfile.open(out) as m:
        assert m.is_volume()
        assert float(m.header.dmin) == pytest.approx(volume.min())
        assert float(m.header.dmax) == pytest.approx(volume.max())
        assert float(m.header.dmean) == pytest.approx(volume.mean(), rel=1e-5)
        assert float(m.header.rms) == pytest.approx(volume.std(), rel=1e-4)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_incomplete_volume_not_saved(tmp_path, volume, suffix):
    out = tmp_path / f"vol{suffix}"
    with pytest.raises(ValueError, match=r"1 of 4 slices never written \(first: \[2\]\)"):
        with tio.open_volume_writer(out, volume.shape) as w:
            w[0:2] = volume[0:2]
            w[3] = volume[3]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failure_inside_writer_leaves_nothing(tmp_path, volume, suffix):
    out = tmp_path / f"vol{suffix}"
    with pytest.raises(ZeroDivisionError):
        with tio.open_volume_writer(out, volume.shape) as w:
            w[0:2] = volume[0:2]
            _ = 1 / 0
    assert os.listdir(tmp_path) == []


def test_wrong_block_shape_and_existing_output(tmp_path, volume):
    out = tmp_path / "vol.h5"
    with pytest.raises(ValueError, match="cannot write block"):
        with tio.open_volume_writer(out, volume.shape) as w:
            w[0:2] = np.zeros((3, 6, 6))
    assert os.listdir(tmp_path) == []
    out.write_bytes(b"keep")
    with pytest.raises(tio.OutputExistsError):
        with tio.open_volume_writer(out, volume.shape):
            pytest.fail("must not run")  # pragma: no cover
    assert out.read_bytes() == b"keep"


@pytest.mark.parametrize("shape", [(4, 6), (0, 6, 6), (2.5, 6, 6)])
def test_bad_shape_refused(tmp_path, shape):
    with pytest.raises(ValueError, match="volume shape"):
        with tio.open_volume_writer(tmp_path / "v.mrc", shape):
            pass
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc (Linux)")
@pytest.mark.parametrize("suffix", [".mrc", ".tif"])
def test_volume_is_not_written_through_a_memory_map(tmp_path, volume, suffix):
    """A store into a mapped page of a full disk kills the process with SIGBUS; the
    writers must use plain writes, so the temporary is never mapped."""
    out = tmp_path / f"vol{suffix}"
    with tio.open_volume_writer(out, volume.shape) as w:
        w[:] = volume
        (tmp,) = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
        with open("/proc/self/maps") as maps:
            assert str(tmp) not in maps.read()
    np.testing.assert_array_equal(tio.read_volume(out)[0], volume)


_WRITE_PAST_LIMIT = """
import resource, signal, sys
import numpy as np
from tomoinpaint import io as tio
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit is then EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
try:
    with tio.open_volume_writer(sys.argv[1], (16, 64, 64)) as w:
        for y in range(16):
            w[y] = np.full((64, 64), y, np.float32)
except OSError as exc:
    print(exc.errno, exc.strerror)
"""


@pytest.mark.skipif(not hasattr(os, "setrlimit") and os.name != "posix", reason="POSIX")
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_write_error_mid_volume_is_one_oserror_and_leaves_nothing(tmp_path, suffix):
    """A write that fails half-way (file-size limit: EFBIG, as ENOSPC would) is raised as
    one OSError naming the output; the process lives (HDF5 used to segfault) and
    the temporary is gone."""
    import errno
    import subprocess
    import sys

    out = tmp_path / f"vol{suffix}"
    r = subprocess.run([sys.executable, "-c", _WRITE_PAST_LIMIT, str(out)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{errno.EFBIG} cannot write {out}: {os.strerror(errno.EFBIG)}"
    assert list(tmp_path.iterdir()) == []
