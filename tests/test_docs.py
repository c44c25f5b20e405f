"""The READMEs cite benchmark results by file name: each must be committed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Markdown files named in the READMEs that are not benchmark results.
NOT_RESULTS = {"README.md", "ARCHITECTURE.md", "BENCHMARKS.md", "DESIGN.md", "report.md"}


def cited_results(text: str) -> set[str]:
    """File names ending in ``.md`` quoted in backticks, other documents left out.

    A name may be a glob (``gt_free_agreement*.md``) or, after a full name, its
    ending alone (``realsize_quality_wide2x_256.md``, ``_512.md``).
    """
    names = {n.rsplit("/", 1)[-1] for n in re.findall(r"`([\w\-*./]+\.md)`", text)}
    return names - NOT_RESULTS


def is_committed(name: str) -> bool:
    if "*" in name:
        return any(RESULTS.glob(name))
    if name.startswith("_"):
        return any(p.name.endswith(name) for p in RESULTS.iterdir())
    return (RESULTS / name).is_file()


@pytest.mark.parametrize("readme", ["README.md", "benchmarks/README.md"])
def test_every_cited_result_is_committed(readme):
    cited = cited_results((ROOT / readme).read_text(encoding="utf-8"))
    assert len(cited) >= 10, "the READMEs cite their results files by name"
    missing = sorted(n for n in cited if not is_committed(n))
    assert not missing, f"{readme} cites results not in benchmarks/results/: {missing}"


def test_a_missing_result_is_noticed():
    assert cited_results("see `no_such_benchmark.md` and `README.md`") == {"no_such_benchmark.md"}
    assert not is_committed("no_such_benchmark.md")
    assert is_committed("joint_quality_45_wide2x.md")
