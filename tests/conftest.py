"""Session-wide test settings."""

import pytest


@pytest.fixture(autouse=True)
def _private_work_dir(tmp_path_factory, monkeypatch):
    """Keep resumable-run work directories out of the user's ~/.cache."""
    monkeypatch.setenv("TOMOINPAINT_WORK_DIR", str(tmp_path_factory.mktemp("work")))
