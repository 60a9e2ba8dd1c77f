"""The package's layers, read from its imports with ``ast``: a lower layer never imports a
higher one, no module takes another module's private name, and ``forecast --help`` imports
neither PyMC nor torch. docs/architecture.md draws the same layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "forecast"

# low to high; a module may import its own layer and the layers below it
LAYERS = {
    "forecast.errors": 0, "forecast.outputs": 0, "forecast.cluster": 0,
    "forecast.laws": 1,
    "forecast.runs": 2,
    "forecast.inference": 3,
    "forecast.questions": 4,
    "forecast.report": 5,
    "forecast.cli": 6, "forecast.__main__": 6,
}
# the harness trains models (torch): it stands apart and uses only the bottom layer
HARNESS = "forecast.harness"
HARNESS_MAY_USE = {"forecast.errors", "forecast.outputs", "forecast.cluster", HARNESS}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every import in a file, at any depth (lazy ones too)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            out.append((node.lineno, module, [a.name for a in node.names]))
    return out


def layer_of(module: str) -> tuple[str, int | None]:
    """The layer a module belongs to: its key in :data:`LAYERS` and rank (None: harness)."""
    if module == HARNESS or module.startswith(HARNESS + "."):
        return HARNESS, None
    for key, rank in LAYERS.items():
        if module == key or module.startswith(key + "."):
            return key, rank
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS and "
                         "docs/architecture.md")


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if module_name(p) != "forecast")


def _violations(path: Path) -> list[str]:
    me = module_name(path)
    my_layer, my_rank = layer_of(me)
    bad = []
    for line, target, names in imports(path):
        if target == "forecast":
            bad += [f"{me}:{line} imports {n} from the package root" for n in names
                    if n not in ("__version__", "DISTRIBUTION")]
            continue
        if not target.startswith("forecast."):
            continue
        layer, rank = layer_of(target)
        if my_rank is None:
            ok = layer in HARNESS_MAY_USE
        elif rank is None:
            ok = me.startswith("forecast.cli")  # the command line registers `forecast harness`
        else:
            ok = rank <= my_rank
        if not ok:
            bad.append(f"{me}:{line} ({my_layer}) imports {target} ({layer})")
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private and target != me:
            bad.append(f"{me}:{line} imports private {', '.join(private)} from {target}")
    return bad


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_a_higher_layer_or_a_private_name(path):
    assert _violations(path) == []


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    # a laws module importing the PyMC layer, and a private helper taken across modules
    fake = PACKAGE / "laws" / "forms.py"
    text = ("from forecast.inference.model import build_model\n"
            "from forecast.runs import _decode\n")
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text)
    found = _violations(fake)
    assert any("imports forecast.inference.model (forecast.inference)" in v for v in found)
    assert any("imports private _decode from forecast.runs" in v for v in found)


def test_every_layer_is_a_folder_or_a_base_module():
    # the tree shows the layers: besides the base modules, every module lives in a layer's folder
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "__main__", "cluster", "errors", "outputs", "runs"]
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert folders == ["cli", "harness", "inference", "laws", "questions", "report"]


def test_no_file_is_longer_than_400_lines():
    long = {module_name(p): n for p in MODULES
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


HEAVY = ("pymc", "pytensor", "arviz", "torch", "matplotlib", "nutpie")


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["emergence", "--help"],
                                  ["backtest", "--help"], ["compare", "--help"],
                                  ["report", "--help"]])
def test_help_imports_no_heavy_library(argv):
    code = ("import sys\n"
            f"sys.argv = ['forecast', *{argv!r}]\n"
            "from forecast.cli import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "Usage: forecast" in out
    assert out.strip().splitlines()[-1] == "[]"
