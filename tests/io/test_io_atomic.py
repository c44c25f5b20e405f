"""Tests for tomoinpaint.io.atomic: outputs appear complete or not at all."""

from __future__ import annotations

import os

import pytest

from tomoinpaint.io.atomic import OutputExistsError, atomic_output, atomic_outputs


class Boom(RuntimeError):
    pass


def test_success_writes_file_and_leaves_no_temp(tmp_path):
    out = tmp_path / "vol.mrc"
    with atomic_output(out) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".vol.tmp-")
        assert tmp.suffix == ".mrc"
        assert not tmp.exists()
        assert not out.exists()  # nothing at the final path while writing
        tmp.write_bytes(b"abc")
    assert out.read_bytes() == b"abc"
    assert sorted(os.listdir(tmp_path)) == ["vol.mrc"]


def test_existing_output_refused_and_unchanged(tmp_path):
    out = tmp_path / "a.tif"
    out.write_bytes(b"old")
    ran = False
    with pytest.raises(OutputExistsError, match="--overwrite") as info:
        with atomic_output(out) as tmp:
            ran = True
            tmp.write_bytes(b"new")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, FileExistsError)
    assert str(out) in str(info.value)
    assert not ran  # refused before any work
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.tif"]


def test_overwrite_replaces(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("old")
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_text("new")
    assert out.read_text() == "new"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_failure_leaves_no_file_and_no_temp(tmp_path):
    out = tmp_path / "vol.h5"
    with pytest.raises(Boom):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"partial")
            raise Boom()
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_failure_with_overwrite_keeps_old_content(tmp_path):
    out = tmp_path / "vol.h5"
    out.write_bytes(b"old")
    with pytest.raises(Boom):
        with atomic_output(out, overwrite=True) as tmp:
            tmp.write_bytes(b"partial")
            raise Boom()
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["vol.h5"]


def test_missing_parent_directory(tmp_path):
    out = tmp_path / "nope" / "vol.mrc"
    with pytest.raises(ValueError, match="directory does not exist") as info:
        with atomic_output(out):
            pass
    assert str(tmp_path / "nope") in str(info.value)
    assert not isinstance(info.value, OutputExistsError)


def test_output_is_a_directory(tmp_path):
    (tmp_path / "d.tif").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        with atomic_output(tmp_path / "d.tif", overwrite=True):
            pass


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="nothing was written"):
        with atomic_output(tmp_path / "x.mrc"):
            pass
    assert os.listdir(tmp_path) == []


def test_outputs_committed_together(tmp_path):
    a, b = tmp_path / "ts.mrc", tmp_path / "ts.tlt"
    with atomic_outputs([a, b]) as (ta, tb):
        assert ta.suffix == ".mrc" and tb.suffix == ".tlt"
        ta.write_text("data")
        tb.write_text("angles")
    assert a.read_text() == "data" and b.read_text() == "angles"
    assert sorted(os.listdir(tmp_path)) == ["ts.mrc", "ts.tlt"]


def test_outputs_failure_leaves_none(tmp_path):
    a, b = tmp_path / "ts.mrc", tmp_path / "ts.tlt"
    with pytest.raises(Boom):
        with atomic_outputs([a, b]) as (ta, tb):
            ta.write_text("data")  # first one complete ...
            raise Boom()  # ... second never written
    assert os.listdir(tmp_path) == []


def test_outputs_one_existing_refuses_all(tmp_path):
    a, b = tmp_path / "ts.mrc", tmp_path / "ts.tlt"
    b.write_text("old angles")
    with pytest.raises(OutputExistsError, match="ts.tlt"):
        with atomic_outputs([a, b]):
            pytest.fail("block must not run")  # pragma: no cover
    assert not a.exists()
    assert b.read_text() == "old angles"


def test_outputs_must_be_distinct(tmp_path):
    with pytest.raises(ValueError, match="not distinct"):
        with atomic_outputs([tmp_path / "a.mrc", tmp_path / "." / "a.mrc"]):
            pass
