"""The layering of ARCHITECTURE.md, as far as a test can see it at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tomoinpaint"

#: Function-level imports allowed, (module file, imported name): each has a reason beside it.
ALLOWED_LOCAL_IMPORTS = {
    ("cli.py", "torch"),  # `info` reports a broken torch install instead of failing
    ("demo.py", "matplotlib"),  # figures only
    ("demo.py", "matplotlib.pyplot"),
    ("score/report.py", "matplotlib"),  # figures only
    ("score/report.py", "matplotlib.pyplot"),
    ("io/atomic.py", "fcntl"),  # POSIX only: the module imports everywhere
}


def _local_imports():
    """(file relative to the package, module name) of every import inside a function."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = ["." * node.level + (node.module or "")]
                else:
                    continue
                for name in names:
                    found.add((path.relative_to(PACKAGE).as_posix(), name))
    return found


def test_no_project_module_is_imported_inside_a_function():
    project = {(f, m) for f, m in _local_imports() if m.startswith((".", "tomoinpaint"))}
    assert project == set(), f"imports of project modules inside functions: {sorted(project)}"


def test_function_level_imports_are_the_documented_ones():
    # third-party imports inside functions: only the listed optional/heavy ones, plus
    # scikit-image and pydicom in sim (loaded only for the image families that need them)
    # are allowed to grow only by adding them here with a reason
    local = {(f, m) for f, m in _local_imports() if not m.startswith((".", "tomoinpaint"))}
    unexpected = {
        (f, m) for f, m in local if (f, m) not in ALLOWED_LOCAL_IMPORTS and not f.startswith("sim/")
    }
    assert unexpected == set(), f"undocumented function-level imports: {sorted(unexpected)}"


def test_classical_layers_do_not_load_torch():
    code = (
        "import sys\n"
        "import tomoinpaint.recon, tomoinpaint.io, tomoinpaint.sim, tomoinpaint.prep\n"
        "import tomoinpaint.metrics, tomoinpaint.project, tomoinpaint.resume, tomoinpaint.stats\n"
        "import tomoinpaint.provenance\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_deep_methods_are_in_the_registry_not_in_classical_recon():
    import tomoinpaint.recon as recon
    from tomoinpaint.methods import DEEP_METHODS, METHODS

    assert set(DEEP_METHODS) <= set(METHODS)
    assert not set(DEEP_METHODS) & set(recon.__all__)


def test_long_modules_state_why():
    long = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 500:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "Size: one module because" not in doc:
                long.append(path.relative_to(PACKAGE).as_posix())
    assert long == [], f"modules over 500 lines without a reason in their docstring: {long}"
