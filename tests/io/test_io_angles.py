"""Tests for tomoinpaint.io.angles: IMOD .tlt/.rawtlt files and angle resolution."""

from __future__ import annotations

import numpy as np
import pytest

from tomoinpaint.io.angles import (
    find_angle_file,
    read_angle_file,
    resolve_angles,
    write_angle_file,
)
from tomoinpaint.io.atomic import OutputExistsError


def test_read_tolerates_blank_lines_and_spaces(tmp_path):
    p = tmp_path / "ts.tlt"
    p.write_text("  -60.00\n\n -1.5e1 \n   0\n\n  45.5\n")
    a = read_angle_file(p)
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a, [-60.0, -15.0, 0.0, 45.5])


def test_read_rejects_non_number_with_line_number(tmp_path):
    p = tmp_path / "ts.tlt"
    p.write_text("-60\n\n-30 deg\n0\n")
    with pytest.raises(ValueError, match=r"line 3") as info:
        read_angle_file(p)
    assert str(p) in str(info.value)
    assert "-30 deg" in str(info.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "no angles"), ("1\n2\n1\n", "duplicate"), ("1\nnan\n", "non-finite")],
)
def test_read_rejects_empty_duplicate_nan(tmp_path, text, match):
    p = tmp_path / "ts.rawtlt"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_angle_file(p)


def test_read_missing_file(tmp_path):
    with pytest.raises(ValueError, match="angle file not found"):
        read_angle_file(tmp_path / "nope.tlt")


def test_write_read_roundtrip_is_exact(tmp_path, tilt_angles):
    p = write_angle_file(tmp_path / "a.tlt", tilt_angles)
    lines = p.read_text().splitlines()
    assert len(lines) == tilt_angles.size
    assert lines[0] == "-60" and lines[3] == "0"
    np.testing.assert_array_equal(read_angle_file(p), tilt_angles)


def test_write_refuses_existing(tmp_path):
    p = tmp_path / "a.tlt"
    p.write_text("1\n")
    with pytest.raises(OutputExistsError):
        write_angle_file(p, [1.0, 2.0])
    assert p.read_text() == "1\n"
    write_angle_file(p, [1.0, 2.0], overwrite=True)
    np.testing.assert_array_equal(read_angle_file(p), [1.0, 2.0])


def test_find_prefers_tlt_then_rawtlt(tmp_path):
    data = tmp_path / "ts.mrc"
    assert find_angle_file(data) is None
    (tmp_path / "ts.rawtlt").write_text("1\n")
    assert find_angle_file(data) == tmp_path / "ts.rawtlt"
    (tmp_path / "ts.tlt").write_text("2\n")
    assert find_angle_file(data) == tmp_path / "ts.tlt"
    # another stem's file is not picked up
    assert find_angle_file(tmp_path / "other.mrc") is None


def test_find_for_directory(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    (d / "frames.tlt").write_text("1\n")
    assert find_angle_file(d) == d / "frames.tlt"
    (tmp_path / "frames.tlt").write_text("2\n")
    assert find_angle_file(d) == tmp_path / "frames.tlt"


def test_resolve_none_without_file_says_where_it_looked(tmp_path):
    data = tmp_path / "ts.mrc"
    with pytest.raises(ValueError, match="tilt angles are needed") as info:
        resolve_angles(data, None)
    msg = str(info.value)
    assert str(tmp_path / "ts.tlt") in msg and str(tmp_path / "ts.rawtlt") in msg


def test_resolve_sources(tmp_path):
    data = tmp_path / "ts.mrc"
    (tmp_path / "ts.tlt").write_text("-10\n0\n10\n")
    np.testing.assert_array_equal(resolve_angles(data, None), [-10, 0, 10])
    other = tmp_path / "explicit.rawtlt"
    other.write_text("-20\n0\n20\n")
    np.testing.assert_array_equal(resolve_angles(data, other), [-20, 0, 20])
    np.testing.assert_array_equal(resolve_angles(data, str(other)), [-20, 0, 20])
    out = resolve_angles(data, [1, 2, 3])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1, 2, 3])


@pytest.mark.parametrize("bad", [[0.0, 10.0, 10.0], [0.0, np.nan, 10.0], [0.0, 360.0]])
def test_resolve_rejects_invalid_arrays(tmp_path, bad):
    with pytest.raises(ValueError, match="angles"):
        resolve_angles(tmp_path / "ts.mrc", np.array(bad))
