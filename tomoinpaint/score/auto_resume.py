"""``--method auto``'s choice kept for a resumed run.

Scoring the candidates costs a few reconstructions of sample slices; at
2048 px that is minutes. An interrupted volume resumes from its finished
chunks (:mod:`tomoinpaint.resume`), and the choice must resume with it: the
same data give the same choice, so it is stored beside the output's work
directory and reused when everything it depends on is unchanged (the
scored sinograms, the angles, the candidates and the content of their
weights, the rule's thresholds, the versions), under a key of all of them.
The file is removed once the volume is complete, as the work directory is.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_text
from ..io.rows import fingerprint
from ..provenance import json_default, versions
from ..recon.joint import WEIGHTS_DIR
from ..resume import SIDE_FILE_SUFFIX, hash_params
from .auto import SWITCH_CONFIDENCE, SWITCH_MIN_GAIN, AutoChoice

__all__ = ["choice_file", "choice_key", "forget_choice", "remember_choice", "remembered_choice"]

logger = logging.getLogger(__name__)


def choice_file(work_dir: str | os.PathLike) -> Path:
    """Where the choice of the output whose work directory is ``work_dir`` is kept."""
    w = Path(work_dir)
    return w.with_name(w.name + SIDE_FILE_SUFFIX)


def _weights_identity(model) -> list:
    """Name, size and content fingerprint of each file of a weights directory."""
    d = WEIGHTS_DIR if model is None else Path(model)
    if not d.is_dir():
        return [str(d)]
    return [[f.name, f.stat().st_size, fingerprint(f)] for f in sorted(d.iterdir()) if f.is_file()]


def choice_key(sino, angles_deg, candidates) -> str:
    """SHA-256 of everything the choice depends on.

    Parameters
    ----------
    sino : array_like, shape (n_slices, n_tilts, n_det)
        The sample sinograms the candidates are scored on.
    angles_deg : array_like, shape (n_tilts,)
    candidates : sequence of (str, dict)
    """
    models = {o.get("model") for method, o in candidates if method == "joint"}
    return hash_params(
        {
            "sino": np.ascontiguousarray(sino, dtype=np.float32),
            "angles": np.asarray(angles_deg, dtype=np.float64),
            "candidates": [[m, {k: str(v) for k, v in o.items()}] for m, o in candidates],
            "weights": {str(m): _weights_identity(m) for m in models},
            # the rule: a changed threshold must not reuse a choice made under the old one
            "confidence": SWITCH_CONFIDENCE,
            "min_gain": SWITCH_MIN_GAIN,
            "versions": versions(),
        }
    )


def remembered_choice(path: str | os.PathLike, key: str) -> AutoChoice | None:
    """The choice stored at ``path`` under ``key``, or None (absent, other key, unreadable)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        if doc.get("key") != key:
            return None
        return AutoChoice(**{**doc["choice"], "reused": True})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:  # damaged: score again
        logger.warning("ignoring the stored auto choice %s: %s", p, exc)
        return None


def remember_choice(path: str | os.PathLike, key: str, choice: AutoChoice) -> None:
    """Store ``choice`` under ``key`` at ``path`` (atomically; its directory is created)."""
    text = json.dumps({"key": key, "choice": choice.to_dict()}, indent=1, default=json_default)
    atomic_write_text(path, text, parents=True)


def forget_choice(path: str | os.PathLike) -> None:
    """Remove a stored choice (the volume is complete)."""
    Path(path).unlink(missing_ok=True)
